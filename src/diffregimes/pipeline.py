"""Run experiments, draw their figures, write the report: what the CLI's commands call."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .experiments import registry
from .experiments.base import check_preset, run_experiment
from .progress import format_seconds
from .report import render, write_report
from .runstore import RunDir


def produce(name: str, preset: str, out: Path, seed: int = 0, force: bool = False, device: str | None = None,
            show_progress: bool = True, overrides: Mapping[str, Any] | None = None, *,
            label: str = "") -> tuple[RunDir, bool]:
    """Run (or reuse) one experiment, then draw its figures if they are missing or stale.

    ``name`` is an experiment or a figure it draws (``fig12`` runs ``appc``); ``label`` prefixes the
    progress lines (default: the experiment's name).
    """
    exp = registry.get(name)
    run_dir, reused = run_experiment(exp, preset, out, seed, force, device, show_progress, overrides, label=label)
    if not reused or not all(run_dir.file(f"{stem}.png").exists() for stem in exp.figures):
        render(run_dir)
    return run_dir, reused


class OverallEta:
    """ETA of a sequence of experiments, from their reference costs scaled by the speed seen so far.

    Each experiment weighs its quick-preset wall time on the reference machine (:class:`Entry`.quick_s).
    Before any experiment has run, the quick preset is assumed to run at the reference speed; other
    presets get no ETA until one experiment has been computed (reused runs cost nothing and say nothing
    about speed).
    """

    def __init__(self, names: Sequence[str], preset: str) -> None:
        self.weights = {n: registry.entry(n).quick_s for n in names}
        self.preset = preset
        self.spent_s = 0.0  # wall time of the experiments computed so far
        self.spent_w = 0.0  # their reference weight

    def finished(self, name: str, wall_s: float, reused: bool) -> None:
        """Record one finished experiment."""
        weight = self.weights.pop(name)
        if not reused:
            self.spent_s += wall_s
            self.spent_w += weight

    def remaining_s(self) -> float | None:
        """Estimated seconds for the experiments not finished yet (None: no basis yet)."""
        if self.spent_w > 0:
            rate = self.spent_s / self.spent_w
        elif self.preset == "quick":
            rate = 1.0
        else:
            return None
        return rate * sum(self.weights.values())


def _say(line: str) -> None:
    print(line, flush=True)  # flushed: a redirected log shows each line as it happens


def reproduce(names: Sequence[str] | None, preset: str, out: Path, seed: int = 0, force: bool = False,
              device: str | None = None, show_progress: bool = True,
              log: Callable[[str], None] | None = None,
              overrides: Mapping[str, Mapping[str, Any]] | None = None, workers: int = 1) -> tuple[Path, Path]:
    """Every experiment in ``names`` (default: all registered that define ``preset``), then report.md and
    report.html.

    ``overrides`` maps an experiment name to its parameter overrides (e.g. the MNIST path). ``log`` (default:
    print to stdout) gets one line as each experiment starts and one as it finishes, with "k/N" and the ETA.
    With ``workers`` > 1 the MNIST models are first trained side by side in that many one-thread processes
    (:func:`diffregimes.experiments.evidence.pretrain`); the experiments then find them in the cache.
    """
    check_preset(preset)
    log = log or _say
    if names:
        for name in names:
            registry.entry(name)  # validate every name before spending time on any
            exp = registry.get(name)
            if preset not in exp.presets:
                raise ValueError(f"preset {preset!r} is not defined for {exp.name}: valid are {', '.join(exp.presets)}")
    else:
        names = [n for n in registry.names() if preset in registry.get(n).presets]
    names = list(dict.fromkeys(registry.resolve(n) for n in names))
    if workers > 1:
        _pretrain(names, preset, out, seed, device, workers, overrides or {}, log)
    eta = OverallEta(names, preset)
    began = time.perf_counter()
    for k, name in enumerate(names, 1):
        tag = f"[{k}/{len(names)}] {name}"
        remaining = eta.remaining_s()
        log(f"{tag}: running; overall {format_seconds(time.perf_counter() - began)} elapsed, "
            + ("ETA unknown until one experiment has run" if remaining is None else
               f"ETA {format_seconds(remaining)}"))
        start = time.perf_counter()
        _, reused = produce(name, preset, out, seed, force, device, show_progress, (overrides or {}).get(name),
                            label=tag)
        wall = time.perf_counter() - start
        eta.finished(name, wall, reused)
        log(f"{tag}: {'reused finished run' if reused else 'done'} in {format_seconds(wall)} -> {out / name}")
    md, page = write_report(out, names, preset)
    log(f"report: {md} and {page} (total {format_seconds(time.perf_counter() - began)})")
    return md, page


def _pretrain(names: Sequence[str], preset: str, out: Path, seed: int, device: str | None, workers: int,
              overrides: Mapping[str, Mapping[str, Any]], log: Callable[[str], None]) -> None:
    """Train the MNIST models of ``names`` side by side before the experiments run (they then reuse them)."""
    from .experiments.base import default_device
    from .experiments.evidence import pretrain

    mnist = [n for n in names if registry.get(n).section == "mnist"]
    if not mnist or any(o.get("models_dir") for o in overrides.values()):
        return
    start = time.perf_counter()
    pretrain(out, preset, seed, workers, device or default_device(), overrides=dict(overrides.get(mnist[0], {})),
             only=mnist)
    log(f"pretrain: MNIST models ready ({format_seconds(time.perf_counter() - start)})")
