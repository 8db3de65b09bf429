"""Speciation: kappa(t) (28), t_S (30), the corrected (66), kappa(0) (64)/(85), g_crit, (83), stability (59)-(60).

Independent references: hand derivations (explained in comments), the quadratic (65) solved with numpy's
polynomial roots, brute-force kappa from full (k d)-dimensional Kronecker matrices with scipy's expm and
quadrature of (9), bounded maximisation of the general kappa, and eigenvalues of M + sigma_W^2 C^{-1} on fine grids.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from reference import gauss_Q
from scipy.optimize import minimize_scalar

from diffregimes.theory import (
    AnisotropicKappa,
    CoupledOU,
    anisotropic_kappa0,
    anisotropic_kernel,
    g_crit,
    kappa,
    kappa0,
    single_mode_speciation_time,
    speciation_time,
    stability,
    symmetric_kappa,
)
from diffregimes.theory.moments import anisotropic_c
from diffregimes.theory.phase import no_speciation_boundary
from diffregimes.theory.relaxation import anisotropic, symmetric, symmetric_eigenvalues

# ----------------------------------------------------------------------------- helpers (independent)


def closed_c(lam, sigma2, sigma_w2, t):
    """(55) typed out: c(t) = sigma^2 e^{2 lam t} + sigma_W^2 (e^{2 lam t} - 1) / (2 lam)."""
    e = np.exp(2 * lam * np.asarray(t, float))
    return sigma2 * e + sigma_w2 * (e - 1) / (2 * lam)


def brute_kappa_total(M, sigma_w2, sigma0, mu0, d, t):
    """mu(t)^T C^{-1} A mu(t) (28) on R^{k d} with the full Kronecker matrices M (x) I_d.

    Moments from scipy's expm and Gauss-Legendre quadrature of (9); mu0 is the full (k d)-vector
    of the class mean.
    """
    k = M.shape[0]
    Mf = np.kron(M, np.eye(d))
    E = scipy.linalg.expm(Mf * t)

    Qk = gauss_Q(M, sigma_w2, t) if t > 0 else np.zeros((k, k))
    C = E @ np.kron(sigma0, np.eye(d)) @ E.T + np.kron(Qk, np.eye(d))
    Ci = np.linalg.inv(C)
    A = np.linalg.solve(Mf + sigma_w2 * Ci, sigma_w2 * Ci)  # (25)
    mu = E @ mu0  # (7)
    return float(mu @ Ci @ A @ mu)


def aniso_sup_kappa(g, theta, T=10.0):
    """sup_t kappa(t) of the Fig. 4 model through the general path: fine grid + bounded polish."""
    model = CoupledOU.anisotropic(
        beta=1.0, g=g, sigma_w2=2.0, sigma_x2=1.0, sigma_y2=1.0, mx2=1.0, my2=1.0, theta=theta
    )
    t = np.linspace(0.0, T, 4001)
    vals = kappa(model, t)
    j = int(np.argmax(vals))
    lo, hi = t[max(j - 1, 0)], t[min(j + 1, t.size - 1)]
    res = minimize_scalar(
        lambda s: -float(kappa(model, s)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
    )
    return max(float(vals[j]), -float(res.fun))


# ----------------------------------------------------------------------------- symmetric kappa (62)
@pytest.mark.parametrize("g", [0.0, 0.45, -0.7, 0.9])
def test_symmetric_kappa_closed_form_matches_general_kappa(g):
    beta, sigma2, sigma_w2, mp2, mm2 = 1.0, 0.8, 2.0, 1.3, 0.6
    t = np.linspace(0.0, 6.0, 41)
    model = CoupledOU.symmetric(beta=beta, g=g, sigma_w2=sigma_w2, sigma2=sigma2, m_plus2=mp2, m_minus2=mm2)
    np.testing.assert_allclose(
        kappa(model, t), symmetric_kappa(beta, g, sigma2, sigma_w2, mp2, mm2, t), rtol=1e-10, atol=1e-14
    )


def test_symmetric_kappa_ignores_mu_plus_dot_mu_minus():
    """(61): C^{-1} A is diagonal in the +/- basis, so a non-zero mu_+ . mu_- leaves kappa unchanged."""
    beta, g, sigma2, sigma_w2, mp2, mm2 = 1.0, 0.5, 1.0, 2.0, 1.5, 0.8
    v = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)
    cross = 0.7 * np.sqrt(mp2 * mm2)
    gram = v @ np.array([[mp2, cross], [cross, mm2]]) @ v.T
    model = CoupledOU.general(symmetric(beta, g), sigma_w2, sigma2 * np.eye(2), gram)
    t = np.linspace(0.0, 4.0, 21)
    np.testing.assert_allclose(
        kappa(model, t), symmetric_kappa(beta, g, sigma2, sigma_w2, mp2, mm2, t), rtol=1e-10, atol=1e-14
    )


def test_kappa_per_dim_matches_brute_force_kronecker():
    """Per-dimension kappa = (1/d) mu^T C^{-1} A mu on R^{2d}, with mu_pm of the stated norms."""
    rng = np.random.default_rng(20)
    d, beta, g, sigma2, sigma_w2 = 3, 1.0, 0.45, 1.0, 2.0
    mp2, mm2 = 1.2, 0.5
    u = np.linalg.qr(rng.standard_normal((d, 2)))[0]  # orthonormal directions for mu_+, mu_-
    mu_p, mu_m = np.sqrt(d * mp2) * u[:, 0], np.sqrt(d * mm2) * u[:, 1]
    mu_x, mu_y = (mu_p + mu_m) / np.sqrt(2), (mu_p - mu_m) / np.sqrt(2)  # inverse of (53)
    mu0 = np.concatenate([mu_x, mu_y])
    model = CoupledOU.symmetric(beta=beta, g=g, sigma_w2=sigma_w2, sigma2=sigma2, m_plus2=mp2, m_minus2=mm2)
    for t in (0.0, 0.4, 1.5):
        ref = brute_kappa_total(symmetric(beta, g), sigma_w2, sigma2 * np.eye(2), mu0, d, t) / d
        assert float(kappa(model, t)) == pytest.approx(ref, rel=1e-10)


def test_general_kappa_matches_closed_form_at_long_times():
    model = CoupledOU.symmetric(beta=1.0, g=0.9, sigma_w2=2.0, sigma2=1.0, m_plus2=2.0, m_minus2=0.0)
    t = np.array([10.0, 15.0, 20.0, 25.0])
    np.testing.assert_allclose(kappa(model, t), symmetric_kappa(1.0, 0.9, 1.0, 2.0, 2.0, 0.0, t), rtol=1e-8)


# ----------------------------------------------------------------------------- single-mode t_S (66)
PARAMS = [dict(beta=1.0, sigma2=1.0, sigma_w2=2.0, m2=2.0), dict(beta=1.3, sigma2=0.5, sigma_w2=1.5, m2=0.8)]


@pytest.mark.parametrize("p", PARAMS)
@pytest.mark.parametrize("g", [0.0, 0.2, 0.45, 0.8, -0.5])
@pytest.mark.parametrize("mode", ["+", "-"])
def test_single_mode_speciation_time_matches_numerical_root(p, g, mode):
    lam = symmetric_eigenvalues(p["beta"], g)[0 if mode == "+" else 1]
    model = CoupledOU.symmetric(
        beta=p["beta"],
        g=g,
        sigma_w2=p["sigma_w2"],
        sigma2=p["sigma2"],
        m_plus2=p["m2"] if mode == "+" else 0.0,
        m_minus2=p["m2"] if mode == "-" else 0.0,
    )
    t_closed = single_mode_speciation_time(lam, p["m2"], p["sigma2"], p["sigma_w2"])
    t_num = speciation_time(model)
    assert t_closed is not None and t_num is not None
    assert t_closed == pytest.approx(t_num, abs=1e-10)
    # and it is a root of (65), written out by hand in terms of (55)
    c = closed_c(lam, p["sigma2"], p["sigma_w2"], t_closed)
    snr = p["sigma_w2"] * np.exp(2 * lam * t_closed) * p["m2"] / (c * (lam * c + p["sigma_w2"]))
    assert snr == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    "lam,m2,sigma2,sigma_w2",
    [(-0.55, 2.0, 1.0, 2.0), (-1.45, 2.0, 1.0, 2.0), (-0.3, 0.7, 0.4, 1.1), (-2.0, 5.0, 0.2, 3.0)],
)
def test_corrected_66_is_the_positive_root_and_printed_root_is_invalid(lam, m2, sigma2, sigma_w2):
    """(65) is lam B^2 a^2 - sigma_W^2 m^2 a - sigma_W^4/(4 lam) = 0 with a = e^{2 lam t} (erratum 1 in docs/errata.md).

    The product of its roots is -sigma_W^4/(4 lam^2 B^2) < 0: exactly one positive root. The printed (66)
    takes a = sigma_W^2 (m^2 + sqrt(m^4 + B^2)) / (2 lam B^2), which is < 0 for lam < 0.
    """
    B = sigma2 + sigma_w2 / (2 * lam)
    roots = np.roots([lam * B**2, -sigma_w2 * m2, -(sigma_w2**2) / (4 * lam)])
    a_pos = float(roots[roots > 0][0].real)
    assert (roots > 0).sum() == 1
    printed_arg = sigma_w2 * (m2 + np.sqrt(m2**2 + B**2)) / (2 * lam * B**2)
    assert printed_arg < 0
    t = single_mode_speciation_time(lam, m2, sigma2, sigma_w2)
    if a_pos >= 1:
        assert t is None
    else:
        assert t == pytest.approx(np.log(a_pos) / (2 * lam), rel=1e-12)


def test_speciation_time_at_zero_coupling_is_ln2():
    """g = 0, beta = 1, sigma_W^2 = 2, sigma^2 = 1: lam = -1 so c(t) = e^{-2t} + (1 - e^{-2t}) = 1 for all t,
    and (62) reads kappa = 2 e^{-2t} m^2 / (1 * (-1 + 2)) = 2 * 2 e^{-2t} for m_+^2 = 2: kappa = 1 at t = ln 2.
    (Here B = sigma^2 + sigma_W^2/(2 lam) = 0, the degenerate case of (66).)"""
    model = CoupledOU.symmetric(beta=1.0, g=0.0, sigma_w2=2.0, sigma2=1.0, m_plus2=2.0, m_minus2=0.0)
    t = np.linspace(0.0, 3.0, 7)
    np.testing.assert_allclose(kappa(model, t), 4 * np.exp(-2 * t), rtol=1e-12)
    assert speciation_time(model) == pytest.approx(np.log(2), abs=1e-12)
    assert single_mode_speciation_time(-1.0, 2.0, 1.0, 2.0) == pytest.approx(np.log(2), abs=1e-15)
    diff_only = CoupledOU.symmetric(beta=1.0, g=0.0, sigma_w2=2.0, sigma2=1.0, m_plus2=0.0, m_minus2=2.0)
    assert speciation_time(diff_only) == pytest.approx(np.log(2), abs=1e-12)


def test_single_mode_without_signal_has_no_speciation():
    assert single_mode_speciation_time(-1.0, 0.0, 1.0, 2.0) is None
    # a >= 1: for m^2 small kappa(0) = sigma_W^2 m^2 / (sigma^2 (lam sigma^2 + sigma_W^2)) = 2 * 0.1 / 1 < 1
    assert single_mode_speciation_time(-1.0, 0.1, 1.0, 2.0) is None


# ----------------------------------------------------------------------------- None / inf, conventions
def test_speciation_time_none_and_inf():
    """g = 0, beta = 1, sigma^2 = 1, sigma_W^2 = 2: c = 1 and kappa = 2 e^{-2t} (m_+^2 + m_-^2) (see above)."""
    weak = CoupledOU.symmetric(beta=1.0, g=0.0, sigma_w2=2.0, sigma2=1.0, m_plus2=0.05, m_minus2=0.05)
    assert speciation_time(weak) is None  # sup kappa = kappa(0) = 0.2 <= 1
    strong = CoupledOU.symmetric(beta=1.0, g=0.0, sigma_w2=2.0, sigma2=1.0, m_plus2=2.0, m_minus2=2.0)
    assert speciation_time(strong, T=1.0) == np.inf  # kappa(1) = 8 e^{-2} = 1.083 > 1
    assert speciation_time(strong, T=1.1) == pytest.approx(0.5 * np.log(8), abs=1e-12)


@pytest.mark.parametrize("d", [1, 7, 100])
def test_total_convention(d):
    model = CoupledOU.symmetric(beta=1.0, g=0.3, sigma_w2=2.0, sigma2=1.0, m_plus2=1.5, m_minus2=0.4)
    t = np.linspace(0.0, 5.0, 11)
    np.testing.assert_allclose(kappa(model, t, "total", d), d * kappa(model, t, "per-dim"), rtol=1e-14)
    t_s = speciation_time(model, "total", d)
    assert float(kappa(model, t_s)) == pytest.approx(1.0 / d, rel=1e-10)
    # hand: at g = 0 (c = 1 as above) total kappa = 4 d e^{-2t} for m_+^2 = 2, so t_S = (1/2) ln(4 d)
    g0 = CoupledOU.symmetric(beta=1.0, g=0.0, sigma_w2=2.0, sigma2=1.0, m_plus2=2.0, m_minus2=0.0)
    assert speciation_time(g0, "total", d) == pytest.approx(0.5 * np.log(4 * d), abs=1e-12)


# ----------------------------------------------------------------------------- anisotropic kernel, kappa
@pytest.mark.parametrize("g", [0.0, 0.6, 2.0, -1.1])
@pytest.mark.parametrize("t", [0.0, 0.3, 1.7])
def test_anisotropic_kernel_matches_direct_inverse(g, t):
    beta, sigma_w2, sx2, sy2 = 1.0, 2.0, 0.6, 1.3
    C = (
        scipy.linalg.expm(anisotropic(beta, g) * t)
        @ np.diag([sx2, sy2])
        @ scipy.linalg.expm(anisotropic(beta, g) * t).T
    )
    if t > 0:
        M = anisotropic(beta, g)
        C = C + gauss_Q(M, sigma_w2, t)
    Ci = np.linalg.inv(C)
    K_direct = Ci @ np.linalg.inv(anisotropic(beta, g) + sigma_w2 * Ci) @ Ci  # (130), erratum 2 in docs/errata.md
    np.testing.assert_allclose(anisotropic_kernel(beta, g, sigma_w2, sx2, sy2, t), K_direct, rtol=1e-10, atol=1e-12)


def test_printed_79_differs_from_consistent_kernel():
    """Errata 2: C^{-1}(M + sigma_W^2 C)^{-1}C^{-1} as printed in (79) is not the kernel of (130)."""
    beta, g, sigma_w2, sx2, sy2, t = 1.0, 0.6, 2.0, 0.6, 1.3, 0.3
    C = anisotropic_c(beta, g, sigma_w2, sx2, sy2, t)
    Ci = np.linalg.inv(C)
    printed = Ci @ np.linalg.inv(anisotropic(beta, g) + sigma_w2 * C) @ Ci
    assert np.abs(printed - anisotropic_kernel(beta, g, sigma_w2, sx2, sy2, t)).max() > 1e-2


@pytest.mark.parametrize("theta", [0.0, 1.0, 2.5, np.pi])
@pytest.mark.parametrize("g", [0.0, 0.8, 2.0])
def test_anisotropic_kappa_closed_form_matches_general_kappa(theta, g):
    p = dict(beta=1.0, sigma_w2=2.0, sigma_x2=0.6, sigma_y2=1.3, mx2=0.7, my2=1.4)
    t = np.linspace(0.0, 6.0, 31)
    model = CoupledOU.anisotropic(g=g, theta=theta, **p)
    kap = AnisotropicKappa(p["beta"], p["sigma_w2"], p["sigma_x2"], p["sigma_y2"], p["mx2"], p["my2"])
    np.testing.assert_allclose(kap(t, g, theta), kappa(model, t), rtol=1e-10, atol=1e-14)


def test_anisotropic_kappa_matches_brute_force_kronecker():
    rng = np.random.default_rng(21)
    d, beta, g, theta, sigma_w2, sx2, sy2, mx2, my2 = 3, 1.0, 1.2, 0.9, 2.0, 0.6, 1.3, 0.7, 1.4
    u, v = np.linalg.qr(rng.standard_normal((d, 2)))[0].T
    mu_x = np.sqrt(d * mx2) * u
    mu_y = np.sqrt(d * my2) * (np.cos(theta) * u + np.sin(theta) * v)  # angle theta (82)
    model = CoupledOU.anisotropic(
        beta=beta, g=g, sigma_w2=sigma_w2, sigma_x2=sx2, sigma_y2=sy2, mx2=mx2, my2=my2, theta=theta
    )
    for t in (0.0, 0.35, 1.2):
        ref = brute_kappa_total(anisotropic(beta, g), sigma_w2, np.diag([sx2, sy2]), np.concatenate([mu_x, mu_y]), d, t)
        assert float(kappa(model, t)) == pytest.approx(ref / d, rel=1e-10)


# ----------------------------------------------------------------------------- kappa(0), g_crit, (83)
@pytest.mark.parametrize("g", [0.0, 0.7, 1.9])
@pytest.mark.parametrize("theta", [0.0, 1.2, 2.8])
def test_anisotropic_kappa0_closed_form(g, theta):
    beta, sigma2, sigma_w2, mx2, my2 = 1.0, 0.8, 2.0, 0.7, 1.3
    model = CoupledOU.anisotropic(
        beta=beta, g=g, sigma_w2=sigma_w2, sigma_x2=sigma2, sigma_y2=sigma2, mx2=mx2, my2=my2, theta=theta
    )
    assert anisotropic_kappa0(beta, g, sigma2, sigma_w2, mx2, my2, theta) == pytest.approx(kappa0(model), rel=1e-12)


def test_kappa0_fig4_hand_value():
    """Fig. 4 parameters: r = sigma_W^2/sigma^2 = 2, r - beta = 1, so (85) is kappa(0) = 2*2 - 2 g cos(theta)."""
    for g, theta in [(0.0, 0.0), (1.0, 0.0), (1.5, 0.0), (2.0, np.pi / 3), (0.7, np.pi)]:
        model = CoupledOU.anisotropic(beta=1.0, g=g, sigma_w2=2.0, theta=theta)
        assert kappa0(model) == pytest.approx(4 - 2 * g * np.cos(theta), abs=1e-12)


@pytest.mark.parametrize("theta", [0.0, 0.5, 1.2])
def test_g_crit_gives_kappa0_equal_one(theta):
    p = dict(beta=1.0, sigma2=0.8, sigma_w2=2.0, mx2=0.7, my2=1.3)
    gc = float(g_crit(theta, **p))
    assert np.isfinite(gc) and gc > 0
    model = CoupledOU.anisotropic(
        beta=1.0, g=gc, sigma_w2=2.0, sigma_x2=0.8, sigma_y2=0.8, mx2=0.7, my2=1.3, theta=theta
    )
    assert kappa0(model) == pytest.approx(1.0, abs=1e-12)


def test_g_crit_limits():
    fig4 = dict(beta=1.0, sigma2=1.0, sigma_w2=2.0, mx2=1.0, my2=1.0)
    assert float(g_crit(0.0, **fig4)) == pytest.approx(1.5, abs=1e-15)  # 4 - 2 g = 1
    assert float(g_crit(np.pi / 3, **fig4)) == pytest.approx(3.0, abs=1e-12)  # 4 - g = 1
    np.testing.assert_array_equal(g_crit(np.array([2 * np.pi / 3, np.pi]), **fig4), [np.inf, np.inf])
    # kappa(0) = 2 r/(sigma^2 (r - beta)) * 0.1 = 0.4 < 1 already at g = 0: boundary at g = 0
    assert float(g_crit(0.3, beta=1.0, sigma2=1.0, sigma_w2=2.0, mx2=0.1, my2=0.1)) == 0.0


def test_exact_boundary_at_theta_zero_exceeds_g_crit():
    """Errata 7: at theta = 0 the no-speciation boundary (83) is near 1.70, not g_crit = 1.5."""
    gb = no_speciation_boundary(0.0)
    assert 1.65 < gb < 1.75
    assert gb > float(g_crit(0.0, 1.0, 1.0, 2.0, 1.0, 1.0)) + 0.1
    assert aniso_sup_kappa(gb, 0.0) == pytest.approx(1.0, abs=1e-8)
    assert aniso_sup_kappa(gb - 0.01, 0.0) > 1.0
    assert aniso_sup_kappa(gb + 0.01, 0.0) < 1.0
    # kappa(0) = 4 - 2 gb < 1 there, so the supremum is attained at t > 0
    assert 4 - 2 * gb < 0.7


def test_anisotropic_coupling_raises_t_s_at_theta_zero():
    """Erratum 6: §4 says anisotropic coupling never raises t_S, but at theta = 0 (Fig. 4 parameters) it does for
    small g. Reference t_S: last crossing of 1 by the closed-form kappa (AnisotropicKappa, (121-129)) on a fine
    grid, polished by brentq -- a second method beside speciation_time's general path."""
    from scipy.optimize import brentq

    kap = AnisotropicKappa(1.0, 2.0, 1.0, 1.0, 1.0, 1.0)
    t = np.linspace(0.0, 5.0, 5001)

    def t_s(g):
        above = np.flatnonzero(kap(t, g, 0.0) > 1.0)[-1]
        return brentq(lambda s: float(kap(np.array([s]), g, 0.0)[0]) - 1.0, t[above], t[above + 1], xtol=1e-14)

    for g in (0.0, 0.33):
        model = CoupledOU.anisotropic(beta=1.0, g=g, sigma_w2=2.0, mx2=1.0, my2=1.0, theta=0.0)
        assert speciation_time(model) == pytest.approx(t_s(g), abs=1e-9)
    assert t_s(0.33) - t_s(0.0) > 0.01  # 0.016: a rise, not round-off


