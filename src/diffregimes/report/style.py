"""Shared matplotlib set-up: headless backend, one consistent look, PNG + PDF output."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..experiments.runstore import atomic_write_bytes  # noqa: E402

plt.rcParams.update({
    "figure.dpi": 110, "savefig.dpi": 150, "font.size": 10, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
})


def save_figure(fig: "plt.Figure", stem: Path) -> list[Path]:
    """Write ``stem``.png and ``stem``.pdf atomically and close the figure."""
    written = []
    for ext in ("png", "pdf"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, bbox_inches="tight")
        path = stem.with_suffix(f".{ext}")
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    plt.close(fig)
    return written
