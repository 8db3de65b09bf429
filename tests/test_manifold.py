"""Manifold data model: RS mutual information, collapse and speciation times, sampler, CLI.

Every asserted number comes from a second, independent computation: the replica formula with F linear
against Marchenko-Pastur (Verdu's closed form) and against the log det of a sampled W; closed forms
against numerical roots; the project's Gaussian collapse and speciation functions; direct d x d linear
algebra; quadrature of densities; simulations against exact curves with binomial tolerances.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.optimize import brentq

from diffregimes.cli import main
from diffregimes.theory import (
    CoupledOU,
    cloning_agreement,
    mode_collapse_time,
    speciation_time,
)
from diffregimes.theory import collapse_time as project_collapse_time
from diffregimes.theory.glm import (
    output_information,
    rs_information,
    small_noise_constant,
    spline_minimum,
)
from diffregimes.theory.manifold import (
    GEMixture,
    class_mean_norm2,
    collapse_time,
    collapse_times,
    ge_coefficients,
    ge_kappa,
    ge_speciation_time,
    information,
    leading_speciation_time,
    mp_shannon,
    orthonormal_collapse_time,
    orthonormal_information,
    orthonormal_speciation_time,
    random_linear_information,
    snr,
    summary_speciation_time,
)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The linear algebra here is small; on a 2-core machine shared with other jobs a multi-threaded BLAS
    spin-waits (an SVD of 400 x 200 took 40 s instead of 0.4 s). One thread for this module."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1):
        yield


def mp_density_average(g, beta: float) -> float:
    """E g(l) for l ~ Marchenko-Pastur(beta <= 1), by adaptive quadrature of the density."""
    a, b = (1 - math.sqrt(beta)) ** 2, (1 + math.sqrt(beta)) ** 2

    def weighted(x: float) -> float:
        return g(x) * math.sqrt(max((b - x) * (x - a), 0.0)) / (2 * math.pi * beta * x)

    return quad(weighted, a, b, limit=200, epsabs=1e-13)[0]


# ----------------------------------------------------------------------------- mutual information
def test_glm_formula_with_linear_f_equals_marchenko_pastur():
    # The replica formula, evaluated by the same quadrature as for tanh/sign, against Verdu's closed form.
    t = np.array([0.05, 0.3, 1.0])
    psi = np.array([0.2, 0.6, 1.0])
    rs = rs_information(t, psi, "linear", 1.0)
    mp = 0.5 * mp_shannon(snr(t)[:, None] / psi[None, :], psi[None, :])
    assert np.max(np.abs(rs.information - mp)) <= 1e-4
    assert np.all(rs.n_minima == 1)


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
def test_mp_shannon_matches_quadrature_of_the_density(beta):
    for gamma in (1e-3, 0.7, 50.0):
        ref = mp_density_average(lambda x, g=gamma: math.log1p(g * x), beta)
        assert mp_shannon(gamma, beta) == pytest.approx(ref, rel=1e-9, abs=1e-13)


def test_marchenko_pastur_matches_log_det_of_a_sampled_w():
    # (1/d) log det of one sampled W fluctuates and is biased by O(1/d): 3/d bounds both (|diff| d < 1 measured).
    rng = np.random.default_rng(1)
    d = 400
    for psi in (0.25, 1.0):
        p = int(psi * d)
        W = rng.standard_normal((d, p))
        lam = np.linalg.eigvalsh(W.T @ W / p)
        for t in (0.05, 0.5):
            sampled = 0.5 * np.log1p(float(snr(t)) * lam).sum() / d
            assert abs(sampled - float(random_linear_information(t, psi))) < 3.0 / d


def test_small_noise_limit_of_linear_f_is_the_marchenko_pastur_limit():
    psi = np.array([0.1, 0.5, 0.9])
    s = 1e12
    limit = 0.5 * psi * mp_shannon(s / psi, psi) - 0.5 * psi * math.log(s)
    assert np.allclose(small_noise_constant(psi, "linear", 1.0), limit, atol=1e-9)


def test_output_information_converges_under_grid_refinement():
    E = np.array([2e-3, 0.05, 0.4, 1.0])
    for activation in ("tanh", "sign"):
        for t in (0.003, 0.1, 1.0):
            coarse = output_information(E, t, activation, 0.5)
            fine = output_information(E, t, activation, 0.5, resolution=2.0)
            assert np.allclose(coarse, fine, rtol=2e-5, atol=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "sign"])
def test_information_decreases_with_t(activation):
    # for F = sign and t < 0.005 (sigma < 0.1) the outputs +-1 no longer overlap (e^{-50}): I is flat there
    t = np.geomspace(2e-3, 3.0, 14)
    info = information(t, [0.3, 1.0], activation, "random", 1.0)
    step = np.diff(info, axis=0)
    assert np.all(step <= 1e-12)
    assert np.all(step[t[1:] > 0.01] < 0)


def test_information_obeys_entropy_and_gaussian_bounds():
    # sign: x is a vector of d signs, so I(x; x_t)/d <= H(x)/d <= log 2; every F: I/d <= (1/2) log(1 + s E[F^2]).
    t = np.geomspace(1e-3, 2.0, 9)
    psi = np.array([0.1, 0.5, 1.0])
    s = snr(t)[:, None]
    sign = information(t, psi, "sign", "random", 1.0)
    assert np.all(sign <= math.log(2))
    assert np.all(sign <= 0.5 * np.log1p(s * 1.0))
    tanh_var = quad(lambda h: math.tanh(h) ** 2 * math.exp(-h * h / 4) / math.sqrt(4 * math.pi), -40, 40)[0]
    assert np.all(information(t, psi, "tanh", "random", 1.0) <= 0.5 * np.log1p(s * tanh_var))


def test_spline_minimum_takes_the_global_of_two_minima():
    # double well (x^2 - 1)^2 + 0.3 x: two minima; the global one is near x = -1 (root of 4x^3 - 4x + 0.3)
    x = np.linspace(-2.0, 2.0, 81)
    Y = ((x**2 - 1) ** 2 + 0.3 * x)[:, None]
    x_star, y_star, n_min = spline_minimum(x, Y)
    root = brentq(lambda u: 4 * u**3 - 4 * u + 0.3, -1.5, -0.5)
    assert int(n_min[0]) == 2
    assert x_star[0] == pytest.approx(root, abs=1e-5)
    # cubic-spline error of a quartic: h^4 max|f^(4)| / 384 = 0.05^4 * 24 / 384 = 4e-7
    assert y_star[0] == pytest.approx((root**2 - 1) ** 2 + 0.3 * root, abs=1e-6)


# ----------------------------------------------------------------------------- collapse
@pytest.mark.parametrize("alpha", [0.05, 0.4, 1.5])
def test_gaussian_data_gives_the_project_collapse_time(alpha):
    # psi = 1, orthonormal: x = U z is N(s U mu, I_d), Gaussian data of unit variance; the project's joint
    # collapse time (73/86) with k = 1 and its per-mode form (78) with tau = 2 must agree with (C).
    model = CoupledOU.general(np.array([[-1.0]]), 2.0, np.eye(1), np.array([[0.3]]))
    ours = float(orthonormal_collapse_time(1.0, alpha))
    assert ours == pytest.approx(project_collapse_time(model, alpha), rel=1e-10)
    assert ours == pytest.approx(mode_collapse_time(2.0, 1.0, 2.0, alpha), rel=1e-12)


def test_orthonormal_closed_form_is_the_root_of_the_sampled_log_det():
    rng = np.random.default_rng(2)
    d = 40
    for psi, alpha in ((0.25, 0.1), (0.5, 0.6), (1.0, 0.3)):
        p = int(psi * d)
        U, _ = np.linalg.qr(rng.standard_normal((d, p)))

        def f(t, U=U, alpha=alpha):
            return 0.5 * np.linalg.slogdet(np.eye(d) + float(snr(t)) * U @ U.T)[1] / d - alpha

        assert float(orthonormal_collapse_time(psi, alpha)) == pytest.approx(brentq(f, 1e-9, 20, xtol=1e-14), rel=1e-9)
        assert float(orthonormal_information(0.37, psi)) == pytest.approx(f(0.37) + alpha, rel=1e-12)


def test_random_linear_collapse_is_the_root_of_marchenko_pastur():
    for psi, alpha in ((0.1, 0.05), (0.5, 0.3), (1.0, 2.0)):
        root = brentq(
            lambda t, psi=psi, alpha=alpha: float(random_linear_information(t, psi)) - alpha,
            1e-12,
            20,
            xtol=1e-15,
            rtol=1e-14,
        )
        assert float(collapse_time(psi, alpha)) == pytest.approx(root, rel=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "sign"])
def test_vectorised_glm_collapse_equals_a_per_point_root(activation):
    psi = np.array([0.15, 0.55, 1.0])
    vectorised = collapse_time(psi, 0.2, activation, "random", 1.0)
    for k, x in enumerate(psi):
        root = brentq(
            lambda t, x=x: float(information(t, x, activation, "random", 1.0)[0, 0]) - 0.2, 2e-3, 3.0, xtol=1e-12
        )
        # the vectorised root interpolates log I on nodes 0.3 apart in log t (cubic: ~1e-5..1e-4 relative)
        assert vectorised[k] == pytest.approx(root, rel=2e-4)


def test_sign_never_collapses_above_its_noiseless_information():
    psi = 0.5
    ceiling = float(information(1e-4, psi, "sign", "random", 1.0)[0, 0])  # sigma < 0.1: the noiseless limit
    result = collapse_times([psi, psi], [ceiling * 1.01, ceiling * 0.9], "sign", "random", 1.0)
    assert result.t_c[0] == 0.0 and result.method[0] == "no collapse"
    assert 0 < result.t_c[1] < 0.2 and result.method[1] == "rs quadrature"


# ----------------------------------------------------------------------------- speciation
def test_gaussian_equivalence_coefficients():
    rho1, rho_star2 = ge_coefficients("sign")
    assert rho1 == pytest.approx(math.sqrt(2 / math.pi)) and rho_star2 == pytest.approx(1 - 2 / math.pi)
    x, w = np.polynomial.hermite_e.hermegauss(160)
    w = w / w.sum()
    rho1, rho_star2 = ge_coefficients("tanh")
    assert rho1 == pytest.approx(float(x * np.tanh(x) @ w), abs=1e-12)
    assert rho_star2 == pytest.approx(float(np.tanh(x) ** 2 @ w) - rho1**2, abs=1e-12)
    # exact class mean of sign: E[erf(g/sqrt 2)^2] = E[(2 Phi(g) - 1)^2] = 1/3 (Phi(g) is uniform)
    assert class_mean_norm2(1.0, "sign") == pytest.approx(1 / 3, abs=1e-4)
    assert class_mean_norm2(0.3, "linear") == pytest.approx(0.3, abs=1e-12)


def test_orthonormal_speciation_is_the_project_speciation_time():
    # along U mu the data is the project's one-modality mixture with sigma^2 = 1 and |mu|^2 = p m^2
    for p, m2 in ((8, 1.0), (32, 0.25), (100, 0.5)):
        model = CoupledOU.general(np.array([[-1.0]]), 2.0, np.eye(1), np.array([[m2]]))
        assert orthonormal_speciation_time(p, m2) == pytest.approx(speciation_time(model, "total", d=p), abs=1e-10)


def test_ge_kappa_in_the_eigenbasis_equals_the_d_by_d_formula():
    rng = np.random.default_rng(3)
    d, p, m2 = 12, 5, 0.7
    W = rng.standard_normal((d, p))
    rho1, rho_star2 = ge_coefficients("tanh")
    mu_x = rho1 * W @ np.full(p, math.sqrt(m2)) / math.sqrt(p)
    Sigma = rho1**2 * W @ W.T / p + rho_star2 * np.eye(d)
    ge = GEMixture.from_weights(W, m2, "tanh")
    for t in (0.9, 1.6, 3.0):
        a = math.exp(-2 * t)
        C = a * Sigma + (1 - a) * np.eye(d)
        Ci = np.linalg.inv(C)
        A = np.linalg.solve(-np.eye(d) + 2 * Ci, 2 * Ci)  # (M + sigma_W^2 C^-1)^-1 sigma_W^2 C^-1
        mu_t = math.exp(-t) * mu_x
        assert float(ge.kappa(t)) == pytest.approx(mu_t @ Ci @ A @ mu_t, rel=1e-10)
        assert float(ge.posterior_snr(t)) == pytest.approx(mu_t @ Ci @ mu_t, rel=1e-10)


def test_large_d_kappa_matches_sampled_w():
    # kappa is linear in |W mu / sqrt(p)|^2 ~ m^2 chi^2_d at large t: the mean over R independent W has relative
    # standard deviation sqrt(2/(R d)); 4 of them is the tolerance (plus the O(1/d) finite-size bias).
    rng = np.random.default_rng(4)
    d, psi, m2, R = 400, 0.5, 0.25, 8
    mixtures = [GEMixture.from_weights(rng.standard_normal((d, int(psi * d))), m2, "tanh") for _ in range(R)]
    for t in (1.5, 2.5):
        sampled = np.mean([float(ge.kappa(t)) for ge in mixtures])
        tol = 4 * math.sqrt(2 / (R * d)) + 2.0 / d
        assert sampled == pytest.approx(float(ge_kappa(t, d, psi, m2, "tanh")), rel=tol)


def test_speciation_time_tends_to_its_leading_order_and_to_the_summary_formula():
    for activation in ("linear", "tanh", "sign"):
        for d in (10**4, 10**6):
            t_s = float(ge_speciation_time(d, 0.5, 0.25, activation)[0])
            lead = leading_speciation_time(d, 0.25, activation)
            assert abs(t_s - lead) < 20.0 / d
            # the summary's expression with |mu~|^2 = m^2 / psi differs by rho_*^2 inside the logarithm: O(1/d)
            summary = float(summary_speciation_time(d, 0.5, 0.25 / 0.5, activation))
            assert abs(summary - lead) < 5.0 / d


# ----------------------------------------------------------------------------- sampler and simulation
def test_manifold_sampler_class_mean_and_embedding():
    from diffregimes.sde.manifold import ManifoldData

    gen = torch.Generator().manual_seed(5)
    data = ManifoldData.build(24, 0.5, 0.25, "random", "sign", gen)
    x, s = data.sample(20000, gen)
    # exact class mean of coordinate a: E[sign(h_a) | s = +1] = erf(m g_a / sqrt(2 q_a)) with
    # h_a ~ N(m g_a, q_a), g_a = (W 1)_a / sqrt(p), q_a = |w_a|^2 / p
    W = data.weights_numpy()
    g = W.sum(axis=1) / math.sqrt(data.p)
    q = (W**2).sum(axis=1) / data.p
    from scipy.special import erf

    exact = erf(0.5 * g / np.sqrt(2 * q))
    mean = (s[:, None] * x[:, 0, :]).mean(dim=0).numpy()  # E[s x] = E[x | s = +1]
    se = np.sqrt(np.maximum(1 - exact**2, 1e-3) / x.shape[0])
    assert np.all(np.abs(mean - exact) < 5 * se)
    ortho = ManifoldData.build(24, 0.5, 1.0, "orthonormal", "linear", gen)
    U = ortho.weights_numpy()
    assert np.allclose(U.T @ U, np.eye(12), atol=1e-12)
    y, _ = ortho.sample(50, gen)
    assert np.allclose(y[:, 0, :].numpy() @ U @ U.T, y[:, 0, :].numpy(), atol=1e-12)


def _orthonormal_cloning(masters: int, n_train: int, steps_per_unit: int, d: int = 16):
    from diffregimes.experiments.manifold import (
        OU,
        _insert_times,
        _masters,
        _reverse_grid,
    )
    from diffregimes.protocols.regimes import nearest_point_classifier, run_clone_pairs
    from diffregimes.sde import EmpiricalScore, MomentTable
    from diffregimes.sde.manifold import ManifoldData

    gen = torch.Generator().manual_seed(6)
    model = ManifoldData.build(d, 0.5, 1.0, "orthonormal", "linear", gen)
    data, labels = model.sample(n_train, gen)
    t_s = orthonormal_speciation_time(model.p, 1.0)
    t_scan = np.array([0.7, 1.0, 1.3]) * t_s
    times, idx = _insert_times(_reverse_grid(2.4, 0.3, steps_per_unit, 25), t_scan)
    table = MomentTable.build(OU, times)
    run = run_clone_pairs(EmpiricalScore.build(table, data), table, _masters(data, 2.4, masters, gen), idx, gen)
    ends = nearest_point_classifier(data)(run.finals.reshape(-1, 1, d))[:, 0].reshape(len(idx), 2, -1)
    classes = labels[ends]
    phi = (classes[:, 0] == classes[:, 1]).double().mean(dim=1).numpy()
    theory = cloning_agreement(model.p * 1.0 * np.exp(-2 * times[idx]))  # a(t) = p m^2 e^{-2t}, c = 1
    return phi, theory


def test_orthonormal_cloning_matches_the_exact_curve():
    # Far above collapse (t_C ~ 0.1 here) the empirical score is the population one and the clones pick
    # classes from the exact posterior: phi = E[(1 + tanh^2 u)/2], u ~ N(a, a). Binomial tolerance (5 SE)
    # plus 0.03 for the Euler-Maruyama step and the finite training set.
    phi, theory = _orthonormal_cloning(masters=120, n_train=300, steps_per_unit=20)
    se = np.sqrt(theory * (1 - theory) / 120)
    assert np.all(np.abs(phi - theory) < 5 * se + 0.03)


@pytest.mark.slow
def test_orthonormal_cloning_matches_the_exact_curve_large():
    phi, theory = _orthonormal_cloning(masters=800, n_train=3000, steps_per_unit=60, d=32)
    se = np.sqrt(theory * (1 - theory) / 800)
    assert np.all(np.abs(phi - theory) < 5 * se + 0.015)


@pytest.mark.slow
def test_measured_collapse_brackets_the_theory_for_random_linear():
    from diffregimes.experiments import get
    from diffregimes.experiments.manifold import _collapse_case

    cfg = get("manifold").config.preset("quick", masters=64, n_scan=9)
    row = _collapse_case("linear", 0.5, 40, cfg, 0, "cpu")
    # the committed fraction's Wilson crossing interval, widened by the 25% finite-size allowance of the claims
    assert row["t_c_lo"] * 0.75 <= row["t_c_theory"] <= row["t_c_hi"] * 1.25


# ----------------------------------------------------------------------------- experiment and CLI
def test_evidence_preset_runs_the_quick_parameters():
    from diffregimes.experiments.manifold import manifold_params

    assert manifold_params("evidence") == manifold_params("quick")


def test_reproduce_and_fig_manifold_smoke(tmp_path, capsys):
    assert main(["reproduce", "--only", "manifold", "--preset", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    run = tmp_path / "manifold"
    assert (run / "figure.png").exists() and (run / "regimes.png").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["claims"] and all("holds" in c for c in summary["claims"])
    data = np.load(run / "data.npz")
    # the stored theory curve is the API's t_C on the same psi grid
    assert np.allclose(data["theory_tc_tanh"], collapse_time(data["theory_psi"], 0.3, "tanh", "random", 0.25))
    assert "Manifold data model" in (tmp_path / "report.md").read_text()
    capsys.readouterr()
    assert main(["fig", "manifold", "--preset", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "reused finished run" in capsys.readouterr().out


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_manifold_orthonormal_by_hand(capsys):
    # p = 0.5 * 64 = 32, m^2 = 1: t_S = (1/2) log(2 * 32) = log 8; t_C = (1/2) log(1 + 1/(e^{2 * 0.2/0.5} - 1))
    code, out, _ = run_cli(
        capsys,
        "theory",
        "manifold",
        "--embedding",
        "orthonormal",
        "--psi",
        "0.5",
        "--alpha",
        "0.2",
        "--m2",
        "1",
        "--d",
        "64",
        "--json",
    )
    result = json.loads(out)
    assert code == 0
    assert result["t_S"] == pytest.approx(math.log(8), abs=1e-12)
    assert result["t_C"] == pytest.approx(0.5 * math.log1p(1 / math.expm1(0.8)), abs=1e-12)


def test_cli_manifold_random_tanh_matches_the_api(capsys):
    code, out, _ = run_cli(
        capsys,
        "theory",
        "manifold",
        "--activation",
        "tanh",
        "--psi",
        "0.4",
        "--alpha",
        "0.15",
        "--m2",
        "0.5",
        "--d",
        "100",
        "--json",
    )
    result = json.loads(out)
    assert code == 0
    assert result["t_C"] == pytest.approx(float(collapse_time(0.4, 0.15, "tanh", "random", 0.5)), rel=1e-12)
    assert result["t_S"] == pytest.approx(float(ge_speciation_time(100, 0.4, 0.5, "tanh")[0]), rel=1e-12)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--psi", "1.5"], "--psi"),
        (["--psi", "0"], "--psi"),
        (["--alpha", "0"], "--alpha"),
        (["--alpha", "-2"], "--alpha"),
        (["--d", "0"], "--d"),
        (["--activation", "relu"], "--activation"),
        (["--embedding", "orthonormal", "--activation", "sign"], "--activation"),
    ],
)
def test_cli_manifold_bad_input_is_one_line_exit_2(capsys, args, flag):
    base = {"--psi": "0.5", "--alpha": "0.2", "--d": "32"}
    for k in range(0, len(args), 2):
        base[args[k]] = args[k + 1]
    code, out, err = run_cli(capsys, "theory", "manifold", *[x for kv in base.items() for x in kv])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and flag in err and "Traceback" not in err
