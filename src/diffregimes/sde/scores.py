"""Exact scores of the coupled OU process (torch; CPU or CUDA; use float64 when comparing with theory).

* population score of the two-class mixture P_t (19-21),
* empirical score of n training points p_t^(n) (18), streamed over chunks of training points,
* conditional score grad_y log P_t(y | x) of a two-modality model (142), by the Schur complement (88).

Points have shape (..., k, d) (blocks act on axis -2). A :data:`ScoreFn` is the score on a
:class:`~diffregimes.sde.mixture.MomentTable` grid, called as ``score(i, z)`` with i the grid index;
this is what the integrators take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..errors import require
from .mixture import MixtureSpec, MomentTable, apply_block

Tensor = torch.Tensor
ScoreFn = Callable[[int, Tensor], Tensor]


# ----------------------------------------------------------------------------- population (19-21)
def mixture_score(z: Tensor, C_inv: Tensor, mu: Tensor) -> Tensor:
    """grad log P_t(z) = -C^{-1} z + C^{-1} mu tanh(mu^T C^{-1} z), the gradient of (21).

    z: (..., k, d); C_inv: (k, k) block of C(t)^{-1}; mu: (k, d) drifted class mean mu(t) (16).
    """
    a = C_inv @ mu  # C^{-1} mu, (k, d)
    u = (a * z).sum(dim=(-2, -1))  # mu^T C^{-1} z (C symmetric)
    return -apply_block(C_inv, z) + a * torch.tanh(u)[..., None, None]


def population_score(spec: MixtureSpec, t: float, z: Tensor) -> Tensor:
    """Exact population score at one forward time t (19-21): -C^{-1} z + C^{-1} mu tanh(mu^T C^{-1} z).

    mu(t) = Phi(t) mu(0) (16). Evaluates the theory moments at t (NumPy); inside an integrator use
    :class:`PopulationScore` on a :class:`MomentTable` instead.
    """
    require(math.isfinite(float(t)) and float(t) >= 0, f"t must be a finite time >= 0: t={t}")
    _check_points(z, spec.k, spec.d)
    m = spec.model.moments(np.asarray(float(t)))
    C_inv = torch.as_tensor(np.linalg.inv(m.C), dtype=z.dtype, device=z.device)
    Phi = torch.as_tensor(m.transition, dtype=z.dtype, device=z.device)
    return mixture_score(z, C_inv, Phi @ spec.mu0.to(z))


@dataclass(frozen=True, eq=False)
class PopulationScore:
    """The population score (21) on a moment grid: ``score(i, z)`` at time ``table.times[i]``.

    Precomputes C^{-1}(t_i) and C^{-1}(t_i) mu(t_i) once (shape (N + 1, k, d)).
    """

    C_inv: Tensor
    a: Tensor  # C^{-1} mu(t_i)

    @classmethod
    def build(cls, spec: MixtureSpec, table: MomentTable) -> "PopulationScore":
        """The exact score of the mixture ``spec`` at every time of ``table`` (means mu(t) = Phi(t) mu(0), (16))."""
        require(spec.k == table.k, f"mixture has k={spec.k} modalities, moment table has k={table.k}")
        mu = table.Phi @ spec.mu0.to(table.Phi)  # (N + 1, k, d), (16)
        return cls(table.C_inv, table.C_inv @ mu)

    def __call__(self, i: int, z: Tensor) -> Tensor:
        a = self.a[i]
        u = (a * z).sum(dim=(-2, -1))
        return -apply_block(self.C_inv[i], z) + a * torch.tanh(u)[..., None, None]


# ----------------------------------------------------------------------------- empirical (18)
def empirical_score(z: Tensor, data: Tensor, Phi: Tensor, Q: Tensor, *, chunk_size: int = 4096) -> Tensor:
    """Exact score of the empirical mixture p_t^(n)(z) = 1/n sum_i N(z; Phi z_i, Q) (18).

    grad log p_t^(n)(z) = -Q^{-1} (z - sum_i w_i(z) Phi z_i) with posterior weights w_i (31), a softmax
    of the logits l_i = (Q^{-1} z) . (Phi z_i) - 1/2 (Phi z_i) . Q^{-1} (Phi z_i). The training points
    are streamed in chunks of ``chunk_size`` with a running log-sum-exp (max-shifted), so memory is
    O(batch x chunk) whatever n is.

    z: (..., k, d); data: (n, k, d); Phi, Q: (k, k) blocks at the time t (Q must be positive definite).
    """
    require(int(chunk_size) >= 1, f"chunk_size must be >= 1: chunk_size={chunk_size}")
    require(
        data.ndim == 3 and data.shape[0] >= 1, f"data must have shape (n, k, d) with n >= 1: shape={tuple(data.shape)}"
    )
    k, d = int(data.shape[1]), int(data.shape[2])
    _check_points(z, k, d)
    require(
        tuple(Phi.shape) == (k, k) and tuple(Q.shape) == (k, k),
        f"Phi and Q must be {k} x {k} blocks: shapes {tuple(Phi.shape)}, {tuple(Q.shape)}",
    )
    return _empirical_score(z, data, Phi, torch.linalg.inv(Q), int(chunk_size))


def _empirical_score(z: Tensor, data: Tensor, Phi: Tensor, Q_inv: Tensor, chunk_size: int) -> Tensor:
    batch_shape, k, d = z.shape[:-2], z.shape[-2], z.shape[-1]
    zf = z.reshape(-1, k * d)
    Qz = apply_block(Q_inv, z).reshape(-1, k * d)
    running_max = torch.full((zf.shape[0],), -math.inf, dtype=z.dtype, device=z.device)
    running_sum = torch.zeros_like(running_max)
    acc = torch.zeros_like(zf)  # sum_i e^{l_i - max} Phi z_i
    for start in range(0, int(data.shape[0]), chunk_size):
        m = apply_block(Phi, data[start : start + chunk_size].to(z))  # (c, k, d)
        half_norm = 0.5 * (apply_block(Q_inv, m) * m).sum(dim=(-2, -1))  # (c,)
        m = m.reshape(-1, k * d)
        logits = Qz @ m.T - half_norm  # (B, c)
        new_max = torch.maximum(running_max, logits.max(dim=1).values)
        rescale = torch.exp(running_max - new_max)
        weights = torch.exp(logits - new_max[:, None])
        running_sum = running_sum * rescale + weights.sum(dim=1)
        acc = acc * rescale[:, None] + weights @ m
        running_max = new_max
    mean = (acc / running_sum[:, None]).reshape(zf.shape[0], k, d)
    return -apply_block(Q_inv, z.reshape(-1, k, d) - mean).reshape(batch_shape + (k, d))


@dataclass(frozen=True, eq=False)
class EmpiricalScore:
    """The empirical score (18) on a moment grid: ``score(i, z)`` at time ``table.times[i]`` (> 0)."""

    Phi: Tensor
    Q_inv: Tensor
    data: Tensor
    chunk_size: int = 4096

    @classmethod
    def build(cls, table: MomentTable, data: Tensor, chunk_size: int = 4096) -> "EmpiricalScore":
        """The exact score of the empirical measure of ``data`` (n, k, d) on ``table``'s grid.

        The log-sum-exp over the n points runs in chunks of ``chunk_size`` points.
        """
        require(
            data.ndim == 3 and data.shape[1] == table.k,
            f"data must have shape (n, k={table.k}, d): shape={tuple(data.shape)}",
        )
        require(int(chunk_size) >= 1, f"chunk_size must be >= 1: chunk_size={chunk_size}")
        return cls(table.Phi, table.Q_inv, data.to(table.Phi), int(chunk_size))

    def __call__(self, i: int, z: Tensor) -> Tensor:
        return _empirical_score(z, self.data, self.Phi[i], self.Q_inv[i], self.chunk_size)


# ----------------------------------------------------------------------------- conditional (142)
def conditional_moments(C: Tensor) -> tuple[Tensor, Tensor]:
    """(c, C_y|x) of a 2 x 2 kernel block C(t): regression coefficient c = C12 / C11 and the Schur
    complement C_y|x = C22 - C12^2 / C11 (88). Given the class, y | x ~ N(c x +- (mu_y - c mu_x), C_y|x I_d)."""
    require(C.shape[-2:] == (2, 2), f"conditional moments need a 2 x 2 block: shape={tuple(C.shape)}")
    c = C[..., 1, 0] / C[..., 0, 0]
    return c, C[..., 1, 1] - c * C[..., 1, 0]


def logcosh(u: Tensor) -> Tensor:
    """log cosh(u) without overflow: |u| + log1p(e^{-2|u|}) - log 2 (cosh itself overflows for |u| > 710)."""
    a = u.abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)


def _conditional_parts(y: Tensor, x: Tensor, mu_x: Tensor, mu_y: Tensor, C: Tensor):
    c, v = conditional_moments(C)
    c, v, c11 = c[..., None], v[..., None], C[..., 0, 0][..., None]
    b = mu_y - c * mu_x  # half the distance between the two component means
    r = y - c * x
    ell = (mu_x * x).sum(-1) / c11[..., 0]  # log w_+/w_- = 2 ell: class evidence in x
    eta = ell + (r * b).sum(-1) / v[..., 0]  # log-odds/2 of the class given (x, y)
    return r, b, v, ell, eta


def conditional_score(y: Tensor, x: Tensor, mu_x: Tensor, mu_y: Tensor, C: Tensor) -> Tensor:
    """grad_y log P_t(y | x) of the two-modality mixture (142) via the Schur complement (88).

    P_t(y | x) = sum_{+-} w_+-(x) N(y; m_+-(x), C_y|x I_d) with m_+- = c x +- b, b = mu_y - c mu_x,
    w_+- = e^{+-ell} / (2 cosh ell), ell = mu_x . x / C11. Hence
    grad_y log P_t(y | x) = -(y - c x - b tanh(eta)) / C_y|x with eta = ell + (y - c x) . b / C_y|x.

    y, x: (..., d); mu_x, mu_y: drifted class means at t, (..., d) (broadcastable); C: (..., 2, 2)
    kernel block C(t) (broadcastable against the leading axes). Valid for any 2 x 2 C (the
    anisotropic case (3) is App. C's).
    """
    r, b, v, _, eta = _conditional_parts(y, x, mu_x, mu_y, C)
    return -(r - b * torch.tanh(eta)[..., None]) / v


def conditional_log_density(y: Tensor, x: Tensor, mu_x: Tensor, mu_y: Tensor, C: Tensor) -> Tensor:
    """log P_t(y | x) of the two-modality mixture (142) (exact, log-sum-exp stable); shape y.shape[:-1].

    log P = -d/2 log(2 pi C_y|x) - (|y - c x|^2 + |b|^2) / (2 C_y|x) + logcosh(eta) - logcosh(ell).
    At t = 0 it is the density of the NLL (146).
    """
    r, b, v, ell, eta = _conditional_parts(y, x, mu_x, mu_y, C)
    d = y.shape[-1]
    v0 = v[..., 0]
    return (
        -0.5 * d * torch.log(2 * math.pi * v0)
        - ((r * r).sum(-1) + (b * b).sum(-1)) / (2 * v0)
        + logcosh(eta)
        - logcosh(ell)
    )


def _check_points(z: Tensor, k: int, d: int) -> None:
    require(
        z.ndim >= 2 and tuple(z.shape[-2:]) == (k, d),
        f"points must have shape (..., k={k}, d={d}): shape={tuple(z.shape)}",
    )
