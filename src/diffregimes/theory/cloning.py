"""Exact cloning agreement of the two-class mixture and the class-posterior signal-to-noise ratio.

With the exact score, a reverse trajectory started from x_t samples P_0(x_0 | x_t) exactly, so two
clones of x_t pick their classes independently from the posterior P(s = +-1 | x_t) = (1 +- tanh u)/2,
u = mu(t)^T C(t)^{-1} x_t (20). Under P_t, u ~ N(s a, a) with

    a(t) = mu(t)^T C(t)^{-1} mu(t)      (the class-posterior SNR, total over the d dimensions),

so the probability that two clones agree is phi(t) = E[(1 + tanh(u)^2) / 2], a function of a(t) alone.
phi runs from 1/2 (a -> 0, noise regime) to 1 (a -> inf, classes decided). Biroli et al. (2024) place
speciation at a(t) = 1 (the log-density turns bimodal along mu); the paper's kappa(t) = 1 (30) is the
bifurcation of the reverse *drift*, kappa = mu^T C^{-1} A mu, which for a single mode with C = sigma_W^2/(2|lambda|)
equals 2 a: the two criteria differ by a factor 2 inside the logarithm (t_S = (1/2) log(2d) vs (1/2) log d
for unit variance, beta = 1, sigma_W^2 = 2).
"""

from __future__ import annotations

import numpy as np

from .model import CoupledOU
from .roots import default_time_grid, last_crossing
from .speciation import convention_factor

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(80)  # probabilists' Hermite: E over N(0, 1)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def posterior_snr(
    model: CoupledOU, t: np.ndarray | float, convention: str = "total", d: int | None = None
) -> np.ndarray:
    """a(t) = mu(t)^T C(t)^{-1} mu(t) (``total``, needs d) or per dimension (``per-dim``)."""
    factor = convention_factor(convention, d)
    m = model.moments(t)
    F = np.swapaxes(m.transition, -1, -2) @ np.linalg.inv(m.C) @ m.transition
    return factor * np.einsum("ij,...ij->...", model.gram, F)


def cloning_agreement(a: np.ndarray | float) -> np.ndarray:
    """phi = E[(1 + tanh(u)^2)/2], u ~ N(a, a): the probability that two exact-score clones agree."""
    a = np.asarray(a, dtype=float)
    u = a[..., None] + np.sqrt(np.maximum(a, 0.0))[..., None] * _NODES
    return 0.5 * (1.0 + np.tanh(u) ** 2) @ _WEIGHTS


def mode_posterior_snr(
    lam: float, m2: float, sigma2: float, sigma_w2: float, t: np.ndarray | float, d: int = 1
) -> np.ndarray:
    """a_pm(t) = d m^2 e^{2 lam t} / c_pm(t) for one eigenmode of the symmetric case (54-55)."""
    from .moments import symmetric_mode_c

    t = np.asarray(t, dtype=float)
    return d * m2 * np.exp(2 * lam * t) / symmetric_mode_c(lam, sigma2, sigma_w2, t)


def posterior_speciation_time(model: CoupledOU, d: int, T: float = 10.0, n_grid: int = 512) -> float | None:
    """The Biroli et al. speciation time: the largest t with a_total(t) = 1 (None if a never reaches 1)."""
    t_grid = default_time_grid(T, n_grid)
    values = posterior_snr(model, t_grid, "total", d)
    root = float(last_crossing(values[:, None], t_grid, lambda t, idx: posterior_snr(model, t, "total", d))[0])
    return None if np.isnan(root) else root
