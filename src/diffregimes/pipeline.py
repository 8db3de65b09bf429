"""Run experiments, draw their figures, write the report: what the CLI's commands call."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .experiments import registry
from .experiments.base import check_preset, run_experiment
from .report import render, write_report
from .runstore import RunDir


def produce(name: str, preset: str, out: Path, seed: int = 0, force: bool = False, device: str | None = None,
            show_progress: bool = True, overrides: Mapping[str, Any] | None = None) -> tuple[RunDir, bool]:
    """Run (or reuse) one experiment, then draw its figures if they are missing or stale."""
    exp = registry.get(name)
    run_dir, reused = run_experiment(exp, preset, out, seed, force, device, show_progress, overrides)
    if not reused or not all(run_dir.file(f"{stem}.png").exists() for stem in exp.figures):
        render(run_dir)
    return run_dir, reused


def reproduce(names: Sequence[str] | None, preset: str, out: Path, seed: int = 0, force: bool = False,
              device: str | None = None, show_progress: bool = True,
              log: Callable[[str], None] = print,
              overrides: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[Path, Path]:
    """Every experiment in ``names`` (default: all registered), then report.md and report.html.

    ``overrides`` maps an experiment name to its parameter overrides (e.g. the MNIST path).
    """
    check_preset(preset)
    names = list(names) if names else registry.names()
    for name in names:
        registry.get(name)  # validate every name before spending time on any
    names = list(dict.fromkeys(registry.resolve(n) for n in names))
    for name in names:
        start = time.perf_counter()
        _, reused = produce(name, preset, out, seed, force, device, show_progress, (overrides or {}).get(name))
        log(f"{name}: {'reused finished run' if reused else 'done'} ({time.perf_counter() - start:.1f} s) -> {out / name}")
    md, page = write_report(out, names, preset)
    log(f"report: {md} and {page}")
    return md, page
