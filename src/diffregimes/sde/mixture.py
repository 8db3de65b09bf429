"""Data law and forward moments on a time grid, as torch tensors.

State layout: a point of R^{k d} is a tensor of shape (..., k, d) -- k modalities (axis -2) by d
dimensions (axis -1). Every k x k modality block (M, Phi, Q, C, ...) stands for ``block (x) I_d``
of the paper and acts on axis -2: ``block @ z``.

* :func:`class_means` builds a (k, d) class mean mu(0) with mu(0) mu(0)^T / d = G (the model's
  per-dimension Gram matrix, (14), (82)).
* :class:`MixtureSpec` is the two-class data law (13): +-mu(0) with covariance Sigma(0) (x) I_d.
* :class:`MomentTable` holds M(t), Phi(t) = e^{Mt} (7), Q(t) (8-9) and C(t) = S + Q (17, 19) on a
  reverse-time grid T = t_0 > t_1 > ... > t_N >= 0, computed once by the theory layer (exact also
  for coupling schedules), so that integrators never call SciPy per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import require
from ..theory import CoupledOU

Tensor = torch.Tensor


def apply_block(A: Tensor, z: Tensor) -> Tensor:
    """(A (x) I_d) z for a k x k block A and points z of shape (..., k, d) (A acts on axis -2).

    einsum is ~3x faster than the broadcast ``A @ z`` (a batch of tiny matmuls) on CPU.
    """
    return torch.einsum("ij,...jd->...id", A, z)


def _psd_cholesky(gram: np.ndarray) -> np.ndarray:
    """Lower-triangular L with L L^T = gram for a PSD gram (singular allowed: zero pivots give zero columns)."""
    k = gram.shape[0]
    L = np.zeros((k, k))
    scale = max(float(np.abs(gram).max()), 1e-300)
    for j in range(k):
        pivot = gram[j, j] - L[j, :j] @ L[j, :j]
        if pivot <= 1e-12 * scale:
            continue
        L[j, j] = np.sqrt(pivot)
        L[j + 1 :, j] = (gram[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L


def class_means(
    gram: np.ndarray, d: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> Tensor:
    """Class mean mu(0) of shape (k, d) with mu(0) mu(0)^T / d = gram (14, 82).

    mu(0) = sqrt(d) L E where L is the (pivot-free, PSD) Cholesky factor of the Gram matrix and the
    rows of E are the first standard basis vectors of R^d (one per non-zero
    column of L, so d >= rank(G) suffices). For the anisotropic model this is
    (139) of the paper with u = e_1, v = e_2: mu_x = sqrt(d) m_x u, mu_y = sqrt(d) m_y (cos(theta) u
    + sin(theta) v).
    """
    gram = np.asarray(gram, dtype=float)
    require(
        gram.ndim == 2 and gram.shape[0] == gram.shape[1], f"gram must be a square k x k matrix: shape={gram.shape}"
    )
    k = gram.shape[0]
    require(
        bool(np.allclose(gram, gram.T))
        and float(np.linalg.eigvalsh(gram).min()) >= -1e-10 * max(1.0, float(np.abs(gram).max())),
        "gram must be symmetric positive semi-definite",
    )
    L = _psd_cholesky(gram)
    L = L[:, np.any(L != 0, axis=0)]  # drop the zero columns of a singular Gram
    require(int(d) >= max(L.shape[1], 1), f"class_means needs d >= rank(gram) = {L.shape[1]}: d={d}")
    mu0 = np.zeros((k, int(d)))
    mu0[:, : L.shape[1]] = np.sqrt(d) * L
    return torch.as_tensor(mu0, dtype=dtype, device=device)


@dataclass(frozen=True, eq=False)
class MixtureSpec:
    """Two-class Gaussian mixture (13): P_0 = 1/2 N(mu(0), Sigma(0)) + 1/2 N(-mu(0), Sigma(0)).

    ``mu0`` has shape (k, d); Sigma(0) is ``model.sigma0`` (x) I_d.
    """

    model: CoupledOU
    mu0: Tensor

    def __post_init__(self) -> None:
        require(
            self.mu0.ndim == 2 and self.mu0.shape[0] == self.model.k,
            f"mu0 must have shape (k, d) with k={self.model.k}: shape={tuple(self.mu0.shape)}",
        )

    @classmethod
    def from_model(
        cls, model: CoupledOU, d: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
    ) -> "MixtureSpec":
        """The mixture whose class mean has the model's per-dimension Gram matrix (see :func:`class_means`)."""
        require(int(d) >= 1, f"d must be >= 1: d={d}")
        return cls(model, class_means(model.gram, int(d), dtype=dtype, device=device))

    @property
    def k(self) -> int:
        """Number of modalities."""
        return int(self.mu0.shape[0])

    @property
    def d(self) -> int:
        """Dimension of each modality."""
        return int(self.mu0.shape[1])

    def sample(self, n: int, generator: torch.Generator, t: float = 0.0) -> tuple[Tensor, Tensor]:
        """n draws of the population mixture P_t (19) (t = 0: the data law (13)).

        Returns (z, s): z of shape (n, k, d), z = s mu(t) + chol(C(t)) eps; s in {+1, -1} the class.
        """
        require(int(n) >= 1, f"n must be >= 1: n={n}")
        require(float(t) >= 0, f"t must be >= 0: t={t}")
        m = self.model.moments(np.asarray(float(t)))
        dtype, device = self.mu0.dtype, self.mu0.device
        Phi = torch.as_tensor(m.transition, dtype=dtype, device=device)
        L = torch.as_tensor(np.linalg.cholesky(m.C), dtype=dtype, device=device)
        bits = torch.randint(0, 2, (int(n),), generator=generator, device=device)
        s = (2 * bits - 1).to(dtype)
        eps = torch.randn((int(n), self.k, self.d), generator=generator, dtype=dtype, device=device)
        return s[:, None, None] * (Phi @ self.mu0) + apply_block(L, eps), s


