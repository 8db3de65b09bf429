"""Collapse (memorisation) through the random energy model, (31-49) and (67-89).

alpha = log(n) / (k d) is the paper's (33) for k = 2 modalities (alpha = log n / (2d)). For the
joint system, collapse happens when (1/(2k)) log(det C / det Q) = alpha ((73), (86)); for one
eigenmode of the symmetric case, when (1/2) log(1 + chi) = alpha_mode with n^{1/d} = e^{2 alpha} (77-78).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from ._validate import ValidationError, require, require_positive
from .model import CoupledOU
from .relaxation import symmetric, symmetric_eigenvalues


# ----------------------------------------------------------------------------- REM ingredients
def chi(lam: np.ndarray | float, sigma2: float, sigma_w2: float, t: np.ndarray | float) -> np.ndarray:
    """chi_pm(t) = (sigma^2/sigma_W^2) 2 lambda / (1 - e^{-2 lambda t}) (67) = per-mode S/Q."""
    lam = np.asarray(lam, dtype=float)
    t = np.asarray(t, dtype=float)
    # for a decaying mode (lam < 0) write it with y = 2|lam| t >= 0 as 2|lam| e^{-y} / (1 - e^{-y}):
    # e^{-y} underflows to 0 at large t instead of e^{y} overflowing (which spammed RuntimeWarnings)
    y = np.abs(2 * lam * t)
    decaying = 2 * np.abs(lam) * np.exp(-y) / -np.expm1(-y)
    with np.errstate(over="ignore"):
        growing = 2 * lam / -np.expm1(-2 * lam * t)
    return sigma2 / sigma_w2 * np.where(lam < 0, decaying, growing)


def cgf(inv_temp: np.ndarray | float, chis: np.ndarray) -> np.ndarray:
    """Scaled cumulant generating function Lambda_t(beta) (68), generalised to k modes.

    ``chis`` holds chi of each of the k modes along its last axis; each mode contributes
    -(1/(2k)) [log(1 + beta chi) + beta (1 + chi) / (1 + beta chi)] (119), k = 2 giving (68).
    ``inv_temp`` is the REM inverse temperature beta of (34), not the relaxation rate.
    """
    chis = np.asarray(chis, dtype=float)
    b = np.asarray(inv_temp, dtype=float)[..., None]
    k = chis.shape[-1]
    terms = np.log1p(b * chis) + b * (1 + chis) / (1 + b * chis)
    return -terms.sum(-1) / (2 * k)


def cgf_derivative(inv_temp: np.ndarray | float, chis: np.ndarray) -> np.ndarray:
    """Lambda_t'(beta): the mean energy at inverse temperature beta is -Lambda'(beta) (45)."""
    chis = np.asarray(chis, dtype=float)
    b = np.asarray(inv_temp, dtype=float)[..., None]
    k = chis.shape[-1]
    terms = chis / (1 + b * chis) + (1 + chis) / (1 + b * chis) ** 2
    return -terms.sum(-1) / (2 * k)


def rate_function(u: float, chis: np.ndarray) -> float:
    """I_t(u) = sup_beta (-u beta - Lambda_t(beta)) (35), by numerical maximisation.

    Lambda is defined for 1 + beta chi > 0 for every mode, i.e. beta > -1/max(chi).
    """
    chis = np.asarray(chis, dtype=float)
    lower = -1.0 / float(np.max(chis)) * (1 - 1e-9)
    res = minimize_scalar(
        lambda b: u * b + float(cgf(b, chis)), bounds=(lower, 1e6), method="bounded", options={"xatol": 1e-12}
    )
    return float(-res.fun)


# ----------------------------------------------------------------------------- symmetric case
def symmetric_collapse_residual(t: float, beta: float, g: float, sigma2: float, sigma_w2: float, alpha: float) -> float:
    """log of the right side of (71)/(72) minus log n^{2/d} = 4 alpha; zero at t_C."""
    lams = np.array(symmetric_eigenvalues(beta, g))
    return float(np.log1p(chi(lams, sigma2, sigma_w2, t)).sum() - 4 * alpha)


def symmetric_collapse_time(beta: float, g: float, sigma2: float, sigma_w2: float, alpha: float) -> float:
    """Joint collapse time t_C of the symmetric case: the root of (72)."""
    symmetric(beta, g)  # validates beta > |g| (the stability error), before any eigenvalue is used
    _check_collapse_inputs(sigma2=sigma2, sigma_w2=sigma_w2, alpha=alpha)
    return _decreasing_root(lambda t: symmetric_collapse_residual(t, beta, g, sigma2, sigma_w2, alpha))


def mode_collapse_time(tau: float, sigma2: float, sigma_w2: float, alpha: float) -> float:
    """Per-mode collapse time (78): t = (1/tau) log(1 + (sigma^2/sigma_W^2) tau / (n^{1/d} - 1)).

    tau = -2 lambda is the mode's decay rate of the variance and n^{1/d} = e^{2 alpha}, the paper's
    (77). Note: a single mode is d-dimensional, so with the *same* n as the joint system its own REM
    condition is (1/2) log(1 + chi) = log(n)/d, i.e. 1 + chi = n^{2/d}: pass ``2 * alpha`` for that
    (the paper's Fig. 2 plugs the joint alpha into (77), as its Fig. 5 does for (87)).
    """
    _check_collapse_inputs(sigma2=sigma2, sigma_w2=sigma_w2, alpha=alpha)
    require(tau > 0, f"decay rate tau must be > 0: tau={tau}")
    return float(np.log1p(sigma2 / sigma_w2 * tau / np.expm1(2 * alpha)) / tau)


def symmetric_mode_collapse_times(
    beta: float, g: float, sigma2: float, sigma_w2: float, alpha: float
) -> tuple[float, float]:
    """(t_C+, t_C-) of (78) with tau_pm = -2 lambda_pm = 2 (beta -+ g)."""
    symmetric(beta, g)  # beta > |g|, named as the caller wrote it (not as a decay rate tau <= 0)
    lam_p, lam_m = symmetric_eigenvalues(beta, g)
    return (
        mode_collapse_time(-2 * lam_p, sigma2, sigma_w2, alpha),
        mode_collapse_time(-2 * lam_m, sigma2, sigma_w2, alpha),
    )


def collapse_upper_bound(sigma2: float, sigma_w2: float, alpha: float) -> float:
    """t_max (75) = (sigma^2/sigma_W^2) / (n^{1/d} - 1): the limit of (78) as tau -> 0.

    The paper says the bound is saturated at g = 0; it is reached only as the decay rate
    tau -> 0 (erratum 3 in docs/errata.md). Every t_C, joint or per mode, lies below it.
    """
    _check_collapse_inputs(sigma2=sigma2, sigma_w2=sigma_w2, alpha=alpha)
    return float(sigma2 / sigma_w2 / np.expm1(2 * alpha))


# ----------------------------------------------------------------------------- any M
def log_det_ratio(model: CoupledOU, t: np.ndarray | float) -> np.ndarray:
    """log(det C(t) / det Q(t)) per dimension (modality block), the quantity of (73) and (86).

    Computed as log det(I + L^{-1} S L^{-T}) = sum log1p(eigenvalues) with Q = L L^T and C = S + Q (19), not as
    a difference of two log-determinants: at large t, S is tiny beside Q and the difference would be rounding
    noise (~1e-16), which put the root of a small alpha at a finite, wrong time.
    """
    m = model.moments(t)
    L = np.linalg.cholesky(m.Q)
    Y = np.linalg.solve(L, np.swapaxes(np.linalg.solve(L, m.S), -1, -2))  # L^{-1} S L^{-T}, symmetric PSD
    eig = np.linalg.eigvalsh((Y + np.swapaxes(Y, -1, -2)) / 2)
    return np.log1p(np.clip(eig, 0.0, None)).sum(axis=-1)


def collapse_time(model: CoupledOU, alpha: float) -> float:
    """Joint collapse time for any M: (1/(2k)) log(det C/det Q) = alpha ((73), (86))."""
    _check_collapse_inputs(alpha=alpha)
    k = model.k
    return _decreasing_root(lambda t: float(log_det_ratio(model, t)) / (2 * k) - alpha)


def conditional_log_ratio(model: CoupledOU, t: np.ndarray | float) -> np.ndarray:
    """log(C_{y|x} / Q_{y|x}) with the Schur complements (88-89) of the last modality given the first."""
    m = model.moments(t)
    C, Q, S = m.C, m.Q, m.S
    q_cond = Q[..., 1, 1] - Q[..., 0, 1] ** 2 / Q[..., 0, 0]
    # c_cond - q_cond expanded so that no two O(Q) terms cancel (C = S + Q): every term below is O(S)
    cross = (S[..., 0, 1] ** 2 * Q[..., 0, 0] + 2 * S[..., 0, 1] * Q[..., 0, 1] * Q[..., 0, 0]) - Q[..., 0, 1] ** 2 * S[
        ..., 0, 0
    ]
    excess = S[..., 1, 1] - cross / (C[..., 0, 0] * Q[..., 0, 0])
    return np.log1p(excess / q_cond)


def conditional_collapse_time(model: CoupledOU, alpha_c: float) -> float:
    """Conditional collapse time t_{C,y|x}: (1/2) log(C_{y|x}/Q_{y|x}) = alpha_C (87).

    alpha_C is the paper's alpha_C: with the same n, alpha_C = log(n)/d = 2 alpha of (33), since
    the conditional law lives in d dimensions instead of 2d. Callers choose; the figure code
    passes alpha_C = alpha as the paper's Fig. 5 does (see the report's note).
    """
    _check_collapse_inputs(alpha_c=alpha_c)
    require(model.k == 2, f"the conditional collapse time needs k = 2 modalities: k={model.k}")
    return _decreasing_root(lambda t: 0.5 * float(conditional_log_ratio(model, t)) - alpha_c)


# ----------------------------------------------------------------------------- helpers
def _check_collapse_inputs(**values: float) -> None:
    require_positive(**values)


def _decreasing_root(f, t_lo: float = 1e-8, t_hi: float = 1.0, max_doublings: int = 60) -> float:
    """Root of a function that decreases from +inf (t -> 0+) to below 0 at large t.

    The bracket is widened down to t ~ 1e-305 (a tiny sigma^2 / sigma_W^2 puts the root there) and up
    to 2^60; the tolerance is relative, so a root of 1e-301 is resolved as well as one of 0.1.
    """
    while not f(t_lo) > 0:
        if t_lo < 1e-300:
            raise ValidationError(
                "no collapse: the REM condition is already met as t -> 0 (alpha too large for these variances)"
            )
        t_lo, t_hi = max(t_lo * 1e-10, 1e-305), t_lo
    for _ in range(max_doublings):
        if f(t_hi) < 0:
            return float(
                brentq(f, t_lo, t_hi, xtol=max(t_lo * 1e-12, 1e-320), rtol=4 * np.finfo(float).eps, maxiter=500)
            )
        t_lo, t_hi = t_hi, 2 * t_hi
    raise ValidationError("no collapse time found below t=2^60: the REM condition is never met")
