"""The unit contract: the independent pieces an experiment is made of, what they may depend on, the thread
budget and core count they run with, and the on-disk store of their results.

A :class:`Unit` is a module-level function and a small picklable argument tuple. Calling it is a pure
computation: the same arguments give the same result on any worker (every random generator inside is
seeded from the arguments, see :func:`diffregimes.seeds.derive_seed`), so a unit can run in this process,
in a process pool or on a Ray cluster, and a unit that died is simply run again. Its ``key`` (a hash of
the function's name, its arguments and the package version) names its result in the
:class:`UnitStore`; only the driver writes that store, atomically, so workers need no shared file system.

This module sits below the experiments (which declare their units with it) and below the executors, the
scheduler and the driver (which run them): it knows nothing about either.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes
from .runstore import digest

#: environment variable naming the intra-op threads a unit may use (set by the executors in each
#: worker; a user may set it to cap a serial run); unset: every core the process may run on
THREADS_ENV = "DIFFREGIMES_THREADS"
#: test hook: "<fault>:<unit key or label prefix>:<marker file>" makes the first attempt of matching
#: units fail ("raise") or kill their worker process ("kill"); the marker file records that it happened
FAULT_ENV = "DIFFREGIMES_TEST_FAULT"


@dataclass(frozen=True)
class Unit:
    """One independent piece of work: ``fn(*args)``.

    ``fn`` must be a module-level function (picklable by reference) and ``args`` small and picklable (no
    tensors or models: configs, seeds, paths). ``label`` is what progress lines show; ``cost`` the unit's
    rough weight for the overall ETA; ``after`` the keys of units that must finish first (e.g. the
    trainings of the models a protocol evaluates); ``torch``: whether it runs torch code (then an executor
    gives it a thread budget and, on a Ray cluster with GPUs, a GPU share).
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    label: str
    cost: float = 1.0
    after: tuple[str, ...] = ()
    torch: bool = True
    key: str = field(default="")

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", unit_key(self.fn, self.args))

    def __call__(self) -> Any:
        return self.fn(*self.args)


def unit_key(fn: Callable[..., Any], args: Sequence[Any]) -> str:
    """Stable key of ``fn(*args)``: hash of the function's qualified name, its arguments and the version."""
    from . import __version__

    return digest({"fn": f"{fn.__module__}.{fn.__qualname__}", "args": list(args), "version": __version__})


@dataclass(frozen=True)
class UnitEnv:
    """What an experiment's units may depend on besides its parameters."""

    seed: int
    device: str
    out: str  # the output root (shared caches such as trained models live under it)


def available_cores() -> int:
    """Cores this process may run on (``os.sched_getaffinity`` where the OS has it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def thread_budget() -> int | None:
    """The intra-op threads this process's units may use (:data:`THREADS_ENV`), None when unset."""
    value = os.environ.get(THREADS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def execute(unit: Unit, threads: int | None = None) -> Any:
    """Run ``unit`` in this process with ``threads`` intra-op threads (what every executor's worker calls).

    The thread budget is exported as :data:`THREADS_ENV` so that code deep inside (which sizes its own
    torch threads from the cores it may use) stays within it; the previous settings are restored after.
    """
    _maybe_fault(unit)
    if threads is None:
        return unit()
    old_env = os.environ.get(THREADS_ENV)
    os.environ[THREADS_ENV] = str(threads)
    old_torch = _set_torch_threads(threads) if unit.torch else None
    try:
        return unit()
    finally:
        if old_env is None:
            os.environ.pop(THREADS_ENV, None)
        else:
            os.environ[THREADS_ENV] = old_env
        if old_torch is not None:
            _set_torch_threads(old_torch)


def _set_torch_threads(n: int) -> int:
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    return old


def _maybe_fault(unit: Unit) -> None:
    """The test hook of :data:`FAULT_ENV`: fail a matching unit's first attempt once, for the retry tests."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    kind, target, marker = spec.split(":", 2)
    if not (unit.key == target or unit.label.startswith(target)):
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # exactly one attempt, across processes
    except FileExistsError:
        return
    os.close(fd)
    if kind == "kill":
        os._exit(17)  # the worker dies without cleanup, as under the OOM killer
    raise RuntimeError(f"injected fault in unit {unit.label} (test hook {FAULT_ENV})")


class UnitStore:
    """Finished unit results under ``root`` (``<root>/<key>.pkl``), written only by the driver.

    A file is reused only if it unpickles and records the key it is stored under; anything else (a
    truncated write of a killed run, a file copied over another) counts as absent.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Where the result of unit ``key`` is stored."""
        return self.root / f"{key}.pkl"

    def load(self, key: str, since: float | None = None) -> tuple[bool, Any]:
        """(True, result) for a stored, intact result of ``key`` written at or after ``since``; else (False, None)."""
        path = self.path(key)
        try:
            if since is not None and path.stat().st_mtime < since:
                return False, None
            record = pickle.loads(path.read_bytes())
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, ValueError):
            return False, None
        if not (isinstance(record, dict) and record.get("key") == key and "result" in record):
            return False, None
        return True, record["result"]

    def discard(self, key: str) -> None:
        """Forget the result of ``key`` (once what it was for is written elsewhere); an emptied store leaves
        no directory behind."""
        self.path(key).unlink(missing_ok=True)
        try:
            self.root.rmdir()
        except OSError:  # not empty (other units' results), or already gone
            pass

    def save(self, key: str, result: Any) -> None:
        """Store ``result`` under ``key`` atomically."""
        buf = io.BytesIO()
        pickle.dump({"key": key, "result": result}, buf, protocol=pickle.HIGHEST_PROTOCOL)
        atomic_write_bytes(self.path(key), buf.getvalue())
