"""Relaxation matrices M of the coupled Ornstein-Uhlenbeck process dZ = M Z dt + sigma_W dW (1).

Every matrix here is the k x k *modality block*; the full matrix on R^{k d} is ``M (x) I_d``.
The coupling enters linearly, M(g) = M_0 + g N, which is what lets a coupling schedule g(t)
reuse the same matrices segment by segment.
"""

from __future__ import annotations

import numpy as np

from ._validate import require, require_finite


def symmetric(beta: float, g: float) -> np.ndarray:
    """Symmetric relaxation matrix (2): [[-beta, g], [g, -beta]]; stable iff beta > |g|."""
    require_finite(beta=beta, g=g)
    require(beta > abs(g), f"symmetric coupling needs beta > |g|: beta={beta}, g={g}")
    return np.array([[-beta, g], [g, -beta]], dtype=float)


def anisotropic(beta: float, g: float) -> np.ndarray:
    """Lower-triangular relaxation matrix (3): [[-beta, 0], [g, -beta]]; stable for any g if beta > 0."""
    require_finite(beta=beta, g=g)
    require(beta > 0, f"anisotropic coupling needs beta > 0: beta={beta}")
    return np.array([[-beta, 0.0], [g, -beta]], dtype=float)


def symmetric_direction() -> np.ndarray:
    """dM/dg of the symmetric case (2)."""
    return np.array([[0.0, 1.0], [1.0, 0.0]])


def anisotropic_direction() -> np.ndarray:
    """dM/dg of the anisotropic case (3): the nilpotent part N of (4)."""
    return np.array([[0.0, 0.0], [1.0, 0.0]])


def symmetric_eigenvalues(beta: float, g: float) -> tuple[float, float]:
    """Eigenvalues (51) lambda_+ = -beta + g (common mode), lambda_- = -beta - g (difference mode)."""
    return -beta + g, -beta - g


def check_stable(M: np.ndarray) -> np.ndarray:
    """Return M as a float array after checking it is square, finite and Hurwitz (Re eig < 0).

    A Hurwitz M is what makes the forward process (1) relax to a stationary law.
    """
    M = np.asarray(M, dtype=float)
    require(
        M.ndim == 2 and M.shape[0] == M.shape[1] and M.shape[0] >= 1,
        f"relaxation matrix must be square k x k: shape={M.shape}",
    )
    require(bool(np.all(np.isfinite(M))), f"relaxation matrix must be finite: M={M.tolist()}")
    worst = float(np.max(np.linalg.eigvals(M).real))
    require(
        worst < 0, f"relaxation matrix needs eigenvalues with negative real part: max Re(eig)={worst:.6g}, valid < 0"
    )
    return M