def reverse_times(T: float, n_steps: int, t_end: float = 0.0) -> np.ndarray:
    """Uniform reverse-time grid T = t_0 > t_1 > ... > t_N = t_end (float64, N + 1 points)."""
    require(float(T) > 0, f"T must be > 0: T={T}")
    require(int(n_steps) >= 1, f"n_steps must be >= 1: n_steps={n_steps}")
    require(0 <= float(t_end) < float(T), f"t_end must lie in [0, T): t_end={t_end}, T={T}")
    return np.linspace(float(T), float(t_end), int(n_steps) + 1)


@dataclass(frozen=True, eq=False)
class MomentTable:
    """Forward moments on a reverse-time grid, index i <-> time ``times[i]`` (strictly decreasing).

    Each block tensor has shape (N + 1, k, k): M(t_i) (the relaxation matrix in force, for schedules
    g(t_i)), Phi(t_i) = e^{M t} (7, piecewise for schedules), Q(t_i) (8-9), C(t_i) (19) and C^{-1}.
    ``Q_inv`` is NaN where Q is singular (t = 0).
    """

    times: Tensor
    M: Tensor
    Phi: Tensor
    Q: Tensor
    C: Tensor
    C_inv: Tensor
    Q_inv: Tensor
    sigma_w2: float

    @classmethod
    def build(
        cls,
        model: CoupledOU,
        times: np.ndarray | Tensor,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> "MomentTable":
        """Evaluate the model's exact moments once on ``times`` (strictly decreasing, >= 0)."""
        t = np.asarray(times.detach().cpu().numpy() if isinstance(times, Tensor) else times, dtype=float)
        require(t.ndim == 1 and t.size >= 2, f"times must be a 1-D grid with >= 2 points: shape={t.shape}")
        require(
            bool(np.all(np.isfinite(t))) and float(t.min()) >= 0,
            f"times must be finite and >= 0: min={float(np.nanmin(t))}",
        )
        require(bool(np.all(np.diff(t) < 0)), "times must be strictly decreasing (reverse time, T -> 0)")
        m = model.moments(t)
        C_inv = np.linalg.inv(m.C)
        q_ok = np.linalg.det(m.Q) > 0
        Q_inv = np.full_like(m.Q, np.nan)
        Q_inv[q_ok] = np.linalg.inv(m.Q[q_ok])

        def as_t(a: np.ndarray) -> Tensor:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

        return cls(
            as_t(t),
            as_t(m.M),
            as_t(m.transition),
            as_t(m.Q),
            as_t(m.C),
            as_t(C_inv),
            as_t(Q_inv),
            float(model.sigma_w2),
        )

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @property
    def k(self) -> int:
        """Number of modalities."""
        return int(self.M.shape[-1])
