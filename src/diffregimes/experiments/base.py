"""The experiment skeleton: parameters -> results on disk -> (report layer) figure -> report section.

An :class:`Experiment` is a name, a title, a function from a preset to its parameters and a pure
``run(params, ctx) -> Result``. :func:`run_experiment` owns the run directory: it reuses a finished
run whose cache key matches, otherwise runs, then writes data.csv, optional data.npz, config.json
and finally summary.json (the "finished" marker), each atomically.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np

from .. import __version__
from ..progress import track
from ..runstore import RunDir, cache_key, git_hash, load_config, load_summary, write_csv, write_json, write_npz

PRESETS = ("smoke", "quick", "evidence", "paper")
T = TypeVar("T")


CLAIM_KINDS = ("paper", "finding")
VERDICTS = ("holds", "fails", "inconclusive")


@dataclass(frozen=True)
class Claim:
    """One row of the report's claim tables: a statement, the reference value, ours, and a verdict.

    ``holds`` is the verdict: "holds" / "fails" / "inconclusive" (decided from ``interval``, see
    :mod:`diffregimes.protocols.stats`), a bool for exact computations (True -> "holds"), or None for
    no verdict, in which case ``note`` says why (e.g. the paper's value is read off a figure and states no
    criterion). ``kind`` "paper" is a statement of the paper; "finding" is one of ours beyond it.
    """

    claim: str
    paper: str
    ours: str
    holds: bool | str | None
    interval: str = ""
    kind: str = "paper"
    note: str = ""

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
        out = {"claim": self.claim, "paper": self.paper, "ours": self.ours, "interval": self.interval,
               "verdict": v, "kind": self.kind, "holds": None if v is None else v == "holds"}
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Result:
    """What an experiment returns: the table (data.csv), headline numbers and claims (summary.json)."""

    columns: Mapping[str, Sequence[Any]]
    headline: Mapping[str, Any]
    claims: Sequence[Claim] = ()
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    notes: Sequence[str] = ()
    tables: Sequence[Mapping[str, Any]] = ()  # report tables: {"title", "header", "rows"} each
    records: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)  # summary.json lists


@dataclass(frozen=True)
class RunContext:
    """What a running experiment may use: its directory (for checkpoints), seed, device and progress bars."""

    run_dir: RunDir
    seed: int
    device: str
    show_progress: bool = True
    label: str = ""  # prefix of progress lines, e.g. "[3/16] fig4"; default: the run's name

    def progress(self, iterable: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
        """Track a long loop (a bar with an ETA on a terminal, one line per finished loop in a log),
        unless progress is off."""
        if not self.show_progress:
            return iterable
        return track(iterable, f"{self.label or self.run_dir.name}: {desc}", total)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment (one paper figure/table or one validation figure)."""

    name: str
    title: str
    section: str
    params: Callable[[str], dict[str, Any]]
    run: Callable[[dict[str, Any], RunContext], Result]
    figures: tuple[str, ...] = ("figure",)
    description: str = ""
    presets: tuple[str, ...] = ("smoke", "quick", "paper")  # the MNIST experiments add "evidence"


def check_preset(preset: str) -> str:
    """``preset`` if it is one of :data:`PRESETS`, else ``ValueError`` naming the valid ones."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: valid are {', '.join(PRESETS)}")
    return preset


def default_device() -> str:
    """'cuda' when a GPU is visible to torch, else 'cpu' (torch is imported only when asked)."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def run_experiment(exp: Experiment, preset: str, out: Path, seed: int = 0, force: bool = False,
                   device: str | None = None, show_progress: bool = True,
                   overrides: Mapping[str, Any] | None = None, *, label: str = "") -> tuple[RunDir, bool]:
    """Run (or reuse) one experiment into ``out/<name>/``; returns (run dir, reused?).

    ``label`` prefixes its progress lines (default: the experiment's name).
    """
    check_preset(preset)
    if preset not in exp.presets:
        raise ValueError(f"preset {preset!r} is not defined for {exp.name}: valid are {', '.join(exp.presets)}")
    params = dict(exp.params(preset))
    for key, value in (overrides or {}).items():
        if key not in params:
            raise ValueError(f"unknown parameter {key!r} for {exp.name}: valid are {', '.join(sorted(params))}")
        params[key] = value
    key = cache_key(exp.name, {"params": params, "seed": seed})
    run_dir = RunDir(out, exp.name)
    if not force and run_dir.is_finished(key):
        return run_dir, True
    run_dir.invalidate()
    run_dir.path.mkdir(parents=True, exist_ok=True)
    config = {"name": exp.name, "title": exp.title, "preset": preset, "params": params, "seed": seed,
              "device": device or default_device(), "version": __version__, "git": git_hash(),
              "cache_key": key, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    ctx = RunContext(run_dir, seed, config["device"], show_progress, label)
    start = time.perf_counter()
    result = exp.run(params, ctx)
    wall = time.perf_counter() - start
    write_csv(run_dir.file(RunDir.DATA), result.columns)
    if result.arrays:
        write_npz(run_dir.file("data.npz"), result.arrays)
    write_json(run_dir.file(RunDir.CONFIG), config)
    summary = {"name": exp.name, "title": exp.title, "section": exp.section, "preset": preset,
               "wall_s": wall, "headline": dict(result.headline),
               "claims": [c.as_dict() for c in result.claims], "notes": list(result.notes)}
    if result.tables:
        summary["tables"] = [dict(t) for t in result.tables]
    if result.records:
        summary["records"] = {k: [dict(r) for r in v] for k, v in result.records.items()}
    write_json(run_dir.file(RunDir.SUMMARY), summary)
    return run_dir, False


__all__ = ["PRESETS", "Claim", "Experiment", "Result", "RunContext", "check_preset", "default_device",
           "load_config", "load_summary", "run_experiment"]
