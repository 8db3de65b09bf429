"""Checks of drawn figures shared by the tests: tick labels that collide, figures redrawn from a run directory."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from diffregimes.report.figures import load_data, plotter
from diffregimes.report.style import figure_style
from diffregimes.runstore import RunDir, load_config, load_summary


def redraw(run: RunDir) -> dict[str, Figure]:
    """The figures of a finished run, drawn again by its plotter (stem -> figure), with the report's style."""
    draw, source = plotter(run.name)
    with figure_style():
        out = draw(load_data(run, source), load_summary(run), load_config(run))
    return out if isinstance(out, dict) else {"figure": out}


def _all_axes(fig: Figure) -> list[Any]:
    """Every axes of ``fig``, with the secondary axes (the OU-time top axes) that live inside others."""
    found: list[Any] = []
    stack = list(fig.axes)
    while stack:
        ax = stack.pop(0)
        if ax not in found:
            found.append(ax)
            stack += list(ax.child_axes)
    return found


def _shown_labels(axis: Axis) -> list[Any]:
    """The tick labels ``axis`` draws: visible, non-empty, at a tick inside the view (matplotlib keeps the
    labels of ticks outside it, undrawn)."""
    lo, hi = sorted(axis.get_view_interval())
    tol = 1e-9 * max(1.0, abs(hi - lo))
    labels = []
    for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
        loc = tick.get_loc()
        if loc is None or not np.isfinite(loc) or not lo - tol <= axis.convert_units(loc) <= hi + tol:
            continue
        labels += [t for t in (tick.label1, tick.label2) if t.get_visible() and t.get_text().strip()]
    return labels


def tick_label_collisions(fig: Figure) -> list[str]:
    """Pairs of tick labels of one axis whose drawn boxes overlap, as "'a' / 'b' (axis title)" lines; empty if
    none. The figure is drawn by Agg first, so the boxes are the rendered ones."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    found = []
    for ax in _all_axes(fig):
        for axis in (ax.xaxis, ax.yaxis):
            labels = _shown_labels(axis)
            boxes = [t.get_window_extent(renderer) for t in labels]
            for i in range(len(labels)):
                for j in range(i + 1, len(labels)):
                    if boxes[i].overlaps(boxes[j]):
                        title = getattr(ax, "get_title", lambda: "")()  # a secondary axis has none
                        where = f"{axis.axis_name} axis of {title or type(ax).__name__}"
                        found.append(f"{labels[i].get_text()!r} / {labels[j].get_text()!r} ({where})")
    return found
