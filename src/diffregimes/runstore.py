"""Run directories: ``<out>/<name>/`` with config.json, data.csv, summary.json and figures.

The on-disk contract between the experiments (which write runs) and the report (which reads them):
it sits below both so that the report never imports experiment code.

Every file is written atomically (temporary file in the same directory, then ``os.replace``), so an
interrupted run never leaves a half-written file that a later run would reuse. ``summary.json`` is
written last and marks the run as finished; a finished run whose stored cache key equals the key
of the requested configuration is reused instead of recomputed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import __version__
from .atomic import atomic_write_bytes


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`diffregimes.atomic.atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(value: Any) -> Any:
    """NumPy scalars/arrays and non-finite floats to plain JSON (NaN and inf become null)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
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
    """A JSON file back to Python."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


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


def write_npz(path: Path, arrays: Mapping[str, Any]) -> None:
    """Arrays to a compressed ``.npz``, atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buffer.getvalue())


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """An ``.npz`` back to a dict of arrays (no pickled objects)."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def read_csv(path: Path) -> dict[str, np.ndarray]:
    """CSV back to columns: numeric columns as float arrays (empty cells -> NaN), others as str arrays."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    names, body = rows[0], rows[1:]
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


def git_hash() -> str | None:
    """Commit of the source tree if it is a git checkout, else None."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class RunDir:
    """The directory of one experiment's results."""

    CONFIG, DATA, SUMMARY = "config.json", "data.csv", "summary.json"

    def __init__(self, root: Path, name: str) -> None:
        self.path = Path(root) / name
        self.name = name

    def file(self, filename: str) -> Path:
        """Path of ``filename`` inside the run directory."""
        return self.path / filename

    def is_finished(self, key: str) -> bool:
        """True if summary.json exists and the stored cache key matches ``key``."""
        config, summary = self.file(self.CONFIG), self.file(self.SUMMARY)
        if not (config.exists() and summary.exists()):
            return False
        try:
            stored = read_json(config).get("cache_key")
        except (OSError, ValueError):
            return False
        return stored == key

    def invalidate(self) -> None:
        """Remove the finished marker so a stale summary is never reused."""
        self.file(self.SUMMARY).unlink(missing_ok=True)


def load_summary(run_dir: RunDir) -> dict[str, Any]:
    """The run's summary.json (headline numbers, claims, notes, tables)."""
    return read_json(run_dir.file(RunDir.SUMMARY))


def load_config(run_dir: RunDir) -> dict[str, Any]:
    """The run's config.json (parameters, seed, version, cache key)."""
    return read_json(run_dir.file(RunDir.CONFIG))
