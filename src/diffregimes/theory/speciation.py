"""Speciation: the bifurcation of the reverse drift, kappa(t) = 1 (27-30), for any M.

kappa(t) = mu(t)^T C(t)^{-1} A(t) mu(t) with A(t) = (M + sigma_W^2 C^{-1})^{-1} sigma_W^2 C^{-1}
(25, 28). Written on modality blocks, kappa = sum_ij G_ij F_ij(t) with
F(t) = Phi^T C^{-1} A Phi and G the Gram matrix of the class mean.

Conventions (erratum 4 in docs/errata.md): ``per-dim`` divides by d (the paper's (62), norms m^2 = |mu|^2/d,
used in its figures); ``total`` multiplies back by d, which is the kappa whose crossing of 1 a
finite-d simulation sees.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._validate import require, require_finite, require_finite_array, require_positive
from .model import CoupledOU, Moments
from .moments import symmetric_mode_c
from .relaxation import symmetric, symmetric_eigenvalues
from .roots import default_time_grid, last_crossing

CONVENTIONS = ("per-dim", "total")


def convention_factor(convention: str, d: int | None) -> float:
    """1 for the per-dimension kappa (62); d for the total kappa (61) with |mu|^2 = d m^2."""
    require(convention in CONVENTIONS, f"unknown kappa convention {convention!r}: valid are {CONVENTIONS}")
    if convention == "per-dim":
        return 1.0
    require(d is not None and int(d) >= 1, f"the total convention needs a dimension d >= 1: d={d}")
    return float(d)


def kappa_matrix(m: Moments, sigma_w2: float) -> np.ndarray:
    """F(t) = Phi^T C^{-1} (M + sigma_W^2 C^{-1})^{-1} sigma_W^2 C^{-1} Phi, so that kappa = <G, F>.

    This is the consistent form of the kernel K of (79)/(130) (erratum 2 in docs/errata.md): the paper prints
    (M + sigma_W^2 C)^{-1} in (79) but uses C^{-1} in (130).
    """
    P = np.linalg.inv(m.C)
    A = np.linalg.solve(m.M + sigma_w2 * P, sigma_w2 * P)  # (25)
    return np.swapaxes(m.transition, -1, -2) @ P @ A @ m.transition


def kappa(model: CoupledOU, t: np.ndarray | float, convention: str = "per-dim", d: int | None = None) -> np.ndarray:
    """kappa(t) (28) of a model at forward times t (array-valued)."""
    factor = convention_factor(convention, d)
    F = kappa_matrix(model.moments(t), model.sigma_w2)
    return factor * np.einsum("ij,...ij->...", model.gram, F)


def speciation_time(
    model: CoupledOU, convention: str = "per-dim", d: int | None = None, T: float = 10.0, n_grid: int = 512
) -> float | None:
    """t_S (30): the largest t in [0, T] with kappa(t) = 1, i.e. the first crossing in reverse time.

    Returns None when sup_t kappa <= 1 on the grid (no speciation, (83)) and ``inf`` when kappa is
    still above 1 at T (speciation before the reverse process even starts at T).
    """
    require_positive(T=T)
    require(n_grid >= 8, f"n_grid must be >= 8: n_grid={n_grid}")
    t_grid = default_time_grid(T, n_grid)
    values = kappa(model, t_grid, convention, d)

    def f(t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return kappa(model, t, convention, d)

    root = float(last_crossing(values[:, None], t_grid, f)[0])
    return None if np.isnan(root) else root


# ----------------------------------------------------------------------------- symmetric case
def symmetric_mode_kappa(lam: float, m2: float, sigma2: float, sigma_w2: float, t: np.ndarray | float) -> np.ndarray:
    """One mode of (62): sigma_W^2 SNR_pm = sigma_W^2 e^{2 lam t} m^2 / (c (lam c + sigma_W^2)) (63, 65)."""
    t = np.asarray(t, dtype=float)
    c = symmetric_mode_c(lam, sigma2, sigma_w2, t)
    return sigma_w2 * np.exp(2 * lam * t) * m2 / (c * (lam * c + sigma_w2))


def symmetric_kappa(
    beta: float, g: float, sigma2: float, sigma_w2: float, m_plus2: float, m_minus2: float, t: np.ndarray | float
) -> np.ndarray:
    """Closed-form kappa(t) of the symmetric case (62), per dimension."""
    symmetric(beta, g)  # validates beta > |g|
    lam_p, lam_m = symmetric_eigenvalues(beta, g)
    return symmetric_mode_kappa(lam_p, m_plus2, sigma2, sigma_w2, t) + symmetric_mode_kappa(
        lam_m, m_minus2, sigma2, sigma_w2, t
    )


def single_mode_speciation_time(lam: float, m2: float, sigma2: float, sigma_w2: float) -> float | None:
    """Closed-form root of (65) for one mode, the corrected (66) (erratum 1 in docs/errata.md).

    With a = e^{2 lam t} and B = sigma^2 + sigma_W^2/(2 lam), (65) is the quadratic
    lam B^2 a^2 - sigma_W^2 m^2 a - sigma_W^4/(4 lam) = 0. Because lam < 0, the positive root is
    a = sigma_W^2 (m^2 - sqrt(m^4 + B^2)) / (2 lam B^2) (the paper prints the "+" root, whose
    logarithm has a negative argument), equivalently a = 1 / (1 + x) with v = sigma_W^2 / (2|lam|)
    (the stationary variance) and x = (m^2 + sqrt(m^4 + B^2)) / v - 1, so t = log1p(x) / (2|lam|).
    For B < 0 the same x is written without cancellation,
    x = (m^2 - sigma^2)/v + (m^2/v) m^2 / (sqrt(m^4 + B^2) + |B|), which keeps the slow-mode limit
    t -> (m^2 - sigma^2)/sigma_W^2 (|lam| -> 0) exact, and hypot keeps huge variances from
    overflowing. Returns None when a >= 1 (no root at t > 0), inf when a underflows to 0.
    """
    require_finite(lam=lam, m2=m2)
    require(lam < 0, f"a mode needs a decay rate lambda < 0: lambda={lam}")
    require_positive(sigma2=sigma2, sigma_w2=sigma_w2)
    require(m2 >= 0, f"m2 must be >= 0: m2={m2}")
    if m2 == 0:
        return None
    lam, m2, sigma2, sigma_w2 = float(lam), float(m2), float(sigma2), float(sigma_w2)
    v = sigma_w2 / (-2 * lam)
    require(
        math.isfinite(v) and v > 0,
        f"the stationary variance sigma_w2 / (2 |lambda|) is not a finite positive "
        f"number: sigma_w2={sigma_w2}, lambda={lam}",
    )
    B = sigma2 - v
    root = math.hypot(m2, B)
    if B < 0:
        x = (m2 - sigma2) / v + (m2 / v) * (m2 / (root + abs(B)))
    else:
        x = (m2 + root) / v - 1
    if not x > 0:
        return None
    return math.log1p(x) / (-2 * lam)


# ----------------------------------------------------------------------------- kappa(0), g_crit
def kappa0(model: CoupledOU, convention: str = "per-dim", d: int | None = None) -> float:
    """kappa(0), the maximum of kappa when the stability bound holds ((64), (85))."""
    return float(kappa(model, 0.0, convention, d))


def anisotropic_kappa0(
    beta: float,
    g: np.ndarray | float,
    sigma2: float,
    sigma_w2: float,
    mx2: float,
    my2: float,
    theta: np.ndarray | float,
) -> np.ndarray:
    """Closed form (85) for sigma_x^2 = sigma_y^2 = sigma^2, with r = sigma_W^2 / sigma^2 (84)."""
    r = _ratio_r(beta, sigma2, sigma_w2)
    require_finite_array(g=np.asarray(g, dtype=float), theta=np.asarray(theta, dtype=float))
    return r / (sigma2 * (r - beta)) * (mx2 + my2) - r * np.asarray(g) / (sigma2 * (r - beta) ** 2) * np.sqrt(
        mx2 * my2
    ) * np.cos(theta)


def g_crit(
    theta: np.ndarray | float, beta: float, sigma2: float, sigma_w2: float, mx2: float, my2: float
) -> np.ndarray:
    """Approximate no-speciation boundary: the g where (85) equals 1 (the dashed line of Fig. 4).

    +inf where kappa(0) > 1 for every g >= 0 (cos theta <= 0). The exact boundary is
    sup_t kappa(t) = 1 (83), which lies at larger g near theta = 0 (erratum 7 in docs/errata.md).
    """
    r = _ratio_r(beta, sigma2, sigma_w2)
    require_finite_array(theta=np.asarray(theta, dtype=float))
    excess = r / (sigma2 * (r - beta)) * (mx2 + my2) - 1.0
    slope = r / (sigma2 * (r - beta) ** 2) * np.sqrt(mx2 * my2) * np.cos(np.asarray(theta, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(slope > 0, excess / np.where(slope > 0, slope, 1.0), np.inf)
    return np.where(excess <= 0, 0.0, g)


def _ratio_r(beta: float, sigma2: float, sigma_w2: float) -> float:
    """r = sigma_W^2 / sigma^2 of (84), which (85) needs different from beta (M + r I invertible)."""
    require_positive(beta=beta, sigma2=sigma2, sigma_w2=sigma_w2)
    r = sigma_w2 / sigma2
    require(r != beta, f"(85) needs sigma_w2/sigma2 != beta: sigma_w2/sigma2={r}, beta={beta}")
    return r


# ----------------------------------------------------------------------------- stability
class Stability(NamedTuple):
    """Confinement of the reverse potential (59-60).

    ``margins`` are, per mode, min over t in [0, T] of the eigenvalues of the symmetric part of
    M + sigma_W^2 C(t)^{-1}; the reverse drift -(M + sigma_W^2 C^{-1}) z confines iff all are > 0.
    For symmetric M the modes are common (+) and difference (-) and the margins are exactly
    min_t lambda_pm + sigma_W^2 / c_pm(t) (59). For any other M, "mode i" is the i-th smallest
    eigenvalue at each t (eigenvalue curves may cross, so it is not tied to one eigenvector);
    the smallest margin, and so ``stable``, is exact either way. ``sufficient`` is (60), sigma^2 < sigma_W^2/(beta + |g|),
    for the symmetric case (None otherwise).
    """

    stable: bool
    modes: tuple[str, ...]
    margins: tuple[float, ...]
    sufficient: bool | None


def stability(model: CoupledOU, T: float = 10.0, n_grid: int = 512) -> Stability:
    """Per-mode check of (59) over [0, T] (closed form for constant symmetric coupling)."""
    require_positive(T=T)
    if model.kind == "symmetric" and not model.scheduled:
        beta, g = -model.base[0, 0], float(model.coupling)
        sigma2 = float(model.sigma0[0, 0])
        margins = []
        for lam in symmetric_eigenvalues(beta, g):
            # sigma_W^2/c(t) is monotone between sigma_W^2/sigma^2 (t=0) and -2 lam (t -> inf).
            c_T = symmetric_mode_c(lam, sigma2, model.sigma_w2, T)
            margins.append(float(min(lam + model.sigma_w2 / sigma2, lam + model.sigma_w2 / c_T)))
        sufficient = sigma2 < model.sigma_w2 / (beta + abs(g))
        return Stability(min(margins) > 0, ("+", "-"), tuple(margins), bool(sufficient))
    t = default_time_grid(T, n_grid)
    m = model.moments(t)
    B = m.M + model.sigma_w2 * np.linalg.inv(m.C)
    eig = np.linalg.eigvalsh(0.5 * (B + np.swapaxes(B, -1, -2)))  # ascending per t
    margins = tuple(float(v) for v in eig.min(axis=0))
    return Stability(min(margins) > 0, tuple(f"eigenvalue {i + 1}" for i in range(model.k)), margins, None)
