"""Forward moments of the coupled OU process (diffregimes.theory.moments), eqs (7)-(9), (17), (55)-(56), (121)-(129).

Every asserted number comes from an independent route: scipy.linalg.expm, direct quadrature of the
integral (9) with scipy.integrate.quad_vec, the Lyapunov ODE by finite differences, the closed forms of
the paper, hand series, or an Euler-Maruyama simulation with a tolerance derived from the sample size.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from reference import gauss_Q
from scipy.integrate import quad_vec

from diffregimes.theory import moments as mom
from diffregimes.theory.relaxation import anisotropic, symmetric, symmetric_eigenvalues


def random_stable(rng: np.random.Generator, k: int = 3, margin: float = 0.3) -> np.ndarray:
    """A random k x k matrix shifted so that max Re(eig) = -margin (Hurwitz, generally non-normal)."""
    A = rng.standard_normal((k, k))
    return A - (np.max(np.linalg.eigvals(A).real) + margin) * np.eye(k)


def random_spd(rng: np.random.Generator, k: int = 3) -> np.ndarray:
    B = rng.standard_normal((k, k))
    return B @ B.T / k + 0.2 * np.eye(k)


def quad_Q(M: np.ndarray, sigma_w2: float, t: float) -> np.ndarray:
    """Q(t) = int_0^t e^{Ms} sigma_W^2 e^{M^T s} ds (9) by adaptive quadrature with scipy's expm."""

    def integrand(s: float) -> np.ndarray:
        E = scipy.linalg.expm(M * s)
        return sigma_w2 * E @ E.T

    val, err = quad_vec(integrand, 0.0, t, epsabs=1e-14, epsrel=1e-13)
    assert err < 1e-12
    return val


# ----------------------------------------------------------------------------- matrix exponential
def test_batched_expm_matches_scipy_including_scaling_and_squaring():
    rng = np.random.default_rng(0)
    # norms from 1e-3 (no squaring) to ~60 (several squarings), batched together
    scales = np.array([1e-3, 0.1, 1.0, 5.0, 20.0, 60.0])
    A = rng.standard_normal((scales.size, 4, 4)) * scales[:, None, None] / 4
    E = mom.expm(A)
    for i in range(scales.size):
        ref = scipy.linalg.expm(A[i])
        np.testing.assert_allclose(E[i], ref, rtol=1e-11, atol=1e-13 * np.abs(ref).max())


def test_transition_matrix_matches_scipy_expm():
    rng = np.random.default_rng(1)
    M = random_stable(rng)
    t = np.array([0.0, 0.3, 2.5])
    E = mom.transition_matrix(M, t)
    assert E.shape == (3, 3, 3)
    for i, ti in enumerate(t):
        np.testing.assert_allclose(E[i], scipy.linalg.expm(M * ti), rtol=0, atol=1e-13)


# ----------------------------------------------------------------------------- Q(t): three routes
@pytest.mark.parametrize("seed", [2, 3, 4])
@pytest.mark.parametrize("t", [0.05, 0.7, 3.0])
def test_transition_cov_van_loan_lyapunov_and_quadrature_agree(seed, t):
    rng = np.random.default_rng(seed)
    M = random_stable(rng)
    sigma_w2 = 1.7
    Q_vl = mom.transition_cov(M, sigma_w2, t)
    Q_ly = mom.transition_cov_lyapunov(M, sigma_w2, t)
    Q_qd = quad_Q(M, sigma_w2, t) if seed == 2 else gauss_Q(M, sigma_w2, t)
    np.testing.assert_allclose(Q_vl, Q_qd, rtol=0, atol=1e-10)
    np.testing.assert_allclose(Q_ly, Q_qd, rtol=0, atol=1e-10)
    np.testing.assert_allclose(Q_vl, Q_vl.T, rtol=0, atol=1e-15)
    assert np.all(np.linalg.eigvalsh(Q_vl) > 0)  # (9) is positive definite for t > 0


