"""Run directories, seen from the experiments: the same module as :mod:`diffregimes.runstore`.

The store lives below both the experiments and the report (which must not import experiment code);
this name stays importable for code written against ``diffregimes.experiments.runstore``.
"""

from ..runstore import (
    RunDir,
    RunLocked,
    atomic_write_bytes,
    atomic_write_text,
    cache_key,
    digest,
    git_hash,
    load_config,
    load_summary,
    load_timings,
    npz_bytes,
    overrides_tag,
    read_csv,
    read_json,
    read_npz,
    to_jsonable,
    write_csv,
    write_json,
    write_npz,
)

__all__ = [
    "RunDir",
    "RunLocked",
    "atomic_write_bytes",
    "atomic_write_text",
    "cache_key",
    "digest",
    "git_hash",
    "load_config",
    "load_summary",
    "load_timings",
    "npz_bytes",
    "overrides_tag",
    "read_csv",
    "read_json",
    "read_npz",
    "to_jsonable",
    "write_csv",
    "write_json",
    "write_npz",
]
