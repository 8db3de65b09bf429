"""Plots, tables and the Markdown/HTML report, drawn from saved runs only (never from experiment code).

Running experiments and then reporting them is :mod:`diffregimes.pipeline` (``produce``, ``reproduce``).
"""

from .build import write_report
from .figures import PLOTTERS, render

__all__ = ["PLOTTERS", "render", "write_report"]
