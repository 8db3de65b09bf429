"""Closed-form kappa of the anisotropic case (App. B) and the vectorised (g, theta) phase grid (Fig. 4)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validate import require, require_finite_array, require_nonnegative, require_positive
from .moments import anisotropic_c_entries
from .roots import default_time_grid, refine_crossing


def anisotropic_kernel_entries(
    beta: float, g: np.ndarray | float, sigma_w2: float, sigma_x2: float, sigma_y2: float, t: np.ndarray | float
) -> tuple[np.ndarray, ...]:
    """(K11, K12, K21, K22) of K(t) = N / (Delta D), (130-137)."""
    c11, c12, c22 = anisotropic_c_entries(beta, g, sigma_w2, sigma_x2, sigma_y2, t)
    g = np.asarray(g, dtype=float)
    delta = c11 * c22 - c12**2  # Delta(t)
    D = beta**2 * delta - beta * sigma_w2 * (c11 + c22) + g * sigma_w2 * c12 + sigma_w2**2  # (132)
    n11 = sigma_w2 * c22 - beta * (c22**2 + c12**2) + g * c12 * c22  # (134)
    n12 = c12 * (beta * (c11 + c22) - g * c12 - sigma_w2)  # (135)
    n21 = beta * c12 * (c11 + c22) - sigma_w2 * c12 - g * c11 * c22  # (136)
    n22 = sigma_w2 * c11 - beta * (c11**2 + c12**2) + g * c11 * c12  # (137)
    scale = 1.0 / (delta * D)  # (133)
    return n11 * scale, n12 * scale, n21 * scale, n22 * scale


def anisotropic_kernel(
    beta: float, g: np.ndarray | float, sigma_w2: float, sigma_x2: float, sigma_y2: float, t: np.ndarray | float
) -> np.ndarray:
    """K(t) = C^{-1} (M + sigma_W^2 C^{-1})^{-1} C^{-1} from (130-137), shape (..., 2, 2).

    (79) prints (M + sigma_W^2 C)^{-1}; (130) and this function use the consistent C^{-1}
    (erratum 2 in docs/errata.md). kappa = sigma_W^2 mu(t)^T K mu(t).
    """
    k11, k12, k21, k22 = np.broadcast_arrays(*anisotropic_kernel_entries(beta, g, sigma_w2, sigma_x2, sigma_y2, t))
    return np.stack([np.stack([k11, k12], -1), np.stack([k21, k22], -1)], -2)


class AnisotropicKappa(NamedTuple):
    """kappa(t; g, theta) = a(t, g) + b(t, g) cos(theta) for the anisotropic case (per dimension).

    The Gram matrix enters linearly and only its off-diagonal depends on theta, which is what
    lets a whole (g, theta) grid share one evaluation per (t, g).
    """

    beta: float
    sigma_w2: float
    sigma_x2: float
    sigma_y2: float
    mx2: float
    my2: float

    def coefficients(self, t: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) with kappa = a + b cos(theta), using mu_x(t), mu_y(t) of (80-81)."""
        k11, k12, k21, k22 = anisotropic_kernel_entries(self.beta, g, self.sigma_w2, self.sigma_x2, self.sigma_y2, t)
        ks = k12 + k21
        gt = np.asarray(g) * np.asarray(t)
        mxmy = np.sqrt(self.mx2 * self.my2)
        # per-dimension |mu_x|^2, mu_x.mu_y and |mu_y|^2 at time t, split into theta-free and cos-theta parts
        a = k11 * self.mx2 + ks * gt * self.mx2 + k22 * (self.my2 + gt**2 * self.mx2)
        b = ks * mxmy + k22 * 2 * gt * mxmy
        scale = self.sigma_w2 * np.exp(-2 * self.beta * np.asarray(t))
        return scale * a, scale * b

    def __call__(self, t: np.ndarray, g: np.ndarray, theta: np.ndarray) -> np.ndarray:
        a, b = self.coefficients(t, g)
        return a + b * np.cos(theta)


class PhaseGrid(NamedTuple):
    """t_S on a (g, theta) grid: NaN = no speciation (83), +inf = kappa > 1 still at T."""

    g: np.ndarray
    theta: np.ndarray
    t_s: np.ndarray  # shape (len(g), len(theta))