def test_transition_cov_broadcasts_over_times_and_matrices():
    rng = np.random.default_rng(5)
    Ms = np.stack([random_stable(rng) for _ in range(2)])  # (2, 3, 3)
    t = np.array([[0.2], [1.1], [4.0]])  # (3, 1) -> broadcast (3, 2)
    Q = mom.transition_cov(Ms, 0.9, t)
    assert Q.shape == (3, 2, 3, 3)
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(Q[i, j], gauss_Q(Ms[j], 0.9, float(t[i, 0])), rtol=0, atol=1e-10)


def test_stationary_cov_solves_lyapunov_and_is_the_long_time_limit():
    rng = np.random.default_rng(6)
    M = random_stable(rng, margin=0.5)
    sigma_w2 = 2.3
    Q_inf = mom.stationary_cov(M, sigma_w2)
    residual = M @ Q_inf + Q_inf @ M.T + sigma_w2 * np.eye(3)
    assert np.abs(residual).max() < 1e-12 * max(1.0, np.abs(Q_inf).max())
    # Q(inf) = int_0^inf e^{Ms} sigma_W^2 e^{M^T s} ds; the tail beyond s = 80 is e^{80M} Q_inf e^{80M^T},
    # bounded below with scipy's expm, so quadrature on [0, 80] is an independent route to Q(inf).
    tail = np.linalg.norm(scipy.linalg.expm(M * 80.0), 2) ** 2 * np.linalg.norm(Q_inf, 2)
    assert tail < 1e-12
    np.testing.assert_allclose(Q_inf, gauss_Q(M, sigma_w2, 80.0), rtol=0, atol=1e-10)


@pytest.mark.parametrize("t", [10.0, 20.0])
def test_transition_cov_stays_accurate_at_long_times(t):
    """The general path must match the closed form (112) at the library's own horizon (T = 10 by default)."""
    beta, g, sigma_w2 = 1.0, 0.9, 2.0
    lam_p, lam_m = symmetric_eigenvalues(beta, g)
    closed = mom.symmetric_modes_to_block(
        mom.symmetric_mode_q(lam_p, sigma_w2, t), mom.symmetric_mode_q(lam_m, sigma_w2, t)
    )
    np.testing.assert_allclose(mom.transition_cov(symmetric(beta, g), sigma_w2, t), closed, rtol=0, atol=1e-10)


def test_lyapunov_route_is_accurate_at_long_times():
    """The second route (Q_inf - e^{Mt} Q_inf e^{M^T t}) has no such cancellation at large t."""
    beta, g, sigma_w2, t = 1.0, 0.9, 2.0, 20.0
    lam_p, lam_m = symmetric_eigenvalues(beta, g)
    closed = mom.symmetric_modes_to_block(
        mom.symmetric_mode_q(lam_p, sigma_w2, t), mom.symmetric_mode_q(lam_m, sigma_w2, t)
    )
    np.testing.assert_allclose(mom.transition_cov_lyapunov(symmetric(beta, g), sigma_w2, t), closed, rtol=0, atol=1e-10)


def test_transition_cov_at_zero_time_vanishes():
    rng = np.random.default_rng(7)
    M = random_stable(rng)
    assert np.abs(mom.transition_cov(M, 1.0, 0.0)).max() < 1e-15


