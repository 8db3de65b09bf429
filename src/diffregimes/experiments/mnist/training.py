"""Cached, resumable training of the MNIST diffusion models (paper §5), and sampling from them.

Models are stored once per configuration under ``<out>/_models/<key>.pt`` (EMA weights, with the training
statistics), so Table 1 and Figs 6-11 reuse one another's models across experiments and reruns. While a
model trains, its lineage's resumable state ``<out>/_models/<lineage>.state.pt`` (model, EMA, optimiser,
step, generator state) is written atomically every ``checkpoint_every`` steps; an interrupted run resumes
from it, bit-identically (the pairs of an epoch are a pure function of (seed, epoch), and the generator
state is restored). Every budget of one lineage lies on one trajectory, so a longer budget continues a
shorter one and ``save_at`` stores the rungs of a learning curve on the way.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ...data import PairedMNIST
from ...diffusion import (
    VPSchedule,
    ddpm_sample,
    linear_vp_schedule,
    make_optimizer,
    sample_mode_noise,
    set_lr,
    train_step,
    warmup_lr,
)
from ...nets import EMA, CheckpointError, UNetConfig, load_checkpoint, make_unet, save_checkpoint
from ...protocols.sync import batched, clip_x0
from ...runstore import digest
from ...seeds import derive_seed
from .common import FORMAT, data_fingerprint, images_for, use_bf16
from .presets import TrainingConfig

Tensor = torch.Tensor


@dataclass(frozen=True)
class TrainSpec:
    """Everything that determines a trained model (its cache key).

    ``lineage`` is the key without ``steps``: the learning rate is constant after the warm-up and the
    EMA decay does not depend on the budget, so every budget of one lineage lies on one training
    trajectory, and a model can be extended from its lineage's training state.
    """

    pairing: str
    g: float
    seed: int
    transform: str
    T: int
    unet: tuple[tuple[str, Any], ...]
    steps: int
    batch: int
    lr: float
    warmup: int
    ema_decay: float
    bf16: bool
    data: str
    n_images: int | None
    classes: tuple[int, ...] | None

    @property
    def key(self) -> str:
        return digest({"format": FORMAT, **asdict(self)})

    @property
    def lineage(self) -> str:
        return digest({"format": FORMAT, **{k: v for k, v in asdict(self).items() if k != "steps"}})

    def unet_config(self) -> UNetConfig:
        return UNetConfig.from_dict(dict(self.unet))

    def with_steps(self, steps: int) -> "TrainSpec":
        return replace(self, steps=int(steps))

    @property
    def label(self) -> str:
        cls = "" if self.classes is None else f" classes={','.join(map(str, self.classes))}"
        return f"{self.pairing.upper()} g={self.g:g} {seed_name(self.seed)}{cls} T={self.T}"


def seed_name(seed: int, run_seed: int = 0, n: int = 64) -> str:
    """How a model's seed is shown: ``seed 1`` for :func:`model_seed` (``run_seed``, 1), as the data files number
    the seeds; the derived seed itself (``seed=107919``, its last six digits) for any other."""
    index = next((i for i in range(n) if model_seed(run_seed, i) == seed), None)
    return f"seed {index}" if index is not None else f"seed={seed % 10**6}"


def model_seed(run_seed: int, seed_index: int) -> int:
    """Initial-weight seed of model number ``seed_index`` of a run (:func:`diffregimes.seeds.derive_seed`).

    The same for MAIN and CTRL and every g, so paired comparisons start from the same weights.
    """
    return derive_seed(run_seed, "mnist-model", int(seed_index))


def train_spec(
    cfg: TrainingConfig,
    pairing: str,
    g: float,
    seed: int,
    T: int,
    device: str,
    classes: Sequence[int] | None = None,
    steps: int | None = None,
) -> TrainSpec:
    """The TrainSpec of an experiment's parameters ``cfg`` (see :func:`training_params`); ``steps``
    overrides the budget (used by the quality gate's budget ladder)."""
    images, _ = images_for(cfg.mnist_path, classes, cfg.n_images)
    if (cfg.train_steps is None) == (cfg.epochs is None):
        raise ValueError(
            f"set exactly one of train_steps and epochs: train_steps={cfg.train_steps}, epochs={cfg.epochs}"
        )
    batch = int(cfg.batch)
    if batch < 1 or batch > images.shape[0]:
        raise ValueError(f"batch must be in [1, {images.shape[0]}]: batch={batch}")
    if steps is None:
        steps = int(cfg.train_steps) if cfg.train_steps is not None else int(cfg.epochs) * (images.shape[0] // batch)
    if steps < 1:
        raise ValueError(f"need at least one training step: steps={steps}")
    unet = UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.unet.items()})
    return TrainSpec(
        pairing=pairing,
        g=float(g),
        seed=int(seed),
        transform=cfg.transform,
        T=int(T),
        unet=tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in unet.to_dict().items())),
        steps=int(steps),
        batch=batch,
        lr=float(cfg.lr),
        warmup=int(cfg.warmup),
        ema_decay=float(cfg.ema_decay),
        bf16=use_bf16(cfg.precision, device),
        data=data_fingerprint(cfg.mnist_path),
        n_images=cfg.n_images,
        classes=None if classes is None else tuple(int(c) for c in classes),
    )