def test_per_dimension_kappa_gets_the_sign_of_the_synchronization_gap_wrong():
    """Erratum 8 (theory side): product mixture with m_+^2 = m_-^2 = 1, d = 16. With the per-dimension kappa (62)
    the difference mode speciates first (t_S+ < t_S-); with the total kappa (norms d m^2), which the per-mode
    cloning of val_sync follows, the common mode does (t_S+ > t_S-)."""
    for g in (0.2, 0.4, 0.6, 0.8):
        lp, lm = symmetric_eigenvalues(1.0, g)
        per_dim = single_mode_speciation_time(lp, 1.0, 1.0, 2.0) - single_mode_speciation_time(lm, 1.0, 1.0, 2.0)
        total = single_mode_speciation_time(lp, 16.0, 1.0, 2.0) - single_mode_speciation_time(lm, 16.0, 1.0, 2.0)
        assert per_dim < 0 < total


# ----------------------------------------------------------------------------- stability (59)-(60)
def fine_margins(beta, g, sigma2, sigma_w2, T):
    t = np.linspace(0.0, T, 20001)
    return tuple(
        float(np.min(lam + sigma_w2 / closed_c(lam, sigma2, sigma_w2, t))) for lam in symmetric_eigenvalues(beta, g)
    )


@pytest.mark.parametrize("g", [0.0, 0.5, -0.4])
def test_symmetric_stability_margins(g):
    beta, sigma2, sigma_w2, T = 1.0, 1.0, 2.0, 10.0
    model = CoupledOU.symmetric(beta=beta, g=g, sigma_w2=sigma_w2, sigma2=sigma2)
    st = stability(model, T=T)
    assert st.modes == ("+", "-")
    np.testing.assert_allclose(st.margins, fine_margins(beta, g, sigma2, sigma_w2, T), rtol=0, atol=1e-12)
    assert st.stable and st.sufficient
    general = stability(CoupledOU.general(symmetric(beta, g), sigma_w2, sigma2 * np.eye(2), model.gram), T=T)
    assert general.stable
    assert min(general.margins) == pytest.approx(min(st.margins), abs=1e-10)