# ----------------------------------------------------------------------------- C(t) = S + Q and its ODE
@pytest.mark.parametrize("t", [0.15, 1.3])
def test_kernel_cov_satisfies_lyapunov_ode(t):
    """dC/dt = M C + C M^T + sigma_W^2 I, checked by a central difference of kernel_cov.

    Error budget: (C(t+h) - C(t-h)) / (2h) - C'(t) = h^2/12 (C'''(xi1) + C'''(xi2)), so its size is at
    most h^2/6 max|C'''| on [t-h, t+h]. With L(X) = M X + X M^T, C'' = L(C') and C''' = L(C'') exactly;
    over an interval of width 2h = 2e-3 C''' changes by at most 2h max|C''''| = 2h max|L(C''')|, which is
    added to the bound. Round-off: C is computed to ~1e-15 relative, amplified by 1/h.
    """
    rng = np.random.default_rng(8)
    M, sigma0, sigma_w2 = random_stable(rng), random_spd(rng), 1.4
    L = lambda X: M @ X + X @ M.T  # noqa: E731
    h = 1e-3
    C = mom.kernel_cov(M, sigma_w2, sigma0, np.array([t - h, t, t + h]))
    fd = (C[2] - C[0]) / (2 * h)
    rhs = L(C[1]) + sigma_w2 * np.eye(3)
    C3 = L(L(rhs))
    C4 = L(C3)
    bound = h**2 / 6 * (np.abs(C3).max() + 2 * h * np.abs(C4).max()) + 100 * np.finfo(float).eps * np.abs(C).max() / h
    err = np.abs(fd - rhs).max()
    assert err <= bound
    # the test can fail: a wrong sign on the noise term would miss by 2 sigma_W^2 >> bound
    assert 2 * sigma_w2 > 1e3 * bound


