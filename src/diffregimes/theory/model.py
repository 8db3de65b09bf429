"""The coupled OU model with a two-class Gaussian-mixture data law (13-14).

``CoupledOU`` bundles what every theory quantity needs: the relaxation matrix M(g) = M_0 + g N
(constant g or a piecewise-constant schedule g(t)), the noise level sigma_W^2, the per-dimension
data covariance Sigma(0) (k x k block, (14)) and the per-dimension Gram matrix of the class mean
G_ij = mu_i(0) . mu_j(0) / d (so G_ii = m_i^2, G_xy = m_x m_y cos(theta), (82)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import moments as mom
from . import relaxation
from ._validate import require, require_finite, require_nonnegative, require_positive
from .schedules import CouplingSchedule, propagate


class Moments(NamedTuple):
    """Forward moments at times t, each of shape t.shape + (k, k)."""

    transition: np.ndarray  # Phi(t) = e^{Mt} (7)
    S: np.ndarray  # drifted data covariance (17)
    Q: np.ndarray  # transition covariance (8-9)
    C: np.ndarray  # kernel covariance C = S + Q (19)
    M: np.ndarray  # relaxation matrix in force at t


@dataclass(frozen=True, eq=False)
class CoupledOU:
    """Coupled OU forward process (1) on k modalities with Gaussian-mixture data (13).

    Build it with :meth:`symmetric`, :meth:`anisotropic` or :meth:`general`.
    """

    base: np.ndarray
    direction: np.ndarray
    coupling: float | CouplingSchedule
    sigma_w2: float
    sigma0: np.ndarray
    gram: np.ndarray
    kind: str = "general"

    # ------------------------------------------------------------------ constructors
    @classmethod
    def symmetric(
        cls,
        beta: float = 1.0,
        g: float | CouplingSchedule = 0.0,
        sigma_w2: float = 2.0,
        sigma2: float = 1.0,
        m_plus2: float = 1.0,
        m_minus2: float = 1.0,
    ) -> "CoupledOU":
        """Symmetric coupling (2) with equal variances sigma_x^2 = sigma_y^2 = sigma^2 (Sec. 3).

        The mean is given by its per-dimension common/difference norms m_pm^2 = |mu_pm(0)|^2/d (53);
        mu_+ . mu_- is taken as 0 (it never enters kappa, (61), because C^{-1}A is diagonal in the
        +/- basis).
        """
        require_positive(beta=beta, sigma_w2=sigma_w2, sigma2=sigma2)
        require_nonnegative(m_plus2=m_plus2, m_minus2=m_minus2)
        for g_value in _coupling_values(g):
            relaxation.symmetric(beta, g_value)
        v = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)  # columns v_+, v_- (50)
        gram = v @ np.diag([m_plus2, m_minus2]) @ v.T
        return cls(
            -beta * np.eye(2),
            relaxation.symmetric_direction(),
            _freeze(g),
            float(sigma_w2),
            sigma2 * np.eye(2),
            gram,
            "symmetric",
        )

    @classmethod
    def anisotropic(
        cls,
        beta: float = 1.0,
        g: float | CouplingSchedule = 0.0,
        sigma_w2: float = 2.0,
        sigma_x2: float = 1.0,
        sigma_y2: float = 1.0,
        mx2: float = 1.0,
        my2: float = 1.0,
        theta: float = 0.0,
    ) -> "CoupledOU":
        """Anisotropic (conditional) coupling (3): X drives Y, per-dimension norms m_x^2, m_y^2,
        angle theta between the modality means (82)."""
        require_positive(beta=beta, sigma_w2=sigma_w2, sigma_x2=sigma_x2, sigma_y2=sigma_y2)
        require_nonnegative(mx2=mx2, my2=my2)
        require_finite(theta=theta)
        for g_value in _coupling_values(g):
            relaxation.anisotropic(beta, g_value)
        cross = np.sqrt(mx2 * my2) * np.cos(theta)
        gram = np.array([[mx2, cross], [cross, my2]])
        return cls(
            -beta * np.eye(2),
            relaxation.anisotropic_direction(),
            _freeze(g),
            float(sigma_w2),
            np.diag([sigma_x2, sigma_y2]),
            gram,
            "anisotropic",
        )

    @classmethod
    def general(
        cls, M: np.ndarray, sigma_w2: float, sigma0: np.ndarray, gram: np.ndarray, direction: np.ndarray | None = None
    ) -> "CoupledOU":
        """Any Hurwitz k x k relaxation matrix M, data covariance block Sigma(0) (SPD) and Gram matrix
        of the class mean (PSD).

        ``direction`` N, if given, makes the coupling a parameter: M(g) = M + g N, with g = 0 here and
        other values through :meth:`with_coupling`. Without it the model has no coupling to change.
        """
        M = relaxation.check_stable(M)
        k = M.shape[0]
        if direction is None:
            direction = np.zeros_like(M)
        direction = np.asarray(direction, float)
        require(
            direction.shape == (k, k) and bool(np.all(np.isfinite(direction))),
            f"direction must be a finite {k} x {k} matrix: shape {direction.shape}",
        )
        require_positive(sigma_w2=sigma_w2)
        sigma0, gram = np.asarray(sigma0, float), np.asarray(gram, float)
        require(
            sigma0.shape == (k, k) and gram.shape == (k, k),
            f"sigma0 and gram must be {k} x {k}: shapes {sigma0.shape}, {gram.shape}",
        )
        require(np.allclose(sigma0, sigma0.T), "sigma0 must be symmetric")
        require(np.allclose(gram, gram.T), "gram must be symmetric")
        low = float(np.linalg.eigvalsh(sigma0).min())
        require(low > 0, f"sigma0 must be positive definite: smallest eigenvalue={low:.6g}, valid > 0")
        low = float(np.linalg.eigvalsh(gram).min())
        require(low >= -1e-12, f"gram must be positive semi-definite: smallest eigenvalue={low:.6g}, valid >= 0")
        return cls(M, direction, 0.0, float(sigma_w2), sigma0, gram, "general")

    # ------------------------------------------------------------------ queries
    @property
    def k(self) -> int:
        """Number of modalities."""
        return int(self.base.shape[0])

    @property
    def scheduled(self) -> bool:
        """True when the coupling is a :class:`CouplingSchedule` (time-dependent g(t))."""
        return isinstance(self.coupling, CouplingSchedule)

    def g(self, t: np.ndarray | float) -> np.ndarray:
        """Coupling in force at forward time t."""
        if self.scheduled:
            return self.coupling(t)
        return np.full(np.shape(t), float(self.coupling))

    def M(self, t: np.ndarray | float = 0.0) -> np.ndarray:
        """Relaxation matrix in force at time t, shape t.shape + (k, k)."""
        return self.base + self.g(t)[..., None, None] * self.direction

    def with_coupling(self, g: float | CouplingSchedule) -> "CoupledOU":
        """The same model with another coupling (validated like the constructors).

        Raises ``ValueError`` for a general model built without a coupling ``direction``: its M does not
        depend on g, and silently ignoring g would return the same model.
        """
        makers = {"symmetric": relaxation.symmetric, "anisotropic": relaxation.anisotropic}
        require(
            bool(np.any(self.direction)),
            "this model has no coupling direction N, so g cannot change M: build it with "
            "CoupledOU.general(M, ..., direction=N) to get M(g) = M + g N",
        )
        for g_value in _coupling_values(g):
            if self.kind in makers:
                makers[self.kind](-self.base[0, 0], g_value)
            else:
                relaxation.check_stable(self.base + g_value * self.direction)
        return CoupledOU(self.base, self.direction, _freeze(g), self.sigma_w2, self.sigma0, self.gram, self.kind)

    def moments(self, t: np.ndarray | float) -> Moments:
        """Phi, S, Q, C and M at forward times t (exact: matrix exponentials, Van Loan, piecewise)."""
        t = np.asarray(t, dtype=float)
        require(
            bool(np.all(np.isfinite(t))) and bool(np.all(t >= 0)),
            f"times must be finite and >= 0: min t={float(np.min(t)) if t.size else 0.0}",
        )
        if self.scheduled:
            Phi, Q = propagate(self.base, self.direction, self.coupling, self.sigma_w2, t)
        else:
            M = self.base + float(self.coupling) * self.direction
            Phi, Q = mom.transition_matrix(M, t), mom.transition_cov(M, self.sigma_w2, t)
        S = Phi @ self.sigma0 @ np.swapaxes(Phi, -1, -2)
        return Moments(Phi, S, Q, S + Q, self.M(t))


def _coupling_values(g: float | CouplingSchedule) -> tuple[float, ...]:
    if isinstance(g, CouplingSchedule):
        return g.values
    require_finite(g=g)
    return (float(g),)


def _freeze(g: float | CouplingSchedule) -> float | CouplingSchedule:
    return g if isinstance(g, CouplingSchedule) else float(g)
