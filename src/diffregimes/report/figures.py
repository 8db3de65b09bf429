"""Render each experiment's figure(s) from its saved results; plots never recompute anything."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..catalog import CATALOG
from ..runstore import RunDir, load_config, load_summary, read_csv, read_npz
from .style import figure_style, save_figure

Plotter = Callable[[dict[str, np.ndarray], dict[str, Any], dict[str, Any]], Any]
ENTRIES = {e.name: e for e in CATALOG}


def plotter(name: str) -> tuple[Plotter, str]:
    """The plotter of experiment ``name`` and its data source ("csv" or "npz"), as its catalog line names them."""
    entry = ENTRIES[name]
    module, function = entry.plotter.rsplit(".", 1)
    return getattr(importlib.import_module(f"{__package__}.{module}"), function), entry.data


def load_data(run_dir: RunDir, source: str) -> dict[str, np.ndarray]:
    """The saved data of a run: data.csv (``source`` 'csv') or data.npz ('npz') as arrays."""
    if source == "npz":
        return read_npz(run_dir.file("data.npz"))
    return read_csv(run_dir.file(RunDir.DATA))


def render(run_dir: RunDir) -> list[Path]:
    """Draw ``figure.png`` and ``figure.pdf`` (or a plotter's several figures) in the run directory."""
    draw, source = plotter(run_dir.name)
    written: list[Path] = []
    with figure_style():
        out = draw(load_data(run_dir, source), load_summary(run_dir), load_config(run_dir))
        figures = out if isinstance(out, dict) else {"figure": out}
        for stem, fig in figures.items():
            written += save_figure(fig, run_dir.file(stem))
    return written
