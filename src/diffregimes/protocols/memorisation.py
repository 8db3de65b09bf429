"""Memorisation of the training set: the nearest-neighbour ratio test on generated pairs.

A generated sample is called a copy when its nearest training sample is much closer than the second nearest:
d_1 / d_2 < 1/3 in pixel L2 (the criterion of the memorisation literature, e.g. Yoon et al. 2023, Gu et al.
2023; the same test applied to held-out real samples gives its false-positive floor). A copy is what the
empirical score produces in the collapse regime (paper §3.2: samples end on a training point).

Pairs (x_A, x_B) are compared over both channels at once. The training pairs the model saw are
- MAIN: (x_i, T(x_i)) in either order (the A/B swap of (90)), a set of 2N pairs;
- CTRL: (x_i, T(x_j)) for re-drawn partners j, in either order. Every partner is eventually seen, so the
  training set is taken as the product set; its squared distances split by channel, and the two nearest
  pairs are found from the two nearest images of each channel.
Images are flattened; distances in float64 on CPU, from pixel differences (an exact copy is at distance 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .speciation_clones import wilson_interval

Tensor = torch.Tensor
COPY_RATIO = 1.0 / 3.0


@dataclass(frozen=True)
class Memorisation:
    """Per-sample nearest and second-nearest distances to the training pairs, and the copy verdicts."""

    d1: np.ndarray
    d2: np.ndarray
    ratio: float = COPY_RATIO

    @property
    def copies(self) -> np.ndarray:
        """True where d_1 / d_2 < ``ratio`` (a sample on a training pair counts as a copy even if d_2 = 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(self.d2 > 0, self.d1 / self.d2, np.where(self.d1 > 0, 1.0, 0.0))
        return r < self.ratio

    def fraction(self) -> tuple[float, float, float]:
        """The fraction of copies with its 95 % Wilson interval: (estimate, lo, hi)."""
        n, k = self.copies.size, int(self.copies.sum())
        lo, hi = wilson_interval(k, n)
        return k / n if n else float("nan"), float(lo), float(hi)


def _flat(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], -1).double().cpu()


def two_nearest_sq(x: Tensor, ref: Tensor, chunk: int = 1024) -> tuple[Tensor, Tensor]:
    """Squared L2 distances from every row of ``x`` to its nearest and second-nearest row of ``ref``."""
    if ref.shape[0] < 2:
        raise ValueError(f"need at least 2 reference samples: got {ref.shape[0]}")
    xf, rf = _flat(x), _flat(ref)
    out1, out2 = [], []
    for start in range(0, xf.shape[0], chunk):
        # differences, not |x|^2 - 2 x.r + |r|^2: an exact copy must be at distance 0, not at rounding noise
        d = torch.cdist(xf[start : start + chunk], rf, compute_mode="donot_use_mm_for_euclid_dist") ** 2
        two = torch.topk(d, 2, dim=1, largest=False).values
        out1.append(two[:, 0])
        out2.append(two[:, 1])
    return torch.cat(out1), torch.cat(out2)


def _combine(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Two smallest sums over a product set from each factor's two smallest: (a1 + b1, min(a1 + b2, a2 + b1))."""
    return a[0] + b[0], torch.minimum(a[0] + b[1], a[1] + b[0])


def _merge(*candidates: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """The two smallest of the union of several (first, second) candidate lists."""
    both = torch.stack([c for pair in candidates for c in pair], dim=1)
    two = torch.topk(both, 2, dim=1, largest=False).values
    return two[:, 0], two[:, 1]


def pair_memorisation(pairs: Tensor, x: Tensor, tx: Tensor, pairing: str, ratio: float = COPY_RATIO) -> Memorisation:
    """The ratio test for ``pairs`` [n, 2, H, W] against the training pairs of ``pairing`` built from the
    training images ``x`` and their transforms ``tx`` (both [N, H, W]); see the module docstring."""
    if pairs.ndim != 4 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be [n, 2, H, W]: got {tuple(pairs.shape)}")
    a, b = pairs[:, 0], pairs[:, 1]
    if pairing == "main":
        train = torch.cat([torch.stack([x, tx], 1), torch.stack([tx, x], 1)])
        d1, d2 = two_nearest_sq(pairs, train)
    elif pairing == "ctrl":
        straight = _combine(two_nearest_sq(a, x), two_nearest_sq(b, tx))
        swapped = _combine(two_nearest_sq(a, tx), two_nearest_sq(b, x))
        d1, d2 = _merge(straight, swapped)
    else:
        raise ValueError(f"pairing must be main or ctrl: pairing={pairing!r}")
    return Memorisation(d1.sqrt().numpy(), d2.sqrt().numpy(), ratio)