def test_general_stability_path_per_mode_before_eigenvalue_crossing():
    """On a short horizon the +/- eigenvalue curves do not cross, so sorted margins are per mode."""
    beta, g, sigma2, sigma_w2, T = 1.0, 0.5, 1.0, 2.0, 0.2
    model = CoupledOU.symmetric(beta=beta, g=g, sigma_w2=sigma_w2, sigma2=sigma2)
    ref = sorted(fine_margins(beta, g, sigma2, sigma_w2, T))
    np.testing.assert_allclose(sorted(stability(model, T=T).margins), ref, rtol=0, atol=1e-12)
    general = CoupledOU.general(symmetric(beta, g), sigma_w2, sigma2 * np.eye(2), model.gram)
    np.testing.assert_allclose(stability(general, T=T).margins, ref, rtol=0, atol=1e-10)


def test_stability_violation_of_60():
    """sigma^2 = 3, sigma_W^2 = 2, beta = 1, g = 0.5: lam_+ = -0.5, lam_- = -1.5, sigma_W^2/sigma^2 = 2/3.
    c_pm(t) decreases monotonically from 3 to sigma_W^2/(-2 lam) (2 and 2/3), so sigma_W^2/c grows and each
    margin is its t = 0 value: + : -0.5 + 2/3 = 1/6 > 0, - : -1.5 + 2/3 = -5/6 < 0. (60) needs
    sigma^2 < 2/1.5, violated. The general path sees -5/6 and, for the larger eigenvalue, 1/6 at t = 0."""
    model = CoupledOU.symmetric(beta=1.0, g=0.5, sigma_w2=2.0, sigma2=3.0)
    st = stability(model)
    np.testing.assert_allclose(st.margins, [1 / 6, -5 / 6], rtol=0, atol=1e-12)
    assert not st.stable and st.sufficient is False
    general = stability(CoupledOU.general(symmetric(1.0, 0.5), 2.0, 3.0 * np.eye(2), model.gram))
    assert not general.stable
    np.testing.assert_allclose(general.margins, [-5 / 6, 1 / 6], rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------- general k = 3, end to end
def test_general_three_modality_model_end_to_end():
    from diffregimes.theory import collapse_time

    rng = np.random.default_rng(22)
    d = 2
    M = np.array([[-1.0, 0.3, 0.0], [0.2, -1.2, 0.25], [-0.1, 0.4, -0.9]])
    sigma0 = np.diag([0.5, 0.7, 0.6]) + 0.05
    sigma_w2 = 2.0
    mu_blocks = rng.standard_normal((3, d)) * 1.1  # mu_i(0) in R^d, modality i
    gram = mu_blocks @ mu_blocks.T / d
    model = CoupledOU.general(M, sigma_w2, sigma0, gram)
    mu0 = mu_blocks.ravel()  # (x (x) I_d) ordering: modality-major

    def ref(t):
        return brute_kappa_total(M, sigma_w2, sigma0, mu0, d, t) / d

    for t in (0.0, 0.25, 1.0):
        assert float(kappa(model, t)) == pytest.approx(ref(t), rel=1e-10)
    t_s = speciation_time(model)
    assert t_s is not None and 0 < t_s < 10
    assert ref(t_s) == pytest.approx(1.0, abs=1e-9)
    # t_S is the last crossing: kappa < 1 on a fine grid after it (general path, checked against ref above)
    after = np.linspace(t_s + 1e-3, 10.0, 2000)
    assert np.all(kappa(model, after) < 1.0)
    assert ref(t_s - 1e-3) > 1.0
    st = stability(model)
    t = np.linspace(0.0, 10.0, 4001)
    m = model.moments(t)
    B = m.M + sigma_w2 * np.linalg.inv(m.C)
    fine = np.linalg.eigvalsh(0.5 * (B + np.swapaxes(B, -1, -2))).min()
    assert st.stable == (fine > 0) and len(st.margins) == 3
    # collapse (1/(2k)) log(det C / det Q) = alpha, with Q, C from quadrature + scipy expm
    alpha = 0.4
    t_c = collapse_time(model, alpha)
    E = scipy.linalg.expm(M * t_c)
    Q = gauss_Q(M, sigma_w2, t_c)
    C = E @ sigma0 @ E.T + Q
    assert np.log(np.linalg.det(C) / np.linalg.det(Q)) / 6 == pytest.approx(alpha, abs=1e-10)


@pytest.mark.parametrize("bad", ["both", "per_dim", ""])
def test_unknown_convention(bad):
    model = CoupledOU.symmetric()
    with pytest.raises(ValueError, match=rf"unknown kappa convention '{bad}': valid are \('per-dim', 'total'\)"):
        kappa(model, 0.5, bad)


def test_total_convention_needs_d():
    with pytest.raises(ValueError, match="needs a dimension d >= 1: d=None"):
        kappa(CoupledOU.symmetric(), 0.5, "total")
    with pytest.raises(ValueError, match="d >= 1: d=0"):
        speciation_time(CoupledOU.symmetric(), "total", 0)
