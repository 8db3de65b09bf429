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

import dataclasses
import hashlib
import io
import json
import math
import os
import stat
import zipfile
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
    """The intra-op threads this process's units may use (:data:`THREADS_ENV`), None when unset; a value that
    is not a positive integer is refused (one line naming the variable), not silently ignored."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) <= 4096:
        from .errors import ValidationError

        raise ValidationError(f"{THREADS_ENV} must be an integer in [1, 4096]: {THREADS_ENV}={value!r}")
    return int(value)


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
    """Finished unit results under ``root``, written only by the driver; nothing in it can run code.

    A result is stored as ``<root>/<key>.npz``: its arrays as plain (non-object) NumPy arrays and the rest of it
    as JSON (:func:`encode_result`), loaded with ``allow_pickle=False``, beside ``<key>.sha256``, the file's
    SHA-256 recorded when the driver wrote it. A file is reused only if it is a regular file (not a link, FIFO
    or device, which are refused without being opened), matches its recorded digest, parses and names the key
    it is stored under; anything else (a truncated write of a killed run, a changed byte, a file copied over
    another, a crafted file) counts as absent and the unit is computed again.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Where the result of unit ``key`` is stored."""
        return self.root / f"{key}.npz"

    def digest_path(self, key: str) -> Path:
        """Where the SHA-256 of the result file of ``key`` is recorded."""
        return self.root / f"{key}.sha256"

    def load(self, key: str, since: float | None = None) -> tuple[bool, Any]:
        """(True, result) for a stored, intact result of ``key`` written at or after ``since``; else (False, None)."""
        path = self.path(key)
        try:
            blob = _read_regular(path)
            if since is not None and path.stat().st_mtime < since:
                return False, None
            if _read_regular(self.digest_path(key)).decode("ascii").strip() != hashlib.sha256(blob).hexdigest():
                return False, None
            record = decode_result(blob)
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, zipfile.BadZipFile):
            return False, None
        if not (isinstance(record, dict) and record.get("key") == key and "result" in record):
            return False, None
        return True, record["result"]

    def discard(self, key: str) -> None:
        """Forget the result of ``key`` (once what it was for is written elsewhere); an emptied store leaves
        no directory behind."""
        self.path(key).unlink(missing_ok=True)
        self.digest_path(key).unlink(missing_ok=True)
        try:
            self.root.rmdir()
        except OSError:  # not empty (other units' results), or already gone
            pass

    def save(self, key: str, result: Any) -> None:
        """Store ``result`` under ``key`` atomically, then its digest (a result without one is not reused)."""
        blob = encode_result({"key": key, "result": result})
        atomic_write_bytes(self.path(key), blob)
        atomic_write_bytes(self.digest_path(key), (hashlib.sha256(blob).hexdigest() + "\n").encode("ascii"))


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file; a link, FIFO, device or directory raises OSError unopened."""
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise OSError(f"not a regular file: {path}")
    return Path(path).read_bytes()


def encode_result(obj: Any) -> bytes:
    """``obj`` (dicts, lists, tuples, str, int, float, bool, None, NumPy arrays and scalars, and the project's own
    dataclasses such as an experiment's Result) as npz bytes: the
    arrays as ``a0, a1, ...`` and the structure as UTF-8 JSON in ``__json__``. Object arrays and other types
    are refused (TypeError): a unit must return plain data."""
    import numpy as np

    arrays: dict[str, Any] = {}

    def enc(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            if x.dtype.hasobject:
                raise TypeError("a unit result may not hold object arrays")
            name = f"a{len(arrays)}"
            arrays[name] = x
            return {"__nd__": name}
        if isinstance(x, np.generic):
            return enc(x.item())
        if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
            return x
        if isinstance(x, float):
            return x if math.isfinite(x) else {"__float__": repr(x)}
        if isinstance(x, tuple):
            return {"__tuple__": [enc(v) for v in x]}
        if isinstance(x, list):
            return [enc(v) for v in x]
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x) and not (_TAGS & set(x)):
                return {k: enc(v) for k, v in x.items()}
            return {"__items__": [[enc(k), enc(v)] for k, v in x.items()]}
        if dataclasses.is_dataclass(x) and not isinstance(x, type) and type(x).__module__.startswith("diffregimes."):
            fields = {f.name: enc(getattr(x, f.name)) for f in dataclasses.fields(x) if f.init}
            return {"__dc__": f"{type(x).__module__}:{type(x).__qualname__}", "fields": fields}
        raise TypeError(f"a unit result may hold plain data only, not {type(x).__name__}")

    tree = json.dumps(enc(obj), allow_nan=False).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, __json__=np.frombuffer(tree, dtype=np.uint8), **arrays)
    return buf.getvalue()


def decode_result(blob: bytes) -> Any:
    """The object of :func:`encode_result`'s bytes (read with ``allow_pickle=False``: no code can run)."""
    import numpy as np

    with np.load(io.BytesIO(blob), allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    tree = json.loads(arrays.pop("__json__").tobytes().decode("utf-8"))

    def dec(x: Any) -> Any:
        if isinstance(x, list):
            return [dec(v) for v in x]
        if isinstance(x, dict):
            if set(x) == {"__nd__"}:
                return arrays[x["__nd__"]]
            if set(x) == {"__tuple__"}:
                return tuple(dec(v) for v in x["__tuple__"])
            if set(x) == {"__float__"}:
                return float(x["__float__"])
            if set(x) == {"__items__"}:
                return {_hashable(dec(k)): dec(v) for k, v in x["__items__"]}
            if set(x) == {"__dc__", "fields"}:
                return _dataclass(x["__dc__"])(**{k: dec(v) for k, v in x["fields"].items()})
            return {k: dec(v) for k, v in x.items()}
        return x

    return dec(tree)


_TAGS = {"__nd__", "__tuple__", "__float__", "__items__", "__dc__"}


def _dataclass(name: str) -> type:
    """The project's own dataclass ``module:qualname`` (nothing outside ``diffregimes`` is ever imported)."""
    import importlib

    module, _, qualname = name.partition(":")
    if not module.startswith("diffregimes.") or "." in qualname:
        raise TypeError(f"not a diffregimes dataclass: {name}")
    cls = getattr(importlib.import_module(module), qualname)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"not a diffregimes dataclass: {name}")
    return cls


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key
