"""One look for every figure, applied in a context: importing the report changes no global matplotlib state.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot), so no backend is chosen or
needed: saving renders with Agg whatever backend the caller's session uses.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..atomic import atomic_write_bytes

#: rcParams of the report's figures
STYLE: dict[str, Any] = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}


#: x label of every plot against the coupling: g is a rate, like the relaxation rate beta it is measured against
G_LABEL = r"coupling $g$ (in units of $\beta$)"


def pi_ticks(axis: Any, quarters: int = 4) -> None:
    """Ticks at multiples of pi/4 from 0 to pi, labelled 0, π/4, ..., π (an angle axis in radians)."""
    labels = ["0", "π/4", "π/2", "3π/4", "π"]
    axis.set_ticks([k * np.pi / quarters for k in range(quarters + 1)], labels[: quarters + 1])


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply :data:`STYLE` for the duration (restored on exit)."""
    with matplotlib.rc_context(STYLE):
        yield


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any) -> tuple[Figure, Any]:
    """A new figure and its axes (as ``pyplot.subplots``), without registering it with pyplot."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem``.png and ``stem``.pdf atomically."""
    written = []
    for ext in ("png", "pdf"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, bbox_inches="tight")
        path = stem.with_suffix(f".{ext}")
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    return written
