"""The experiment skeleton: parameters -> results on disk -> (report layer) figure -> report section.

An :class:`Experiment` is a name, a title, a function from a preset to its parameters, the
declared types and ranges of those parameters (:class:`~.params.Schema`), optionally its independent
work units and the ``assemble`` step that turns their results into a result, and a pure
``run(params, ctx) -> Result``. :func:`plan_run` validates the parameters before anything touches the
disk; :func:`write_result` writes data.csv, optional data.npz, config.json, summary.json, run.json (times)
and finally manifest.json (the "finished" marker), each atomically. The ``reproduce`` driver
(:mod:`diffregimes.execution.driver`) runs registered experiments on any executor;
:func:`run_experiment` runs one :class:`Experiment` object (registered or not) in this process.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np

from .. import __version__
from ..errors import ValidationError
from ..progress import track
from ..runstore import (
    RunDir,
    cache_key,
    git_hash,
    load_config,
    load_summary,
    load_timings,
    overrides_tag,
    write_csv,
    write_json,
    write_npz,
)
from ..seeds import check_seed
from ..work import Unit, UnitEnv
from .config import COMMON_PRESETS, PRESETS, ExperimentConfig, check_preset, make_config_class, typed
from .params import Schema, resolve_params

T = TypeVar("T")


CLAIM_KINDS = ("paper", "finding")
VERDICTS = ("holds", "fails", "inconclusive")


@dataclass(frozen=True)
class Claim:
    """One row of the report's claim tables: a statement, the reference value, ours, and a verdict.

    ``holds`` is the verdict: "holds" / "fails" / "inconclusive" (decided from ``interval``, see
    :mod:`diffregimes.protocols.stats`), a bool for exact computations (True -> "holds"), or None for
    no verdict, in which case ``note`` says why (e.g. the paper's value is read off a figure and states no
    criterion). ``kind`` "paper" is a statement of the paper; "finding" is one of ours beyond it. ``why``: the
    reason a claim that does not hold fails (or cannot be decided), where it is known; the report says it beside
    the verdict.
    """

    claim: str
    paper: str
    ours: str
    holds: bool | str | None
    interval: str = ""
    kind: str = "paper"
    note: str = ""
    why: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.holds, str) and self.holds not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}: {self.holds!r}")
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"claim kind must be one of {CLAIM_KINDS}: kind={self.kind!r}")
        if self.holds is None and not self.note:
            raise ValueError(f"a claim without a verdict must say why in note: {self.claim!r}")

    @property
    def verdict(self) -> str | None:
        """holds / fails / inconclusive, or None (no verdict; see ``note``)."""
        if self.holds is None or isinstance(self.holds, str):
            return self.holds
        return "holds" if self.holds else "fails"

    def as_dict(self) -> dict[str, Any]:
        """The claim as stored in summary.json (``holds`` kept as a bool for older readers)."""
        v = self.verdict
        out = {
            "claim": self.claim,
            "paper": self.paper,
            "ours": self.ours,
            "interval": self.interval,
            "verdict": v,
            "kind": self.kind,
            "holds": None if v is None else v == "holds",
        }
        if self.note:
            out["note"] = self.note
        if self.why:
            out["why"] = self.why
        return out


def monotone(values: Sequence[float] | np.ndarray, decreasing: bool) -> bool | None:
    """Whether ``values`` strictly decrease (or increase); None with fewer than two values.

    A claim tested on no data must not hold: ``np.all`` of an empty comparison is True. NaNs
    compare False, so a NaN anywhere makes the answer False.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size < 2:
        return None
    steps = np.diff(arr)
    return bool(np.all(steps < 0) if decreasing else np.all(steps > 0))


