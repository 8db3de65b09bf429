"""Render each experiment's figure(s) from its saved results; plots never recompute anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..experiments.base import load_config, load_summary
from ..experiments.runstore import RunDir, read_csv
from . import appc_plots, manifold_plots, mnist_plots, theory_plots, validation_plots
from .style import save_figure

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
    "manifold": (manifold_plots.plot_manifold, "npz"),
    "table1": (mnist_plots.plot_table1, "csv"),
    "fig6": (mnist_plots.plot_fig6, "csv"),
    "fig7": (mnist_plots.plot_fig7, "csv"),
    "fig8": (mnist_plots.plot_fig8, "npz"),
    "fig9": (mnist_plots.plot_fig9, "npz"),
    "fig10": (mnist_plots.plot_fig10, "csv"),
    "fig11": (mnist_plots.plot_fig11, "csv"),
}


def register(name: str, plotter: Plotter, source: str = "csv") -> None:
    """Add a plotter for an experiment defined outside this module."""
    PLOTTERS[name] = (plotter, source)


def load_data(run_dir: RunDir, source: str) -> dict[str, np.ndarray]:
    if source == "npz":
        with np.load(run_dir.file("data.npz")) as npz:
            return {k: npz[k] for k in npz.files}
    return read_csv(run_dir.file(RunDir.DATA))


def render(run_dir: RunDir) -> list[Path]:
    """Draw ``figure.png`` and ``figure.pdf`` (or a plotter's several figures) in the run directory."""
    plotter, source = PLOTTERS[run_dir.name]
    out = plotter(load_data(run_dir, source), load_summary(run_dir), load_config(run_dir))
    figures = out if isinstance(out, dict) else {"figure": out}
    written: list[Path] = []
    for stem, fig in figures.items():
        written += save_figure(fig, run_dir.file(stem))
    return written
