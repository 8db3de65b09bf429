"""Where matplotlib keeps its configuration and font cache, decided before it is imported.

matplotlib uses ``$MPLCONFIGDIR`` or the XDG directories under ``$HOME``. When one of them cannot be
written it warns and makes a temporary directory, and when that fails too it raises, so a read-only
home would spam or fail a long run at its first figure. :func:`ensure_writable_cache` leaves
matplotlib's own choice alone when it is writable, and otherwise points it at a directory the run
owns (inside ``--out``, so nothing is written outside the output directory). It imports nothing
heavy and may be called by any command before the report layer is imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

#: the line matplotlib logs (a WARNING) while it builds a new font cache: progress, not a problem
FONT_CACHE_NOTICE = "Matplotlib is building the font cache"


def _writable_dir(path: Path) -> bool:
    try:
        path = path.resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
    except (OSError, RuntimeError):
        return False


def _matplotlib_dirs() -> list[Path] | None:
    """The config and cache directories matplotlib would use (None if $HOME cannot be resolved)."""
    configured = os.environ.get("MPLCONFIGDIR")
    if configured:
        return [Path(configured)]
    try:
        home = Path.home()
    except RuntimeError:
        return None
    if sys.platform.startswith(("linux", "freebsd")):
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
        return [config / "matplotlib", cache / "matplotlib"]
    return [home / ".matplotlib"]


def ensure_writable_cache(fallback: Path) -> Path | None:
    """Point matplotlib at ``fallback`` if its own directories are not writable; returns the directory
    set, or None when nothing had to change (or matplotlib is already imported: too late to matter)."""
    if "matplotlib" in sys.modules:
        return None
    dirs = _matplotlib_dirs()
    if dirs is not None and all(_writable_dir(d) for d in dirs):
        return None
    if not _writable_dir(fallback):
        return None  # matplotlib will fall back to a temporary directory itself
    os.environ["MPLCONFIGDIR"] = str(Path(fallback).resolve())
    return Path(os.environ["MPLCONFIGDIR"])


def _not_the_font_cache_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(FONT_CACHE_NOTICE)


@contextlib.contextmanager
def without_font_cache_notice() -> Iterator[None]:
    """For the duration, drop matplotlib's "building the font cache; this may take a moment" line (a progress
    notice, under ``--no-progress``); its other warnings still show."""
    logger = logging.getLogger("matplotlib.font_manager")
    logger.addFilter(_not_the_font_cache_notice)
    try:
        yield
    finally:
        logger.removeFilter(_not_the_font_cache_notice)
