"""Declared types and valid ranges of the MNIST experiments' parameters (Table 1, Figs 6-11).

One declaration per parameter name: every MNIST experiment that has a key gives it the same
meaning, so the schema of an experiment is the declarations of its keys plus the cross-parameter
checks that apply to it (:func:`mnist_schema`, given the experiment's params function).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from ...data import TRANSFORMS, inspect_mnist
from ...errors import ValidationError
from ..params import BOOTSTRAP, Choice, Dict, Float, Int, List, Param, Schema, distinct

__all__ = ["MNIST_PARAMS", "mnist_schema"]

PAIRING = Choice("main", "ctrl")
COUPLING = Float(0.0, 1.0, hi_open=True)  # mode-shaped noise (92) needs 0 <= g < 1
FRACTION = Float(0.0, 1.0)

MNIST_PARAMS: dict[str, Param] = {
    # training (presets.training_params)
    "mnist_path": Param("str", nullable=True),
    "models_dir": Param("str", nullable=True),
    "transform": Choice(*sorted(TRANSFORMS)),
    "unet": Dict({"block_out_channels": List(Int(1, 4096), 1, 8), "norm_num_groups": Int(1, 4096)}),
    "train_steps": Int(1, 10**9, nullable=True),
    "epochs": Int(1, 10**6, nullable=True),
    "gate_steps": List(Int(1, 10**9), 1, 100, nullable=True),
    "batch": Int(1, 65536),
    "lr": Float(0.0, 10.0, lo_open=True),
    "warmup": Int(0, 10**9),
    "ema_decay": Float(0.0, 1.0, hi_open=True),
    "n_images": Int(2, 10**8, nullable=True),
    "precision": Choice("auto", "fp32", "bf16"),
    "clip_x0": List(Float(-1e3, 1e3), 2, 2, nullable=True),
    "threads": Int(1, 4096, nullable=True),
    "checkpoint_every": Int(1, 10**9),
    "gate_pairs": Int(2, 10**6),
    "digit_clf_steps": Int(1, 10**8),
    # Protocol I (Table 1, Figs 6-9)
    "T": Int(2, 100_000),
    "g_values": List(COUPLING, 1, 100),
    "g": COUPLING,
    "n_seeds": Int(1, 1000),
    "pairings": List(PAIRING, 1, 2),
    "pairing": PAIRING,
    "taus": List(Float(0.0, 1.0, lo_open=True), 1, 100),
    "eval_batch": Int(1, 100_000),
    "n_cols": Int(1, 10_000),
    "sigma": Float(0.0, 1e3),
    "k_int_frac": FRACTION,
    "scan_fracs": List(FRACTION, 1, 10_000),
    # Protocol II (Figs 10-11)
    "classes": List(Int(0, 9), 2, 10),
    "masters": Int(2, 10**6),
    "trials": Int(1, 10**4),
    "phi_star": Float(0.0, 1.0, lo_open=True, hi_open=True),
    "clf_steps": Int(1, 10**8),
    "clf_batch": Int(1, 65536),
    "clf_width": Int(1, 4096),
    "clf_lr": Float(0.0, 10.0, lo_open=True),
    "holdout": Float(0.0, 1.0, lo_open=True, hi_open=True),
    "v_label": Choice("digit", "order"),
    "max_batch": Int(1, 2**20),
    "n_boot": BOOTSTRAP,
    # the robustness study
    "rungs": List(Int(1, 10**9), 1, 20),
    "transforms": List(Choice(*sorted(TRANSFORMS)), 1, 4),
    "transform_steps": Int(1, 10**9),
}


def _models_dir(p: Mapping[str, Any]) -> None:
    if p["models_dir"] is not None and (not str(p["models_dir"]).strip() or not Path(p["models_dir"]).is_dir()):
        raise ValidationError(f"models_dir must be a directory of published models: models_dir={p['models_dir']}")


def _budget(p: Mapping[str, Any]) -> None:
    if (p["train_steps"] is None) == (p["epochs"] is None):
        raise ValidationError(
            f"set exactly one of train_steps and epochs (the other to none): "
            f"train_steps={p['train_steps']}, epochs={p['epochs']}"
        )


def _gate_ladder(p: Mapping[str, Any]) -> None:
    ladder = p["gate_steps"]
    if ladder is not None and any(b <= a for a, b in zip(ladder, ladder[1:])):
        raise ValidationError(f"gate_steps must be strictly increasing: gate_steps={ladder}")


def _unet(p: Mapping[str, Any]) -> None:
    """The architecture must be buildable on 28 x 28 images (UNetConfig checks it)."""
    from ...nets import UNetConfig

    try:
        UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in p["unet"].items()})
    except ValidationError as exc:
        raise ValidationError(f"unet={p['unet']}: {exc}") from None


def _clip(p: Mapping[str, Any]) -> None:
    if p["clip_x0"] is not None and not p["clip_x0"][0] < p["clip_x0"][1]:
        raise ValidationError(f"clip_x0 must be [low, high] with low < high: clip_x0={p['clip_x0']}")


def _mnist_source(p: Mapping[str, Any]) -> None:
    """The data set must be readable MNIST with at least two digits (headers and labels only), holding
    the digits named in ``classes``, with enough images for ``n_images`` and ``batch``."""
    info = inspect_mnist(p["mnist_path"])
    if len(info.classes) < 2:
        raise ValidationError(
            f"mnist_path={p['mnist_path']}: the MNIST experiments need at least two digits, "
            f"found {len(info.classes)} ({', '.join(map(str, info.classes))})"
        )
    wanted = [c for c in p.get("classes") or [] if c not in info.classes]
    if wanted:
        raise ValidationError(
            f"mnist_path={p['mnist_path']}: no images of digit(s) {', '.join(map(str, wanted))} "
            f"named in classes={p['classes']}"
        )
    n_classes = len(p["classes"]) if p.get("classes") else len(info.classes)
    if p["n_images"] is not None and p["n_images"] < n_classes:
        raise ValidationError(f"n_images must be >= the number of classes ({n_classes}): n_images={p['n_images']}")
    # a stratified subset keeps n_images // classes images of each class; without one, all images
    # (an upper bound when classes picks some digits: the run checks the exact count)
    usable = (p["n_images"] // n_classes) * n_classes if p["n_images"] is not None else info.n_images
    usable = min(usable, info.n_images)  # a subset cannot hold more images than the data set
    if p["batch"] > usable:
        raise ValidationError(f"batch must be <= the {usable} training images: batch={p['batch']}")


def _scan_steps(p: Mapping[str, Any]) -> None:
    """Protocol II needs at least two distinct scan steps k = round(f (T - 1)) (its speciation curve)."""
    T = p["T"]
    steps = {min(max(int(round(f * (T - 1))), 0), T - 1) for f in p["scan_fracs"]}
    if len(steps) < 2:
        raise ValidationError(
            f"scan_fracs must give at least two distinct steps at T={T}: scan_fracs={p['scan_fracs']}"
        )


#: cross-parameter checks, each applied to the experiments that have all the keys it reads
_CHECKS = (
    (("models_dir",), _models_dir),
    (("train_steps", "epochs"), _budget),
    (("gate_steps",), _gate_ladder),
    (("unet",), _unet),
    (("clip_x0",), _clip),
    (("g_values",), distinct("g_values")),
    (("pairings",), distinct("pairings")),
    (("classes",), distinct("classes")),
    (("scan_fracs",), distinct("scan_fracs")),
    (("taus",), distinct("taus")),
    (("rungs",), distinct("rungs")),
    (("transforms",), distinct("transforms")),
    (("mnist_path", "n_images", "batch"), _mnist_source),
    (("masters", "scan_fracs", "T"), _scan_steps),
)

IMAGE = 2 * 28 * 28 * 4  # one float32 pair of images


def _memory(p: Mapping[str, Any]) -> float:
    """Peak bytes: the stored x0_hat trajectory of one evaluation batch (T steps, ~3 copies), the
    cloning rows of Protocol II (masters x (1 + 2 scans), ~4 copies) and the U-Net activations of
    the largest batch (~20 feature maps of the widest level at 28 x 28)."""
    width = max(p["unet"]["block_out_channels"])
    batch = max(p["batch"], p.get("eval_batch", 0), p.get("max_batch", 0))
    need = batch * width * 28 * 28 * 4 * 20
    if "eval_batch" in p:
        need += p["eval_batch"] * p["T"] * IMAGE * 3
    if "masters" in p:
        need += p["masters"] * (1 + 2 * len(p["scan_fracs"])) * IMAGE * 4
    return need


def mnist_schema(params: Callable[[str], dict[str, Any]]) -> Schema:
    """The schema of the MNIST experiment whose preset parameters ``params`` gives: the declarations of its
    keys and the checks that apply."""
    keys = list(params("smoke"))
    checks = tuple(check for needs, check in _CHECKS if all(k in keys for k in needs))
    size_keys = tuple(k for k in ("eval_batch", "T", "masters", "scan_fracs", "batch", "max_batch") if k in keys)
    return Schema({k: MNIST_PARAMS[k] for k in keys}, checks=checks, memory=_memory, size_keys=size_keys)
