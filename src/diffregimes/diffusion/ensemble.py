"""One optimisation step of (96) for K models at once, on an :class:`~diffregimes.nets.ensemble.EnsembleUNet`.

Member j follows exactly the recipe of :func:`~diffregimes.diffusion.training.train_step` for its own
batch, coupling g_j (92) and generator: k then eps drawn from ``generators[j]`` in the same order, the
same loss (96) as a mean over its own batch, and AdamW + EMA on its own slice of the stacked weights.
The members' losses are summed before the backward pass; the gradient of a sum reaches each member's
slice unchanged, so member j's gradient is the one it gets alone. AdamW and the EMA are elementwise, so
one optimiser over the stacked tensors updates every member as its own optimiser would (same lr, betas,
weight decay and EMA decay for all members: group models that share them).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ValidationError
from ..nets.ema import EMA
from ..nets.ensemble import EnsembleUNet
from .modes import check_g, q_sample, sample_mode_noise
from .schedule import VPSchedule
from .training import _autocast, sample_timesteps

Tensor = torch.Tensor


def ensemble_inputs(
    batches: Sequence[Tensor], g: Sequence[float], schedule: VPSchedule, generators: Sequence[torch.Generator]
) -> tuple[Tensor, Tensor, Tensor]:
    """(z_k, k, eps) stacked ``[K, B, ...]``: member j draws k then eps from ``generators[j]`` as
    :func:`~diffregimes.diffusion.training.eps_loss` does."""
    if not len(batches) == len(g) == len(generators) or not batches:
        raise ValidationError(
            f"need one batch, g and generator per member: {len(batches)}, {len(g)}, {len(generators)}"
        )
    zs, ks, es = [], [], []
    for z0, gj, gen in zip(batches, g, generators):
        check_g(gj)
        if z0.dim() != 4 or z0.shape != batches[0].shape:
            raise ValidationError(f"member batches must share one [B, 2, H, W] shape: {tuple(z0.shape)}")
        k = sample_timesteps(z0.shape[0], schedule.T, gen).to(z0.device)
        eps = sample_mode_noise(z0.shape, gj, gen, device=z0.device, dtype=z0.dtype)
        zs.append(q_sample(z0, k, eps, schedule))
        ks.append(k)
        es.append(eps)
    return torch.stack(zs), torch.stack(ks), torch.stack(es)


def ensemble_eps_losses(
    model: EnsembleUNet,
    batches: Sequence[Tensor],
    g: Sequence[float],
    schedule: VPSchedule,
    generators: Sequence[torch.Generator],
    autocast_bf16: bool = False,
) -> Tensor:
    """``[K]`` Monte-Carlo estimates of (96), member j's on its own batch, noise and steps."""
    z_k, k, eps = ensemble_inputs(batches, g, schedule, generators)
    with _autocast(z_k.device, autocast_bf16):
        eps_hat = model(z_k, k)
    return ((eps_hat.float() - eps.float()) ** 2).mean(dim=(1, 2, 3, 4))


def ensemble_train_step(
    model: EnsembleUNet,
    ema: EMA | None,
    opt: torch.optim.Optimizer,
    batches: Sequence[Tensor],
    g: Sequence[float],
    schedule: VPSchedule,
    generators: Sequence[torch.Generator],
    autocast_bf16: bool = False,
) -> list[float]:
    """One AdamW step of every member followed by one EMA update; returns the K losses.

    ``opt`` and ``ema`` are built on ``model`` (``make_optimizer(model, lr)``, ``EMA(model, decay)``).
    """
    if len(batches) != model.members:
        raise ValidationError(f"need {model.members} member batches, got {len(batches)}")
    model.train()
    opt.zero_grad(set_to_none=True)
    losses = ensemble_eps_losses(model, batches, g, schedule, generators, autocast_bf16)
    losses.sum().backward()
    opt.step()
    if ema is not None:
        ema.update(model)
    return [float(v) for v in losses.detach()]