@dataclass
class TrainedModel:
    """An eval-mode network with EMA weights, its schedule and training statistics."""

    spec: TrainSpec
    model: nn.Module
    schedule: VPSchedule
    stats: dict[str, Any]


def model_path(root: Path, spec: TrainSpec) -> Path:
    """The EMA weights of ``spec``: ``root/_models/<key>.pt``."""
    return root / "_models" / f"{spec.key}.pt"


def state_path(root: Path, spec: TrainSpec) -> Path:
    """The resumable training state of ``spec``'s lineage (model, EMA, optimiser, generator, step)."""
    return root / "_models" / f"{spec.lineage}.state.pt"


def load_model(spec: TrainSpec, root: Path, device: str) -> TrainedModel | None:
    """The stored model of ``spec``, or None when absent, unreadable or stored for another spec."""
    path = model_path(root, spec)
    if not path.exists():
        return None
    model = make_unet(spec.unet_config(), seed=spec.seed).to(device)
    try:
        info = load_checkpoint(path, model=model, map_location=device)
    except CheckpointError:
        path.unlink(missing_ok=True)
        return None
    if info.config.get("key") != spec.key:  # a file copied over another must not be trusted
        return None
    model.eval()
    return TrainedModel(spec, model, linear_vp_schedule(spec.T), dict(info.config.get("stats", {}), cached=True))


def _fresh_state(spec: TrainSpec, device: str):
    model = make_unet(spec.unet_config(), seed=spec.seed).to(device)
    ema, opt = EMA(model, spec.ema_decay), make_optimizer(model, lr=spec.lr)
    gen = torch.Generator(device=device).manual_seed(derive_seed(spec.seed, "train-noise"))
    return model, ema, opt, gen, 0


def _resume_state(spec: TrainSpec, root: Path, device: str):
    """The lineage's training state if it is readable, of this lineage and not past ``spec.steps``."""
    fresh = _fresh_state(spec, device)
    path = state_path(root, spec)
    if not path.exists():
        return fresh
    model, ema, opt, gen, _ = fresh
    try:
        info = load_checkpoint(path, model=model, ema=ema, opt=opt, generator=gen, map_location=device)
    except CheckpointError:
        return _fresh_state(spec, device)
    if info.config.get("lineage") != spec.lineage or info.step > spec.steps:
        return _fresh_state(spec, device)
    return model, ema, opt, gen, info.step


def train_or_load(
    spec: TrainSpec,
    root: Path,
    device: str,
    mnist_path: str | None,
    progress: Callable[[Iterable, str, int], Iterable] | None = None,
    checkpoint_every: int = 100,
    save_at: Sequence[int] = (),
) -> TrainedModel:
    """The trained model of ``spec``: loaded from ``root/_models`` or trained (resuming if possible).

    Training: AdamW on (96) with mode-shaped noise (92), minibatches of the pairs (90) of
    :class:`PairedMNIST` (MAIN or CTRL, pairs of epoch e a pure function of (seed, e)), learning rate
    :func:`warmup_lr`, EMA of the weights with the usual warm-up decay min(ema_decay, (1 + s) / (10 + s)).
    The lineage's training state is written atomically every ``checkpoint_every`` steps and at the end
    (kept, so a larger budget continues from it); ``save_at`` lists extra budgets whose EMA weights are
    stored on the way (a learning curve at no extra training cost).
    """
    cached = load_model(spec, root, device)
    if cached is not None:
        return cached
    images, labels = images_for(mnist_path, spec.classes, spec.n_images)
    data = PairedMNIST(images.to(device), labels, spec.transform, spec.pairing, spec.seed)
    per_epoch = len(data) // spec.batch
    model, ema, opt, gen, start = _resume_state(spec, root, device)
    config = {"spec": asdict(spec), "lineage": spec.lineage}
    extra = sorted({int(s) for s in save_at if start < int(s) < spec.steps})
    losses: list[float] = []
    batches = _batches_from(data, spec.batch, per_epoch, start)
    steps: Iterable = range(start, spec.steps)
    if progress is not None:
        steps = progress(steps, f"train {spec.label}", spec.steps - start)
    t0 = time.perf_counter()
    for step in steps:
        ema.decay = min(spec.ema_decay, (1.0 + step) / (10.0 + step))
        set_lr(opt, warmup_lr(step, spec.lr, spec.warmup))
        losses.append(train_step(model, ema, opt, next(batches).z0, spec.g, schedule_for(spec), gen, spec.bf16))
        done = step + 1
        if done % checkpoint_every == 0 and done < spec.steps:
            save_checkpoint(state_path(root, spec), model, ema, opt, done, config, gen)
        if done in extra:
            _save_ema(spec.with_steps(done), root, model, ema, {"steps": done, "snapshot": True})
    wall = time.perf_counter() - t0
    n_done = spec.steps - start
    stats = {
        "steps": spec.steps,
        "resumed_from": start,
        "train_wall_s": wall,
        "images_per_s": n_done * spec.batch / wall if wall > 0 and n_done > 0 else float("nan"),
        "loss_first": float(np.mean(losses[:10])) if losses else float("nan"),
        "loss_last": float(np.mean(losses[-10:])) if losses else float("nan"),
        "bf16": spec.bf16,
        "device": str(device),
        "threads": torch.get_num_threads(),
    }
    save_checkpoint(state_path(root, spec), model, ema, opt, spec.steps, config, gen)
    eval_model = _save_ema(spec, root, model, ema, stats)
    return TrainedModel(spec, eval_model, schedule_for(spec), dict(stats, cached=False))


