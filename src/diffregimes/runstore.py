"""Run directories: ``<out>/<name>/`` with config.json, data.csv, summary.json and figures.

The on-disk contract between the experiments (which write runs) and the report (which reads them):
it sits below both so that the report never imports experiment code.

Every file is written atomically (temporary file in the same directory, then ``os.replace``), so an
interrupted run never leaves a half-written file that a later run would reuse. ``manifest.json`` is
written last and marks the run as finished: it records the cache key and the size and SHA-256 of
every file the run needs. A run is reused only if its key equals the requested one and every file
still matches its record (a truncated, emptied or replaced file makes it unfinished).

Results are byte-for-byte comparable between runs of one configuration: times (wall clock,
throughput, creation date) go to ``run.json`` only, and ``.npz`` files carry no zip timestamps.
Runs with parameter overrides live in their own directory ``<name>-<hash of the overrides>``, so
they never replace the preset's results. A lock (``.lock``) keeps two different runs from writing
one directory at the same time.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import hashlib
import io
import json
import os
import stat
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from . import __version__
from .atomic import atomic_write_bytes
from .errors import ValidationError


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`diffregimes.atomic.atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(value: Any) -> Any:
    """NumPy scalars/arrays and non-finite floats to plain JSON (NaN and inf become null)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a typed config: its fields
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def write_json(path: Path, payload: Any) -> None:
    """``payload`` as indented JSON (NumPy values as plain ones, NaN and inf as null), atomically."""
    atomic_write_text(path, json.dumps(to_jsonable(payload), indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    """A JSON file back to Python (a special file raises OSError unopened)."""
    return json.loads(regular_bytes(path).decode("utf-8"))


def write_csv(path: Path, columns: Mapping[str, Sequence[Any]]) -> None:
    """Columns of equal length to CSV (floats with 17 significant digits, so values round-trip)."""
    names = list(columns)
    lengths = {len(columns[n]) for n in names}
    if len(lengths) > 1:
        raise ValueError(f"CSV columns differ in length: {dict((n, len(columns[n])) for n in names)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in zip(*(columns[n] for n in names)):
        writer.writerow([_format_cell(v) for v in row])
    atomic_write_text(path, buffer.getvalue())


def npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    """A compressed ``.npz`` of ``arrays`` whose bytes depend on the arrays only.

    ``np.savez_compressed`` stamps every member with the current time, so two runs with identical
    numbers would differ byte for byte; here every member carries the zip epoch (1980-01-01).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def write_npz(path: Path, arrays: Mapping[str, Any]) -> None:
    """Arrays to a compressed ``.npz`` (same arrays, same bytes: :func:`npz_bytes`), atomically."""
    atomic_write_bytes(path, npz_bytes(arrays))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """An ``.npz`` back to a dict of arrays (no pickled objects)."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def regular_bytes(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file; a symbolic link, FIFO, device or directory raises OSError
    without being opened (reading a FIFO blocks, a link to /dev/zero never ends)."""
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise OSError(f"not a regular file: {path}")
    return Path(path).read_bytes()


CHECKED_KEY = "__key__"


def write_checked_npz(path: Path, arrays: Mapping[str, Any], key: str) -> None:
    """``arrays`` as an npz that names its ``key`` inside, then its SHA-256 beside it (``<path>.sha256``),
    both atomically: :func:`read_checked_npz` reuses it only while both still match."""
    blob = npz_bytes({CHECKED_KEY: np.array(key), **arrays})
    atomic_write_bytes(path, blob)
    atomic_write_bytes(_sha_path(path), (hashlib.sha256(blob).hexdigest() + "\n").encode("ascii"))


def read_checked_npz(path: Path, key: str) -> tuple[dict[str, np.ndarray] | None, str]:
    """(arrays, "") of a file written by :func:`write_checked_npz` for ``key``; (None, why) when it is absent,
    not a regular file, changed since it was written, unreadable or written for another key."""
    try:
        blob = regular_bytes(path)
    except FileNotFoundError:
        return None, "absent"
    except OSError as exc:
        return None, str(exc)
    try:
        recorded = regular_bytes(_sha_path(path)).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None, "no recorded digest"
    if recorded != hashlib.sha256(blob).hexdigest():
        return None, "differs from its recorded digest"
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    if str(arrays.pop(CHECKED_KEY, "")) != key:
        return None, "written for another key"
    return arrays, ""


def _sha_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".sha256")


def read_csv(path: Path) -> dict[str, np.ndarray]:
    """CSV back to columns: numeric columns as float arrays (empty cells -> NaN), others as str arrays.

    Raises ``ValueError`` for a file without a header or with rows of another length than the header.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"empty CSV file: {path}")
    names, body = rows[0], rows[1:]
    if any(len(r) != len(names) for r in body):
        raise ValueError(f"CSV rows differ in length from the header: {path}")
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        cells = [r[i] for r in body]
        try:
            out[name] = np.array([float(c) if c != "" else np.nan for c in cells])
        except ValueError:
            out[name] = np.array(cells)
    return out


def _format_cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else repr(float(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value)


def digest(payload: Any, n: int = 16) -> str:
    """First ``n`` hex digits of the SHA-256 of ``payload`` as canonical JSON (sorted keys, NumPy as plain)."""
    blob = json.dumps(to_jsonable(payload), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def cache_key(name: str, params: Mapping[str, Any]) -> str:
    """Hash of the experiment name, its parameters and the package version."""
    return digest({"name": name, "params": params, "version": __version__})


def file_record(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a file, as stored in a run's manifest (a special file raises OSError unopened)."""
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise OSError(f"not a regular file: {path}")
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


def overrides_tag(overrides: Mapping[str, Any]) -> str:
    """Short hash of a set of parameter overrides ("" for none): the suffix of their run directory."""
    if not overrides:
        return ""
    return digest(dict(overrides), 8)


def git_hash() -> str | None:
    """Commit of the source tree if it is a git checkout, else None."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class RunLocked(ValidationError):
    """Another, different run is writing the same run directory (reported in one line, exit code 2)."""


#: lock files this process holds, with a depth count, so that nested users of one run share the lock
_HELD: dict[Path, list[Any]] = {}


class RunDir:
    """The directory of one experiment's results: ``root/name`` or, with overrides, ``root/name-tag``."""

    CONFIG, DATA, SUMMARY, NPZ = "config.json", "data.csv", "summary.json", "data.npz"
    MANIFEST, TIMINGS, LOCK = "manifest.json", "run.json", ".lock"

    def __init__(self, root: Path, name: str, tag: str = "") -> None:
        self.name = name  # the experiment
        self.tag = tag
        self.dirname = f"{name}-{tag}" if tag else name
        self.path = Path(root) / self.dirname

    def file(self, filename: str) -> Path:
        return self.path / filename

    # ------------------------------------------------------------------ finished runs
    def write_manifest(self, key: str, files: Sequence[str]) -> None:
        """Record ``key`` and the size and digest of ``files``; written last, it marks the run finished."""
        records = {name: file_record(self.file(name)) for name in files}
        write_json(self.file(self.MANIFEST), {"cache_key": key, "files": records, "figures": {}})

    def record_figures(self, files: Sequence[str]) -> None:
        """Record the figures drawn from the run's data (checked by :meth:`figures_problem`)."""
        manifest = read_json(self.file(self.MANIFEST))
        manifest["figures"] = {name: file_record(self.file(name)) for name in files}
        write_json(self.file(self.MANIFEST), manifest)

    def problem(self, key: str) -> str | None:
        """Why this directory is not a finished run of ``key`` (None: it is, and intact).

        Finished means: the manifest parses, its key is ``key``, and every data file it records (at
        least config.json, data.csv and summary.json) exists with the recorded size and SHA-256.
        """
        manifest = self._manifest()
        if isinstance(manifest, str):
            return manifest
        if manifest["cache_key"] != key:
            return "other parameters"
        return _mismatch(self, manifest["files"], (self.CONFIG, self.DATA, self.SUMMARY))

    def figures_problem(self, files: Sequence[str]) -> str | None:
        """Why the figures ``files`` must be drawn again (None: all recorded and intact)."""
        manifest = self._manifest()
        if isinstance(manifest, str):
            return manifest
        return _mismatch(self, manifest.get("figures") or {}, files)

    def _manifest(self) -> dict[str, Any] | str:
        if not self.file(self.MANIFEST).exists():
            return "no manifest" if self.file(self.SUMMARY).exists() else "absent"
        try:
            manifest = read_json(self.file(self.MANIFEST))
            if not (
                isinstance(manifest, dict)
                and isinstance(manifest["files"], dict)
                and isinstance(manifest["cache_key"], str)
            ):
                raise TypeError("not a manifest")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"unreadable manifest ({type(exc).__name__})"
        return manifest

    def is_finished(self, key: str) -> bool:
        """True if this is a finished, intact run of ``key`` (see :meth:`problem`)."""
        return self.problem(key) is None

    def invalidate(self) -> None:
        """Remove the finished markers so a stale or damaged run is never reused."""
        self.file(self.MANIFEST).unlink(missing_ok=True)
        self.file(self.SUMMARY).unlink(missing_ok=True)

    # ------------------------------------------------------------------ lock
    @contextlib.contextmanager
    def lock(self, key: str, wait_same: bool = True) -> Iterator[None]:
        """Hold this directory for a run of ``key``.

        A different run holding it makes this fail at once with :class:`RunLocked`; an identical run
        (same key) is waited for when ``wait_same``, after which its finished results can be reused.
        The lock is an ``flock`` on ``.lock``: the OS releases it when a holder dies, so a killed run
        never leaves the directory locked. Re-entrant within one process.
        """
        path = self.file(self.LOCK)
        if path in _HELD:
            _HELD[path][1] += 1
            try:
                yield
            finally:
                _HELD[path][1] -= 1
            return
        try:
            import fcntl
        except ImportError:  # no flock (Windows): run without the lock
            yield
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or (path.exists() and not path.is_file()):  # a FIFO would hang, a link lead elsewhere
            raise OSError(errno.EINVAL, "not a regular file (a run's lock must be one)", str(path))
        handle = open(path, "a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(path)
                if not (wait_same and holder.get("cache_key") == key):
                    who = f"pid {holder['pid']}" if "pid" in holder else "another process"
                    raise RunLocked(
                        f"{self.path} is being written by another run ({who}) with other parameters: "
                        "wait for it to finish or use another --out"
                    ) from None
                fcntl.flock(handle, fcntl.LOCK_EX)  # the same run: wait, then reuse what it wrote
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "cache_key": key}))
            handle.flush()
            _HELD[path] = [handle, 1]
            try:
                yield
            finally:
                del _HELD[path]
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()


def _mismatch(run: RunDir, records: Mapping[str, Any], required: Sequence[str]) -> str | None:
    """The first of ``required`` not recorded, or recorded file that no longer matches its record."""
    for name in required:
        if name not in records:
            return f"{name} not recorded"
    for name, record in records.items():
        try:
            if file_record(run.file(name)) != record:
                return f"{name} differs from its recorded digest"
        except OSError:
            return f"{name} missing"
    return None


def _lock_holder(path: Path, tries: int = 20) -> dict[str, Any]:
    """Who holds a lock (pid, cache key); retried briefly because a new holder writes it just after locking."""
    for _ in range(tries):
        try:
            holder = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            holder = {}
        if isinstance(holder, dict) and holder:
            return holder
        time.sleep(0.05)
    return {}


def load_summary(run_dir: RunDir) -> dict[str, Any]:
    """The run's summary.json (headline numbers, claims, notes, tables)."""
    return read_json(run_dir.file(RunDir.SUMMARY))


def load_config(run_dir: RunDir) -> dict[str, Any]:
    """The run's config.json (parameters, seed, version, cache key)."""
    return read_json(run_dir.file(RunDir.CONFIG))


def load_timings(run_dir: RunDir) -> dict[str, Any]:
    """run.json (creation time, wall-clock seconds, throughputs); {} if absent or unreadable (never needed)."""
    try:
        timings = read_json(run_dir.file(RunDir.TIMINGS))
    except (OSError, ValueError):
        return {}
    return timings if isinstance(timings, dict) else {}