def test_drifted_data_cov_and_kernel_cov_definitions():
    rng = np.random.default_rng(9)
    M, sigma0 = random_stable(rng), random_spd(rng)
    t = 0.8
    E = scipy.linalg.expm(M * t)
    S = E @ sigma0 @ E.T  # (17)
    np.testing.assert_allclose(mom.drifted_data_cov(M, sigma0, t), S, rtol=0, atol=1e-13)
    np.testing.assert_allclose(mom.kernel_cov(M, 0.6, sigma0, t), S + gauss_Q(M, 0.6, t), rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------- EM simulation of (1)
def test_transition_cov_matches_euler_maruyama_sample_covariance():
    """Sample covariance of Z(t) from Z(0) = 0 under EM vs Q(t), within 5 standard errors + EM bias.

    With known mean 0, S_ij = (1/n) sum Z_i Z_j is unbiased for the EM covariance P_N and, Z being
    Gaussian, Var(Z_i Z_j) = P_ii P_jj + P_ij^2, so SE_ij = sqrt((Q_ii Q_jj + Q_ij^2) / n) (P ~ Q).
    EM bias: for the linear SDE the EM iterate is exactly Gaussian with covariance given by the
    recursion P_{m+1} = (I + hM) P_m (I + hM)^T + sigma_W^2 h I (no sampling involved), so
    |E S - Q(t)| = |P_N - Q(t)|, computed below; it is O(h) (weak order one) and also asserted small.
    """
    rng = np.random.default_rng(10)
    M = np.array([[-1.0, 0.6, 0.0], [-0.3, -0.8, 0.4], [0.2, 0.0, -1.5]])
    assert np.max(np.linalg.eigvals(M).real) < 0
    sigma_w2, t, n_steps, n = 1.5, 1.0, 1000, 20000
    h = t / n_steps
    F = np.eye(3) + h * M
    Z = np.zeros((n, 3))
    P = np.zeros((3, 3))
    for _ in range(n_steps):
        Z = Z @ F.T + np.sqrt(sigma_w2 * h) * rng.standard_normal((n, 3))
        P = F @ P @ F.T + sigma_w2 * h * np.eye(3)
    S = Z.T @ Z / n
    Q = mom.transition_cov(M, sigma_w2, t)
    bias = np.abs(P - Q)
    assert bias.max() < 5 * h * np.abs(Q).max()  # weak order one: O(h) with a modest constant
    se = np.sqrt((np.outer(np.diag(Q), np.diag(Q)) + Q**2) / n)
    assert np.all(np.abs(S - Q) <= 5 * se + bias)


# ----------------------------------------------------------------------------- symmetric closed forms
@pytest.mark.parametrize("g", [0.0, 0.45, -0.6, 0.95])
@pytest.mark.parametrize("t", [0.02, 0.5, 4.0])
def test_symmetric_closed_form_kernel_matches_general_path(g, t):
    beta, sigma2, sigma_w2 = 1.2, 0.7, 2.0
    lam_p, lam_m = symmetric_eigenvalues(beta, g)
    assert (lam_p, lam_m) == (-beta + g, -beta - g)  # (51)
    block = mom.symmetric_modes_to_block(
        mom.symmetric_mode_c(lam_p, sigma2, sigma_w2, t), mom.symmetric_mode_c(lam_m, sigma2, sigma_w2, t)
    )
    general = mom.kernel_cov(symmetric(beta, g), sigma_w2, sigma2 * np.eye(2), t)
    np.testing.assert_allclose(block, general, rtol=0, atol=1e-10)
    q_block = mom.symmetric_modes_to_block(
        mom.symmetric_mode_q(lam_p, sigma_w2, t), mom.symmetric_mode_q(lam_m, sigma_w2, t)
    )
    np.testing.assert_allclose(q_block, gauss_Q(symmetric(beta, g), sigma_w2, t), rtol=0, atol=1e-10)


def test_symmetric_modes_to_block_is_projector_sum():
    """c_+ P_+ + c_- P_- (56) with P_pm = v_pm v_pm^T (50), written out by hand."""
    v_p = np.array([1.0, 1.0]) / np.sqrt(2)
    v_m = np.array([1.0, -1.0]) / np.sqrt(2)
    expected = 3.0 * np.outer(v_p, v_p) + 0.5 * np.outer(v_m, v_m)  # [[1.75, 1.25], [1.25, 1.75]]
    np.testing.assert_allclose(mom.symmetric_modes_to_block(3.0, 0.5), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(expected, [[1.75, 1.25], [1.25, 1.75]], rtol=0, atol=1e-15)


def test_symmetric_mode_q_small_rate_limit():
    """q = sigma_W^2 (e^{2 lam t} - 1)/(2 lam) = sigma_W^2 t (1 + lam t + (2/3) (lam t)^2 + ...)."""
    lam, sigma_w2, t = -1e-9, 2.0, 0.5
    expected = sigma_w2 * t * (1 + lam * t + 2 / 3 * (lam * t) ** 2)
    assert mom.symmetric_mode_q(lam, sigma_w2, t) == pytest.approx(expected, rel=1e-14)


# ----------------------------------------------------------------------------- anisotropic closed forms
ANISO_CASES = [(1.0, 0.0, 0.3), (1.0, 0.8, 0.05), (0.7, 1.7, 1.2), (1.3, -0.9, 2.5), (1.0, 3.0, 6.0)]


@pytest.mark.parametrize("beta,g,t", ANISO_CASES)
def test_anisotropic_closed_forms_match_general_path(beta, g, t):
    sigma_w2, sx2, sy2 = 1.6, 0.6, 1.3
    M = anisotropic(beta, g)
    np.testing.assert_allclose(
        mom.anisotropic_transition_matrix(beta, g, t), scipy.linalg.expm(M * t), rtol=0, atol=1e-13
    )
    np.testing.assert_allclose(
        mom.anisotropic_q(beta, g, sigma_w2, t), mom.transition_cov(M, sigma_w2, t), rtol=0, atol=1e-10
    )
    np.testing.assert_allclose(mom.anisotropic_q(beta, g, sigma_w2, t), gauss_Q(M, sigma_w2, t), rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        mom.anisotropic_c(beta, g, sigma_w2, sx2, sy2, t),
        mom.kernel_cov(M, sigma_w2, np.diag([sx2, sy2]), t),
        rtol=0,
        atol=1e-10,
    )


def test_anisotropic_closed_forms_vectorise_over_g_and_t():
    beta, sigma_w2, sx2, sy2 = 0.9, 2.0, 1.0, 0.5
    g = np.array([0.0, 0.5, 2.0])[:, None]
    t = np.array([0.1, 1.0, 3.0, 7.0])[None, :]
    C = mom.anisotropic_c(beta, g, sigma_w2, sx2, sy2, t)
    assert C.shape == (3, 4, 2, 2)
    for i in range(3):
        for j in range(4):
            ref = mom.kernel_cov(anisotropic(beta, float(g[i, 0])), sigma_w2, np.diag([sx2, sy2]), float(t[0, j]))
            np.testing.assert_allclose(C[i, j], ref, rtol=0, atol=1e-10)
