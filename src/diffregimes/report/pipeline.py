"""Run experiments, draw their figures, write the report: what the CLI's commands call."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..experiments import registry
from ..experiments.base import check_preset, run_experiment
from ..experiments.runstore import RunDir
from .build import write_report
from .figures import render


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
              overrides: Mapping[str, Mapping[str, Any]] | None = None, workers: int = 1) -> tuple[Path, Path]:
    """Every experiment in ``names`` (default: all registered that define ``preset``), then report.md
    and report.html.

    ``overrides`` maps an experiment name to its parameter overrides (e.g. the MNIST path). With
    ``workers`` > 1 the MNIST models are first trained side by side in that many one-thread processes
    (:func:`diffregimes.experiments.evidence.pretrain`); the experiments then find them in the cache.
    """
    check_preset(preset)
    if names:
        for name in names:
            exp = registry.get(name)  # validate every name before spending time on any
            if preset not in exp.presets:
                raise ValueError(f"preset {preset!r} is not defined for {exp.name}: valid are {', '.join(exp.presets)}")
    else:
        names = [n for n in registry.names() if preset in registry.get(n).presets]
    names = list(dict.fromkeys(registry.resolve(n) for n in names))
    if workers > 1:
        _pretrain(names, preset, out, seed, device, workers, overrides or {}, log)
    for name in names:
        start = time.perf_counter()
        _, reused = produce(name, preset, out, seed, force, device, show_progress, (overrides or {}).get(name))
        log(f"{name}: {'reused finished run' if reused else 'done'} ({time.perf_counter() - start:.1f} s) -> {out / name}")
    md, page = write_report(out, names, preset)
    log(f"report: {md} and {page}")
    return md, page


def _pretrain(names: Sequence[str], preset: str, out: Path, seed: int, device: str | None, workers: int,
              overrides: Mapping[str, Mapping[str, Any]], log: Callable[[str], None]) -> None:
    from ..experiments.base import default_device
    from ..experiments.evidence import pretrain

    mnist = [n for n in names if registry.get(n).section == "mnist"]
    if not mnist or any(o.get("models_dir") for o in overrides.values()):
        return
    extra = dict(overrides.get(mnist[0], {}))
    start = time.perf_counter()
    pretrain(out, preset, seed, workers, device or default_device(), overrides=extra, only=mnist)
    log(f"pretrain: MNIST models ready ({time.perf_counter() - start:.0f} s)")
