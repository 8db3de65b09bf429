"""Run experiments, draw their figures, write the report: what the CLI's commands call."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .experiments import registry
from .experiments.base import plan_run, run_experiment
from .progress import format_seconds
from .report import render, write_report
from .runstore import RunDir


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def figure_files(name: str) -> list[str]:
    """The files an experiment's figures are drawn to (PNG and PDF of every stem)."""
    return [f"{stem}.{ext}" for stem in registry.get(name).figures for ext in ("png", "pdf")]


def produce(
    name: str,
    preset: str,
    out: Path,
    seed: int = 0,
    force: bool = False,
    device: str | None = None,
    show_progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    *,
    label: str = "",
    force_since: float | None = None,
    log: Callable[[str], None] = _stderr,
) -> tuple[RunDir, bool]:
    """Run (or reuse) one experiment, then draw its figures if they are missing, damaged or stale.

    ``name`` is an experiment or a figure it draws (``fig12`` runs ``appc``); ``label`` prefixes the
    progress lines (default: the experiment's name); ``log`` gets the one-line notice when a damaged
    or unfinished run is recomputed. The run directory stays locked from the run to the last figure,
    so another run cannot replace the data between the two; figures are recorded in its manifest.
    """
    exp = registry.get(name)
    plan = plan_run(exp, preset, out, seed, overrides)
    with plan.run_dir.lock(plan.key):
        run_dir, reused = run_experiment(
            exp,
            preset,
            out,
            seed,
            force,
            device,
            show_progress,
            overrides,
            label=label,
            force_since=force_since,
            log=log,
        )
        figures = figure_files(name)
        if not reused or run_dir.figures_problem(figures) is not None:
            render(run_dir)
            run_dir.record_figures(figures)
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


def reproduce(
    names: Sequence[str] | None,
    preset: str,
    out: Path,
    seed: int = 0,
    force: bool = False,
    device: str | None = None,
    show_progress: bool = True,
    log: Callable[[str], None] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int = 1,
) -> tuple[Path, Path]:
    """Every experiment in ``names`` (default: all registered that define ``preset``), then report.md and
    report.html.

    ``overrides`` maps an experiment name to its parameter overrides (e.g. the MNIST path); runs with overrides
    go to their own directories, which the report names. Every experiment is validated before the first one
    runs. With ``force``, models and caches shared by several experiments are recomputed once (see
    :attr:`~diffregimes.experiments.base.RunContext.force_since`). ``log`` (default:
    print to stdout) gets one line as each experiment starts and one as it finishes, with "k/N" and the ETA.
    With ``workers`` > 1 the MNIST models are first trained side by side in that many one-thread processes
    (:func:`diffregimes.experiments.evidence.pretrain`); the experiments then find them in the cache.
    """
    log = log or _say
    names = registry.plan_all(names, preset, out, seed, overrides)  # everything checked before anything runs
    force_since = time.time() if force else None
    if workers > 1:
        _pretrain(names, preset, out, seed, device, workers, overrides or {}, log)
    eta = OverallEta(names, preset)
    runs = []
    began = time.perf_counter()
    for k, name in enumerate(names, 1):
        tag = f"[{k}/{len(names)}] {name}"
        remaining = eta.remaining_s()
        log(
            f"{tag}: running; overall {format_seconds(time.perf_counter() - began)} elapsed, "
            + ("ETA unknown until one experiment has run" if remaining is None else f"ETA {format_seconds(remaining)}")
        )
        start = time.perf_counter()
        run_dir, reused = produce(
            name,
            preset,
            out,
            seed,
            force,
            device,
            show_progress,
            (overrides or {}).get(name),
            label=tag,
            force_since=force_since,
        )
        runs.append(run_dir)
        wall = time.perf_counter() - start
        eta.finished(name, wall, reused)
        log(f"{tag}: {'reused finished run' if reused else 'done'} in {format_seconds(wall)} -> {run_dir.path}")
    md, page = write_report(out, runs, preset)
    log(f"report: {md} and {page} (total {format_seconds(time.perf_counter() - began)})")
    return md, page


def _pretrain(
    names: Sequence[str],
    preset: str,
    out: Path,
    seed: int,
    device: str | None,
    workers: int,
    overrides: Mapping[str, Mapping[str, Any]],
    log: Callable[[str], None],
) -> None:
    """Train the MNIST models of ``names`` side by side before the experiments run (they then reuse them)."""
    from .experiments.base import default_device
    from .experiments.evidence import pretrain

    mnist = [n for n in names if registry.get(n).section == "mnist"]
    if not mnist or any(o.get("models_dir") for o in overrides.values()):
        return
    start = time.perf_counter()
    pretrain(
        out, preset, seed, workers, device or default_device(), overrides=dict(overrides.get(mnist[0], {})), only=mnist
    )
    log(f"pretrain: MNIST models ready ({format_seconds(time.perf_counter() - start)})")
