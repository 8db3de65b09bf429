"""Plots, tables and the Markdown/HTML report; reads saved results only."""

from .build import write_report
from .figures import PLOTTERS, register, render
from .pipeline import produce, reproduce

__all__ = ["write_report", "PLOTTERS", "register", "render", "produce", "reproduce"]
