"""Atomic, resumable training checkpoints (model, EMA, optimiser, step, config, RNG state).

Written to a temporary file in the target directory, flushed, fsynced and renamed with
``os.replace``, so an interrupted save leaves the previous checkpoint intact and a reader never
sees half a file. The generator state is stored so that a resumed run draws the same timesteps and
noise as an uninterrupted one.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import atomic_write_bytes
from .ema import EMA

FORMAT = "diffregimes-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt or does not fit the model (names the path)."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What :func:`load_checkpoint` returns besides filling the objects passed to it."""

    step: int
    config: dict[str, Any]


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    ema: EMA | None,
    opt: torch.optim.Optimizer | None,
    step: int,
    config_dict: dict[str, Any],
    generator: torch.Generator | None = None,
) -> Path:
    """Atomically write a checkpoint to ``path``; returns the path."""
    if int(step) < 0:
        raise ValueError(f"step must be >= 0: step={step}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "step": int(step),
        "config": dict(config_dict),
        "model": model.state_dict(),
        "ema": ema.state_dict() if ema is not None else None,
        "opt": opt.state_dict() if opt is not None else None,
        "generator": generator.get_state() if generator is not None else None,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict, validated; :class:`CheckpointError` if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is not ours (and a bare
        # pickle stream would make torch warn about its protocol before refusing it)
        raise CheckpointError(f"corrupt or truncated checkpoint {path}: not a zip archive")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncation/corruption surfaces as many unrelated exception types
        raise CheckpointError(f"corrupt or truncated checkpoint {path}: {type(exc).__name__}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"not a diffregimes checkpoint ({FORMAT}): {path}")
    return payload


def load_checkpoint(
    path: str | Path,
    model: nn.Module | None = None,
    ema: EMA | None = None,
    opt: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    map_location: str | torch.device = "cpu",
) -> CheckpointInfo:
    """Restore whichever of model / ema / opt / generator are given; returns step and config."""
    payload = read_checkpoint(path, map_location)
    try:
        if model is not None:
            model.load_state_dict(payload["model"])
        for obj, key in ((ema, "ema"), (opt, "opt")):
            if obj is not None:
                if payload[key] is None:
                    raise KeyError(f"checkpoint holds no {key} state")
                obj.load_state_dict(payload[key])
        if generator is not None:
            if payload["generator"] is None:
                raise KeyError("checkpoint holds no generator state")
            generator.set_state(payload["generator"].cpu())
    except (KeyError, RuntimeError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} does not fit: {msg}") from exc
    return CheckpointInfo(step=int(payload["step"]), config=dict(payload["config"]))
