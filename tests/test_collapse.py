"""Collapse through the random energy model: (67)-(78), (86)-(89), App. A.

Independent references: hand derivations (in comments), 1-D quadrature of the Gaussian expectation of
App. A, finite differences of Lambda, the products (72)/(77) written out, closed-form anisotropic
moments (121)-(129), and explicit matrix inverses for the Schur complements.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from diffregimes.errors import ValidationError
from diffregimes.theory import (
    CoupledOU,
    cgf,
    cgf_derivative,
    chi,
    collapse_time,
    collapse_upper_bound,
    conditional_collapse_time,
    log_det_ratio,
    mode_collapse_time,
    rate_function,
    symmetric_collapse_time,
    symmetric_mode_collapse_times,
)
from diffregimes.theory.collapse import conditional_log_ratio
from diffregimes.theory.moments import anisotropic_c, anisotropic_q
from diffregimes.theory.relaxation import symmetric_eigenvalues


def product_72(t, beta, g, s, alpha):
    """log of the right side of (72) minus log n^{2/d} = 4 alpha (alpha = log n / (2d), (33)); s = sigma^2/sigma_W^2."""
    taus = np.array([2 * (beta - g), 2 * (beta + g)])
    return float(np.sum(np.log(1 + s * taus / np.expm1(taus * t))) - 4 * alpha)


# ----------------------------------------------------------------------------- joint t_C, symmetric
@pytest.mark.parametrize("g", [0.0, 0.2, 0.5, 0.8, 0.95, -0.6])
def test_symmetric_collapse_time_72_matches_det_path_73(g):
    beta, sigma2, sigma_w2, alpha = 1.0, 1.0, 1.0, 1.0
    t72 = symmetric_collapse_time(beta, g, sigma2, sigma_w2, alpha)
    model = CoupledOU.symmetric(beta=beta, g=g, sigma_w2=sigma_w2, sigma2=sigma2)
    t73 = collapse_time(model, alpha)
    assert t72 == pytest.approx(t73, abs=1e-10)
    assert abs(product_72(t72, beta, g, sigma2 / sigma_w2, alpha)) < 1e-12
    # (73): (1/4) log(det C / det Q) = alpha at t_C
    assert float(log_det_ratio(model, t73)) / 4 == pytest.approx(alpha, abs=1e-12)


def test_symmetric_collapse_time_other_parameters():
    beta, g, sigma2, sigma_w2, alpha = 1.4, 0.6, 0.5, 2.0, 0.3
    t72 = symmetric_collapse_time(beta, g, sigma2, sigma_w2, alpha)
    assert abs(product_72(t72, beta, g, sigma2 / sigma_w2, alpha)) < 1e-12
    model = CoupledOU.symmetric(beta=beta, g=g, sigma_w2=sigma_w2, sigma2=sigma2)
    assert collapse_time(model, alpha) == pytest.approx(t72, abs=1e-10)


def test_collapse_time_at_zero_coupling_hand_value():
    """g = 0, beta = 1, sigma^2/sigma_W^2 = 1, alpha = 1: lam_pm = -1, chi = 2/(e^{2t} - 1) for both modes,
    and (72) is (1 + chi)^2 = e^{4 alpha} = e^4, so 2/(e^{2t} - 1) = e^2 - 1 and t_C = (1/2) log(1 + 2/(e^2 - 1))."""
    expected = 0.5 * np.log(1 + 2 / (np.e**2 - 1))
    assert expected == pytest.approx(0.13617, abs=1e-5)
    assert symmetric_collapse_time(1.0, 0.0, 1.0, 1.0, 1.0) == pytest.approx(expected, abs=1e-13)
    assert collapse_time(CoupledOU.symmetric(beta=1.0, g=0.0, sigma_w2=1.0, sigma2=1.0), 1.0) == pytest.approx(
        expected, abs=1e-12
    )


def test_det_path_collapse_time_for_small_alpha():
    model = CoupledOU.symmetric(beta=1.0, g=0.9, sigma_w2=1.0, sigma2=1.0)
    t72 = symmetric_collapse_time(1.0, 0.9, 1.0, 1.0, 1e-4)
    assert abs(product_72(t72, 1.0, 0.9, 1.0, 1e-4)) < 1e-12
    assert collapse_time(model, 1e-4) == pytest.approx(t72, rel=1e-8)


# ----------------------------------------------------------------------------- per mode (77)-(78), bound (75)
@pytest.mark.parametrize(
    "tau,sigma2,sigma_w2,alpha",
    [(2.0, 1.0, 1.0, 1.0), (0.3, 0.5, 2.0, 0.2), (3.8, 1.0, 1.0, 1.0), (1e-3, 1.0, 1.0, 0.7)],
)
def test_mode_collapse_time_solves_77(tau, sigma2, sigma_w2, alpha):
    t = mode_collapse_time(tau, sigma2, sigma_w2, alpha)
    n_1d = np.exp(2 * alpha)  # n^{1/d} = e^{2 alpha} with alpha = log n / (2d)
    assert 1 + sigma2 / sigma_w2 * tau / np.expm1(tau * t) == pytest.approx(n_1d, rel=1e-12)


def test_symmetric_mode_collapse_times_use_tau_pm():
    beta, g = 1.0, 0.4
    tp, tm = symmetric_mode_collapse_times(beta, g, 1.0, 1.0, 1.0)
    lam_p, lam_m = symmetric_eigenvalues(beta, g)
    assert tp == mode_collapse_time(-2 * lam_p, 1.0, 1.0, 1.0)
    assert tm == mode_collapse_time(-2 * lam_m, 1.0, 1.0, 1.0)
    assert tp > tm  # slower common mode collapses earlier (larger t)


def test_upper_bound_75_holds_and_is_reached_only_as_tau_to_zero():
    """t_max = (sigma^2/sigma_W^2)/(n^{1/d} - 1) (75). With x = s/(e^{2 alpha} - 1), (78) is log(1 + x tau)/tau
    <= x, and t_C <= t_max because at t_max every chi_pm <= s/t_max = e^{2 alpha} - 1 (e^y - 1 >= y), so the
    decreasing residual of (72) is <= 0 there. Errata 3: equality only as tau -> 0 (g -> beta for the + mode),
    where log(1 + x tau)/tau = x - x^2 tau/2 + O(tau^2)."""
    beta, sigma2, sigma_w2, alpha = 1.0, 1.0, 1.0, 1.0
    t_max = collapse_upper_bound(sigma2, sigma_w2, alpha)
    assert t_max == pytest.approx(1 / (np.e**2 - 1), rel=1e-15)
    for g in np.linspace(0.0, 0.99, 12):
        tc = symmetric_collapse_time(beta, g, sigma2, sigma_w2, alpha)
        tp, tm = symmetric_mode_collapse_times(beta, g, sigma2, sigma_w2, alpha)
        assert tc < t_max and tp < t_max and tm < t_max
    # not saturated at g = 0 (the paper's claim): the g = 0 hand value is 13% below
    assert symmetric_collapse_time(beta, 0.0, sigma2, sigma_w2, alpha) < 0.9 * t_max
    for eps in (1e-2, 1e-4, 1e-6):
        tau = 2 * eps
        tp, _ = symmetric_mode_collapse_times(beta, beta - eps, sigma2, sigma_w2, alpha)
        assert 0 < t_max - tp <= t_max**2 * tau / 2 * (1 + 1e-6) + 1e-15
    assert mode_collapse_time(1e-12, sigma2, sigma_w2, alpha) == pytest.approx(t_max, rel=1e-9)


# ----------------------------------------------------------------------------- REM: chi, Lambda, I
def test_chi_is_ratio_of_drifted_data_variance_to_noise_variance():
    """chi = sigma^2 e^{2 lam t} / q(t) with q of (112): the per-mode S/Q of (67)."""
    lam, sigma2, sigma_w2 = np.array([-0.3, -1.7]), 0.8, 1.5
    for t in (0.05, 0.6, 3.0):
        q = sigma_w2 * (np.exp(2 * lam * t) - 1) / (2 * lam)
        np.testing.assert_allclose(chi(lam, sigma2, sigma_w2, t), sigma2 * np.exp(2 * lam * t) / q, rtol=1e-13)


def mode_log_expectation(b, lam, sigma2, sigma_w2, t, a=None):
    """L(b) = log E_z[exp(-b (zt - a z)^2 / (2 q))], z ~ N(0, sigma^2), zt^2 = c = sigma^2 e^{2 lam t} + q.

    One coordinate of App. A by adaptive quadrature. The exponent -z^2/(2 sigma^2) - b (zt - a z)^2/(2q) is a
    quadratic with curvature p = 1/sigma^2 + b a^2/q > 0 (iff 1 + b chi > 0) and peak z* = b a zt / (q p); the
    integral is taken over z* +- 40/sqrt(p) after subtracting the exponent at the peak.
    """
    q = sigma_w2 * np.expm1(2 * lam * t) / (2 * lam)
    a = np.exp(lam * t) if a is None else a
    zt = np.sqrt(sigma2 * np.exp(2 * lam * t) + q)
    p = 1 / sigma2 + b * a**2 / q
    z_star = b * a * zt / (q * p)
    expo = lambda z: -(z**2) / (2 * sigma2) - b * (zt - a * z) ** 2 / (2 * q)  # noqa: E731
    peak = expo(z_star)
    w = 40 / np.sqrt(p)
    val, err = quad(lambda z: np.exp(expo(z) - peak), z_star - w, z_star + w, epsabs=0, epsrel=1e-13, limit=200)
    return peak + np.log(val / np.sqrt(2 * np.pi * sigma2))


@pytest.mark.parametrize("t", [0.1, 0.4, 1.5])
@pytest.mark.parametrize("g", [0.0, 0.6])
def test_cgf_68_matches_quadrature_of_appendix_a(t, g):
    """Lambda_t(b) = (1/2d) log E exp(-b 2d eps) with 2d b eps = sum_pm b ||zt_pm - e^{lam t} z_pm||^2/(2 q_pm) (113).

    The expectation factorises over the two modes and the d coordinates of each, and the log-expectation of
    one coordinate is linear in zt_i^2, so with ||zt_pm||^2 = d c_pm (115) the sum over coordinates is d L_pm(b)
    evaluated at zt_i^2 = c_pm. Hence Lambda = (1/(2d)) d (L_+ + L_-) = (L_+ + L_-)/2.
    """
    beta, sigma2, sigma_w2 = 1.0, 0.9, 1.3
    lams = np.array(symmetric_eigenvalues(beta, g))
    chis = chi(lams, sigma2, sigma_w2, t)
    lower = -1 / chis.max()
    for b in (0.5 * lower, 0.0, 0.3, 1.0, 2.7):
        ref = 0.5 * sum(mode_log_expectation(b, lam, sigma2, sigma_w2, t) for lam in lams)
        assert float(cgf(b, chis)) == pytest.approx(ref, abs=1e-11)


def test_appendix_a_with_e_2lam_t_does_not_reproduce_68():
    """Errata 5: using a = e^{2 lam t} (as printed in (117)) instead of the kernel-mean factor e^{lam t} gives
    a different Lambda; this guards that the quadrature reference above can tell the two apart."""
    sigma2, sigma_w2, t = 0.9, 1.3, 0.4
    lams = np.array(symmetric_eigenvalues(1.0, 0.3))
    chis = chi(lams, sigma2, sigma_w2, t)
    wrong = 0.5 * sum(mode_log_expectation(1.0, lam, sigma2, sigma_w2, t, a=np.exp(2 * lam * t)) for lam in lams)
    assert abs(float(cgf(1.0, chis)) - wrong) > 1e-2


@pytest.mark.parametrize("chis", [np.array([0.7, 2.5]), np.array([0.05, 0.3, 9.0]), np.array([4.0])])
def test_cgf_derivative_matches_finite_difference_and_saddle_69(chis):
    """Central difference with h = 1e-5: truncation h^2/6 |Lambda'''| < 1e-9 here, round-off ~eps/h ~ 1e-11."""
    h = 1e-5
    for b in (0.2, 1.0, 3.0):
        fd = (float(cgf(b + h, chis)) - float(cgf(b - h, chis))) / (2 * h)
        assert float(cgf_derivative(b, chis)) == pytest.approx(fd, abs=1e-8)
    # (69): -Lambda'(1) = (1/2k) sum [chi/(1+chi) + (1+chi)/(1+chi)^2] = (1/2k) sum 1 = 1/2 for any chis
    assert -float(cgf_derivative(1.0, chis)) == pytest.approx(0.5, abs=1e-15)
    fd1 = (float(cgf(1 + h, chis)) - float(cgf(1 - h, chis))) / (2 * h)
    assert -fd1 == pytest.approx(0.5, abs=1e-8)


def test_rate_function_is_legendre_fenchel_transform_and_convex():
    chis = np.array([0.8, 3.0])
    h = 1e-6
    for b0 in (-0.2, 0.3, 1.0, 2.5):  # b0 > -1/max(chi) = -1/3
        u = -(float(cgf(b0 + h, chis)) - float(cgf(b0 - h, chis))) / (2 * h)  # u = -Lambda'(b0), FD
        assert rate_function(u, chis) == pytest.approx(-u * b0 - float(cgf(b0, chis)), abs=1e-8)
    # convexity on a grid of energies: second differences of I are >= 0 (I'' = 1/Lambda'' > 0)
    us = np.linspace(0.3, 1.2, 19)
    vals = np.array([rate_function(u, chis) for u in us])
    second = vals[2:] - 2 * vals[1:-1] + vals[:-2]
    assert np.all(second > 0)
    # its minimum, I = 0, is at the mean energy u = -Lambda'(0)
    u0 = -float(cgf_derivative(0.0, chis))
    assert rate_function(u0, chis) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("g", [0.0, 0.5, 0.9])
def test_rate_function_at_one_half_equals_alpha_at_collapse_70(g):
    """(70): I(1/2) = -Lambda(1) - 1/2 = (1/4) sum log(1 + chi_pm) = alpha at t_C."""
    beta, sigma2, sigma_w2, alpha = 1.0, 1.0, 1.0, 1.0
    tc = symmetric_collapse_time(beta, g, sigma2, sigma_w2, alpha)
    chis = chi(np.array(symmetric_eigenvalues(beta, g)), sigma2, sigma_w2, tc)
    assert -float(cgf(1.0, chis)) - 0.5 == pytest.approx(alpha, abs=1e-12)
    assert rate_function(0.5, chis) == pytest.approx(alpha, abs=1e-8)


# ----------------------------------------------------------------------------- general M, conditional
@pytest.mark.parametrize("beta,sigma2,sigma_w2,alpha", [(1.0, 1.0, 1.0, 1.0), (0.6, 0.4, 2.0, 0.25)])
def test_uncoupled_three_modalities_factorise(beta, sigma2, sigma_w2, alpha):
    """M = -beta I_3: C and Q are c I and q I, so (1/6) log(det C/det Q) = (1/2) log(c/q) = (1/2) log(1 + chi)
    with chi = s tau/(e^{tau t} - 1), tau = 2 beta: exactly the single-mode condition (77), 1 + chi = e^{2 alpha}."""
    model = CoupledOU.general(-beta * np.eye(3), sigma_w2, sigma2 * np.eye(3), np.eye(3))
    assert collapse_time(model, alpha) == pytest.approx(
        mode_collapse_time(2 * beta, sigma2, sigma_w2, alpha), abs=1e-12
    )


def test_anisotropic_joint_collapse_86_with_closed_form_moments():
    beta, g, sigma_w2, sx2, sy2, alpha = 1.0, 1.3, 1.0, 1.0, 1.0, 1.0
    model = CoupledOU.anisotropic(beta=beta, g=g, sigma_w2=sigma_w2, sigma_x2=sx2, sigma_y2=sy2)
    tc = collapse_time(model, alpha)
    C = anisotropic_c(beta, g, sigma_w2, sx2, sy2, tc)
    Q = anisotropic_q(beta, g, sigma_w2, tc)
    assert 0.25 * np.log(np.linalg.det(C) / np.linalg.det(Q)) == pytest.approx(alpha, abs=1e-12)


@pytest.mark.parametrize("g", [0.0, 0.7, 2.0])
def test_conditional_schur_complement_and_87(g):
    beta, sigma_w2, sx2, sy2, alpha_c = 1.0, 1.0, 0.8, 1.2, 1.0
    model = CoupledOU.anisotropic(beta=beta, g=g, sigma_w2=sigma_w2, sigma_x2=sx2, sigma_y2=sy2)
    for t in (0.05, 0.5, 2.0):
        C = anisotropic_c(beta, g, sigma_w2, sx2, sy2, t)
        Q = anisotropic_q(beta, g, sigma_w2, t)
        # C_{y|x} = 1/(C^{-1})_{yy} (the conditional variance of a Gaussian), likewise Q_{y|x}
        ref = np.log(1 / np.linalg.inv(C)[1, 1]) - np.log(1 / np.linalg.inv(Q)[1, 1])
        assert float(conditional_log_ratio(model, t)) == pytest.approx(ref, abs=1e-12)
    tcc = conditional_collapse_time(model, alpha_c)
    C = anisotropic_c(beta, g, sigma_w2, sx2, sy2, tcc)
    Q = anisotropic_q(beta, g, sigma_w2, tcc)
    assert 0.5 * np.log(np.linalg.inv(Q)[1, 1] / np.linalg.inv(C)[1, 1]) == pytest.approx(alpha_c, abs=1e-12)


def test_conditional_equals_joint_at_zero_coupling():
    """g = 0, sigma_x^2 = sigma_y^2: C = c I, Q = q I, so C_{y|x}/Q_{y|x} = c/q and (87) with alpha_C = alpha
    reads (1/2) log(c/q) = alpha, the same equation as (86): (1/4) log(c^2/q^2) = alpha."""
    model = CoupledOU.anisotropic(beta=1.0, g=0.0, sigma_w2=1.0, sigma_x2=1.0, sigma_y2=1.0)
    for alpha in (0.3, 1.0):
        assert conditional_collapse_time(model, alpha) == pytest.approx(collapse_time(model, alpha), abs=1e-12)
        assert collapse_time(model, alpha) == pytest.approx(mode_collapse_time(2.0, 1.0, 1.0, alpha), abs=1e-12)


def test_conditional_needs_two_modalities():
    model = CoupledOU.general(-np.eye(3), 1.0, np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="k = 2 modalities: k=3"):
        conditional_collapse_time(model, 1.0)


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan")])
def test_collapse_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        collapse_time(CoupledOU.symmetric(), alpha)
    with pytest.raises(ValueError, match="alpha"):
        symmetric_collapse_time(1.0, 0.2, 1.0, 1.0, alpha)


def test_collapse_far_below_the_first_bracket():
    """alpha = 50 puts the root far below t = 1e-8 (where the search used to give up).

    By hand at beta = 1, g = 0, sigma^2 = sigma_W^2 = 1: both modes have chi = 2 / (e^{2t} - 1) (67), so
    (1/4) * 2 log(1 + chi) = alpha gives e^{2t} - 1 = 2 / (e^{2 alpha} - 1), t = (1/2) log1p(2 / expm1(100)).
    """
    expected = 0.5 * math.log1p(2 / math.expm1(100.0))
    model = CoupledOU.symmetric(beta=1.0, g=0.0, sigma_w2=1.0, sigma2=1.0)
    assert collapse_time(model, 50.0) == pytest.approx(expected, rel=1e-9)
    assert symmetric_collapse_time(1.0, 0.0, 1.0, 1.0, 50.0) == pytest.approx(expected, rel=1e-9)


def test_collapse_rejects_alpha_beyond_reach():
    """alpha = 1000 needs 1 + chi = e^{2000}, i.e. t ~ e^{-2000}: below every double, so it is refused."""
    with pytest.raises(ValidationError, match="no collapse"):
        collapse_time(CoupledOU.symmetric(beta=1.0, g=0.0, sigma_w2=1.0, sigma2=1.0), 1000.0)


@pytest.mark.parametrize("alpha", [1e-3, 1e-15, 1e-100, 1e-300])
def test_small_alpha_collapse_is_late_and_exact(alpha):
    """The joint collapse time grows without bound as alpha -> 0 (issue 18: it stalled near t = 18.5 once the
    log-det difference was rounding noise). At g = 0 the anisotropic model is two uncoupled OU modes with
    lambda = -beta, so its time must equal the symmetric closed form (72) at g = 0, which sums log1p(chi) (67)."""
    model = CoupledOU.anisotropic(beta=1.0, g=0.0, sigma_w2=2.0, sigma_x2=1.0, sigma_y2=1.0)
    ref = symmetric_collapse_time(beta=1.0, g=0.0, sigma2=1.0, sigma_w2=2.0, alpha=alpha)
    assert collapse_time(model, alpha) == pytest.approx(ref, rel=1e-9)
    # per mode at large t: log1p(chi) ~ chi ~ (sigma^2/sigma_W^2) 2 e^{-2t}, so (1/4) sum = alpha gives
    # t ~ (1/2) log(1 / (2 alpha)) when chi -> 0 (sigma^2/sigma_W^2 = 1/2, two modes): the asymptote
    if alpha <= 1e-15:
        assert collapse_time(model, alpha) == pytest.approx(0.5 * math.log(1.0 / (2.0 * alpha)), rel=1e-6)


def test_coupled_anisotropic_collapse_keeps_growing_as_alpha_falls():
    model = CoupledOU.anisotropic(beta=1.0, g=0.5, sigma_w2=2.0)
    times = [collapse_time(model, a) for a in (1e-3, 1e-15, 1e-100, 1e-300)]
    assert all(b > a + 10 for a, b in zip(times, times[1:]))
    cond = [conditional_collapse_time(model, a) for a in (1e-15, 1e-100)]
    assert cond[1] > cond[0] + 50 and all(np.isfinite(cond))
