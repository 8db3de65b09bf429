"""One optimisation step of the eps-prediction objective (96) with mode-shaped noise (92).

Precision: optional bf16 autocast for the forward pass with fp32 master weights and an fp32 loss;
the optimiser always updates fp32 weights. It pays only where bf16 is native (CUDA, or a CPU with
AVX512-BF16/AMX): on a CPU that emulates it, the U-Net ran at 0.55-0.87x fp32 (benchmarks/unet.py).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..errors import ValidationError
from ..nets.ema import EMA
from .modes import check_g, q_sample, sample_mode_noise
from .schedule import VPSchedule

Tensor = torch.Tensor


def make_optimizer(model: nn.Module, lr: float = 2e-4, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW over the model's parameters."""
    if not (lr > 0 and weight_decay >= 0):
        raise ValidationError(f"need lr > 0 and weight_decay >= 0: lr={lr}, weight_decay={weight_decay}")
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def warmup_lr(step: int, lr: float, warmup: int) -> float:
    """Learning rate of optimiser step ``step`` (0-based): linear warm-up lr (step + 1) / warmup for
    the first ``warmup`` steps, then constant ``lr``.

    Constant after the warm-up, so a run's first S steps do not depend on its total budget: a model
    trained to S steps can be extended to S' > S and equals one trained to S' directly.
    """
    if step < 0 or warmup < 0:
        raise ValidationError(f"need step >= 0 and warmup >= 0: step={step}, warmup={warmup}")
    return lr if step >= warmup else lr * (step + 1) / warmup


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group of ``opt``."""
    for group in opt.param_groups:
        group["lr"] = lr


def bf16_autocast_recommended(device: torch.device | str) -> bool:
    """Whether bf16 autocast is likely to beat fp32 on ``device``.

    On CPU only with native bf16 (AVX512-BF16 or AMX): without it bf16 is emulated and runs
    slower than fp32 (measured ~0.5x on an AVX-512 CPU without BF16, benchmarks/unet.py).
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        probes = (
            getattr(torch.cpu, "_is_avx512_bf16_supported", None),
            getattr(torch.cpu, "_is_amx_tile_supported", None),
        )
        return any(bool(p()) for p in probes if p is not None)
    return False


def sample_timesteps(batch: int, T: int, generator: torch.Generator) -> Tensor:
    """k ~ Uniform{0, ..., T-1} per batch element (96), drawn on the generator's device."""
    return torch.randint(0, T, (batch,), generator=generator, device=generator.device)


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def eps_loss(
    model: nn.Module,
    z0: Tensor,
    g: float,
    schedule: VPSchedule,
    generator: torch.Generator,
    autocast_bf16: bool = False,
) -> Tensor:
    """Monte-Carlo estimate of (96): mean over pixels of (eps_hat(z_k, k) - eps)^2.

    Draws k (one per image) and then eps (mode-shaped, (92)) from ``generator``, in that order.
    The mean rather than the sum of (96) only rescales the learning rate.
    """
    k = sample_timesteps(z0.shape[0], schedule.T, generator).to(z0.device)
    eps = sample_mode_noise(z0.shape, g, generator, device=z0.device, dtype=z0.dtype)
    z_k = q_sample(z0, k, eps, schedule)
    with _autocast(z0.device, autocast_bf16):
        eps_hat = model(z_k, k)
    return torch.mean((eps_hat.float() - eps.float()) ** 2)


def train_step(
    model: nn.Module,
    ema: EMA | None,
    opt: torch.optim.Optimizer,
    batch_z0: Tensor,
    g: float,
    schedule: VPSchedule,
    generator: torch.Generator,
    autocast_bf16: bool = False,
) -> float:
    """One AdamW step on (96) followed by an EMA update; returns the loss.

    batch_z0: clean pairs [B, 2, 28, 28] (see ``diffregimes.data.make_pairs``) on the model's
    device. All randomness (k, eps) comes from ``generator``.
    """
    check_g(g)
    if batch_z0.dim() != 4 or batch_z0.shape[1] != 2:
        raise ValidationError(f"batch_z0 must be [B, 2, H, W]: shape={tuple(batch_z0.shape)}")
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = eps_loss(model, batch_z0, g, schedule, generator, autocast_bf16)
    loss.backward()
    opt.step()
    if ema is not None:
        ema.update(model)
    return float(loss.detach())
