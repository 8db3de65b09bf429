"""Run experiments, draw their figures, write the report: what the CLI's commands call."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..experiments import registry
from ..experiments.base import plan_run, run_experiment
from ..experiments.registry import plan_all
from ..experiments.runstore import RunDir
from .build import write_report
from .figures import render


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def figure_files(name: str) -> list[str]:
    """The files an experiment's figures are drawn to (PNG and PDF of every stem)."""
    return [f"{stem}.{ext}" for stem in registry.get(name).figures for ext in ("png", "pdf")]


def produce(name: str, preset: str, out: Path, seed: int = 0, force: bool = False, device: str | None = None,
            show_progress: bool = True, overrides: Mapping[str, Any] | None = None,
            force_since: float | None = None, log: Callable[[str], None] = _stderr) -> tuple[RunDir, bool]:
    """Run (or reuse) one experiment, then draw its figures if they are missing, damaged or stale.

    The run directory stays locked from the run to the last figure, so another run cannot replace
    the data between the two. Figures are recorded in the run's manifest like its data.
    """
    exp = registry.get(name)
    plan = plan_run(exp, preset, out, seed, overrides)
    with plan.run_dir.lock(plan.key):
        run_dir, reused = run_experiment(exp, preset, out, seed, force, device, show_progress, overrides,
                                         force_since, log)
        figures = figure_files(name)
        if not reused or run_dir.figures_problem(figures) is not None:
            render(run_dir)
            run_dir.record_figures(figures)
    return run_dir, reused


def reproduce(names: Sequence[str] | None, preset: str, out: Path, seed: int = 0, force: bool = False,
              device: str | None = None, show_progress: bool = True,
              log: Callable[[str], None] = print,
              overrides: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[Path, Path]:
    """Every experiment in ``names`` (default: all registered that have ``preset``), then report.md and report.html.

    ``overrides`` maps an experiment name to its parameter overrides (e.g. the MNIST path). Every
    experiment is validated before the first one runs. With ``force``, models and caches shared by
    several experiments are recomputed once (see :attr:`RunContext.force_since`).
    """
    names_given = bool(names)
    names = plan_all(names, preset, out, seed, overrides)
    if len(names) < len(registry.names()) and not names_given:
        skipped = [n for n in registry.names() if n not in names]
        log(f"preset {preset!r}: skipping {', '.join(skipped)} (they have no such preset)")
    force_since = time.time() if force else None
    runs = []
    for name in names:
        start = time.perf_counter()
        run_dir, reused = produce(name, preset, out, seed, force, device, show_progress, (overrides or {}).get(name),
                                  force_since)
        runs.append(run_dir)
        log(f"{name}: {'reused finished run' if reused else 'done'} ({time.perf_counter() - start:.1f} s) -> {run_dir.path}")
    md, page = write_report(out, runs, preset)
    log(f"report: {md} and {page}")
    return md, page
