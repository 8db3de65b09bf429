"""Replica-symmetric mutual information of a generalized linear model with a Gaussian output channel.

The model (Barbier, Krzakala, Macris, Miolane, Zdeborova, PNAS 116 (2019) 5451): a signal z in R^p with
i.i.d. prior z_i ~ N(m, 1) (second moment rho = 1 + m^2), d = p / psi measurements

    y_a = e^{-t} F(h_a) + sqrt(Delta_t) xi_a,   h = W z / sqrt(p),   W_ai ~ N(0, 1),   Delta_t = 1 - e^{-2t},

i.e. exactly the data x = F(W z / sqrt(p)) of the manifold model seen through the forward process at time t.
Dividing y by e^{-t} leaves the information unchanged, so the channel is F(h) + sigma xi with noise variance
sigma^2 = Delta_t e^{2t} = e^{2t} - 1 (the inverse signal-to-noise ratio 1/s).

Theorem 1 of the paper gives, for p -> infinity at fixed psi,

    (1/p) I(z; y | W) = min_{q in [m^2, rho]} max_{r >= 0} i_RS(q, r),
    i_RS(q, r) = I_0(r) - r (rho - q) / 2 + (1/psi) I_out(q),

    I_0(r)    = I(z_1; sqrt(r) z_1 + Z)           = (1/2) log(1 + r)            (Gaussian prior, any mean),
    I_out(q)  = I(U; F(U) + sigma xi | V),   U = sqrt(q) V + sqrt(rho - q) w,   V, w, xi ~ N(0, 1).

With E = rho - q (the minimum mean-square error of z_i), the maximum over r is at r = 1/E - 1, so the
information is one minimum over E in (0, 1] of the potential

    i(E) = -(1/2) log E - (1 - E)/2 + (1/psi) I_out(E).                                          (RS)

Several local minima are possible for some channels; the global minimum is the right one (it is the
infimum over q of the theorem). The code scans a grid of E, records every local minimum, and refines the
global one on a cubic spline of the potential.

I_out(E) = E_V[h(Y | V)] - (1/2) log(2 pi e sigma^2), where Y | V has density
p(y | c) = E_w N(y; F(c + sqrt(E) w), sigma^2), c = sqrt(rho - E) V. Every integral is a trapezoid rule
on a uniform grid (geometrically convergent for these smooth, Gaussian-weighted integrands): V on [0, 6]
(folded, every activation here is odd, so Y -> -Y under V -> -V), w or u = c + sqrt(E) w on a grid finer
than both sqrt(E) and sigma, y on a grid of step sigma/2. For F = sign the integral over w is
Phi(+-c/sqrt(E)) in closed form, and for sigma < 0.1 the two output Gaussians at +-1 overlap by less than
e^{-50}, so the noiseless limit I_out = E_V H_b(Phi(c/sqrt(E))) is used there.

Pure NumPy/SciPy; no torch, no files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.special import ndtr

from ._validate import require, require_nonnegative

ACTIVATIONS = ("linear", "tanh", "sign")
#: Below this forward time the quadrature grids of continuous F grow like 1/t; the small-noise limit takes over.
T_EXACT_MIN = 1e-3
_SIGMA_NOISELESS_SIGN = 0.1  # sign channel: the outputs +-1 are 10 sigma apart, overlap < e^{-50}
_V_MAX, _H_V = 6.0, 0.4  # V grid (trapezoid, weight e^{-V^2/2}); 6 sigma tail < 1e-8
_W_MAX, _H_W = 7.0, 0.5  # local w grid of the narrow rows
_H_LOG_E = 0.15  # step of the E grid in log E


def activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The elementwise non-linearity F by name (``linear``, ``tanh``, ``sign``)."""
    require(name in ACTIVATIONS, f"unknown activation {name!r}: valid are {', '.join(ACTIVATIONS)}")
    return {"linear": lambda u: u, "tanh": np.tanh, "sign": np.sign}[name]


def noise_variance(t: np.ndarray | float) -> np.ndarray:
    """sigma^2 = e^{2t} - 1: the noise variance of the channel e^{t} x_t = x + sigma xi (the inverse SNR)."""
    return np.expm1(2 * np.asarray(t, dtype=float))


