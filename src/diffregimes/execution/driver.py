"""The ``reproduce`` driver: plan the experiments, run their units on an executor, write results, figures, report.

Only this process writes into the run directories: workers return results, and the driver writes each
experiment's files (atomically, manifest last) as soon as its last unit is in, then draws its figures.
Everything is validated before anything runs; a finished, intact run is reused; units that finished
before an interruption are reused from ``<out>/_units`` (see :class:`~.units.UnitStore`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..experiments import registry
from ..experiments.base import (
    RunContext,
    RunPlan,
    compute,
    default_device,
    plan_run,
    reuse_or_clear,
    write_result,
)
from ..experiments.config import typed
from ..progress import format_seconds
from ..report import render, write_report
from ..runstore import RunDir, digest
from ..work import Unit, UnitEnv, UnitStore
from .executors import Executor, SerialExecutor
from .schedule import Progress, run_units

#: where finished unit results are kept between runs (under --out)
UNITS_DIR = "_units"


def _say(line: str) -> None:
    print(line, flush=True)  # flushed: a redirected log shows each line as it happens


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def figure_files(name: str) -> list[str]:
    """The files an experiment's figures are drawn to (PNG and PDF of every stem)."""
    return [f"{stem}.{ext}" for stem in registry.get(name).figures for ext in ("png", "pdf")]


def run_whole(
    name: str,
    preset: str,
    params: dict[str, Any],
    seed: int,
    device: str,
    out: str,
    tag: str,
    show_progress: bool,
    label: str,
    force_since: float | None,
) -> tuple[Any, float]:
    """Worker body of an experiment without ``assemble``: its ``run`` -> (Result, wall seconds).

    Its run directory (for checkpoints) and shared caches are under ``out`` on the worker's file system.
    """
    exp = registry.get(name)
    run_dir = RunDir(Path(out), name, tag)
    ctx = RunContext(run_dir, seed, device, show_progress, label, force_since)
    return compute(exp, params, ctx)


@dataclass
class _Job:
    """One experiment being computed: its plan, its units and what is in so far."""

    plan: RunPlan
    units: list[Unit]
    whole: Unit | None
    label: str
    results: dict[str, Any] = field(default_factory=dict)
    unit_s: float = 0.0
    done: bool = False

    @property
    def keys(self) -> list[str]:
        return [u.key for u in self.units] + ([self.whole.key] if self.whole else [])


def run_experiments(
    names: Sequence[str] | None,
    preset: str,
    out: Path,
    seed: int = 0,
    force: bool = False,
    device: str | None = None,
    show_progress: bool = True,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    executor: Executor | None = None,
    retries: int = 2,
    log: Callable[[str], None] = _say,
    notice: Callable[[str], None] | None = None,
) -> list[tuple[RunDir, bool]]:
    """Run (or reuse) the experiments ``names`` (default: every one of ``preset``); (run dir, reused?) each.

    ``executor`` (default: serial, in this process) runs the units; ``retries`` is how often a unit that
    raised or lost its worker is run again. With ``force``, everything is recomputed once, shared caches
    (trained models) included. ``log`` gets the result lines (each experiment's run directory) and, with
    ``show_progress``, the progress lines (units to compute, all done); ``notice`` (default: ``log``) the
    one-line warnings that a damaged or unfinished run is recomputed, shown with or without progress.
    """
    names = registry.plan_all(names, preset, Path(out), seed, overrides)  # everything checked before anything runs
    executor = executor or SerialExecutor()
    device = device or default_device()
    force_since = time.time() if force else None
    plans = [plan_run(registry.get(n), preset, Path(out), seed, (overrides or {}).get(n)) for n in names]
    outcome: dict[str, tuple[RunDir, bool]] = {}
    with contextlib.ExitStack() as locks:
        for plan in plans:  # held to the last figure: no other run can replace the data in between
            locks.enter_context(plan.run_dir.lock(plan.key))
        jobs = _plan_jobs(
            plans, preset, Path(out), device, force, force_since, executor, show_progress, log, notice or log, outcome
        )
        by_unit: dict[str, list[_Job]] = {}
        for job in jobs:  # experiments may share units (the MNIST models of Table 1 and Fig. 6)
            for k in dict.fromkeys(job.keys):
                by_unit.setdefault(k, []).append(job)
        units = _ordered_units(jobs)
        if units and show_progress:
            n_units = len({u.key for u in units})  # a unit several experiments declare counts once
            log(f"{len(jobs)} experiment(s) to compute, {n_units} unit(s); {executor.describe()}")
        began = time.perf_counter()

        def on_result(unit: Unit, value: Any, wall_s: float) -> None:
            for job in by_unit[unit.key]:
                job.results[unit.key] = value
                job.unit_s += wall_s
                if not job.done and all(k in job.results for k in job.keys):
                    job.done = True
                    _finish(job, store, device, force_since, log)
                    outcome[job.plan.exp.name] = (job.plan.run_dir, False)

        store = UnitStore(Path(out) / UNITS_DIR)
        progress = Progress(
            len({u.key for u in units}), sum(u.cost for u in {u.key: u for u in units}.values()), show_progress
        )
        run_units(
            units,
            executor,
            store,
            retries=retries,
            force_since=force_since,
            on_result=on_result,
            progress=progress,
        )
        if units and show_progress:
            log(f"all units done in {format_seconds(time.perf_counter() - began)}")
    return [outcome[p.exp.name] for p in plans]


