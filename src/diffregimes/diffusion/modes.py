"""Common/difference modes (91), mode-shaped noise (92)-(93) and the forward process (94).

States z have shape [..., 2, H, W]: channel 0 is x_A, channel 1 is x_B. The modes are
u = (x_A + x_B)/sqrt(2), v = (x_A - x_B)/sqrt(2) (91), an orthonormal change of basis, so
white noise stays white and the inverse is the transpose.

Noise normalisation. (92) prints eps_u ~ N(0, (1-g) I), eps_v ~ N(0, (1+g) I), and (93) states
the equivalent (x_A, x_B) law Var = 1, Cov(eps_A, eps_B) = -g. The two agree exactly:
Var(eps_A) = ((1-g) + (1+g))/2 = 1 and Cov = ((1-g) - (1+g))/2 = -g, so there is no ambiguity and we
use the printed variances as they stand (per-channel variance 1, total variance unchanged with g,
the common mode less noisy than the difference mode for g > 0, whence (95)).
"""

from __future__ import annotations

import math

import torch

from ..errors import ValidationError
from .schedule import VPSchedule

Tensor = torch.Tensor
_SQRT2 = math.sqrt(2.0)


def check_g(g: float) -> float:
    """Validate the coupling of (92): g in [0, 1) keeps both mode variances 1 -/+ g positive."""
    g = float(g)
    if not (0.0 <= g < 1.0):
        raise ValidationError(f"g must be in [0, 1): g={g}")
    return g


def _check_state(z: Tensor, name: str = "z") -> None:
    if z.dim() < 3 or z.shape[-3] != 2:
        raise ValidationError(f"{name} must have shape [..., 2, H, W] (channels x_A, x_B): shape={tuple(z.shape)}")


def to_modes(z: Tensor) -> tuple[Tensor, Tensor]:
    """(x_A, x_B) -> (u, v) of (91); u, v have shape [..., H, W]."""
    _check_state(z)
    x_a, x_b = z[..., 0, :, :], z[..., 1, :, :]
    return (x_a + x_b) / _SQRT2, (x_a - x_b) / _SQRT2


def from_modes(u: Tensor, v: Tensor) -> Tensor:
    """(u, v) -> z = [x_A, x_B] stacked on axis -3; the inverse (= transpose) of (91)."""
    if u.shape != v.shape:
        raise ValidationError(f"u and v must have the same shape: {tuple(u.shape)} vs {tuple(v.shape)}")
    return torch.stack([(u + v) / _SQRT2, (u - v) / _SQRT2], dim=-3)


def mode_std(g: float) -> tuple[float, float]:
    """(sigma_u, sigma_v) = (sqrt(1-g), sqrt(1+g)), the mode noise scales of (92)."""
    g = check_g(g)
    return math.sqrt(1.0 - g), math.sqrt(1.0 + g)


def noise_covariance(g: float) -> Tensor:
    """The 2x2 per-pixel covariance of (eps_A, eps_B), [[1, -g], [-g, 1]] (93), float64."""
    g = check_g(g)
    return torch.tensor([[1.0, -g], [-g, 1.0]], dtype=torch.float64)


def shape_noise(xi: Tensor, g: float) -> Tensor:
    """Map white noise xi ~ N(0, I) (channels = the two modes) to mode-shaped noise (92)-(93)."""
    _check_state(xi, "xi")
    s_u, s_v = mode_std(g)
    return from_modes(s_u * xi[..., 0, :, :], s_v * xi[..., 1, :, :])