def schedule_for(spec: TrainSpec) -> VPSchedule:
    return _schedule(spec.T)


@functools.lru_cache(maxsize=8)
def _schedule(T: int) -> VPSchedule:
    return linear_vp_schedule(T)


def _save_ema(spec: TrainSpec, root: Path, model: nn.Module, ema: EMA, stats: dict[str, Any]) -> nn.Module:
    """Store the EMA weights of ``spec`` (an eval copy of ``model``) and return that copy."""
    eval_model = make_unet(spec.unet_config(), seed=spec.seed).to(next(model.parameters()).device)
    ema.copy_to(eval_model)
    eval_model.eval()
    save_checkpoint(
        model_path(root, spec),
        eval_model,
        None,
        None,
        spec.steps,
        {"spec": asdict(spec), "key": spec.key, "stats": stats},
    )
    return eval_model


def _batches_from(data: PairedMNIST, batch: int, per_epoch: int, start: int):
    """Minibatches from global step ``start`` on: epoch start // per_epoch, skipping start % per_epoch."""
    epoch, skip = divmod(start, per_epoch)
    while True:
        for i, b in enumerate(data.batches(epoch, batch)):
            if i >= skip:
                yield b
        epoch, skip = epoch + 1, 0


def eps_function(
    tm: TrainedModel, clip: Sequence[float] | None, device: str, max_batch: int | None = 256
) -> Callable[[Tensor, int], Tensor]:
    """eps_fn(z, k) of a trained model for sampling: inference mode, optional bf16 autocast,
    x0_hat clipped to ``clip`` = (low, high) (None: no clipping), chunks of ``max_batch`` rows."""
    model, bf16 = tm.model, tm.spec.bf16
    dev = torch.device(device)

    def eps(z: Tensor, k: int) -> Tensor:
        with torch.inference_mode(), torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
            return model(z, k).float()

    fn = eps if clip is None else clip_x0(eps, tm.schedule, *clip)
    return batched(fn, max_batch)


def start_noise(n: int, g: float, seed: int, device: str) -> Tensor:
    """z_{T-1} for evaluation: mode-shaped noise (92) from a CPU generator (same on every device)."""
    return sample_mode_noise((n, 2, 28, 28), g, torch.Generator().manual_seed(int(seed)), device=device)


def generate_pairs_seeded(
    tm: TrainedModel, n: int, seed: int, device: str, max_batch: int = 256, clip: Sequence[float] | None = (0.0, 1.0)
) -> torch.Tensor:
    """``n`` pairs [n, 2, 28, 28] in [0, 1] by whitened DDPM (102) from mode-shaped noise (92), both
    the start noise drawn from ``seed``, the per-step noise from ``derive_seed(seed, "ddpm-noise")``;
    x0_hat clipped to ``clip`` inside each step."""
    if n < 1:
        raise ValueError(f"n must be >= 1: n={n}")
    z = start_noise(n, tm.spec.g, seed, device)
    gen = torch.Generator(device=device).manual_seed(derive_seed(seed, "ddpm-noise"))
    eps = eps_function(tm, clip, device, max_batch)
    with torch.inference_mode():
        x = ddpm_sample(eps, z, tm.schedule, tm.spec.g, gen)
    return x.clamp(0.0, 1.0).float().cpu()
