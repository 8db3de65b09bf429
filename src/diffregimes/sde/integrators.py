"""Reverse-time integrators for the coupled OU process dZ = M(t) Z dt + sigma_W dW (1).

Both take ONE signature, ``(score, z_T, table, generator, callback=None)``, k-diffusion style:
``score(i, z)`` is the score at grid time ``table.times[i]`` (a :data:`~diffregimes.sde.scores.ScoreFn`),
``table`` a :class:`~diffregimes.sde.mixture.MomentTable` on the reverse grid T = t_0 > ... > t_N
(it supplies M(t_i), for coupling schedules the matrix in force at t_i, and sigma_W^2), and all
noise is drawn from ``generator`` (on z_T's device).

Sign convention. Anderson's reversal (10) with b = M z and a = sigma_W^2 I reads, with dt < 0,
dZ = (M Z - sigma_W^2 grad log p_t) dt + sigma_W dW. Writing tau = -t (reverse time running forward)
this is dZ = b_rev dtau + sigma_W dW with b_rev(z, t) = -M z + sigma_W^2 grad log p_t(z) (22), which
is what :func:`euler_maruyama` steps. The probability-flow ODE has the same marginals:
dz/dtau = -M z + (sigma_W^2 / 2) grad log p_t(z).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from ..errors import require
from .mixture import MomentTable, apply_block
from .scores import ScoreFn

Tensor = torch.Tensor
Callback = Callable[[int, float, Tensor], None]


def _check(z_T: Tensor, table: MomentTable) -> None:
    require(
        z_T.ndim >= 2 and z_T.shape[-2] == table.k,
        f"z_T must have shape (..., k={table.k}, d): shape={tuple(z_T.shape)}",
    )
    require(z_T.device == table.M.device, f"z_T is on {z_T.device} but the moment table on {table.M.device}")


def reverse_drift(score: ScoreFn, table: MomentTable, i: int, z: Tensor, score_weight: float = 1.0) -> Tensor:
    """-M(t_i) z + score_weight sigma_W^2 grad log p_{t_i}(z): b_rev (22) for weight 1, the
    probability-flow velocity for weight 1/2 (both in reverse time tau = -t)."""
    return -apply_block(table.M[i].to(z), z) + (score_weight * table.sigma_w2) * score(i, z)


def euler_maruyama(
    score: ScoreFn, z_T: Tensor, table: MomentTable, generator: torch.Generator, callback: Callback | None = None
) -> Tensor:
    """Reverse SDE (10)/(22) by Euler-Maruyama from t_0 = T to t_N (weak order 1).

    z_{i+1} = z_i + h_i b_rev(z_i, t_i) + sigma_W sqrt(h_i) xi_i,  h_i = t_i - t_{i+1} > 0,
    b_rev = -M(t_i) z + sigma_W^2 score(i, z), xi_i ~ N(0, I) from ``generator``. The score is never
    evaluated at the final time t_N (so t_N = 0 is fine for the empirical score).
    ``callback(i, t_i, z_i)`` sees every grid point i = 0..N (the initial state included).
    """
    _check(z_T, table)
    times = table.times.tolist()
    z = z_T.clone()
    if callback is not None:
        callback(0, times[0], z)
    sigma_w = math.sqrt(table.sigma_w2)
    for i in range(len(times) - 1):
        h = times[i] - times[i + 1]
        noise = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        z = z + h * reverse_drift(score, table, i, z) + (sigma_w * math.sqrt(h)) * noise
        if callback is not None:
            callback(i + 1, times[i + 1], z)
    return z


def heun_ode(
    score: ScoreFn,
    z_T: Tensor,
    table: MomentTable,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Probability-flow ODE dz/dtau = -M z + (sigma_W^2 / 2) grad log p_t(z) by Heun's method (order 2).

    Deterministic; ``generator`` is accepted (and unused) so that every integrator has one signature.
    As in EDM, a final step that ends at t = 0 is an Euler step (the score at t = 0 is not needed,
    and the empirical one does not exist there); the global order stays 2.
    ``callback(i, t_i, z_i)`` sees every grid point i = 0..N.
    """
    _check(z_T, table)
    times = table.times.tolist()
    z = z_T.clone()
    if callback is not None:
        callback(0, times[0], z)
    for i in range(len(times) - 1):
        h = times[i] - times[i + 1]
        v = reverse_drift(score, table, i, z, 0.5)
        z_euler = z + h * v
        if times[i + 1] > 0:
            z = z + 0.5 * h * (v + reverse_drift(score, table, i + 1, z_euler, 0.5))
        else:
            z = z_euler
        if callback is not None:
            callback(i + 1, times[i + 1], z)
    return z
