"""Two-channel pairs z_0 = [x_A, x_B] of (90): MAIN (x, T(x)) and CTRL (x_i, T(x_pi(i))).

CTRL draws pi with y_i != y_pi(i) for every i (a derangement by label), fresh each epoch; both
pairings swap A/B with probability 1/2 per pair, so no channel identity can be learned. An epoch's
pairs are a pure function of (seed, epoch) via :func:`epoch_generator`, so a resumed run sees the
same pairs as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..errors import ValidationError
from .transforms import apply_transform

Tensor = torch.Tensor

PAIRINGS = ("main", "ctrl")
_VECTOR_ROUNDS = 64


@dataclass(frozen=True, eq=False)
class Pairs:
    """A set of pairs: z0 [N, 2, 28, 28]; per channel its label and source index; the swap flags."""

    z0: Tensor
    labels_a: Tensor
    labels_b: Tensor
    index_a: Tensor
    index_b: Tensor
    swapped: Tensor

    def __len__(self) -> int:
        return int(self.z0.shape[0])

    def slice(self, start: int, stop: int) -> "Pairs":
        """Pairs start..stop-1 (views, no copy)."""
        s = slice(start, stop)
        return Pairs(self.z0[s], self.labels_a[s], self.labels_b[s], self.index_a[s], self.index_b[s], self.swapped[s])


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator for one epoch, seeded from numpy's SeedSequence([seed, epoch]).

    SeedSequence mixes the pair so that neighbouring (seed, epoch) give unrelated streams.
    """
    if int(seed) < 0 or int(epoch) < 0:
        raise ValidationError(f"seed and epoch must be >= 0: seed={seed}, epoch={epoch}")
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def label_derangement(labels: Tensor, generator: torch.Generator) -> Tensor:
    """A random permutation pi of 0..N-1 with labels[pi[i]] != labels[i] for every i.

    Starts from a uniform permutation and repairs each conflict i by swapping pi(i) with pi(j)
    for a j with y_j != y_i and y_pi(j) != y_i: such a swap fixes i without creating a conflict,
    and such j exists whenever no class holds more than N/2 images (checked). Vectorised rounds
    fix almost all conflicts; a sequential pass finishes the rest, so the result is always valid.
    """
    y = labels.reshape(-1).cpu().long()
    n = y.numel()
    if n < 2:
        raise ValidationError(f"need at least 2 labelled images for a derangement: N={n}")
    counts = torch.bincount(y - y.min())
    if 2 * int(counts.max()) > n:
        raise ValidationError(
            f"a label derangement needs every class <= N/2 images: largest class {int(counts.max())}, N={n}"
        )
    perm = torch.randperm(n, generator=generator)
    for _ in range(_VECTOR_ROUNDS):
        bad = torch.nonzero(y[perm] == y).reshape(-1)
        if bad.numel() == 0:
            return perm
        perm = _repair_round(y, perm, bad, generator)
    for i in torch.nonzero(y[perm] == y).reshape(-1).tolist():
        if y[perm[i]] != y[i]:  # already fixed as an earlier swap's partner
            continue
        ok = torch.nonzero((y != y[i]) & (y[perm] != y[i])).reshape(-1)
        j = int(ok[torch.randint(ok.numel(), (1,), generator=generator)])
        perm[i], perm[j] = perm[j].clone(), perm[i].clone()
    return perm


def _repair_round(y: Tensor, perm: Tensor, bad: Tensor, generator: torch.Generator) -> Tensor:
    n, m = y.numel(), bad.numel()
    partner = torch.randint(n, (m,), generator=generator)
    # one swap per position in a round: keep a partner's first claim only, never a conflicted one
    uniq, inverse = torch.unique(partner, return_inverse=True)
    first = torch.full((uniq.numel(),), m, dtype=torch.long).scatter_reduce(0, inverse, torch.arange(m), reduce="amin")
    keep = torch.zeros(m, dtype=torch.bool)
    keep[first] = True
    is_bad = torch.zeros(n, dtype=torch.bool)
    is_bad[bad] = True
    keep &= ~is_bad[partner]
    keep &= (y[perm[partner]] != y[bad]) & (y[partner] != y[bad])
    i, j = bad[keep], partner[keep]
    perm = perm.clone()
    perm[i], perm[j] = perm[j], perm[i]
    return perm


def make_pairs(
    images: Tensor, labels: Tensor, transformed: Tensor, pairing: str, generator: torch.Generator, shuffle: bool = True
) -> Pairs:
    """One draw of the pairs (90) from images x and their transforms T(x) (precomputed).

    MAIN: (x_i, T(x_i)); CTRL: (x_i, T(x_pi(i))) with pi from :func:`label_derangement`. Each pair
    then has its channels swapped with probability 1/2. ``shuffle`` also draws the order of pairs
    (the minibatch order of the epoch).
    """
    if pairing not in PAIRINGS:
        raise ValidationError(f"pairing must be one of {PAIRINGS}: pairing={pairing!r}")
    n = images.shape[0]
    if images.dim() != 3 or transformed.shape != images.shape or labels.shape != (n,):
        raise ValidationError(
            f"need images [N, H, W], transformed of the same shape and labels [N]: "
            f"{tuple(images.shape)}, {tuple(transformed.shape)}, {tuple(labels.shape)}"
        )
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    partner = order if pairing == "main" else label_derangement(labels, generator)[order]
    swapped = torch.rand(n, generator=generator) < 0.5
    idx_a = torch.where(swapped, partner, order)
    idx_b = torch.where(swapped, order, partner)
    dev = images.device
    first, second = images[order.to(dev)], transformed[partner.to(dev)]
    s = swapped.to(dev)[:, None, None]
    z0 = torch.stack([torch.where(s, second, first), torch.where(s, first, second)], dim=1)
    y = labels.cpu()
    return Pairs(z0=z0, labels_a=y[idx_a], labels_b=y[idx_b], index_a=idx_a, index_b=idx_b, swapped=swapped)


class PairedMNIST:
    """Images, labels and their transforms, yielding each epoch's pairs (90) from (seed, epoch)."""

    def __init__(self, images: Tensor, labels: Tensor, transform: str, pairing: str, seed: int) -> None:
        if pairing not in PAIRINGS:
            raise ValidationError(f"pairing must be one of {PAIRINGS}: pairing={pairing!r}")
        self.images = images
        self.labels = labels
        self.transform = transform
        self.pairing = pairing
        self.seed = int(seed)
        # T is deterministic, so it is applied once rather than every epoch
        self.transformed = apply_transform(transform, images)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def epoch(self, epoch: int) -> Pairs:
        """All pairs of ``epoch`` in that epoch's random order."""
        return make_pairs(self.images, self.labels, self.transformed, self.pairing, epoch_generator(self.seed, epoch))

    def batches(self, epoch: int, batch_size: int, drop_last: bool = True) -> Iterator[Pairs]:
        """Minibatches of ``epoch``; the last partial one is dropped unless drop_last=False."""
        if batch_size < 1:
            raise ValidationError(f"batch_size must be >= 1: batch_size={batch_size}")
        pairs = self.epoch(epoch)
        stop = len(pairs) - (len(pairs) % batch_size if drop_last else 0)
        for start in range(0, stop, batch_size):
            yield pairs.slice(start, min(start + batch_size, stop))
