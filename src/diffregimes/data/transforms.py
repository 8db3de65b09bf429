"""Pixel-aligned modality transforms T of (90): x_B = T(x_A).

All take [N, 28, 28] (or [28, 28]) images in [0, 1] and return the same shape in [0, 1];
they are deterministic, batched torch ops on whatever device the input lives on.

* ``edge``: Sobel gradient magnitude, divided by its per-image maximum (a constant image -> 0);
  replicate padding so the image border is not mistaken for an edge.
* ``invert``: 1 - x.
* ``dilate``: 3x3 grey-level dilation (max-pool, stride 1).
* ``blur``: Gaussian blur, sigma = 1 px, 5x5 kernel normalised to sum 1, replicate padding
  (a convex combination of pixels, so the range stays [0, 1] and constants are kept).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import ValidationError

Tensor = torch.Tensor

BLUR_SIGMA = 1.0
BLUR_RADIUS = 2


def _as_batch(x: Tensor) -> tuple[Tensor, bool]:
    if x.dim() == 2:
        return x[None, None], True
    if x.dim() == 3:
        return x[:, None], False
    raise ValidationError(f"images must be [N, H, W] or [H, W]: shape={tuple(x.shape)}")


def _restore(y: Tensor, single: bool) -> Tensor:
    return y[0, 0] if single else y[:, 0]


def _conv_same(x: Tensor, kernel: Tensor) -> Tensor:
    r = kernel.shape[-1] // 2
    xp = F.pad(x, (r, r, r, r), mode="replicate")
    return F.conv2d(xp, kernel.to(dtype=x.dtype, device=x.device)[None, None])


def invert(x: Tensor) -> Tensor:
    """T(x) = 1 - x (an involution)."""
    return 1.0 - x


def dilate(x: Tensor) -> Tensor:
    """3x3 max-pool dilation; T(x) >= x pointwise."""
    xb, single = _as_batch(x)
    return _restore(F.max_pool2d(xb, kernel_size=3, stride=1, padding=1), single)


def _gaussian_kernel(sigma: float = BLUR_SIGMA, radius: int = BLUR_RADIUS) -> Tensor:
    r = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k1 = torch.exp(-0.5 * (r / sigma) ** 2)
    k2 = torch.outer(k1, k1)
    return k2 / k2.sum()


def blur(x: Tensor) -> Tensor:
    """Gaussian blur (sigma 1 px, 5x5), replicate padding."""
    xb, single = _as_batch(x)
    return _restore(_conv_same(xb, _gaussian_kernel()).clamp_(0.0, 1.0), single)


_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=torch.float64)


def edge(x: Tensor) -> Tensor:
    """Sobel magnitude sqrt(G_x^2 + G_y^2), normalised per image by its maximum."""
    xb, single = _as_batch(x)
    gx = _conv_same(xb, _SOBEL_X)
    gy = _conv_same(xb, _SOBEL_X.T.contiguous())
    mag = torch.sqrt(gx * gx + gy * gy)
    peak = mag.amax(dim=(-2, -1), keepdim=True)
    # the floor keeps a constant image at exactly 0 instead of 0/0
    out = torch.where(peak > 1e-6, mag / peak.clamp_min(1e-6), torch.zeros_like(mag))
    return _restore(out.clamp_(0.0, 1.0), single)


TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "edge": edge,
    "invert": invert,
    "dilate": dilate,
    "blur": blur,
}


def apply_transform(name: str, x: Tensor) -> Tensor:
    """Apply the transform T named ``name`` (one of :data:`TRANSFORMS`) to images in [0, 1]."""
    if name not in TRANSFORMS:
        raise ValidationError(f"transform must be one of {sorted(TRANSFORMS)}: transform={name!r}")
    if x.dim() not in (2, 3):
        raise ValidationError(f"images must be [N, H, W] or [H, W]: shape={tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValidationError(f"images must be floating point in [0, 1]: dtype={x.dtype}")
    return TRANSFORMS[name](x)
