"""Protocol I of the MNIST experiment (paper §5.1): deterministic synchronization diagnostics.

Pure functions of an eps-network ``eps_fn(z, k) -> eps_hat`` (z: [B, 2, H, W] states in the
(x_A, x_B) basis, k: an int DDPM step) and tensors passed in; no I/O, no global randomness.

* :func:`x0_trajectory` runs DDIM (eta = 0) and logs the predicted clean state x0_hat(k) (97) at
  every visited step (optionally the states z_k too).
* :func:`cosine_to_final` / :func:`cosine_curves`: Cos_m(k) = E[cos(m(k), m_*)] (98), with m_* the
  last logged prediction (k = 0, which is also the DDIM end point), for m in {u, v} (91) and the
  channels x_A, x_B.
* :func:`crossing_step`: t_m(tau) = max{k : Cos_m(k) >= tau} (99), the earliest reverse step (largest
  k) at which the curve reaches tau, taken literally (a later dip below tau does not move it);
  :func:`sync_gaps`: Delta t(tau) = t_v(tau) - t_u(tau) (100), in DDPM steps and in OU time
  t = -1/2 log alpha_bar_k (:func:`diffregimes.diffusion.ou_time`).
* :func:`ghosting_index`: c_u, c_A, c_B (107) and GI = 2 c_u - c_A - c_B (108).
* :func:`v_intervention`: v <- v + sigma xi at step k_int (101), u untouched, then deterministic
  DDIM to the end; all intervention steps of a scan run as branches of one batch beside the
  unperturbed base run (identical initial noise), so RMS Delta u, Delta v are exact paired
  differences.
* :func:`clip_x0` wraps an eps_fn so that the implied x0_hat is clipped to the data range and the
  eps returned is the one consistent with the clipped prediction (diffusers' ``clip_sample``).

Step units: DDPM step index k in {0, ..., T-1} (reverse runs go from k = T-1 down to 0);
OU time via ``schedule.ou_times``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from ..diffusion import (
    VPSchedule,
    ddim_step,
    perturb_difference_mode,
    predict_x0,
    reverse_pairs,
    to_modes,
)
from ..errors import ValidationError
from .stats import percentile_interval

Tensor = torch.Tensor
EpsFn = Callable[[Tensor, int], Tensor]

TAUS = (0.90, 0.95, 0.98)
#: The paper's Table 1 (T = 200, 4 seeds, evaluation batch 16): mean Delta t(tau) in DDPM steps for
#: tau in TAUS, per (pairing, g). Reference values to set beside ours; nothing is computed from them.
PAPER_TABLE1 = {
    ("main", 0.0): (-64.0, -57.0, -43.5),
    ("main", 0.3): (-64.5, -56.0, -49.0),
    ("main", 0.5): (-77.2, -64.5, -53.5),
    ("main", 0.7): (-78.0, -75.5, -61.0),
    ("ctrl", 0.0): (-25.3, -20.0, -14.0),
    ("ctrl", 0.3): (-29.5, -24.3, -18.5),
    ("ctrl", 0.5): (-31.2, -26.5, -20.2),
    ("ctrl", 0.7): (-36.0, -32.8, -29.0),
}
#: the paper's Table 1 spread (± sd over its four seeds), same cells as :data:`PAPER_TABLE1`
PAPER_TABLE1_SD = {
    ("main", 0.0): (15.4, 12.1, 6.2),
    ("main", 0.3): (6.8, 6.1, 5.2),
    ("main", 0.5): (29.9, 17.5, 5.4),
    ("main", 0.7): (26.1, 18.7, 13.0),
    ("ctrl", 0.0): (6.3, 4.2, 2.2),
    ("ctrl", 0.3): (6.0, 3.3, 2.6),
    ("ctrl", 0.5): (2.9, 3.1, 2.2),
    ("ctrl", 0.7): (3.6, 3.9, 2.2),
}
_EPS_NORM = 1e-12


# ----------------------------------------------------------------------------- eps wrappers
def clip_x0(eps_fn: EpsFn, schedule: VPSchedule, lo: float = 0.0, hi: float = 1.0) -> EpsFn:
    """eps_fn whose implied prediction x0_hat (97) is clipped to [lo, hi].

    Returns eps' = (z_k - sqrt(a_k) clip(x0_hat)) / sqrt(1 - a_k), so DDIM and DDPM steps, which
    rebuild x0_hat from eps, use the clipped prediction (as diffusers' ``clip_sample`` does). An
    undertrained network's eps error at high noise is amplified 1/sqrt(alpha_bar) ~ 150x in x0_hat;
    clipping to the data range keeps such a network's trajectories in range.
    """
    if not lo < hi:
        raise ValidationError(f"need lo < hi: lo={lo}, hi={hi}")
    a_bar = schedule.alpha_bars

    def wrapped(z: Tensor, k: int) -> Tensor:
        eps = eps_fn(z, k)
        a = float(a_bar[int(k)])
        x0 = ((z - (1.0 - a) ** 0.5 * eps) / a**0.5).clamp(lo, hi)
        return (z - a**0.5 * x0) / (1.0 - a) ** 0.5

    return wrapped


def batched(eps_fn: EpsFn, max_batch: int | None) -> EpsFn:
    """eps_fn evaluated in chunks of at most ``max_batch`` rows (memory bound); None = one call."""
    if max_batch is None:
        return eps_fn
    if int(max_batch) < 1:
        raise ValidationError(f"max_batch must be >= 1: max_batch={max_batch}")

    def wrapped(z: Tensor, k: int) -> Tensor:
        if z.shape[0] <= max_batch:
            return eps_fn(z, k)
        return torch.cat([eps_fn(c, k) for c in torch.split(z, int(max_batch))], dim=0)

    return wrapped


# ----------------------------------------------------------------------------- trajectories (97)
@dataclass(frozen=True, eq=False)
class X0Trajectory:
    """A logged DDIM run: steps k (descending), predictions x0_hat(k) (97), optionally states z_k.

    x0: [S, B, 2, H, W] float32 on CPU, in the (x_A, x_B) basis; ``u``/``v`` give the modes (91).
    final: [B, 2, H, W], the DDIM end point (equal to x0_hat at k = 0, the last step's target).
    """

    steps: np.ndarray
    x0: Tensor
    final: Tensor
    states: Tensor | None = None

    @property
    def u(self) -> Tensor:
        """Common mode u = (x_A + x_B)/sqrt(2) (91) of the logged predictions."""
        return to_modes(self.x0)[0]

    @property
    def v(self) -> Tensor:
        """Difference mode v = (x_A - x_B)/sqrt(2) (91) of the logged predictions."""
        return to_modes(self.x0)[1]


def x0_trajectory(
    eps_fn: EpsFn,
    z_start: Tensor,
    schedule: VPSchedule,
    num_steps: int | None = None,
    keep_states: bool = False,
    progress: Callable[[Iterable, str, int], Iterable] | None = None,
) -> X0Trajectory:
    """DDIM from z_start (at k = T-1) logging x0_hat (97) at every visited step.

    One network call per step: x0_hat is computed from the same eps_hat as the DDIM update.
    """
    if z_start.dim() != 4 or z_start.shape[1] != 2:
        raise ValidationError(f"z_start must be [B, 2, H, W]: shape={tuple(z_start.shape)}")
    pairs = reverse_pairs(schedule.T, num_steps)
    steps, x0s, states = [], [], []
    z = z_start
    it: Iterable = pairs if progress is None else progress(pairs, "DDIM", len(pairs))
    for k, k_prev in it:
        eps = eps_fn(z, k)
        steps.append(k)
        x0s.append(predict_x0(z, eps, k, schedule).float().cpu())
        if keep_states:
            states.append(z.float().cpu())
        z = ddim_step(z, eps, k, k_prev, schedule)
    return X0Trajectory(
        np.asarray(steps, dtype=np.int64),
        torch.stack(x0s),
        z.float().cpu(),
        torch.stack(states) if keep_states else None,
    )


# ----------------------------------------------------------------------------- cosines (98)
def cosine_to_final(m: Tensor) -> Tensor:
    """cos(m(k), m_*) per logged step and sample, m_* = m[-1]: [S, B, ...] -> [S, B] (float64).

    A zero vector has cosine 0 with everything (norms are floored at 1e-12).
    """
    if m.dim() < 2:
        raise ValidationError(f"m must be [S, B, ...]: shape={tuple(m.shape)}")
    flat = m.reshape(m.shape[0], m.shape[1], -1).double()
    ref = flat[-1]
    num = (flat * ref).sum(-1)
    den = flat.norm(dim=-1).clamp_min(_EPS_NORM) * ref.norm(dim=-1).clamp_min(_EPS_NORM)
    return num / den


@dataclass(frozen=True, eq=False)
class CosineCurves:
    """Per-sample cosines to the final prediction, [S, B] each, for u, v (91) and x_A, x_B."""

    steps: np.ndarray
    per_sample: dict[str, np.ndarray]

    def mean(self, name: str) -> np.ndarray:
        """Cos_m(k) of (98): the batch mean."""
        return self.per_sample[name].mean(axis=1)

    def sd(self, name: str) -> np.ndarray:
        """Standard deviation over samples of curve ``name`` at each step (zeros for one sample)."""
        return (
            self.per_sample[name].std(axis=1, ddof=1)
            if self.per_sample[name].shape[1] > 1
            else np.zeros(len(self.steps))
        )


def cosine_curves(traj: X0Trajectory) -> CosineCurves:
    """Cosines (98)/(107) of u, v, x_A and x_B predictions to their final values."""
    u, v = to_modes(traj.x0)
    per = {"u": u, "v": v, "x_a": traj.x0[:, :, 0], "x_b": traj.x0[:, :, 1]}
    return CosineCurves(traj.steps, {n: cosine_to_final(m).numpy() for n, m in per.items()})


# ----------------------------------------------------------------------------- crossings (99)-(100)
def crossing_step(cos: Sequence[float] | np.ndarray, steps: Sequence[int] | np.ndarray, tau: float) -> int | None:
    """t_m(tau) = max{k : Cos_m(k) >= tau} (99); None if the curve never reaches tau."""
    c, k = np.asarray(cos, dtype=np.float64), np.asarray(steps)
    if c.shape != k.shape or c.ndim != 1:
        raise ValidationError(f"cos and steps must be 1-D of equal length: {c.shape}, {k.shape}")
    hit = k[c >= tau]
    return int(hit.max()) if hit.size else None


def step_ou_time(k: float | None, schedule: VPSchedule) -> float:
    """OU time of a (possibly fractional) DDPM step: t_k = -1/2 log alpha_bar_k, linear between
    integer steps; k = -1 (the clean end point) is t = 0; None -> NaN."""
    if k is None or not np.isfinite(k):
        return float("nan")
    ks = np.arange(-1, schedule.T)
    ts = np.concatenate([[0.0], schedule.ou_times.numpy()])
    if not -1 <= k <= schedule.T - 1:
        raise ValidationError(f"k must be in [-1, {schedule.T - 1}]: k={k}")
    return float(np.interp(k, ks, ts))


def sync_gaps(curves: CosineCurves, schedule: VPSchedule, taus: Sequence[float] = TAUS) -> list[dict[str, float]]:
    """Delta t(tau) = t_v(tau) - t_u(tau) (100) on the batch-mean curves, for each tau.

    Rows: tau, t_u, t_v, dt (DDPM steps; negative = u stabilises first, at higher noise) and
    t_u_ou, t_v_ou, dt_ou (OU time; same sign convention).
    """
    cu, cv = curves.mean("u"), curves.mean("v")
    rows = []
    for tau in taus:
        tu, tv = crossing_step(cu, curves.steps, tau), crossing_step(cv, curves.steps, tau)
        ou_u, ou_v = step_ou_time(tu, schedule), step_ou_time(tv, schedule)
        rows.append(
            {
                "tau": float(tau),
                "t_u": np.nan if tu is None else float(tu),
                "t_v": np.nan if tv is None else float(tv),
                "dt": np.nan if tu is None or tv is None else float(tv - tu),
                "t_u_ou": ou_u,
                "t_v_ou": ou_v,
                "dt_ou": ou_v - ou_u,
            }
        )
    return rows


# ----------------------------------------------------------------------------- ghosting (107)-(108)
def ghosting_index(curves: CosineCurves) -> dict[str, np.ndarray]:
    """c_u, c_A, c_B (107) (batch means) and GI = 2 c_u - c_A - c_B (108), each [S]."""
    cu, ca, cb = curves.mean("u"), curves.mean("x_a"), curves.mean("x_b")
    return {"c_u": cu, "c_a": ca, "c_b": cb, "gi": 2.0 * cu - ca - cb}


# ----------------------------------------------------------------------------- intervention (101)
@dataclass(frozen=True, eq=False)
class InterventionResult:
    """v-only intervention (101) at each k_int, against the unperturbed base run.

    base: [B, 2, H, W] final DDIM output without intervention (dtype of z_start, on CPU);
    perturbed: [n, B, 2, H, W] with an
    intervention at k_ints[i]. rms_du/rms_dv: [n] RMS over samples and pixels of the final
    u- and v-difference (modes (91)); path_du/path_dv: [n, S] RMS of the x0_hat difference at every
    logged step (NaN before the intervention), showing whether the perturbation is corrected.
    """

    k_ints: np.ndarray
    sigma: float
    steps: np.ndarray
    base: Tensor
    perturbed: Tensor
    rms_du: np.ndarray
    rms_dv: np.ndarray
    path_du: np.ndarray
    path_dv: np.ndarray


def _rms_modes(a: Tensor, b: Tensor) -> tuple[float, float]:
    ua, va = to_modes(a.double())
    ub, vb = to_modes(b.double())
    return float(((ua - ub) ** 2).mean().sqrt()), float(((va - vb) ** 2).mean().sqrt())


def v_intervention(
    eps_fn: EpsFn,
    z_start: Tensor,
    schedule: VPSchedule,
    k_ints: Sequence[int],
    sigma: float,
    xi: Tensor,
    num_steps: int | None = None,
    progress: Callable[[Iterable, str, int], Iterable] | None = None,
) -> InterventionResult:
    """Deterministic DDIM with and without v <- v + sigma xi at step k_int (101), u unchanged.

    The perturbation is applied to the state z_{k_int} before the network call at k_int, then
    DDIM continues to the end. z_start: [B, 2, H, W]; xi: [B, H, W] (the same draw for every
    k_int) or [n, B, H, W]. Base and all branches share z_start (identical initial noise) and run
    as one growing batch: a branch joins when the base reaches its k_int, so one network call
    per step serves all of them.
    """
    pairs = reverse_pairs(schedule.T, num_steps)
    visited = [k for k, _ in pairs]
    ks = [int(k) for k in k_ints]
    if not ks or len(set(ks)) != len(ks) or any(k not in visited for k in ks):
        raise ValidationError(
            f"k_ints must be distinct steps visited by the reverse run "
            f"(T={schedule.T}, num_steps={num_steps}): k_ints={list(k_ints)}"
        )
    if z_start.dim() != 4 or z_start.shape[1] != 2:
        raise ValidationError(f"z_start must be [B, 2, H, W]: shape={tuple(z_start.shape)}")
    bsz = z_start.shape[0]
    xis = xi if xi.dim() == 4 else xi.unsqueeze(0).expand(len(ks), *xi.shape)
    if xis.shape != (len(ks), bsz, *z_start.shape[2:]):
        raise ValidationError(f"xi must be [B, H, W] or [n, B, H, W] with B={bsz}: shape={tuple(xi.shape)}")
    order = sorted(range(len(ks)), key=lambda i: -ks[i])  # branches join in reverse-time order
    joined: list[int] = []  # branch indices in row-block order (block 0 is the base)
    z = z_start
    du_path = np.full((len(ks), len(pairs)), np.nan)
    dv_path = np.full((len(ks), len(pairs)), np.nan)
    it: Iterable = enumerate(pairs)
    if progress is not None:
        it = progress(it, "DDIM intervention", len(pairs))
    for s, (k, k_prev) in it:
        for i in order:
            if ks[i] == k:
                z = torch.cat([z, perturb_difference_mode(z[:bsz], sigma, xis[i].to(z))], dim=0)
                joined.append(i)
        eps = eps_fn(z, k)
        x0 = predict_x0(z, eps, k, schedule)
        for block, i in enumerate(joined, start=1):
            du_path[i, s], dv_path[i, s] = _rms_modes(x0[block * bsz : (block + 1) * bsz], x0[:bsz])
        z = ddim_step(z, eps, k, k_prev, schedule)
    z = z.detach().cpu()
    base = z[:bsz]
    perturbed = torch.empty((len(ks), *base.shape), dtype=base.dtype)
    for block, i in enumerate(joined, start=1):
        perturbed[i] = z[block * bsz : (block + 1) * bsz]
    rms = np.array([_rms_modes(perturbed[i], base) for i in range(len(ks))])
    return InterventionResult(
        np.asarray(ks), float(sigma), np.asarray(visited), base, perturbed, rms[:, 0], rms[:, 1], du_path, dv_path
    )


# ----------------------------------------------------------------------------- bootstrap of (100)
def crossing_steps(cos: np.ndarray, steps: np.ndarray, tau: float) -> np.ndarray:
    """Row-wise :func:`crossing_step`: cos [R, S] -> t(tau) [R] (NaN where a row never reaches tau)."""
    hit = np.where(np.asarray(cos) >= tau, np.asarray(steps, dtype=np.float64)[None, :], -np.inf).max(axis=1)
    return np.where(np.isfinite(hit), hit, np.nan)


def gap_replicates(
    curves: Sequence[CosineCurves], tau: float, seed_draws: np.ndarray, image_draws: np.ndarray
) -> np.ndarray:
    """Bootstrap replicates of the seed-mean Delta t(tau) (100) of one (pairing, g) cell.

    curves: one :class:`CosineCurves` per seed (equal batch size B). seed_draws [R, n_seeds] picks
    seeds with replacement; image_draws [R, n_seeds, B] picks images within each drawn seed. Row 0
    of the result uses the draws as given (pass identity draws for the point estimate).
    """
    steps = curves[0].steps
    out = np.zeros(seed_draws.shape[0])
    for j in range(seed_draws.shape[1]):
        for name, sign in (("v", 1.0), ("u", -1.0)):
            stack = np.stack([c.per_sample[name] for c in curves])  # [n_seeds, S, B]
            picked = stack[seed_draws[:, j]]  # [R, S, B]
            rows = np.take_along_axis(picked, image_draws[:, j][:, None, :], axis=2).mean(axis=2)  # [R, S]
            out += sign * crossing_steps(rows, steps, tau)
    return out / seed_draws.shape[1]


def hierarchical_draws(
    n_seeds: int, batch: int, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(seed draws [n_boot, n_seeds], image draws [n_boot, n_seeds, batch]): a two-level bootstrap
    (seeds, then images within each drawn seed). Share the draws between cells that share seeds and
    initial noise (MAIN and CTRL), so ratios and differences are paired."""
    return (rng.integers(0, n_seeds, size=(n_boot, n_seeds)), rng.integers(0, batch, size=(n_boot, n_seeds, batch)))


def gap_bootstrap(
    curves: dict[tuple[str, float], list[CosineCurves]],
    taus: list[float],
    n_seeds: int,
    batch: int,
    n_boot: int,
    rng: np.random.Generator,
) -> dict[tuple, tuple]:
    """Delta t(tau) (100) of every (pairing, g) cell and every tau with its two-level bootstrap (seeds, then
    images within each drawn seed; :func:`hierarchical_draws`): {(pairing, g, tau): (estimate, lo, hi,
    replicates)}, the same draws for every cell, so that differences and ratios of cells are paired."""
    seed_draws, image_draws = hierarchical_draws(n_seeds, batch, n_boot, rng)
    ident_s = np.arange(n_seeds)[None, :]
    ident_i = np.broadcast_to(np.arange(batch), (1, n_seeds, batch))
    out = {}
    for (pairing, g), cs in curves.items():
        for t in taus:
            est = float(gap_replicates(cs, t, ident_s, ident_i)[0])
            reps = gap_replicates(cs, t, seed_draws, image_draws)
            out[(pairing, g, t)] = (est, *percentile_interval(reps), reps)
    return out