def prior_term(E: np.ndarray | float) -> np.ndarray:
    """max_r [I_0(r) - r E / 2] = -(1/2) log E - (1 - E)/2, attained at r = 1/E - 1 (Gaussian prior)."""
    E = np.asarray(E, dtype=float)
    return -0.5 * np.log(E) - 0.5 * (1.0 - E)


# ----------------------------------------------------------------------------- output channel
def _v_grid() -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes on V >= 0 with folded weights: sum_j w_j g(V_j) = E g(V) for even g."""
    V = np.arange(0.0, _V_MAX + 1e-12, _H_V)
    w = np.exp(-0.5 * V**2)
    w[1:] *= 2.0
    return V, w / w.sum()


def _entropy_rows(P: np.ndarray, h_y: float) -> np.ndarray:
    """-int p log p dy by the trapezoid rule on the last axis (densities vanish at both ends)."""
    safe = np.where(P > 0, P, 1.0)
    return -(P * np.log(safe)).sum(axis=-1) * h_y


def _sign_output(E: np.ndarray, rho: float, sigma: float, resolution: float) -> np.ndarray:
    """I_out for F = sign. P(F(U) = +1 | V) = Phi(c / sqrt(E)) is a step of width sqrt(E/q) in V, so each E
    gets its own V grid, fine enough for that step and cut where H_b(Phi(.)) < 1e-16 (no renormalisation:
    the weights are the absolute trapezoid weights of the normal density)."""
    kappa = np.sqrt((rho - E) / E)  # c / sqrt(E) = kappa V
    n = int(48 * resolution)
    v_max = np.minimum(_V_MAX + 1.0, 9.0 / kappa)
    V = v_max[:, None] * np.linspace(0.0, 1.0, n)[None, :]  # (n_E, n)
    w_V = (v_max / (n - 1))[:, None] * np.exp(-0.5 * V**2) / np.sqrt(2 * np.pi)
    w_V[:, 1:-1] *= 2.0  # fold (even integrand); trapezoid ends
    p_plus = ndtr(kappa[:, None] * V)
    if sigma < _SIGMA_NOISELESS_SIGN:
        p = np.clip(p_plus, 1e-300, 1.0)
        q = np.clip(1.0 - p_plus, 1e-300, 1.0)
        return (-(p_plus * np.log(p) + (1.0 - p_plus) * np.log(q)) * w_V).sum(axis=1)
    y = np.arange(-1.0 - 9 * sigma, 1.0 + 9 * sigma + 1e-12, sigma / (2 * resolution))

    def gauss(mean: float) -> np.ndarray:
        return np.exp(-0.5 * ((y - mean) / sigma) ** 2) / np.sqrt(2 * np.pi * sigma**2)

    P = p_plus[..., None] * gauss(1.0) + (1.0 - p_plus)[..., None] * gauss(-1.0)
    excess = _entropy_rows(P, y[1] - y[0]) - 0.5 * np.log(2 * np.pi * np.e * sigma**2)  # 0 where p_plus in {0, 1}
    return (excess * w_V).sum(axis=1)


def output_information(E: np.ndarray, t: float, activation_name: str, m2: float, resolution: float = 1.0) -> np.ndarray:
    """I_out(E) = I(U; F(U) + sigma xi | V) at one forward time t, for a 1-D array of E in (0, 1].

    ``resolution`` > 1 refines every grid by that factor (the tests use it to check convergence).
    Rows with sqrt(E) >= sigma share one u grid of step sigma/1.2 and one kernel N(y; F(u), sigma^2)
    (a single matrix product); rows with sqrt(E) < sigma, where the weight in u is narrower than the noise,
    use a local grid u = c + sqrt(E) w instead, so that no grid has to resolve the smallest E globally.
    """
    F = activation(activation_name)
    E = np.atleast_1d(np.asarray(E, dtype=float))
    require(bool(np.all((E > 0) & (E <= 1))), "E must lie in (0, 1]")
    rho = 1.0 + m2
    sigma = float(np.sqrt(noise_variance(t)))
    V, w_V = _v_grid()
    if resolution != 1.0:
        V = np.arange(0.0, _V_MAX + 1.0 + 1e-12, _H_V / resolution)
        w_V = np.exp(-0.5 * V**2)
        w_V[1:] *= 2.0
        w_V /= w_V.sum()
    if activation_name == "sign":
        return _sign_output(E, rho, sigma, resolution)
    c = np.sqrt(rho - E)[:, None] * V[None, :]  # (n_E, n_V)
    u_max = np.sqrt(rho) * V.max() + _W_MAX
    f_lo, f_hi = (-1.0, 1.0) if activation_name == "tanh" else (-u_max, u_max)
    y = np.arange(f_lo - (_W_MAX + 2) * sigma, f_hi + (_W_MAX + 2) * sigma + 1e-12, sigma / (2 * resolution))
    norm = 1.0 / np.sqrt(2 * np.pi * sigma**2)
    P = np.empty(c.shape + y.shape)
    wide = np.sqrt(E) >= sigma
    if wide.any():
        u = np.linspace(-u_max, u_max, int(np.ceil(2 * u_max * 1.2 * resolution / sigma)) + 1)
        kernel = norm * np.exp(-0.5 * ((y[:, None] - F(u)[None, :]) / sigma) ** 2)  # (n_y, n_u)
        E_w = E[wide]
        weights = np.exp(-0.5 * (u - c[wide][..., None]) ** 2 / E_w[:, None, None])  # (n_Ew, n_V, n_u)
        weights /= weights.sum(axis=-1, keepdims=True)
        P[wide] = (weights.reshape(-1, u.size) @ kernel.T).reshape(E_w.size, V.size, y.size)
    narrow = ~wide
    if narrow.any():
        w = np.arange(-_W_MAX, _W_MAX + 1e-12, _H_W / resolution)
        w_w = np.exp(-0.5 * w**2)
        w_w /= w_w.sum()
        E_n = E[narrow]
        Fu = F(c[narrow][..., None] + np.sqrt(E_n)[:, None, None] * w)  # (n_En, n_V, n_w)
        P[narrow] = norm * np.einsum("j,abjy->aby", w_w, np.exp(-0.5 * ((y - Fu[..., None]) / sigma) ** 2))
    return _entropy_rows(P, y[1] - y[0]) @ w_V - 0.5 * np.log(2 * np.pi * np.e * sigma**2)


# ----------------------------------------------------------------------------- the RS potential
class RSSolution(NamedTuple):
    """The RS information on a (t, psi) grid: arrays of shape (n_t, n_psi).

    ``information`` is (1/p) I(z; y | W) (per latent dimension; multiply by psi for per ambient dimension),
    ``mmse`` the minimiser E* = rho - q*, ``n_minima`` the number of local minima of the potential on the
    E grid (the global one is taken), ``exact`` False where t < T_EXACT_MIN and the small-noise limit was used.
    """

    t: np.ndarray
    psi: np.ndarray
    information: np.ndarray
    mmse: np.ndarray
    n_minima: np.ndarray
    exact: np.ndarray


def e_grid(t: float, psi_min: float, activation_name: str, resolution: float = 1.0) -> np.ndarray:
    """Log-spaced E grid on [E_lo, 1] that contains every minimiser of the potential.

    For F' <= 1 (linear, tanh) the channel's Fisher information is at most s = 1/sigma^2, so the
    stationarity condition 1/E - 1 = (2/psi) dI_out/dE <= s/psi gives E* >= psi/(psi + s); half of that is
    the lower end. The sign channel has no such bound; its I_out vanishes like sqrt(E), which keeps E*
    away from 0 (E* > 0.01 at psi = 0.05 in a scan), and 1e-4 is the lower end.
    """
    s = 1.0 / float(noise_variance(t))
    e_lo = 1e-4 if activation_name == "sign" else 0.5 * psi_min / (psi_min + s)
    n = int(np.ceil(np.log(1.0 / e_lo) / (_H_LOG_E / resolution))) + 1
    # near E = 1 (large t, weak signal) the minimum sits within O(s) of the end: add a linear grid there
    return np.unique(np.concatenate([np.geomspace(e_lo, 1.0, n), np.linspace(0.6, 1.0, int(13 * resolution))]))


def spline_minimum(x: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global minimum of each column of Y(x) on [x_0, x_end] through a cubic spline; also counts minima.

    Y has shape (n_x, n_cols). On every interval the spline is a cubic whose stationary points solve a
    quadratic; interior minima and both ends are the candidates. Returns (x*, Y*, number of local minima of
    the grid values, ends included).
    """
    spline = CubicSpline(x, Y, axis=0)
    a, b, c, d = spline.c  # each (n_x - 1, n_cols)
    h = np.diff(x)[:, None]
    disc = b**2 - 3 * a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    # stationary points of a u^3 + b u^2 + c u + d solve 3a u^2 + 2b u + c = 0; the minimum (second
    # derivative 2 root > 0) is u = (-b + root)/(3a) = -c/(b + root), the form without cancellation as a -> 0
    denom = b + root
    safe = np.where(denom > 0, denom, 1.0)
    u_min = -c / safe
    ok = (disc >= 0) & (denom > 0) & (u_min > 0) & (u_min < h)
    u_min = np.where(ok, u_min, 0.0)
    inner = np.where(ok, ((a * u_min + b) * u_min + c) * u_min + d, np.inf)
    candidates = np.concatenate([inner, Y[:1], Y[-1:]], axis=0)
    positions = np.concatenate(
        [x[:-1, None] + u_min, np.broadcast_to(x[:1, None], Y[:1].shape), np.broadcast_to(x[-1:, None], Y[-1:].shape)],
        axis=0,
    )
    best = np.argmin(candidates, axis=0)
    cols = np.arange(Y.shape[1])
    return positions[best, cols], candidates[best, cols], _count_minima(Y)


