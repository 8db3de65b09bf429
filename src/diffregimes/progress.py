"""Progress of long loops: a redrawn tqdm bar on a terminal, plain lines in a log.

A redirected tqdm bar writes one carriage-return redraw per update (a quick ``reproduce`` logged 124 KB of
them); when stdout or stderr is not a terminal, :func:`track` prints one line when a loop finishes, and
a progress line with an ETA at most every ``heartbeat_s`` seconds while a long one runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sized
from typing import IO, TypeVar

T = TypeVar("T")


def interactive() -> bool:
    """True when both stdout and stderr are terminals (then bars redraw in place)."""
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def format_seconds(seconds: float) -> str:
    """A duration for people: ``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def track(
    iterable: Iterable[T],
    desc: str,
    total: int | None = None,
    *,
    bar: bool | None = None,
    stream: IO[str] | None = None,
    heartbeat_s: float = 60.0,
) -> Iterable[T]:
    """Iterate ``iterable`` with progress: a tqdm bar when ``bar`` (default: :func:`interactive`), else lines.

    ``total`` defaults to ``len(iterable)`` when it has one. Lines go to ``stream`` (default stderr).
    """
    if total is None and isinstance(iterable, Sized):
        total = len(iterable)
    if bar is None:
        bar = interactive()
    if bar:
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, file=stream)
    return _lines(iterable, desc, total, stream, heartbeat_s)


def _lines(
    iterable: Iterable[T], desc: str, total: int | None, stream: IO[str] | None, heartbeat_s: float
) -> Iterator[T]:
    start = last = time.perf_counter()
    n = 0
    for item in iterable:
        yield item
        n += 1
        now = time.perf_counter()
        if now - last >= heartbeat_s and (total is None or n < total):
            eta = f", ETA {format_seconds((now - start) / n * (total - n))}" if total else ""
            print(
                f"{desc}: {n}/{total or '?'} ({format_seconds(now - start)}{eta})",
                file=stream or sys.stderr,
                flush=True,
            )
            last = now
    print(
        f"{desc}: done, {n} step{'s' * (n != 1)} in {format_seconds(time.perf_counter() - start)}",
        file=stream or sys.stderr,
        flush=True,
    )
