"""Manifold data model: speciation and collapse times against the manifold-to-ambient ratio psi = p/d.

The model (docs/manifold.md states it in full):

* ambient dimension d, latent dimension p = psi d (0 < psi <= 1), n = e^{alpha d} training points;
* latent z = s mu + xi, s = +-1 equiprobable, xi ~ N(0, I_p), mu = m (1, ..., 1) in R^p, |mu|^2 = p m^2;
* data x = F(W z / sqrt(p)) with W in R^{d x p} i.i.d. N(0, 1) (``random``, F linear, tanh or sign), or
  x = U z with U in R^{d x p} with orthonormal columns (``orthonormal``, F linear);
* forward process x_t = e^{-t} x + sqrt(Delta_t) xi', Delta_t = 1 - e^{-2t} (beta = 1, sigma_W^2 = 2 of the
  rest of the project), signal-to-noise ratio s(t) = e^{-2t} / Delta_t = 1/(e^{2t} - 1).

Collapse (the random-energy criterion of the project at leading order in d): t_C solves

    (1/d) I(x; x_t) = alpha.                                                                    (C)

For Gaussian data N(0, sigma^2 I) this is (1/2) log(C(t)/Q(t)) = alpha, the project's (73)/(86) with k = 1
(docs/manifold.md derives it). The two-class label s changes I(x; x_t) by at most log 2, O(1/d) per
dimension, so the i.i.d. prior z_i ~ N(m, 1) is used.

* orthonormal: (1/d) I = (psi/2) log(1 + s), so t_C = (1/2) log(1 + (e^{2 alpha/psi} - 1)^{-1});
* random, F linear: (1/d) I = (1/(2d)) log det(I + s W W^T / p) -> (psi/2) V(s/psi; psi), V the
  Marchenko-Pastur Shannon transform (Verdu's closed form);
* random, F non-linear: the replica-symmetric GLM formula of :mod:`.glm`, (1/d) I = psi * min_E i(E).

Speciation (the project's criterion (30): the reverse drift along the class-separating direction turns
unstable, kappa(t) = 1 in the total convention, DESIGN errata 4). For a two-class Gaussian mixture with
means +-mu_x and covariance Sigma (one modality, M = -I, sigma_W^2 = 2) the project's
kappa = mu(t)^T C^{-1} (M + sigma_W^2 C^{-1})^{-1} sigma_W^2 C^{-1} mu(t) reads, in the eigenbasis of Sigma,

    kappa(t) = sum_k e^{-2t} mu_k^2 * 2 / (c_k (2 - c_k)),   c_k(t) = e^{-2t} sigma_k^2 + Delta_t,      (K)

and the class-posterior SNR of the cloning theory (theory.cloning) is a(t) = sum_k e^{-2t} mu_k^2 / c_k.

* orthonormal: the data is exactly the mixture with mu_x = U mu (|mu_x|^2 = p m^2) and unit variance along
  it (c = 1), so kappa = 2 p m^2 e^{-2t} and t_S = (1/2) log(2 p m^2);
* random, odd F, Gaussian equivalence: x ~ rho_1 W z / sqrt(p) + rho_* eta with rho_1 = E[h F(h)],
  rho_*^2 = E[F(h)^2] - rho_1^2, h ~ N(0, 1): a mixture with mu_x = rho_1 W mu / sqrt(p) and
  Sigma = rho_1^2 W W^T / p + rho_*^2 I. (K) is evaluated exactly for a sampled W (:class:`GEMixture`) or,
  as d -> infinity at fixed psi, by the Marchenko-Pastur law of W^T W / p (:func:`ge_kappa`):
  kappa = p m^2 rho_1^2 E_lambda[lambda k(rho_1^2 lambda + rho_*^2)], whose leading order is
  t_S ~ (1/2) log(2 rho_1^2 d m^2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.integrate import quad

from ._validate import require, require_nonnegative, require_positive
from .glm import (
    ACTIVATIONS,
    T_EXACT_MIN,
    noise_variance,
    rs_information,
    small_noise_parameters,
    small_noise_per_dim,
)
from .roots import last_crossing, refine_crossing

EMBEDDINGS = ("orthonormal", "random")
_N_MP = 64  # Gauss-Chebyshev nodes for Marchenko-Pastur averages
_LOG_T_COARSE, _LOG_T_FINE = 1.0, 0.3  # node spacings in log t for the GLM collapse root


# ----------------------------------------------------------------------------- validation
def check_model(psi: np.ndarray | float, m2: float, embedding: str, activation: str) -> np.ndarray:
    """Validate the model parameters; returns psi as a float array."""
    require(embedding in EMBEDDINGS, f"unknown embedding {embedding!r}: valid are {', '.join(EMBEDDINGS)}")
    require(activation in ACTIVATIONS, f"unknown activation {activation!r}: valid are {', '.join(ACTIVATIONS)}")
    require(
        embedding == "random" or activation == "linear",
        f"the orthonormal embedding is linear (x = U z): activation={activation!r}, valid is 'linear'",
    )
    psi = np.asarray(psi, dtype=float)
    require(bool(np.all(np.isfinite(psi) & (psi > 0) & (psi <= 1))), f"psi must lie in (0, 1]: psi={psi.tolist()}")
    require_nonnegative(m2=m2)
    return psi


def _check_alpha(alpha: np.ndarray | float) -> np.ndarray:
    alpha = np.asarray(alpha, dtype=float)
    require(bool(np.all(np.isfinite(alpha) & (alpha > 0))), f"alpha must be > 0: alpha={alpha.tolist()}")
    return alpha


def latent_dimension(d: int, psi: float) -> int:
    """p = round(psi d), at least 1."""
    require(int(d) >= 1, f"d must be >= 1: d={d}")
    return max(1, round(float(psi) * int(d)))


# ----------------------------------------------------------------------------- Gaussian equivalence
def ge_coefficients(activation: str) -> tuple[float, float]:
    """(rho_1, rho_*^2) = (E[h F(h)], E[F(h)^2] - rho_1^2), h ~ N(0, 1).

    linear: (1, 0); sign: (sqrt(2/pi), 1 - 2/pi); tanh: by adaptive quadrature (0.6057, 0.0273).
    """
    require(activation in ACTIVATIONS, f"unknown activation {activation!r}: valid are {', '.join(ACTIVATIONS)}")
    if activation == "linear":
        return 1.0, 0.0
    if activation == "sign":
        return float(np.sqrt(2 / np.pi)), float(1 - 2 / np.pi)
    rho1 = _gauss_average(lambda h: h * np.tanh(h), 1.0)
    second = _gauss_average(lambda h: np.tanh(h) ** 2, 1.0)
    return float(rho1), float(second - rho1**2)


def class_mean_norm2(m2: float, activation: str) -> float:
    """|E[x | s]|^2 / d as d -> infinity, exactly: E_g[G(m g)^2], G(mu) = E F(mu + N(0, 1)), g ~ N(0, 1).

    Coordinate a of the pre-activation is h_a = s m g_a + N(0, 1) with g_a = (W 1)_a / sqrt(p) ~ N(0, 1),
    so the exact class mean is s G(m g_a). The Gaussian equivalence replaces G(mu) by rho_1 mu (its slope at
    0), giving rho_1^2 m^2: accurate for m^2 << 1. The ratio E[G(m g)^2] / (rho_1^2 m^2) measures the error
    (e.g. 0.87 for tanh and 0.81 for sign at m^2 = 0.25, 0.64 and 0.52 at m^2 = 1).
    """
    require_nonnegative(m2=m2)
    x, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    mu = np.sqrt(m2) * x
    if activation == "linear":
        G = mu
    elif activation == "sign":
        from scipy.special import erf

        G = erf(mu / np.sqrt(2))
    else:
        G = np.tanh(mu[:, None] + x[None, :]) @ w
    return float(G**2 @ w)


def output_variance(activation: str, m2: float) -> float:
    """v_F = E[F(h)^2], h ~ N(0, 1 + m^2): the mean ambient variance per coordinate (marginally over W, s)."""
    rho = 1.0 + m2
    if activation == "linear":
        return rho
    if activation == "sign":
        return 1.0
    return _gauss_average(lambda h: np.tanh(h) ** 2, rho)


def _gauss_average(g, variance: float) -> float:
    """E g(h), h ~ N(0, variance), by adaptive quadrature."""

    def integrand(h: float) -> float:
        return g(h) * np.exp(-0.5 * h * h / variance) / np.sqrt(2 * np.pi * variance)

    return float(quad(integrand, -np.inf, np.inf, epsabs=1e-14)[0])


# ----------------------------------------------------------------------------- mutual information
def snr(t: np.ndarray | float) -> np.ndarray:
    """s(t) = e^{-2t} / Delta_t = 1 / (e^{2t} - 1)."""
    return 1.0 / noise_variance(t)


def mp_shannon(gamma: np.ndarray | float, beta: np.ndarray | float) -> np.ndarray:
    """V(gamma; beta) = lim (1/K) log det(I_K + gamma H^T H), H of size N x K with N(0, 1/N) entries, beta = K/N.

    Verdu's closed form (Tulino & Verdu 2004, (1.12), natural log):
    V = log(1 + gamma - F/4) + (1/beta) log(1 + gamma beta - F/4) - F/(4 beta gamma),
    F = (sqrt(gamma (1 + sqrt beta)^2 + 1) - sqrt(gamma (1 - sqrt beta)^2 + 1))^2, written without the
    cancellation of the difference of square roots (F = (4 gamma sqrt(beta) / (A + B))^2, A and B the two
    square roots) and of 1 + gamma beta - F/4 at large gamma.
    """
    gamma, beta = np.broadcast_arrays(np.asarray(gamma, float), np.asarray(beta, float))
    A = np.sqrt(gamma * (1 + np.sqrt(beta)) ** 2 + 1)
    B = np.sqrt(gamma * (1 - np.sqrt(beta)) ** 2 + 1)
    S2 = (A + B) ** 2
    # gamma - F/4 and gamma beta - F/4 with F/4 = 4 gamma^2 beta / (A + B)^2, both written as sums of
    # positive terms (the second cancels to O(sqrt(gamma)) for large gamma): (A + B)^2 - 4 gamma beta =
    # 2 gamma (1 - beta) + 2 + 2AB, and (A + B)^2 - 4 gamma = 2 (gamma (2 + 2 beta) + 1)/(AB + gamma (1 - beta)) + 2
    ratio = gamma / S2  # O(1): no overflow for huge gamma
    first = ratio * (2 * gamma * (1 - beta) + 2 + 2 * A * B)
    second = ratio * beta * (2 * (gamma * (2 + 2 * beta) + 1) / (A * B + gamma * (1 - beta)) + 2)
    return np.log1p(first) + np.log1p(second) / beta - 4 * ratio


def orthonormal_information(t: np.ndarray | float, psi: np.ndarray | float) -> np.ndarray:
    """(1/d) I(x; x_t) = (psi/2) log(1 + s) = -(psi/2) log(1 - e^{-2t}) for x = U z (unit latent variance)."""
    t = np.asarray(t, dtype=float)
    return -0.5 * np.asarray(psi, dtype=float) * np.log(-np.expm1(-2 * t))


def random_linear_information(t: np.ndarray | float, psi: np.ndarray | float) -> np.ndarray:
    """(1/d) I(x; x_t) = (1/(2d)) log det(I_p + s W^T W / p) -> (psi/2) V(s/psi; psi) (Marchenko-Pastur)."""
    psi = np.asarray(psi, dtype=float)
    return 0.5 * psi * mp_shannon(snr(t) / psi, psi)


def information(
    t: np.ndarray | float,
    psi: np.ndarray | float,
    activation: str = "linear",
    embedding: str = "random",
    m2: float = 1.0,
) -> np.ndarray:
    """(1/d) I(x; x_t) on the grid t x psi, shape (n_t, n_psi) (scalars give a 1 x 1 array)."""
    psi = np.atleast_1d(check_model(psi, m2, embedding, activation))
    t = np.atleast_1d(np.asarray(t, dtype=float))
    require(bool(np.all(np.isfinite(t) & (t > 0))), f"t must be finite and > 0: min t={float(np.min(t))}")
    if embedding == "orthonormal":
        return orthonormal_information(t[:, None], psi[None, :])
    if activation == "linear":
        return random_linear_information(t[:, None], psi[None, :])
    return psi[None, :] * rs_information(t, psi, activation, m2).information


# ----------------------------------------------------------------------------- collapse
def orthonormal_collapse_time(psi: np.ndarray | float, alpha: np.ndarray | float) -> np.ndarray:
    """t_C = (1/2) log(1 + (e^{2 alpha/psi} - 1)^{-1}), the root of (psi/2) log(1 + s) = alpha."""
    psi = check_model(psi, 0.0, "orthonormal", "linear")
    alpha = _check_alpha(alpha)
    return 0.5 * np.log1p(1.0 / np.expm1(2 * alpha / psi))


def gaussian_bound_time(alpha: np.ndarray | float, activation: str, m2: float) -> np.ndarray:
    """Upper bound on t_C: (1/d) I <= (1/2) log(1 + s v_F) (entropy subadditivity + Gaussian maximum
    entropy + Jensen over coordinates), so t_C <= (1/2) log(1 + v_F / (e^{2 alpha} - 1))."""
    return 0.5 * np.log1p(output_variance(activation, m2) / np.expm1(2 * _check_alpha(alpha)))


class CollapseTimes(NamedTuple):
    """t_C per cell (shape of broadcast(psi, alpha)); ``method`` says how each was found."""

    t_c: np.ndarray
    method: np.ndarray  # "closed form", "marchenko-pastur", "rs quadrature", "small-noise limit", "no collapse"


def collapse_time(
    psi: np.ndarray | float,
    alpha: np.ndarray | float,
    activation: str = "linear",
    embedding: str = "random",
    m2: float = 1.0,
) -> np.ndarray:
    """t_C, the root of (C): (1/d) I(x; x_t) = alpha, vectorised over broadcast(psi, alpha).

    0.0 where the criterion is never met (F = sign: I(x; x_t)/d <= H(x)/d < log 2, so for alpha above
    the noiseless information the sampler never collapses).
    """
    return collapse_times(psi, alpha, activation, embedding, m2).t_c


def collapse_times(
    psi: np.ndarray | float,
    alpha: np.ndarray | float,
    activation: str = "linear",
    embedding: str = "random",
    m2: float = 1.0,
) -> CollapseTimes:
    """:func:`collapse_time` with, per cell, the method that produced it."""
    psi = check_model(psi, m2, embedding, activation)
    alpha = _check_alpha(alpha)
    psi_b, alpha_b = np.broadcast_arrays(psi, alpha)
    if embedding == "orthonormal":
        return CollapseTimes(orthonormal_collapse_time(psi_b, alpha_b), np.full(psi_b.shape, "closed form"))
    if activation == "linear":
        return CollapseTimes(
            _mp_collapse(psi_b.ravel(), alpha_b.ravel()).reshape(psi_b.shape), np.full(psi_b.shape, "marchenko-pastur")
        )
    t_c, method = _glm_collapse(psi_b.ravel(), alpha_b.ravel(), activation, m2)
    return CollapseTimes(t_c.reshape(psi_b.shape), method.reshape(psi_b.shape))


def _mp_collapse(psi: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Vectorised root of (psi/2) V(s/psi; psi) = alpha: per-cell log-spaced bracketing scan, then Illinois.

    The scan runs from the Gaussian bound down to where the small-noise limit
    (psi/2) log s + C(psi) (C of :func:`.glm.small_noise_constant`) exceeds alpha by one unit.
    """
    t_hi = gaussian_bound_time(alpha, "linear", 0.0) * 1.01  # v_F = 1: the latent variance is 1
    C = -0.5 * psi * np.log(psi) - 0.5 * psi - 0.5 * (1 - psi) * np.log1p(-np.minimum(psi, 1 - 1e-16))
    log_s_lo = 2 * (alpha - C + 1.0) / psi
    t_lo = np.minimum(0.5 * np.exp(-log_s_lo), 0.5 * t_hi)  # t = (1/2) log(1 + 1/s) ~ 1/(2s)
    x = np.linspace(0.0, 1.0, 256)[:, None]
    grid = np.exp((1 - x) * np.log(t_lo) + x * np.log(t_hi))  # (n, cells), ascending
    values = random_linear_information(grid, psi[None, :]) - alpha[None, :]
    j = _bracket_index(values, np.zeros(psi.size))
    cells = np.arange(psi.size)
    a, b = grid[j, cells], grid[j + 1, cells]

    def f(t: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return random_linear_information(t, psi[pos]) - alpha[pos]

    return refine_crossing(f, a, b, level=0.0, xtol=1e-300)


def _glm_collapse(psi: np.ndarray, alpha: np.ndarray, activation: str, m2: float) -> tuple[np.ndarray, np.ndarray]:
    """Root of psi i*(t) = alpha for a GLM (non-linear F), vectorised over cells.

    The RS information of every psi shares one output-channel integral per t, so it is computed on a set
    of t nodes for all distinct psi at once: a descending coarse scan (spacing e in t) from the Gaussian
    bound until every cell is bracketed, then nodes every 0.2 in log t inside the bracketing range. The
    root of each cell is found on the cubic spline of log I against log t through the nodes (I is smooth
    and monotone in t). Cells not bracketed above T_EXACT_MIN use the small-noise limit (continuous F) or
    have no collapse (sign, t_C = 0).
    """
    psi_u, inverse = np.unique(psi, return_inverse=True)
    t_hi = float(gaussian_bound_time(alpha.min(), activation, m2)) * 1.01
    nodes = [t_hi]
    G = [psi_u * rs_information(t_hi, psi_u, activation, m2).information[0]]
    while nodes[-1] > T_EXACT_MIN and not np.all(G[-1][inverse] > alpha):
        nodes.append(max(nodes[-1] * np.exp(-_LOG_T_COARSE), T_EXACT_MIN))
        G.append(psi_u * rs_information(nodes[-1], psi_u, activation, m2).information[0])
    t_nodes, G = np.array(nodes[::-1]), np.array(G[::-1])  # ascending t, G decreasing
    bracketed = G[0][inverse] > alpha
    if bracketed.any():
        lo_idx = _bracket_index(G[:, inverse[bracketed]], alpha[bracketed])
        t_lo, t_up = t_nodes[lo_idx].min(), t_nodes[lo_idx + 1].max()
        n_fine = int(np.ceil(np.log(t_up / t_lo) / _LOG_T_FINE))
        fine = np.geomspace(t_lo, t_up, n_fine + 1)[1:-1]
        fine = fine[np.min(np.abs(np.log(fine[:, None] / t_nodes[None, :])), axis=1) > 0.05]
        if fine.size:
            G_fine = psi_u[None, :] * rs_information(fine, psi_u, activation, m2).information
            t_nodes = np.concatenate([t_nodes, fine])
            G = np.concatenate([G, G_fine])
            order = np.argsort(t_nodes)
            t_nodes, G = t_nodes[order], G[order]
    t_c = np.full(psi.shape, np.nan)
    method = np.full(psi.shape, "rs quadrature", dtype=object)
    if bracketed.any():
        t_c[bracketed] = _spline_root(np.log(t_nodes), np.log(G[:, inverse[bracketed]]), np.log(alpha[bracketed]))
    rest = ~bracketed
    if rest.any() and activation == "sign":
        t_c[rest], method[rest] = 0.0, "no collapse"
    elif rest.any():
        t_c[rest] = _small_noise_root(psi[rest], alpha[rest], activation, m2)
        method[rest] = "small-noise limit"
    return t_c, method.astype(str)


def _bracket_index(G: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Per column of G (rows: ascending t, decreasing values) the k with G[k] > alpha >= G[k+1]."""
    above = G > alpha[None, :]
    k = G.shape[0] - 1 - np.argmax(above[::-1], axis=0)
    return np.minimum(k, G.shape[0] - 2)


def _spline_root(x: np.ndarray, Y: np.ndarray, level: np.ndarray) -> np.ndarray:
    """x where the cubic spline of each column of Y (decreasing) equals level, by bisection on its interval."""
    from scipy.interpolate import CubicSpline

    spline = CubicSpline(x, Y, axis=0)
    k = _bracket_index(Y, level)
    cols = np.arange(Y.shape[1])
    coef = spline.c[:, k, cols]  # (4, n_cols)
    lo, hi = np.zeros(cols.size), x[k + 1] - x[k]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        value = ((coef[0] * mid + coef[1]) * mid + coef[2]) * mid + coef[3]
        lo, hi = np.where(value > level, mid, lo), np.where(value > level, hi, mid)
    return np.exp(x[k] + 0.5 * (lo + hi))


def _small_noise_root(psi: np.ndarray, alpha: np.ndarray, activation: str, m2: float) -> np.ndarray:
    """Root below T_EXACT_MIN of the small-noise form :func:`.glm.small_noise_per_dim`, by bisection in log s."""
    psi_u, inverse = np.unique(psi, return_inverse=True)
    f_m, C, s_m = small_noise_parameters(psi_u, activation, m2)
    f_m, C = f_m[inverse], C[inverse]
    lo = np.full(psi.shape, np.log(s_m))
    hi = np.log(s_m) + 2 * (alpha - np.minimum(f_m, C) + 1.0) / psi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        above = small_noise_per_dim(np.exp(mid), psi, f_m, C, s_m) > alpha
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    return 0.5 * np.log1p(np.exp(-0.5 * (lo + hi)))


# ----------------------------------------------------------------------------- speciation
def kappa_modes(t: np.ndarray | float, mean2: np.ndarray, var: np.ndarray) -> np.ndarray:
    """(K): sum_k e^{-2t} mean2_k 2 / (c_k (2 - c_k)), c_k = e^{-2t} var_k + Delta_t (last axis = modes)."""
    a = np.exp(-2 * np.asarray(t, dtype=float))[..., None]
    c = a * var + (1 - a)
    return (a * mean2 * 2.0 / (c * (2.0 - c))).sum(axis=-1)


def posterior_snr_modes(t: np.ndarray | float, mean2: np.ndarray, var: np.ndarray) -> np.ndarray:
    """a(t) = sum_k e^{-2t} mean2_k / c_k: the class-posterior SNR whose cloning curve is theory.cloning's."""
    a = np.exp(-2 * np.asarray(t, dtype=float))[..., None]
    return (a * mean2 / (a * var + (1 - a))).sum(axis=-1)


def orthonormal_kappa(t: np.ndarray | float, p: int, m2: float) -> np.ndarray:
    """kappa(t) = 2 p m^2 e^{-2t}: along U mu the data has unit variance, so c(t) = 1 for every t."""
    return 2.0 * p * m2 * np.exp(-2 * np.asarray(t, dtype=float))


def orthonormal_speciation_time(p: int, m2: float) -> float | None:
    """t_S = (1/2) log(2 p m^2) (None when 2 p m^2 <= 1: kappa never reaches 1)."""
    require(int(p) >= 1, f"p must be >= 1: p={p}")
    require_nonnegative(m2=m2)
    if 2 * p * m2 <= 1:
        return None
    return 0.5 * float(np.log(2 * p * m2))


@dataclass(frozen=True)
class GEMixture:
    """The Gaussian-equivalent two-class mixture of x = F(W z / sqrt(p)) for one sampled W, in the
    eigenbasis of its covariance: per mode the squared class mean ``mean2`` and the variance ``var``.

    mu_x = rho_1 W mu / sqrt(p) lies in the range of W; with W = U S V^T its coordinates are
    rho_1 S_k (V^T mu)_k / sqrt(p) and the variances rho_1^2 S_k^2 / p + rho_*^2. The d - p directions
    orthogonal to the range carry no class mean and do not enter (K).
    """

    mean2: np.ndarray
    var: np.ndarray
    d: int
    p: int

    @classmethod
    def from_weights(cls, W: np.ndarray, m2: float, activation: str) -> GEMixture:
        W = np.asarray(W, dtype=float)
        require(W.ndim == 2 and W.shape[1] <= W.shape[0], f"W must be d x p with p <= d: shape={W.shape}")
        require_nonnegative(m2=m2)
        d, p = W.shape
        rho1, rho_star2 = ge_coefficients(activation)
        _, S, Vt = np.linalg.svd(W, full_matrices=False)
        coord = rho1 * S * (Vt @ np.full(p, np.sqrt(m2))) / np.sqrt(p)
        return cls(coord**2, rho1**2 * S**2 / p + rho_star2, d, p)

    def kappa(self, t: np.ndarray | float) -> np.ndarray:
        return kappa_modes(t, self.mean2, self.var)

    def posterior_snr(self, t: np.ndarray | float) -> np.ndarray:
        return posterior_snr_modes(t, self.mean2, self.var)

    def speciation_time(self) -> float | None:
        """Largest t with kappa(t) = 1 (None if kappa stays below 1)."""
        return _speciation_root(self.kappa, float(self.var.max()), float(self.mean2.sum()))


def _mp_nodes(psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes lambda and weights w with sum w g(lambda) = E_lambda[lambda g(lambda)], lambda ~ spectrum of W^T W / p.

    lambda = l / psi with l ~ Marchenko-Pastur(psi) on [(1 - sqrt psi)^2, (1 + sqrt psi)^2]; the factor lambda
    cancels the 1/l of the density, leaving (1/(2 pi psi^2)) sqrt((b - l)(l - a)), exact for Gauss-Chebyshev
    of the second kind. Shapes psi.shape + (_N_MP,).
    """
    psi = np.asarray(psi, dtype=float)[..., None]
    i = np.arange(1, _N_MP + 1)
    x = np.cos(i * np.pi / (_N_MP + 1))
    w = np.pi / (_N_MP + 1) * np.sin(i * np.pi / (_N_MP + 1)) ** 2
    a, b = (1 - np.sqrt(psi)) ** 2, (1 + np.sqrt(psi)) ** 2
    ell = 0.5 * (a + b) + 0.5 * (b - a) * x
    weights = ((b - a) / 2) ** 2 * w / (2 * np.pi * psi**2)
    return ell / psi, weights


def ge_kappa(t: np.ndarray | float, d: int, psi: np.ndarray | float, m2: float, activation: str) -> np.ndarray:
    """kappa(t) of the GE mixture as d -> infinity at fixed psi (p = psi d), broadcast over (t, psi).

    kappa = p m^2 rho_1^2 E_lambda[lambda k(rho_1^2 lambda + rho_*^2, t)], k(v, t) = 2 e^{-2t}/(c (2 - c)),
    c = e^{-2t} v + Delta_t: the class mean m W 1/sqrt(p) = m W u (u = 1/sqrt(p)) has weight 1/p on every
    right singular vector of W (W is rotation invariant), whence the spectral average.
    """
    return _ge_spectral(t, d, psi, m2, activation, kappa_modes)


def ge_posterior_snr(t: np.ndarray | float, d: int, psi: np.ndarray | float, m2: float, activation: str) -> np.ndarray:
    """a(t) of the GE mixture as d -> infinity (same spectral average as :func:`ge_kappa`)."""
    return _ge_spectral(t, d, psi, m2, activation, posterior_snr_modes)


def _ge_spectral(t, d, psi, m2, activation, modes_fn) -> np.ndarray:
    psi = check_model(psi, m2, "random", activation)
    require(int(d) >= 1, f"d must be >= 1: d={d}")
    rho1, rho_star2 = ge_coefficients(activation)
    t, psi = np.broadcast_arrays(np.asarray(t, dtype=float), psi)
    lam, w = _mp_nodes(psi)
    p = psi[..., None] * d
    # modes_fn sums e^{-2t} mean2_k k(var_k) over the last axis; the weights w already carry the factor lambda
    return modes_fn(t, p * m2 * rho1**2 * w, rho1**2 * lam + rho_star2)


def ge_speciation_time(d: int, psi: np.ndarray | float, m2: float, activation: str) -> np.ndarray:
    """t_S of the large-d GE mixture: the largest t with ge_kappa = 1, vectorised over psi (NaN: none).

    Each psi is searched above its own stability time :func:`ge_stability_time` (where (K) is defined).
    """
    psi = np.atleast_1d(check_model(psi, m2, "random", activation))
    rho1, rho_star2 = ge_coefficients(activation)
    t_lo = ge_stability_time(psi, activation)
    t_hi = 0.5 * np.log(max(2 * rho1**2 * d * m2 * max(rho1**2 + rho_star2, 1.0), 2.0)) + 3.0
    t_hi = np.maximum(t_hi, t_lo + 3.0)
    u = np.linspace(0.0, 1.0, 1024)

    def f(u_t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return ge_kappa(t_lo[idx] + u_t * (t_hi[idx] - t_lo[idx]), d, psi[idx], m2, activation)

    values = f(u[:, None], np.arange(psi.size)[None, :])
    return t_lo + last_crossing(values, u, f) * (t_hi - t_lo)


def ge_stability_time(psi: np.ndarray | float, activation: str) -> np.ndarray:
    """Earliest t at which every GE mode confines: e^{-2t} (v_max - 1) < 1 with v_max = rho_1^2 lambda_max
    + rho_*^2, lambda_max = (1 + sqrt psi)^2 / psi the top of the spectrum of W^T W / p (0 if v_max <= 2).

    Below it the reverse drift is unstable along the top directions (the stability bound (59)); the
    kappa = 1 criterion is searched above it. A t_S within ~0.1 of it is set by that instability rather
    than by the class mean (it happens for psi well below 1 when m^2 d is small).
    """
    psi = np.asarray(psi, dtype=float)
    rho1, rho_star2 = ge_coefficients(activation)
    v_max = rho1**2 * (1 + np.sqrt(psi)) ** 2 / psi + rho_star2
    return np.where(v_max > 2.0, 0.5 * np.log(np.maximum(v_max - 1.0, 1.0)) + 1e-9, 0.0)


def leading_speciation_time(d: int, m2: float, activation: str) -> float:
    """Leading order of the GE t_S: kappa ~ 2 e^{-2t} |mu_x|^2 with |mu_x|^2 -> rho_1^2 d m^2."""
    rho1, _ = ge_coefficients(activation)
    require_positive(d=d, m2=m2)
    return 0.5 * float(np.log(2 * rho1**2 * d * m2))


def summary_speciation_time(d: int, psi: np.ndarray | float, mu_tilde2: float, activation: str) -> np.ndarray:
    """The public summary's t_S = (1/2) log[2 (rho_1^2 psi d |mu~|^2 + rho_*^2)], as quoted.

    It is (1/2) log(2 Lambda) with Lambda = rho_1^2 psi d |mu~|^2 + rho_*^2 the data variance along the
    class direction; with our normalisation Lambda = rho_1^2 d m^2 + O(1), i.e. |mu~|^2 = m^2 / psi
    (docs/manifold.md compares both readings).
    """
    rho1, rho_star2 = ge_coefficients(activation)
    return 0.5 * np.log(2 * (rho1**2 * np.asarray(psi, dtype=float) * d * mu_tilde2 + rho_star2))


def _stable_from(var_max: float) -> float:
    """Earliest t at which every mode confines, c_k(t) < 2 (the stability bound (59) with lambda = -1):
    e^{-2t} (var_max - 1) < 1. Below it (K) has no meaning (and diverges at the bound)."""
    return 0.5 * float(np.log(var_max - 1.0)) + 1e-9 if var_max > 2.0 else 0.0


def _kappa_time_grid(var_max: float, mean_norm2: float) -> np.ndarray:
    """From the stability bound to 3 past (1/2) log(2 |mu_x|^2 max(var, 1)), where kappa < 1 for sure."""
    t_max = 0.5 * np.log(max(2 * mean_norm2 * max(var_max, 1.0), 2.0)) + 3.0
    return np.linspace(_stable_from(var_max), t_max, 1024)


def _speciation_root(kappa_fn, var_max: float, mean_norm2: float) -> float | None:
    grid = _kappa_time_grid(var_max, mean_norm2)
    values = kappa_fn(grid)
    root = float(last_crossing(values[:, None], grid, lambda t, idx: kappa_fn(t))[0])
    return None if np.isnan(root) else root
