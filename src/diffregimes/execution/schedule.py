"""Run a set of work units on an executor: dependencies, reuse of finished units, retries, overall progress.

:func:`run_units` is the only code that writes unit results (through :class:`~.units.UnitStore`, atomically,
as each unit ends), so an interrupted run keeps every unit that finished and a rerun reuses them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..progress import format_seconds, interactive
from ..work import Unit, UnitStore
from .executors import Executor


class UnitFailed(RuntimeError):
    """A unit kept failing after its retries; the last error is the ``__cause__``."""


@dataclass
class Progress:
    """One overall progress display for units finished across all workers, with an ETA from their costs.

    On a terminal a tqdm bar (finished/total units); otherwise one plain line per finished unit.
    """

    total_units: int
    total_cost: float
    show: bool = True
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))
    bar: bool | None = None
    done_units: int = 0
    done_cost: float = 0.0
    computed_cost: float = 0.0
    computed_s: float = 0.0
    start: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self._tqdm = None
        if self.show and (interactive() if self.bar is None else self.bar) and self.total_units:
            from tqdm.auto import tqdm

            self._tqdm = tqdm(total=self.total_units, desc="units", unit="unit", dynamic_ncols=True, leave=False)

    def eta_s(self) -> float | None:
        """Seconds left: remaining cost at the rate seen so far (None before any unit was computed)."""
        if self.computed_cost <= 0:
            return None
        elapsed = time.perf_counter() - self.start
        return elapsed / self.computed_cost * (self.total_cost - self.done_cost)

    def finished(self, unit: Unit, reused: bool, attempt: int = 1) -> None:
        """Record one unit that ended (computed now, or reused from the store)."""
        self.done_units += 1
        self.done_cost += unit.cost
        if not reused:
            self.computed_cost += unit.cost
        if not self.show:
            return
        eta = self.eta_s()
        tail = "ETA unknown" if eta is None else f"ETA {format_seconds(eta)}"
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(f"{unit.label[:40]}; {tail}", refresh=False)
            self._tqdm.update(1)
            return
        what = "reused" if reused else "done" + (f" (attempt {attempt})" if attempt > 1 else "")
        elapsed = format_seconds(time.perf_counter() - self.start)
        self.log(f"[{self.done_units}/{self.total_units} units] {unit.label}: {what}; {elapsed} elapsed, {tail}")

    def note(self, line: str) -> None:
        """A warning that must not be lost under the bar (a retry, a lost worker): shown with or without
        progress (``show``), on stderr."""
        if self._tqdm is not None:
            self._tqdm.write(line, file=sys.stderr)
        else:
            self.log(line)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None


def run_units(
    units: Sequence[Unit],
    executor: Executor,
    store: UnitStore,
    *,
    retries: int = 2,
    force_since: float | None = None,
    on_result: Callable[[Unit, Any, float], None] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every unit not already in ``store`` on ``executor``; return key -> result for all of them.

    A unit starts once the units named in its ``after`` have finished (those outside ``units`` must be in
    the store). Results are stored as each unit ends, then ``on_result(unit, result, wall seconds)`` is
    called (0 s for a reused one; the
    driver writes an experiment's files as soon as its last unit is in). A unit that raises or whose
    worker dies is run again up to ``retries`` times; then :class:`UnitFailed` is raised with the last
    error as its cause. With ``force_since``, stored results older than that time are recomputed.
    """
    by_key: dict[str, Unit] = {}
    for u in units:
        by_key.setdefault(u.key, u)
    progress = progress or Progress(len(by_key), sum(u.cost for u in by_key.values()), show=False)
    results: dict[str, Any] = {}
    pending: list[Unit] = []
    for u in by_key.values():
        found, value = store.load(u.key, force_since)
        if found:
            results[u.key] = value
            progress.finished(u, reused=True)
            if on_result is not None:
                on_result(u, value, 0.0)
        else:
            pending.append(u)
    _check_dependencies(pending, by_key, results)
    attempts: dict[str, int] = {}
    started: dict[str, float] = {}
    running: set[str] = set()
    try:
        while pending or running:
            for u in _ready(pending, results, executor.workers - len(running)):
                pending.remove(u)
                running.add(u.key)
                attempts[u.key] = attempts.get(u.key, 0) + 1
                started[u.key] = time.perf_counter()
                executor.submit(u)
            for outcome in executor.wait():
                u = outcome.unit
                running.discard(u.key)
                if outcome.ok:
                    store.save(u.key, outcome.value)
                    results[u.key] = outcome.value
                    progress.finished(u, reused=False, attempt=attempts[u.key])
                    if on_result is not None:
                        on_result(u, outcome.value, time.perf_counter() - started[u.key])
                    continue
                why = (
                    "its worker died" if outcome.lost else f"it raised {type(outcome.error).__name__}: {outcome.error}"
                )
                if attempts[u.key] > retries:
                    raise UnitFailed(f"unit {u.label} failed {attempts[u.key]} times; last: {why}") from outcome.error
                progress.note(f"unit {u.label}: attempt {attempts[u.key]} failed ({why}); retrying")
                pending.insert(0, u)
    finally:
        progress.close()
    return results


def _ready(pending: list[Unit], results: dict[str, Any], slots: int) -> list[Unit]:
    """Up to ``slots`` pending units whose dependencies have finished, in submission order."""
    ready = [u for u in pending if all(k in results for k in u.after)]
    return ready[: max(0, slots)]


def _check_dependencies(pending: list[Unit], by_key: dict[str, Unit], results: dict[str, Any]) -> None:
    """Every ``after`` key must be a unit of this run or a stored result, else the run could never finish."""
    for u in pending:
        missing = [k for k in u.after if k not in by_key and k not in results]
        if missing:
            raise ValueError(f"unit {u.label} waits for units that are not part of the run: {missing}")
