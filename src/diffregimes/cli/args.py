"""Argument types and validators shared by the command groups of :mod:`diffregimes.cli`.

This module owns the argparse ``type=`` callables (:func:`_finite`, :func:`_int_at_least`, :func:`_integer`),
which turn a malformed value into argparse's one-line usage error, and the checks on values several commands
take (:func:`_out_dir` for ``--out``, :func:`_device` for ``--device``), which raise
:class:`~diffregimes.errors.ValidationError` before any work starts. It imports nothing heavy at module level:
torch is imported only when ``--device cuda`` is checked.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from ..errors import ValidationError


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
    return value


def _int_at_least(low: int, high: int | None = None):
    """argparse type: an integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            valid = f"[{low}, {high}]" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be an integer {'in ' if high is not None else ''}{valid}: {value}")
        return value

    return parse


def _integer(text: str) -> int:
    """argparse type: any integer (ranges are the experiment's declaration, checked with the flag's name)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _out_dir(text: str) -> Path:
    """--out as a directory that exists (created if needed) and can be written."""
    if text.strip() == "":
        raise ValidationError("--out is empty: give an output directory")
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {text}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(f"--out {text}: cannot create the directory: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValidationError(f"--out {text}: the directory is not writable")
    return out


def _device(name: str) -> str | None:
    if name == "auto":
        return None
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValidationError("--device cuda: no CUDA device is visible (valid: auto, cpu, cuda)")
    return name