def anisotropic_phase_grid(
    g: np.ndarray,
    theta: np.ndarray,
    beta: float = 1.0,
    sigma_w2: float = 2.0,
    sigma_x2: float = 1.0,
    sigma_y2: float = 1.0,
    mx2: float = 1.0,
    my2: float = 1.0,
    T: float = 10.0,
    n_coarse: int = 160,
    factor: float = 1.0,
) -> PhaseGrid:
    """Speciation time t_S(g, theta) (30) of the anisotropic case on a whole grid in one pass.

    A coarse quadratic time grid brackets the last crossing of kappa = 1 in every cell (a loop over
    grid times, not cells), then a vectorised Illinois refinement polishes all cells together.
    ``factor`` multiplies kappa (1 = per-dimension convention, d = total convention).
    """
    g = np.atleast_1d(np.asarray(g, dtype=float))
    theta = np.atleast_1d(np.asarray(theta, dtype=float))
    # NaN already means "no speciation" in the result: a NaN input must not pass for one
    require_finite_array(g=g, theta=theta)
    require_positive(beta=beta, sigma_w2=sigma_w2, sigma_x2=sigma_x2, sigma_y2=sigma_y2, T=T, factor=factor)
    require_nonnegative(mx2=mx2, my2=my2)
    require(n_coarse >= 8, f"n_coarse must be >= 8: n_coarse={n_coarse}")
    kap = AnisotropicKappa(beta, sigma_w2, sigma_x2, sigma_y2, mx2, my2)
    t_grid = default_time_grid(T, n_coarse)
    a, b = kap.coefficients(t_grid[:, None], g[None, :])  # (n_t, n_g)
    cos_theta = np.cos(theta)
    # scan times upwards, remembering the last grid time at which kappa > 1 in each cell
    last = np.full((g.size, theta.size), -1)
    above = np.zeros((g.size, theta.size), dtype=bool)
    for j in range(t_grid.size):
        above = factor * (a[j][:, None] + b[j][:, None] * cos_theta) > 1.0
        last[above] = j
    t_s = np.full((g.size, theta.size), np.nan)
    t_s[above] = np.inf  # still above 1 at T
    gi, ti = np.nonzero((last >= 0) & ~above)
    if gi.size:
        g_cell, cos_cell = g[gi], cos_theta[ti]

        def f(t: np.ndarray, pos: np.ndarray) -> np.ndarray:
            aa, bb = kap.coefficients(t, g_cell[pos])
            return factor * (aa + bb * cos_cell[pos])

        jj = last[gi, ti]
        t_s[gi, ti] = refine_crossing(f, t_grid[jj], t_grid[jj + 1])
    return PhaseGrid(g, theta, t_s)


def sup_kappa(kap: AnisotropicKappa, g: float, theta: float, T: float = 10.0, n_grid: int = 512) -> float:
    """sup_{t in [0, T]} kappa(t) (83): grid maximum polished by a bounded scalar search."""
    from scipy.optimize import minimize_scalar

    t_grid = default_time_grid(T, n_grid)
    values = kap(t_grid, g, theta)
    j = int(np.argmax(values))
    lo, hi = t_grid[max(j - 1, 0)], t_grid[min(j + 1, n_grid - 1)]
    if hi <= lo:
        return float(values[j])
    res = minimize_scalar(
        lambda t: -float(kap(np.asarray(t), g, theta)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}
    )
    return float(max(values[j], -res.fun))


def no_speciation_boundary(
    theta: float,
    beta: float = 1.0,
    sigma_w2: float = 2.0,
    sigma_x2: float = 1.0,
    sigma_y2: float = 1.0,
    mx2: float = 1.0,
    my2: float = 1.0,
    g_max: float = 50.0,
    T: float = 10.0,
) -> float:
    """Exact boundary of the white region of Fig. 4: the smallest g >= 0 with sup_t kappa(t) = 1 (83).

    Returns +inf if sup_t kappa > 1 for all g in [0, g_max] and 0 if there is no speciation at g = 0.
    Unlike g_crit (kappa(0) = 1), this accounts for kappa peaking at t > 0 (erratum 7 in docs/errata.md).
    A vectorised scan of sup_t kappa over a g grid brackets the boundary; brentq polishes it.
    """
    from scipy.optimize import brentq

    require_finite_array(theta=np.asarray(theta, dtype=float))
    require_positive(beta=beta, sigma_w2=sigma_w2, sigma_x2=sigma_x2, sigma_y2=sigma_y2, g_max=g_max, T=T)
    require_nonnegative(mx2=mx2, my2=my2)
    kap = AnisotropicKappa(beta, sigma_w2, sigma_x2, sigma_y2, mx2, my2)
    g_grid = np.linspace(0.0, g_max, 501)
    t_grid = default_time_grid(T, 256)
    coarse_sup = kap(t_grid[:, None], g_grid[None, :], theta).max(axis=0)
    below = np.flatnonzero(coarse_sup <= 1.0)
    if below.size and below[0] == 0 and sup_kappa(kap, 0.0, theta, T) <= 1.0:
        return 0.0
    if not below.size:
        return float("inf")
    hi = int(below[0])
    lo = max(hi - 1, 0)

    def excess(g: float) -> float:
        return sup_kappa(kap, g, theta, T) - 1.0

    # the coarse sup can miss a narrow peak; widen the bracket until the refined sup changes sign
    while lo > 0 and excess(g_grid[lo]) <= 0:
        lo -= 1
    hi_g = g_grid[hi]
    while excess(hi_g) > 0 and hi_g < g_max:
        hi_g = min(hi_g + (g_grid[1] - g_grid[0]), g_max)
    if excess(g_grid[lo]) <= 0:
        return 0.0
    return float(brentq(excess, g_grid[lo], hi_g, xtol=1e-12))