def _plan_jobs(
    plans: Sequence[RunPlan],
    preset: str,
    out: Path,
    device: str,
    force: bool,
    force_since: float | None,
    executor: Executor,
    show_progress: bool,
    log: Callable[[str], None],
    notice: Callable[[str], None],
    outcome: dict[str, tuple[RunDir, bool]],
) -> list[_Job]:
    """Reuse what is finished (redrawing missing figures); make units for the rest."""
    jobs: list[_Job] = []
    computed: dict[str, _Job] = {}
    # an experiment's own progress lines: in this process only (workers side by side: the overall bar only)
    inner_progress = show_progress and isinstance(executor, SerialExecutor)
    for k, plan in enumerate(plans, 1):
        exp, run_dir = plan.exp, plan.run_dir
        label = f"[{k}/{len(plans)}] {exp.name}"
        if reuse_or_clear(plan, force, notice):
            _ensure_figures(run_dir, exp.name)
            outcome[exp.name] = (run_dir, True)
            log(f"{label}: reused finished run -> {run_dir.path}")
            continue
        units = exp.units(typed(exp, plan.params), UnitEnv(plan.seed, device, str(out))) if exp.units else []
        whole = None
        if exp.assemble is None:
            after = tuple(u.key for u in units) + tuple(k for a in exp.after if a in computed for k in computed[a].keys)
            whole = Unit(
                run_whole,
                (
                    exp.name,
                    preset,
                    dict(plan.params),
                    plan.seed,
                    device,
                    str(out),
                    run_dir.tag,
                    inner_progress,
                    label,
                    force_since,
                ),
                label=exp.name,
                cost=registry.entry(exp.name).quick_s,
                after=after,
                key=digest({"experiment": plan.key, "device": device}),
            )
        job = _Job(plan, units, whole, label)
        jobs.append(job)
        computed[exp.name] = job
    return jobs


def _ordered_units(jobs: Sequence[_Job]) -> list[Unit]:
    """Every job's units, then the whole-experiment units, so long trainings start first."""
    return [u for j in jobs for u in j.units] + [j.whole for j in jobs if j.whole is not None]


def _finish(job: _Job, store: UnitStore, device: str, force_since: float | None, log: Callable[[str], None]) -> None:
    """Write a job's result (assembled here, or returned by its whole unit) and draw its figures."""
    plan = job.plan
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    if job.whole is not None:
        result, _ = job.results[job.whole.key]
        wall = job.unit_s  # every unit's compute time, the model trainings it waited for included
    else:
        ctx = RunContext(plan.run_dir, plan.seed, device, False, job.label, force_since)
        result, assemble_s = compute(plan.exp, plan.params, ctx, [job.results[u.key] for u in job.units])
        wall = job.unit_s + assemble_s
    write_result(plan, result, device, wall, created)
    render(plan.run_dir)
    plan.run_dir.record_figures(figure_files(plan.exp.name))
    for key in job.keys:  # the finished run directory now stands for them; a rerun reuses it
        store.discard(key)
    log(f"{job.label}: done ({format_seconds(wall)} of unit time) -> {plan.run_dir.path}")


def _ensure_figures(run_dir: RunDir, name: str) -> None:
    figures = figure_files(name)
    if run_dir.figures_problem(figures) is not None:
        render(run_dir)
        run_dir.record_figures(figures)


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
    executor: Executor | None = None,
    log: Callable[[str], None] = _stderr,
) -> tuple[RunDir, bool]:
    """Run (or reuse) one experiment, then draw its figures if they are missing, damaged or stale.

    ``name`` is an experiment or a figure it draws (``fig12`` runs ``appc``); ``log`` gets the one-line
    notices (a damaged or unfinished run recomputed). Returns (run directory, reused?).
    """
    exp = registry.get(name)
    ((run_dir, reused),) = run_experiments(
        [exp.name],
        preset,
        out,
        seed,
        force,
        device,
        show_progress,
        {exp.name: dict(overrides)} if overrides else None,
        executor=executor,
        log=lambda _line: None,  # one experiment: the caller says where its results are
        notice=log,
    )
    return run_dir, reused


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
    *,
    executor: Executor | None = None,
    retries: int = 2,
) -> tuple[Path, Path]:
    """Every experiment in ``names`` (default: all registered that define ``preset``), then report.md and
    report.html; returns their paths.

    ``overrides`` maps an experiment name to its parameter overrides; runs with overrides go to their own
    directories, which the report names. ``executor`` (default serial) runs the work units: MNIST model
    trainings, manifold cases, whole experiments; ``log`` (default: stdout) gets the run's lines, stderr the
    warnings (a damaged or unfinished run recomputed).
    """
    log = log or _say
    began = time.perf_counter()
    runs = run_experiments(
        names,
        preset,
        out,
        seed,
        force,
        device,
        show_progress,
        overrides,
        executor=executor,
        retries=retries,
        log=log,
        notice=_stderr,
    )
    md, page = write_report(out, [r for r, _ in runs], preset)
    log(f"report: {md} and {page} (total {format_seconds(time.perf_counter() - began)})")
    return md, page
