"""Render each experiment's figure(s) from its saved results; plots never recompute anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..runstore import RunDir, load_config, load_summary, read_csv, read_npz
from . import appc_plots, mnist_plots, theory_plots, validation_plots
from .style import figure_style, save_figure

Plotter = Callable[[dict[str, np.ndarray], dict[str, Any], dict[str, Any]], Any]

#: name -> (plotter, data source): "csv" reads data.csv, "npz" reads data.npz
PLOTTERS: dict[str, tuple[Plotter, str]] = {
    "fig1": (theory_plots.plot_fig1, "csv"),
    "fig2": (theory_plots.plot_fig2, "csv"),
    "fig3": (theory_plots.plot_fig3, "csv"),
    "fig4": (theory_plots.plot_fig4, "npz"),
    "fig5": (theory_plots.plot_fig5, "csv"),
    "appc": (appc_plots.plot_appc, "npz"),
    "val_speciation": (validation_plots.plot_speciation, "csv"),
    "val_sync": (validation_plots.plot_sync, "npz"),
    "val_collapse": (validation_plots.plot_collapse, "csv"),
    "table1": (mnist_plots.plot_table1, "csv"),
    "fig6": (mnist_plots.plot_fig6, "csv"),
    "fig7": (mnist_plots.plot_fig7, "csv"),
    "fig8": (mnist_plots.plot_fig8, "npz"),
    "fig9": (mnist_plots.plot_fig9, "npz"),
    "fig10": (mnist_plots.plot_fig10, "csv"),
    "fig11": (mnist_plots.plot_fig11, "csv"),
}


def load_data(run_dir: RunDir, source: str) -> dict[str, np.ndarray]:
    """The saved data of a run: data.csv (``source`` 'csv') or data.npz ('npz') as arrays."""
    if source == "npz":
        return read_npz(run_dir.file("data.npz"))
    return read_csv(run_dir.file(RunDir.DATA))


def render(run_dir: RunDir) -> list[Path]:
    """Draw ``figure.png`` and ``figure.pdf`` (or a plotter's several figures) in the run directory."""
    plotter, source = PLOTTERS[run_dir.name]
    written: list[Path] = []
    with figure_style():
        out = plotter(load_data(run_dir, source), load_summary(run_dir), load_config(run_dir))
        figures = out if isinstance(out, dict) else {"figure": out}
        for stem, fig in figures.items():
            written += save_figure(fig, run_dir.file(stem))
    return written