@dataclass
class Result:
    """What an experiment returns: the table (data.csv), headline numbers and claims (summary.json).

    ``timings`` (wall-clock seconds, throughputs) go to run.json, not summary.json: they differ
    between otherwise identical runs and would break byte-for-byte comparison of results.
    """

    columns: Mapping[str, Sequence[Any]]
    headline: Mapping[str, Any]
    claims: Sequence[Claim] = ()
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    notes: Sequence[str] = ()
    tables: Sequence[Mapping[str, Any]] = ()  # report tables: {"title", "header", "rows"} each
    records: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)  # summary.json lists
    timings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunContext:
    """What a running experiment may use: its directory (for checkpoints), seed, device and progress bars.

    ``force_since``: with ``--force``, the time (``time.time()``) the forced command started.
    Cached artefacts an experiment keeps outside its run directory (trained models, shared protocol
    results) must be recomputed if older; :meth:`may_reuse` says whether one may be used.
    """

    run_dir: RunDir
    seed: int
    device: str
    show_progress: bool = True
    label: str = ""  # prefix of progress lines, e.g. "[3/16] fig4"; default: the run's name
    force_since: float | None = None

    def progress(self, iterable: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
        """Track a long loop (a bar with an ETA on a terminal, one line per finished loop in a log),
        unless progress is off."""
        if not self.show_progress:
            return iterable
        return track(iterable, f"{self.label or self.run_dir.name}: {desc}", total)

    def may_reuse(self, path: Path) -> bool:
        """True if the cached file ``path`` exists and ``--force`` does not ask to recompute it.

        Under ``--force`` a file counts as fresh when it was written after the forced command started,
        so one forced ``reproduce`` retrains a shared model once and the later experiments reuse it.
        """
        try:
            mtime = Path(path).stat().st_mtime
        except OSError:
            return False
        return self.force_since is None or mtime >= self.force_since


@dataclass(frozen=True)
class Experiment:
    """A registered experiment (one paper figure/table or one validation figure).

    ``schema`` declares each parameter's type and valid range (:mod:`.params`); ``presets`` are the
    presets ``params`` accepts.
    """

    name: str
    title: str
    section: str
    params: Callable[[str], dict[str, Any]]
    run: Callable[[Any, RunContext], Result]
    figures: tuple[str, ...] = ("figure",)
    description: str = ""
    presets: tuple[str, ...] = COMMON_PRESETS  # the MNIST experiments add "evidence"
    schema: Schema | None = None
    #: the experiment's independent work units (:mod:`diffregimes.work`) for its parameters;
    #: None: the whole ``run`` is one unit
    units: Callable[[Any, UnitEnv], list[Unit]] | None = None
    #: with ``units``: the result from the units' results (in the order ``units`` returned them), computed
    #: by the driver; None: ``run`` computes the result on a worker once the units are done (they then
    #: only prepare shared caches, e.g. trained models)
    assemble: Callable[[Any, list[Any], RunContext], Result] | None = None
    #: experiments whose shared caches this one reuses: when both run, this one starts after them
    after: tuple[str, ...] = ()
    #: the typed, frozen config class made from ``params`` and ``schema`` (:mod:`.config`); ``run``,
    #: ``units`` and ``assemble`` receive an instance of it
    config: type[ExperimentConfig] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.schema is not None and self.config is None:
            object.__setattr__(self, "config", make_config_class(self))


def default_device() -> str:
    """'cuda' when a GPU is visible to torch, else 'cpu' (torch is imported only when asked)."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class RunPlan:
    """A validated run: its parameters, the overrides that differ from the preset, cache key and directory."""

    exp: Experiment
    preset: str
    seed: int
    params: dict[str, Any]
    overrides: dict[str, Any]
    key: str
    run_dir: RunDir


def plan_run(
    exp: Experiment, preset: str, out: Path, seed: int = 0, overrides: Mapping[str, Any] | None = None
) -> RunPlan:
    """Validate everything about a run without touching the disk (raises :class:`ValidationError`).

    Overrides equal to the preset's value are dropped; the others put the run in its own directory
    ``<name>-<hash of the overrides>``, so that they never replace the preset's results.
    """
    check_preset(preset, exp)
    check_seed(seed)
    preset_params = dict(exp.params(preset))
    if exp.schema is None:
        if overrides:
            raise ValidationError(f"{exp.name} declares no parameter types: it takes no overrides")
        params = preset_params
    else:
        params = resolve_params(exp.name, exp.schema, preset_params, overrides)
    changed = {k: params[k] for k in (overrides or {}) if params[k] != preset_params[k]}
    key = cache_key(exp.name, {"params": params, "seed": seed})
    return RunPlan(exp, preset, int(seed), params, changed, key, RunDir(out, exp.name, overrides_tag(changed)))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def run_experiment(
    exp: Experiment,
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
    """Run (or reuse) one experiment into its run directory; returns (run dir, reused?).

    Everything is validated first (:func:`plan_run`). A directory that is not a finished, intact run of
    this configuration is recomputed, with a one-line notice through ``log`` when it held something.
    ``label`` prefixes its progress lines (default: the experiment's name). ``force_since`` (default:
    now, when ``force``) is passed on as :attr:`RunContext.force_since`.
    """
    plan = plan_run(exp, preset, out, seed, overrides)
    run_dir, key = plan.run_dir, plan.key
    if force and force_since is None:
        force_since = time.time()
    with run_dir.lock(key):
        if reuse_or_clear(plan, force, log):
            return run_dir, True
        _execute(plan, device, show_progress, label, force_since if force else None)
    return run_dir, False


def reuse_or_clear(plan: RunPlan, force: bool, notice: Callable[[str], None]) -> bool:
    """True if ``plan``'s run directory holds a finished, intact run of it (and ``force`` is off); otherwise
    empty the directory for a new run, with a one-line ``notice`` when it held something else."""
    run_dir = plan.run_dir
    problem = run_dir.problem(plan.key)
    if problem is None and not force:
        return True
    if problem not in (None, "absent"):
        what = (
            "results for other parameters"
            if problem == "other parameters"
            else f"an unfinished or damaged run ({problem})"
        )
        notice(f"{plan.exp.name}: {run_dir.path} holds {what}; recomputing")
    run_dir.invalidate()
    run_dir.path.mkdir(parents=True, exist_ok=True)
    return False


def run_config(plan: RunPlan, device: str) -> dict[str, Any]:
    """What config.json records about a run: parameters, seed, overrides (with the preset's values), device,
    version, commit and cache key."""
    preset_params = plan.exp.params(plan.preset)
    return {
        "name": plan.exp.name,
        "title": plan.exp.title,
        "preset": plan.preset,
        "params": plan.params,
        "seed": plan.seed,
        "overrides": {k: {"value": v, "preset": preset_params[k]} for k, v in plan.overrides.items()},
        "device": device,
        "version": __version__,
        "git": git_hash(),
        "cache_key": plan.key,
    }


def compute(
    exp: Experiment,
    params: dict[str, Any],
    ctx: RunContext,
    unit_results: list[Any] | None = None,
) -> tuple[Result, float]:
    """The experiment's result and its wall time: ``assemble`` of its units' results when it has one,
    else ``run`` (on whichever worker the executor chose)."""
    start = time.perf_counter()
    cfg = typed(exp, params)
    if exp.assemble is not None:
        result = exp.assemble(cfg, list(unit_results or []), ctx)
    else:
        result = exp.run(cfg, ctx)
    return result, time.perf_counter() - start


def write_result(plan: RunPlan, result: Result, device: str, wall_s: float, created: str | None = None) -> None:
    """Write a computed result into the run directory, each file atomically, the manifest last."""
    exp, run_dir = plan.exp, plan.run_dir
    created = created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    files = [RunDir.DATA, RunDir.CONFIG, RunDir.SUMMARY]
    write_csv(run_dir.file(RunDir.DATA), result.columns)
    if result.arrays:
        write_npz(run_dir.file(RunDir.NPZ), result.arrays)
        files.append(RunDir.NPZ)
    write_json(run_dir.file(RunDir.CONFIG), run_config(plan, device))
    summary = {
        "name": exp.name,
        "title": exp.title,
        "section": exp.section,
        "preset": plan.preset,
        "headline": dict(result.headline),
        "claims": [c.as_dict() for c in result.claims],
        "notes": list(result.notes),
    }
    if result.tables:
        summary["tables"] = [dict(t) for t in result.tables]
    if result.records:
        summary["records"] = {k: [dict(r) for r in v] for k, v in result.records.items()}
    write_json(run_dir.file(RunDir.SUMMARY), summary)
    write_json(run_dir.file(RunDir.TIMINGS), {"created": created, "wall_s": wall_s, **dict(result.timings)})
    run_dir.write_manifest(plan.key, files)


def _execute(plan: RunPlan, device: str | None, show_progress: bool, label: str, force_since: float | None) -> None:
    device = device or default_device()
    ctx = RunContext(plan.run_dir, plan.seed, device, show_progress, label, force_since)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    units = (
        plan.exp.units(typed(plan.exp, plan.params), UnitEnv(plan.seed, device, str(plan.run_dir.path.parent)))
        if plan.exp.units
        else []
    )
    results = [u() for u in ctx.progress(units, "units")] if units else None
    result, wall = compute(plan.exp, plan.params, ctx, results)
    write_result(plan, result, device, wall, created)


__all__ = [
    "PRESETS",
    "Claim",
    "Experiment",
    "Result",
    "RunContext",
    "RunPlan",
    "UnitEnv",
    "compute",
    "write_result",
    "check_preset",
    "default_device",
    "load_config",
    "load_summary",
    "load_timings",
    "monotone",
    "plan_run",
    "reuse_or_clear",
    "run_experiment",
]
