"""Mode classifiers of Protocol II (§5.2): inputs (103) and sign-symmetrised logits.

u_img = (x_A + x_B)/2 and v_img = (x_A - x_B)/sqrt(2) (103) are invariant under the A/B swap up to
the sign of v_img; the classifier C_v therefore uses the symmetrised logits
1/2 (f(v) + f(-v)) (103), which are exactly invariant to v -> -v. C_u uses the same wrapper (u_img
never changes sign, so there it only costs one extra forward).
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from ..errors import ValidationError
from .unet import seeded_init

Tensor = torch.Tensor


def classifier_inputs(z: Tensor) -> tuple[Tensor, Tensor]:
    """(u_img, v_img) of (103) from z [..., 2, H, W]; both [..., H, W]."""
    if z.dim() < 3 or z.shape[-3] != 2:
        raise ValidationError(f"z must have shape [..., 2, H, W]: shape={tuple(z.shape)}")
    x_a, x_b = z[..., 0, :, :], z[..., 1, :, :]
    return (x_a + x_b) / 2.0, (x_a - x_b) / math.sqrt(2.0)


class SmallCNN(nn.Module):
    """Two conv/pool stages and an MLP head on one 28x28 channel; logits [B, num_classes]."""

    def __init__(self, num_classes: int = 2, width: int = 16) -> None:
        super().__init__()
        if num_classes < 2 or width < 1:
            raise ValidationError(f"need num_classes >= 2 and width >= 1: {num_classes}, {width}")
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logits of images ``x`` ([B, 28, 28] or [B, 1, 28, 28])."""
        return self.net(_one_channel(x))

    def features(self, x: Tensor) -> Tensor:
        """The penultimate activations [B, 64] (input of the last linear layer)."""
        return self.net[:-1](_one_channel(x))


class SignSymmetricClassifier(nn.Module):
    """logits(x) = 1/2 (f(x) + f(-x)) (103): invariant to x -> -x by construction."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, x: Tensor) -> Tensor:
        """Sign-invariant logits (103): the base network's f(x) and f(-x) combined, so that x and -x agree."""
        x = _one_channel(x)
        both = self.base(torch.cat([x, -x], dim=0))  # one batched call for f(x) and f(-x)
        f_pos, f_neg = both.chunk(2, dim=0)
        return 0.5 * (f_pos + f_neg)


def make_classifier(
    num_classes: int = 2, width: int = 16, sign_symmetric: bool = True, seed: int | None = None
) -> nn.Module:
    """C_u / C_v of (103): a :class:`SmallCNN`, sign-symmetrised unless ``sign_symmetric=False``.

    ``seed`` makes the initial weights reproducible without touching the global RNG state.
    """
    with seeded_init(seed) if seed is not None else contextlib.nullcontext():
        base = SmallCNN(num_classes, width)
    return SignSymmetricClassifier(base) if sign_symmetric else base


def _one_channel(x: Tensor) -> Tensor:
    if x.dim() == 3:
        return x[:, None]
    if x.dim() == 4 and x.shape[1] == 1:
        return x
    raise ValidationError(f"classifier input must be [B, H, W] or [B, 1, H, W]: shape={tuple(x.shape)}")