def _count_minima(Y: np.ndarray) -> np.ndarray:
    interior = (Y[1:-1] < Y[:-2]) & (Y[1:-1] < Y[2:])
    return interior.sum(axis=0) + (Y[0] < Y[1]) + (Y[-1] < Y[-2])


def rs_information(
    t: np.ndarray | float, psi: np.ndarray | float, activation_name: str, m2: float, resolution: float = 1.0
) -> RSSolution:
    """(1/p) I(z; y | W) by the RS formula on the grid t x psi (vectorised over psi: one I_out per t).

    For t < T_EXACT_MIN and continuous F the small-noise limit :func:`small_noise_information` is used.
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    psi = np.atleast_1d(np.asarray(psi, dtype=float))
    _check_rs_inputs(t, psi, activation_name, m2)
    shape = (t.size, psi.size)
    info, mmse, n_min = np.empty(shape), np.empty(shape), np.zeros(shape, dtype=int)
    exact = np.ones(shape, dtype=bool)
    small = (t < T_EXACT_MIN) & (activation_name != "sign")
    for k in np.flatnonzero(~small):
        info[k], mmse[k], n_min[k] = _potential_minimum(float(t[k]), psi, activation_name, m2, resolution)
    if small.any():
        info[small] = small_noise_information(t[small], psi, activation_name, m2, resolution)
        mmse[small], exact[small] = np.nan, False
    return RSSolution(t, psi, info, mmse, n_min, exact)


def _potential_minimum(
    t: float, psi: np.ndarray, activation_name: str, m2: float, resolution: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    E = e_grid(t, float(psi.min()), activation_name, resolution)
    i_out = output_information(E, t, activation_name, m2, resolution)
    potential = prior_term(E)[:, None] + i_out[:, None] / psi[None, :]
    x_star, value, n_min = spline_minimum(np.log(E), potential)
    if np.any(x_star <= np.log(E[0]) + 1e-12):
        raise RuntimeError(
            f"RS potential minimum at the lower end E = {E[0]:.3g} of the grid (t = {t}): the E grid must extend lower"
        )
    return np.maximum(value, 0.0), np.exp(x_star), n_min


def _check_rs_inputs(t: np.ndarray, psi: np.ndarray, activation_name: str, m2: float) -> None:
    activation(activation_name)
    require(bool(np.all(np.isfinite(t) & (t > 0))), f"t must be finite and > 0: min t={float(np.min(t))}")
    require(bool(np.all((psi > 0) & (psi <= 1))), f"psi must lie in (0, 1]: psi={psi.tolist()}")
    require_nonnegative(m2=m2)


# ----------------------------------------------------------------------------- small-noise limit
def small_noise_constant(psi: np.ndarray | float, activation_name: str, m2: float) -> np.ndarray:
    """C(psi) = lim_{s -> inf} [psi i*(s) - (psi/2) log s] for continuous F (psi < 1; psi = 1 as a limit).

    As sigma -> 0 the minimiser E* = eps / s shrinks with the noise, the channel is linear on the scale
    sqrt(E*) and I_out -> (1/2) E_c log(1 + F'(c)^2 eps) with c ~ N(0, rho), while the prior term tends to
    (1/2) log s - (1/2) log eps - 1/2. Hence C = psi min_eps [-(1/2) log eps - 1/2
    + (1/(2 psi)) E_c log(1 + F'(c)^2 eps)]. For F linear this is the known Marchenko-Pastur limit
    C = -(psi/2) log psi - psi/2 - ((1 - psi)/2) log(1 - psi).
    """
    psi = np.atleast_1d(np.asarray(psi, dtype=float))
    require(activation_name in ("linear", "tanh"), f"the small-noise limit needs a continuous F: {activation_name!r}")
    V = np.arange(-_V_MAX - 2, _V_MAX + 2 + 1e-12, 0.05)
    w_V = np.exp(-0.5 * V**2)
    w_V /= w_V.sum()
    c = np.sqrt(1.0 + m2) * V
    slope2 = np.ones_like(c) if activation_name == "linear" else (1.0 - np.tanh(c) ** 2) ** 2
    # g'(eps) = 0  <=>  E_c[F'^2 eps / (1 + F'^2 eps)] = psi, monotone in eps: bisection in log eps
    lo, hi = np.full(psi.shape, -40.0), np.full(psi.shape, 60.0)
    for _ in range(120):
        mid = 0.5 * (lo + hi)
        e = np.exp(mid)[:, None]
        frac = (slope2 * e / (1.0 + slope2 * e)) @ w_V
        lo, hi = np.where(frac < psi, mid, lo), np.where(frac < psi, hi, mid)
    eps = np.exp(0.5 * (lo + hi))
    value = -0.5 * np.log(eps) - 0.5 + (np.log1p(slope2 * eps[:, None]) @ w_V) / (2 * psi)
    return psi * value


def small_noise_parameters(
    psi: np.ndarray, activation_name: str, m2: float, resolution: float = 1.0
) -> tuple[np.ndarray, np.ndarray, float]:
    """(f_m, C, s_m) of :func:`small_noise_information`: the exact offset psi i* - (psi/2) log s at
    s_m = 1/sigma^2(T_EXACT_MIN), the limit C(psi), and s_m."""
    psi = np.atleast_1d(np.asarray(psi, dtype=float))
    info_m, _, _ = _potential_minimum(T_EXACT_MIN, psi, activation_name, m2, resolution)
    s_m = 1.0 / float(noise_variance(T_EXACT_MIN))
    return psi * info_m - 0.5 * psi * np.log(s_m), small_noise_constant(psi, activation_name, m2), s_m


def small_noise_per_dim(s: np.ndarray, psi: np.ndarray, f_m: np.ndarray, C: np.ndarray, s_m: float) -> np.ndarray:
    """psi i*(s) = (psi/2) log s + C + (f_m - C) s_m / s (per ambient dimension; s >= s_m)."""
    return 0.5 * psi * np.log(s) + C + (f_m - C) * s_m / s


def small_noise_information(
    t: np.ndarray, psi: np.ndarray, activation_name: str, m2: float, resolution: float = 1.0
) -> np.ndarray:
    """(1/p) I below T_EXACT_MIN: the exact value at T_EXACT_MIN joined to the small-noise limit.

    psi i*(s) = (psi/2) log s + C + (f_m - C) s_m / s, with f_m = psi i*(s_m) - (psi/2) log s_m at
    s_m = 1/sigma^2(T_EXACT_MIN): exact at s_m and as s -> inf, with the 1/s decay of the linear case
    (there it matches Marchenko-Pastur to ~1e-7 for psi <= 0.5). For tanh at psi near 1 the approach
    to the limit is slower and this is an approximation (see docs/manifold.md).
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    psi = np.atleast_1d(np.asarray(psi, dtype=float))
    f_m, C, s_m = small_noise_parameters(psi, activation_name, m2, resolution)
    s = 1.0 / noise_variance(t)[:, None]
    return small_noise_per_dim(s, psi, f_m, C, s_m) / psi