def sample_mode_noise(
    shape: tuple[int, ...] | torch.Size,
    g: float,
    generator: torch.Generator,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Draw eps with eps_u ~ N(0, (1-g) I), eps_v ~ N(0, (1+g) I) independently per pixel (92).

    The normals are drawn on the generator's device and then moved to ``device``, so a CPU
    generator gives the same numbers whichever device the run uses.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 3 or shape[-3] != 2:
        raise ValidationError(f"shape must be [..., 2, H, W]: shape={shape}")
    check_g(g)
    xi = torch.randn(shape, generator=generator, device=generator.device, dtype=dtype)
    return shape_noise(xi, g).to(device if device is not None else generator.device)


def _coef(values: Tensor, k: int | Tensor, like: Tensor) -> Tensor | float:
    """values[k] as a Python float (scalar k) or a [B, 1, ..., 1] tensor broadcasting over like."""
    if isinstance(k, int):
        return float(values[k])
    k = torch.as_tensor(k)
    out = values.to(like.device)[k.to(like.device).long()].to(like.dtype)
    return out.reshape(out.shape + (1,) * (like.dim() - out.dim()))


def check_step(k: int | Tensor, T: int, name: str = "k", lowest: int = 0) -> None:
    """Validate step indices against {lowest, ..., T-1}."""
    kk = torch.as_tensor(k)
    if kk.dtype.is_floating_point or kk.numel() == 0 or kk.min() < lowest or kk.max() > T - 1:
        raise ValidationError(f"{name} must be integers in [{lowest}, {T - 1}]: {name}={k}")


def q_sample(z0: Tensor, k: int | Tensor, noise: Tensor, schedule: VPSchedule) -> Tensor:
    """Forward noising z_k = sqrt(alpha_bar_k) z_0 + sqrt(1 - alpha_bar_k) eps (94).

    ``noise`` is eps, already mode-shaped (see :func:`sample_mode_noise`); k is an int or one step
    per batch element ([B] integer tensor).
    """
    if noise.shape != z0.shape:
        raise ValidationError(f"noise must match z0: {tuple(noise.shape)} vs {tuple(z0.shape)}")
    check_step(k, schedule.T)
    a = _coef(schedule.alpha_bars, k, z0)
    return a**0.5 * z0 + (1.0 - a) ** 0.5 * noise


def predict_x0(z_k: Tensor, eps_hat: Tensor, k: int | Tensor, schedule: VPSchedule) -> Tensor:
    """Predicted clean state (97): (z_k - sqrt(1 - alpha_bar_k) eps_hat) / sqrt(alpha_bar_k).

    Linear with scalar coefficients, so it holds in the (x_A, x_B) and the (u, v) basis alike.
    """
    check_step(k, schedule.T)
    a = _coef(schedule.alpha_bars, k, z_k)
    return (z_k - (1.0 - a) ** 0.5 * eps_hat) / a**0.5


def whiten(z: Tensor, g: float) -> Tensor:
    """Rescaled coordinates (102): y = [u / sqrt(1-g), v / sqrt(1+g)] (channels y_u, y_v).

    Mode-shaped noise becomes N(0, I) in y, so the standard DDPM step applies there.
    """
    s_u, s_v = mode_std(g)
    u, v = to_modes(z)
    return torch.stack([u / s_u, v / s_v], dim=-3)


def unwhiten(y: Tensor, g: float) -> Tensor:
    """Inverse of :func:`whiten`: y -> (u, v) -> (x_A, x_B)."""
    _check_state(y, "y")
    s_u, s_v = mode_std(g)
    return from_modes(s_u * y[..., 0, :, :], s_v * y[..., 1, :, :])


def perturb_difference_mode(z: Tensor, sigma: float, xi: Tensor) -> Tensor:
    """v <- v + sigma * xi with u unchanged (101); xi ~ N(0, I) of shape [..., H, W] is passed in."""
    if not (math.isfinite(float(sigma)) and float(sigma) >= 0):
        raise ValidationError(f"sigma must be finite and >= 0: sigma={sigma}")
    u, v = to_modes(z)
    if xi.shape != v.shape:
        raise ValidationError(f"xi must have the mode shape {tuple(v.shape)}: {tuple(xi.shape)}")
    return from_modes(u, v + float(sigma) * xi)
