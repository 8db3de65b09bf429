"""Plots, tables and the Markdown/HTML report, drawn from saved runs only (never from experiment code)."""

from typing import Any

from .build import write_report
from .figures import PLOTTERS, render

__all__ = ["PLOTTERS", "render", "write_report"]


def __getattr__(name: str) -> Any:
    # produce/reproduce run experiments, so they live in diffregimes.pipeline (above the report);
    # this keeps the old spelling ``diffregimes.report.produce`` working without importing experiments here.
    if name in ("produce", "reproduce"):
        from .. import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
