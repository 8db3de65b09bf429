"""Measuring the regimes of exact-score samplers: cloning (speciation), memorisation (collapse).

* Cloning (Biroli et al. 2024): run master trajectories, keep their states at scan times, restart two
  clones from each kept state with independent noise, and record how often the clones end with the same
  label (a class, a mode's class, or a nearest training point). Plotted against t, the agreement rises
  from chance to 1 as t falls through the speciation (or collapse) time.
* Condensation: the inverse participation ratio Y_2 = sum_i w_i^2 of the posterior weights (31) over the
  training points, at points of the population law P_t: ~0 in the generalising phase, O(1) once the
  empirical measure condenses on a few training points (REM freezing, (39-49)).

No I/O; every random draw comes from the generator passed in.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from ..errors import ValidationError
from ..sde import MomentTable
from ..sde.mixture import apply_block
from ..sde.scores import ScoreFn
from .speciation_clones import wilson_interval

Tensor = torch.Tensor
#: labels of final states: (B, k, d) -> (B, L) integer labels, L labels per sample
Classifier = Callable[[Tensor], Tensor]


@dataclasses.dataclass(frozen=True)
class CloneRun:
    """Clone pairs restarted at scan indices (in the order given): ``starts`` (n_scan, B, k, d) are the
    master states at the restart times, ``finals`` (n_scan, 2, B, k, d) where both clones end."""

    starts: Tensor
    finals: Tensor


def run_clone_pairs(
    score: ScoreFn, table: MomentTable, z_T: Tensor, scan_indices: np.ndarray, generator: torch.Generator
) -> CloneRun:
    """Master trajectories from z_T and two clones restarted from the master state at each scan index.

    All clones of all scan times share one Euler-Maruyama loop over the grid: rows are ordered by
    restart index, so at step i the rows already started form a prefix of the state tensor and one
    batched step advances them all (the master batch is row block 0). A pair restarted at index j
    copies the master state at j and then draws its own noise.
    """
    scan_indices = np.asarray(scan_indices, dtype=int)
    n_steps = len(table) - 1
    order = np.argsort(scan_indices, kind="stable")
    starts = scan_indices[order]
    if starts.size and (starts.min() < 0 or starts.max() > n_steps):
        raise ValidationError(f"scan indices must lie in [0, {n_steps}]: got {starts.min()}..{starts.max()}")
    state = z_T.new_empty((1 + 2 * starts.size,) + tuple(z_T.shape))
    state[0] = z_T
    start_states = z_T.new_empty((starts.size,) + tuple(z_T.shape))
    times = table.times.tolist()
    sigma_w = float(np.sqrt(table.sigma_w2))
    n_active, next_scan = 1, 0
    for i in range(n_steps + 1):
        while next_scan < starts.size and starts[next_scan] == i:
            state[n_active : n_active + 2] = state[0]
            start_states[next_scan] = state[0]
            n_active, next_scan = n_active + 2, next_scan + 1
        if i == n_steps:
            break
        h = times[i] - times[i + 1]
        z = state[:n_active]
        noise = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        drift = -apply_block(table.M[i].to(z), z) + table.sigma_w2 * score(i, z)
        state[:n_active] = z + h * drift + (sigma_w * float(np.sqrt(h))) * noise
    finals = state[1:].reshape((starts.size, 2) + tuple(z_T.shape))
    inverse = torch.as_tensor(np.argsort(order), device=z_T.device)  # back to the caller's order
    return CloneRun(start_states[inverse], finals[inverse])


def clone_agreement(
    score: ScoreFn,
    table: MomentTable,
    z_T: Tensor,
    scan_indices: np.ndarray,
    classify: Classifier,
    generator: torch.Generator,
    per_master: bool = False,
) -> np.ndarray:
    """Agreement of clone pairs restarted at each scan index, per label: shape (n_scan, L).

    ``per_master=True`` returns the agreement of each master's pair instead, 0/1 of shape (n_scan, B, L)
    (its mean over masters is the default output), for intervals that resample master trajectories.
    The clones come from :func:`run_clone_pairs` (one batched Euler-Maruyama loop for all scan times).
    """
    run = run_clone_pairs(score, table, z_T, scan_indices, generator)
    n_scan, B = run.finals.shape[0], z_T.shape[0]
    labels = classify(run.finals.reshape(-1, *z_T.shape[1:])).reshape(n_scan, 2, B, -1)
    agree = (labels[:, 0] == labels[:, 1]).double().cpu().numpy()  # (n_scan, B, L)
    return agree if per_master else agree.mean(axis=1)


def sign_classifier(directions: Tensor) -> Classifier:
    """Labels sign(<z, direction_l>) for each of L directions of shape (L, k, d)."""

    def classify(z: Tensor) -> Tensor:
        return torch.sign(torch.einsum("lid,bid->bl", directions.to(z), z)).long()

    return classify


def nearest_point_classifier(points: Tensor, chunk: int = 4096) -> Classifier:
    """Label = index of the nearest training point (one label)."""

    def classify(z: Tensor) -> Tensor:
        zf = z.reshape(z.shape[0], -1)
        pf = points.to(z).reshape(points.shape[0], -1)
        best_d = torch.full((zf.shape[0],), float("inf"), dtype=z.dtype, device=z.device)
        best_i = torch.zeros(zf.shape[0], dtype=torch.long, device=z.device)
        for start in range(0, pf.shape[0], chunk):
            dist = torch.cdist(zf, pf[start : start + chunk])
            value, index = dist.min(dim=1)
            better = value < best_d
            best_d = torch.where(better, value, best_d)
            best_i = torch.where(better, index + start, best_i)
        return best_i[:, None]

    return classify


def participation_ratio(z: Tensor, data: Tensor, Phi: Tensor, Q: Tensor, chunk: int = 8192) -> Tensor:
    """Y_2 = sum_i w_i(z)^2 with w_i the posterior weights (31) of the kernel N(z; Phi z_i, Q), per point.

    Two passes over chunks of training points: the log-sum-exp normaliser, then sum of squared weights.
    """
    Q_inv = torch.linalg.inv(Q.to(z))

    def logits(start: int) -> Tensor:
        m = apply_block(Phi.to(z), data[start : start + chunk].to(z))
        diff_sq = (
            (apply_block(Q_inv, z) * z).sum(dim=(-2, -1))[:, None]
            - 2 * torch.einsum("bid,cid->bc", apply_block(Q_inv, z), m)
            + (apply_block(Q_inv, m) * m).sum(dim=(-2, -1))[None, :]
        )
        return -0.5 * diff_sq

    n = data.shape[0]
    log_norm = torch.logsumexp(
        torch.cat([torch.logsumexp(logits(s), dim=1, keepdim=True) for s in range(0, n, chunk)], dim=1), dim=1
    )
    y2 = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
    for s in range(0, n, chunk):
        y2 += torch.exp(2 * (logits(s) - log_norm[:, None])).sum(dim=1)
    return y2


def crossing_time(times: np.ndarray, values: np.ndarray, level: float) -> float:
    """Largest t with values(t) >= level, linearly interpolated between scan times (as (106)).

    ``values`` should fall as t grows (agreement, Y_2). NaN if values never reach the level; the
    largest scan time if they are still above it there.
    """
    order = np.argsort(times)
    t, v = np.asarray(times, float)[order], np.asarray(values, float)[order]
    above = np.flatnonzero(v >= level)
    if not above.size:
        return float("nan")
    j = above[-1]
    if j == t.size - 1:
        return float(t[-1])
    return float(t[j] + (v[j] - level) * (t[j + 1] - t[j]) / (v[j] - v[j + 1]))


def crossing_interval(
    times: np.ndarray, values: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float
) -> tuple[float, float, float]:
    """(t, lo, hi): :func:`crossing_time` of a Monte-Carlo curve and the crossings of its pointwise 95 %
    lower and upper bands, the confidence set of the crossing time by test inversion: a time t stays in
    it while the level lies inside the band at t, and at the true crossing it does with probability 0.95.

    Bands falling in t (as the curve): the lower band crosses first (lo), the upper one last (hi).
    Censoring: a lower band below the level throughout gives lo = 0 (the crossing may lie anywhere
    before the scan); an upper band never reaching the level gives hi = the first scan time; one still
    above the level at the last scan time gives hi = inf. Empty scans give NaN throughout.
    """
    t = np.asarray(times, dtype=float)
    if t.size == 0:
        return float("nan"), float("nan"), float("nan")
    upper = np.asarray(upper, dtype=float)
    est = crossing_time(t, values, level)
    lo = crossing_time(t, lower, level)
    lo = 0.0 if np.isnan(lo) else lo
    hi = crossing_time(t, upper, level)
    if np.isnan(hi):
        hi = float(t.min())
    elif upper[np.argmax(t)] >= level:
        hi = float("inf")
    return est, float(lo), float(hi)


def agreement_crossing(times: np.ndarray, phi: np.ndarray, n: int, level: float) -> tuple[float, float, float]:
    """:func:`crossing_interval` of an agreement curve phi = k / n (fractions of n clone pairs) with
    95 % Wilson bands."""
    phi = np.asarray(phi, dtype=float)
    lo, hi = wilson_interval(np.round(phi * n), np.full(phi.shape, float(n)))
    return crossing_interval(times, phi, lo, hi, level)


def resampled_curves(samples: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Bootstrap replicates of a Monte-Carlo mean curve: ``samples`` (n_scan, B, ...) per-trajectory
    values, ``indices`` (n_boot, B) resampled trajectories -> (n_boot, n_scan, ...) means."""
    x = np.asarray(samples, dtype=float)
    idx = np.asarray(indices)
    B = x.shape[1]
    weights = np.stack([np.bincount(row, minlength=B) for row in idx]).astype(float) / idx.shape[1]
    return np.einsum("sb...,rb->rs...", x, weights)


def crossing_replicates(times: np.ndarray, curves: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (lower, upper), each (n_boot,), on the :func:`crossing_time` of each replicate curve (n_boot, n_scan):
    equal where the curve crosses inside the scan; [last scan time, inf) where it is still above the level
    there (censored); [0, first scan time] where it never reaches the level (the crossing lies before the scan).
    Feed them to :func:`diffregimes.protocols.stats.bounded_percentile_interval`."""
    t = np.asarray(times, dtype=float)
    c = np.asarray(curves, dtype=float)
    est = np.array([crossing_time(t, row, level) for row in c])
    late = c[:, int(np.argmax(t))] >= level
    never = np.isnan(est)
    lower = np.where(late, t.max(), np.where(never, 0.0, est))
    upper = np.where(late, np.inf, np.where(never, t.min(), est))
    return lower, upper
