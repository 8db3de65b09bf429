"""Published MNIST models: EMA weights as fp16 safetensors with their spec, the gate's digit classifier, and
sampling from them.

A published file ``<pairing>_g<g>_seed<i>[_cls<a><b>].safetensors`` holds the EMA weights of one trained
model in float16 (about 2 MB for the paper U-Net) and, as safetensors metadata (strings), its
:class:`~.training.TrainSpec` (JSON), cache key and gate record. ``--models DIR`` makes the MNIST
experiments take their models from such files instead of training: a file is used for a requested
model when every field of its spec except ``steps`` and ``bf16`` (how long and in which precision it
was trained) equals the requested one. fp16 keeps 11 significant bits; the rounding changes the EMA
weights by at most 2^-11 relative, far below the differences between seeds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...atomic import atomic_write_bytes
from ...nets import make_unet
from .training import TrainedModel, TrainSpec, generate_pairs_seeded, schedule_for

PUBLISHED_FORMAT = "diffregimes-published-model-v1"
_IGNORED = ("steps", "bf16")


def published_name(spec: TrainSpec, seed_index: int) -> str:
    """A readable file name for a published model."""
    cls = "" if spec.classes is None else "_cls" + "".join(map(str, spec.classes))
    return f"{spec.pairing}_g{spec.g:g}_seed{seed_index}{cls}_T{spec.T}.safetensors"


def export_model(tm: TrainedModel, path: Path, gate: dict[str, Any] | None = None) -> Path:
    """Write ``tm``'s weights as fp16 safetensors with its spec (and gate record) as metadata."""
    from safetensors.torch import save

    tensors = {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous().cpu()
        for k, v in tm.model.state_dict().items()
    }
    meta = {
        "format": PUBLISHED_FORMAT,
        "spec": json.dumps(asdict(tm.spec)),
        "key": tm.spec.key,
        "gate": json.dumps(gate or {}),
    }
    atomic_write_bytes(Path(path), save(tensors, metadata=meta))
    return Path(path)


def _spec_from_json(text: str) -> TrainSpec:
    raw = json.loads(text)
    names = {f.name for f in fields(TrainSpec)}
    if set(raw) != names:
        raise ValueError(f"published model spec has fields {sorted(raw)}, expected {sorted(names)}")
    raw["unet"] = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in raw["unet"])
    raw["classes"] = None if raw["classes"] is None else tuple(raw["classes"])
    return TrainSpec(**raw)


def read_published(path: Path) -> tuple[TrainSpec, dict[str, Any]]:
    """(spec, gate record) of a published file, without loading the weights."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # a damaged or foreign file surfaces as several exception types
        raise ValueError(f"not a readable safetensors file: {path} ({type(exc).__name__})") from exc
    if meta.get("format") != PUBLISHED_FORMAT:
        raise ValueError(f"not a diffregimes published model ({PUBLISHED_FORMAT}): {path}")
    spec = _spec_from_json(meta["spec"])
    if spec.key != meta.get("key"):
        raise ValueError(f"published model {path}: stored key does not match its spec")
    return spec, json.loads(meta.get("gate", "{}"))


def load_published(path: Path, device: str = "cpu") -> TrainedModel:
    """The eval-mode model of a published file (weights cast back to float32)."""
    from safetensors.torch import load_file

    spec, gate = read_published(path)
    model = make_unet(spec.unet_config(), seed=spec.seed)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    model.load_state_dict(state)
    model.to(device).eval()
    return TrainedModel(
        spec, model, schedule_for(spec), {"published": str(path), "gate_published": gate, "cached": True}
    )


def _identity(spec: TrainSpec) -> dict[str, Any]:
    return {k: v for k, v in asdict(spec).items() if k not in _IGNORED}


def find_published(models_dir: Path, wanted: TrainSpec) -> Path | None:
    """The published file in ``models_dir`` whose spec equals ``wanted`` up to steps and precision."""
    matches = []
    for path in sorted(Path(models_dir).glob("*.safetensors")):
        try:
            spec, _ = read_published(path)
        except ValueError:
            continue
        if _identity(spec) == _identity(wanted):
            matches.append((spec.steps, path))
    return max(matches)[1] if matches else None


def sample_pairs(tm: TrainedModel, n: int, seed: int, device: str = "cpu", max_batch: int = 256) -> np.ndarray:
    """``n`` generated pairs (x_A, x_B) as float32 [n, 2, 28, 28] in [0, 1] (white on black, as MNIST),
    by whitened DDPM (102) from mode-shaped noise (92); the same seed gives the same pairs on CPU."""
    return generate_pairs_seeded(tm, n, seed, device, max_batch).numpy()


def load_model_file(path: Path, device: str = "cpu") -> TrainedModel:
    """A published ``.safetensors`` model or a ``<out>/_models/<key>.pt`` model file, eval mode."""
    from ...nets import CheckpointError, load_checkpoint

    path = Path(path)
    if path.suffix == ".safetensors":
        return load_published(path, device)
    try:
        from ...nets import read_checkpoint

        payload = read_checkpoint(path)
        spec = _spec_from_json(json.dumps(payload["config"]["spec"]))
    except (CheckpointError, KeyError, TypeError) as exc:
        raise ValueError(f"--model: not a diffregimes MNIST model file: {path}") from exc
    model = make_unet(spec.unet_config(), seed=spec.seed)
    load_checkpoint(path, model=model)
    return TrainedModel(spec, model.to(device).eval(), schedule_for(spec), {"cached": True})


#: the gate's digit classifier, published beside the models so that a re-run gates them with the same network
CLASSIFIER_FILE = "digit_classifier.safetensors"
CLASSIFIER_FORMAT = "diffregimes-digit-classifier-v1"


def export_classifier(clf: torch.nn.Module, key: str, stats: dict[str, Any], path: Path) -> Path:
    """Write the gate's digit classifier in float32 (its scores decide the gate: no rounding) with its cache
    key and statistics as metadata."""
    from safetensors.torch import save

    tensors = {k: v.detach().float().contiguous().cpu() for k, v in clf.state_dict().items()}
    meta = {"format": CLASSIFIER_FORMAT, "key": key, "stats": json.dumps(stats)}
    atomic_write_bytes(Path(path), save(tensors, metadata=meta))
    return Path(path)


def load_classifier(path: Path, key: str, clf: torch.nn.Module, device: str = "cpu") -> dict[str, Any] | None:
    """Load a published digit classifier into ``clf`` when ``path`` holds one for ``key``; its statistics,
    else None (absent, damaged, foreign or made for other data or settings)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != CLASSIFIER_FORMAT or meta.get("key") != key:
            return None
        clf.load_state_dict(load_file(str(path), device=str(device)))
        return json.loads(meta.get("stats", "{}"))
    except Exception:  # a damaged or foreign file is not the classifier: the gate trains its own
        return None
