"""Reverse steps for the discrete VP process (94): DDIM (eta = 0) and DDPM, the latter in the
whitened coordinates (102) for mode-shaped noise.

Every step is a pure function of (z_k, eps_hat, k, k_prev, schedule[, noise]); the network call and
the random draws stay with the caller (k-diffusion / EDM style), so one trajectory can be replayed,
cloned (Protocol II, (104)) or perturbed (101) exactly. k_prev = -1 means the clean end point
(alpha_bar_{-1} = 1). k and k_prev are ints or one index per batch element.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import ValidationError
from .modes import _coef, check_g, check_step, predict_x0, unwhiten, whiten
from .schedule import VPSchedule

Tensor = torch.Tensor
EpsFn = Callable[[Tensor, int], Tensor]


def _check_pair(k: int | Tensor, k_prev: int | Tensor, schedule: VPSchedule) -> None:
    check_step(k, schedule.T, "k")
    check_step(k_prev, schedule.T, "k_prev", lowest=-1)
    if torch.any(torch.as_tensor(k_prev) >= torch.as_tensor(k)):
        raise ValidationError(f"k_prev must be < k: k={k}, k_prev={k_prev}")


def _alpha_bar_prev(schedule: VPSchedule, k_prev: int | Tensor, like: Tensor) -> Tensor | float:
    padded = torch.cat([torch.ones(1, dtype=schedule.alpha_bars.dtype), schedule.alpha_bars])
    return _coef(padded, k_prev + 1, like)


def ddim_step(z_k: Tensor, eps_hat: Tensor, k: int | Tensor, k_prev: int | Tensor, schedule: VPSchedule) -> Tensor:
    """Deterministic DDIM step (eta = 0): sqrt(a') x0_hat + sqrt(1 - a') eps_hat, x0_hat from (97).

    Linear in (z_k, eps_hat) with scalar coefficients, hence valid for mode-shaped noise in any
    basis: it is the probability-flow discretisation of the coupled forward law (93)-(94).
    """
    _check_pair(k, k_prev, schedule)
    a_prev = _alpha_bar_prev(schedule, k_prev, z_k)
    x0_hat = predict_x0(z_k, eps_hat, k, schedule)
    return a_prev**0.5 * x0_hat + (1.0 - a_prev) ** 0.5 * eps_hat


def ddpm_step(
    x_k: Tensor, eps_hat: Tensor, k: int | Tensor, k_prev: int | Tensor, schedule: VPSchedule, noise: Tensor | None
) -> Tensor:
    """Standard DDPM ancestral step (isotropic unit noise), Ho et al. (2020) eq. (7):

    x_{k'} = c_0 x0_hat + c_k x_k + sqrt(var) * noise with a = alpha_bar_k, a' = alpha_bar_{k'},
    beta = 1 - a/a', c_0 = sqrt(a') beta / (1-a), c_k = sqrt(a/a') (1-a') / (1-a),
    var = (1-a')/(1-a) beta ("fixed_small"). ``noise`` ~ N(0, I) is passed in; it is unused when
    k_prev = -1 (var = 0 there) and may then be None.
    """
    _check_pair(k, k_prev, schedule)
    a = _coef(schedule.alpha_bars, k, x_k)
    a_prev = _alpha_bar_prev(schedule, k_prev, x_k)
    beta = 1.0 - a / a_prev
    x0_hat = (x_k - (1.0 - a) ** 0.5 * eps_hat) / a**0.5
    mean = (a_prev**0.5 * beta / (1.0 - a)) * x0_hat + ((a / a_prev) ** 0.5 * (1.0 - a_prev) / (1.0 - a)) * x_k
    if isinstance(k_prev, int) and k_prev == -1:
        return mean
    if noise is None or noise.shape != x_k.shape:
        raise ValidationError(f"noise must be a tensor of shape {tuple(x_k.shape)} unless k_prev = -1")
    var = (1.0 - a_prev) / (1.0 - a) * beta
    return mean + var**0.5 * noise


def ddpm_step_whitened(
    z_k: Tensor,
    eps_hat: Tensor,
    k: int | Tensor,
    k_prev: int | Tensor,
    schedule: VPSchedule,
    noise: Tensor | None,
    g: float,
) -> Tensor:
    """DDPM step for mode-shaped noise via the rescaled coordinates (102).

    y = [u/sqrt(1-g), v/sqrt(1+g)] turns the forward law (93)-(94) into the standard one with unit
    noise, so: whiten z_k and eps_hat, take :func:`ddpm_step` in y with white ``noise`` ~ N(0, I)
    (shape [..., 2, H, W], channels = the two modes), map back to (u, v) and then (x_A, x_B).
    Equivalently ``ddpm_step(z_k, eps_hat, k, k_prev, schedule, shape_noise(noise, g))``: the
    posterior mean has scalar coefficients, so whitening only reshapes the noise; at g = 0 it is
    :func:`ddpm_step` with the white noise given in the mode basis.
    """
    g = check_g(g)
    y_prev = ddpm_step(whiten(z_k, g), whiten(eps_hat, g), k, k_prev, schedule, noise)
    return unwhiten(y_prev, g)


def reverse_pairs(T: int, num_steps: int | None = None) -> list[tuple[int, int]]:
    """(k, k_prev) pairs of a reverse run, from high noise to k_prev = -1.

    "leading" spacing as diffusers' DDIMScheduler: k in {0, r, 2r, ...} with r = T // num_steps,
    k_prev = k - r, except that the last step goes to the clean end point -1 (diffusers likewise
    treats any negative previous step as alpha_bar = 1). num_steps = None (or T) visits every step.
    """
    n = T if num_steps is None else int(num_steps)
    if not 1 <= n <= T:
        raise ValidationError(f"num_steps must be in [1, {T}]: num_steps={num_steps}")
    r = T // n
    ks = [i * r for i in range(n)][::-1]
    return [(k, max(k - r, -1)) for k in ks]


def ddim_sample(eps_fn: EpsFn, z_start: Tensor, schedule: VPSchedule, num_steps: int | None = None) -> Tensor:
    """DDIM (eta = 0) from z_start down to the clean end point (k_prev = -1)."""
    z = z_start
    for k, k_prev in reverse_pairs(schedule.T, num_steps):
        z = ddim_step(z, eps_fn(z, k), k, k_prev, schedule)
    return z


def ddpm_sample(
    eps_fn: EpsFn,
    z_start: Tensor,
    schedule: VPSchedule,
    g: float,
    generator: torch.Generator,
    k_start: int | None = None,
    k_stop: int = -1,
) -> Tensor:
    """Whitened DDPM (102) from z_start at step k_start (default T-1) down to k_stop (default -1).

    One white normal tensor per step is drawn from ``generator`` (on its device), so two clones
    started from the same z_k with different generators branch independently (104).
    """
    k0 = schedule.T - 1 if k_start is None else int(k_start)
    check_step(k0, schedule.T, "k_start")
    if not -1 <= k_stop < k0:
        raise ValidationError(f"k_stop must be in [-1, k_start): k_stop={k_stop}, k_start={k0}")
    z = z_start
    for k in range(k0, k_stop, -1):
        noise = None
        if k > 0:
            noise = torch.randn(z.shape, generator=generator, device=generator.device, dtype=z.dtype).to(z.device)
        z = ddpm_step_whitened(z, eps_fn(z, k), k, k - 1, schedule, noise, g)
    return z
