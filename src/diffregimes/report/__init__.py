"""Plots, tables and the Markdown/HTML report, drawn from saved runs only (never from experiment code).

Running experiments and then reporting them is :mod:`diffregimes.execution.driver` (``produce``, ``reproduce``).
"""

from .build import write_report
from .figures import plotter, render

__all__ = ["plotter", "render", "write_report"]
