"""App. C protocol (diffregimes.protocols.appc): the reduced, batched exact-score sampler.

Independent references: a literal full-d float64 simulation written here from (138)-(146) with the
sde module's conditional score and density (forward X path with exact OU transitions, no plane
reduction, no bridge, no Rao-Blackwellisation), closed forms in the decisive-class limit, and
Monte-Carlo tolerances of 5 standard errors from the sample sizes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffregimes.protocols.appc import AppCConfig, appc_coefficients, run_appc, simulate_chunk
from diffregimes.sde import conditional_log_density, conditional_score, reverse_times

F64 = torch.float64


N_REF = 12000  # trials per cell of the full-d reference: resolves errors of a few percent in v_perp or the X bridge


def reference_full_d(
    cfg: AppCConfig, schedule: str, g0: float, theta: float, n: int, gen: torch.Generator
) -> dict[str, torch.Tensor]:
    """(138)-(146) literally, in all d coordinates, one configuration, float64."""
    model = cfg.model(schedule, g0)
    times = reverse_times(cfg.T, cfg.n_steps)  # t_0 = T > ... > t_N = 0
    h = cfg.T / cfg.n_steps
    mom = model.moments(times)
    d, sw2, sd2 = cfg.d, cfg.sigma_w2, cfg.sigma_data2
    amp = math.sqrt(d * cfg.m2)
    e1, e2 = torch.eye(d, dtype=F64)[0], torch.eye(d, dtype=F64)[1]
    mu0 = torch.stack([amp * e1, amp * (math.cos(theta) * e1 + math.sin(theta) * e2)])  # (139)
    mu_t = torch.einsum("nij,jd->nid", torch.as_tensor(mom.transition), mu0)  # (16)
    C = torch.as_tensor(mom.C)
    M = torch.as_tensor(mom.M)

    s = torch.where(torch.rand(n, 1, generator=gen, dtype=F64) < 0.5, 1.0, -1.0)
    x0 = s * mu0[0] + math.sqrt(sd2) * torch.randn(n, d, generator=gen, dtype=F64)  # (138)
    # forward path (140) with the exact OU transition, stored on the reverse grid: path[i] = X(t_i)
    a_h = math.exp(-cfg.beta * h)
    sd_h = math.sqrt(sw2 * (1 - math.exp(-2 * cfg.beta * h)) / (2 * cfg.beta))
    path = [x0]
    for _ in range(cfg.n_steps):
        path.append(a_h * path[-1] + sd_h * torch.randn(n, d, generator=gen, dtype=F64))
    path = path[::-1]
    # y_T ~ P_T(y | x_T) (142): class posterior from x_T, then the Gaussian component
    xT = path[0]
    c, V = C[0, 1, 0] / C[0, 0, 0], C[0, 1, 1] - C[0, 1, 0] ** 2 / C[0, 0, 0]
    w_plus = torch.sigmoid(2 * (xT @ mu_t[0, 0]) / C[0, 0, 0])[:, None]
    s_T = torch.where(torch.rand(n, 1, generator=gen, dtype=F64) < w_plus, 1.0, -1.0)
    y = c * xT + s_T * (mu_t[0, 1] - c * mu_t[0, 0]) + V.sqrt() * torch.randn(n, d, generator=gen, dtype=F64)
    for i in range(cfg.n_steps):  # (143)
        x = path[i]
        score = conditional_score(y, x, mu_t[i, 0], mu_t[i, 1], C[i])
        drift = -(M[i, 1, 0] * x + M[i, 1, 1] * y) + sw2 * score
        y = y + h * drift + math.sqrt(sw2 * h) * torch.randn(n, d, generator=gen, dtype=F64)
    s_x = torch.sign(x0 @ mu0[0])
    acc = (torch.sign(y @ mu0[1]) == s_x).double()
    err = y - s_x[:, None] * mu0[1]
    return {
        "acc": acc,
        "mse": 0.5 * (err**2).sum(1),
        "mse_signal": 0.5 * (err[:, :2] ** 2).sum(1),
        "nll": -conditional_log_density(y, x0, mu0[0], mu0[1], C[-1]),
        "y0": y,
    }


def small_config(**kw) -> AppCConfig:
    par = dict(
        d=8,
        n_steps=100,
        thetas=(0.3, 2.5),
        schedules=("constant", "late"),
        g0s=(1.0,),
        trials=60000,
        chunk_trials=20000,
        dtype="float64",
    )
    par.update(kw)
    return AppCConfig(**par)


def test_reduced_sampler_matches_full_dimensional_simulation():
    # Same law, different algorithms (plane reduction + OU bridge + exact perpendicular variance vs
    # literal d-dimensional EM): every cell mean must agree within 5 combined standard errors.
    cfg = small_config()
    fast = run_appc(cfg, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    coef = appc_coefficients(cfg)
    for i, theta in enumerate(cfg.thetas):
        for j, (schedule, g0) in enumerate(cfg.configurations):
            ref = reference_full_d(cfg, schedule, g0, theta, N_REF, gen)
            for key in ("acc", "mse", "mse_signal", "nll"):
                se = math.hypot(fast[f"se_{key}_level"][i, j], float(ref[key].std()) / math.sqrt(N_REF))
                assert abs(fast[key][i, j] - float(ref[key].mean())) < 5 * se, (theta, schedule, key)
            # perpendicular coordinates: the exact recursion's variance vs the sample variance of
            # N_REF x (d - 2) i.i.d. zero-mean Gaussian coordinates (SE of a variance: v sqrt(2 / n)).
            perp = ref["y0"][:, 2:]
            v = coef.v_perp[j]
            assert abs(float((perp**2).mean()) - v) < 5 * v * math.sqrt(2 / perp.numel()), (theta, schedule)


def test_zero_coupling_schedules_equal_baseline_exactly():
    # With common random numbers every g0 = 0 configuration sees the same x_0, X path and noise as
    # the baseline, and its coupling is identically 0: identical per-trial results, bit for bit.
    cfg = AppCConfig(n_steps=100, thetas=(0.0, 1.0, math.pi), g0s=(0.0, 0.5), trials=64, chunk_trials=64)
    out = simulate_chunk(appc_coefficients(cfg), cfg, 64, torch.Generator().manual_seed(2))
    for j, (schedule, g0) in enumerate(cfg.configurations):
        same = all(torch.equal(out[key][:, j], out[key][:, 0]) for key in ("acc", "mse", "nll")) and torch.equal(
            out["y0"][:, :, j], out["y0"][:, :, 0]
        )
        assert same == (g0 == 0.0), (schedule, g0)
    res = run_appc(cfg, torch.Generator().manual_seed(2))
    zero = [j for j, (_, g0) in enumerate(cfg.configurations) if g0 == 0.0]
    for key in ("acc", "mse", "mse_signal", "nll"):
        assert np.all(res[f"d_{key}"][:, zero] == 0) and np.all(res[f"se_{key}"][:, zero] == 0)


def test_decisive_class_limit_closed_forms():
    # g0 = 0 and m^2 = 100 (d = 32, A = sqrt(d m^2) = 56.6): the class evidence in x_t is decisive
    # for every t <= T: along u, x_T = e^{-T} x_0 + N(0, q_T ~ 1), so the log-odds of the class,
    # 2 ell_T = 2 e^{-T} A (e^{-T} A + xi) with e^{-T} A = 7.66 (C11 = 1), exceed 25 unless xi < -6
    # (probability 1e-9 per trial); later in the reverse process the evidence only grows.
    # Hence Y's score is that of N(s mu_y(t), C22(t)) and
    # the reverse SDE is the exact reversal of an OU started at N(s mu_y, sigma^2 I): y_0 - s mu_y ~
    # N(0, sigma^2 I_d) up to the O(h) Euler bias, which is v_perp - sigma^2 per coordinate (the
    # perpendicular recursion gives it exactly). Closed forms: accuracy 1 (error Phi(-sqrt(d m^2))
    # ~ 0), MSE (145) = d sigma^2 / 2, NLL (146) = d/2 (log 2 pi sigma^2 + 1) (w_+(x_0) = 1).
    cfg = AppCConfig(
        m2=100.0, thetas=(0.0, 2.0), g0s=(0.5,), schedules=("constant",), trials=4000, chunk_trials=4000, n_steps=400
    )
    res = run_appc(cfg, torch.Generator().manual_seed(3))
    d, sigma2 = cfg.d, cfg.sigma_data2
    bias = 0.5 * d * abs(res["v_perp"][0] - sigma2)
    assert np.all(res["acc"][:, 0] == 1.0)
    for key, exact in (("mse", 0.5 * d * sigma2), ("nll", 0.5 * d * (math.log(2 * math.pi * sigma2) + 1))):
        assert np.all(np.abs(res[key][:, 0] - exact) < 5 * res[f"se_{key}_level"][:, 0] + bias), key
    # signal plane: y_0 - s mu_y has mean 0 and variance sigma^2 per coordinate (MC, 5 SE)
    out = simulate_chunk(appc_coefficients(cfg), cfg, 4000, torch.Generator().manual_seed(4))
    y = out["y0"][:, :, 0]  # (2, n_theta, n)
    amp = math.sqrt(d * cfg.m2)
    mu_y = torch.tensor([[amp * math.cos(t) for t in cfg.thetas], [amp * math.sin(t) for t in cfg.thetas]], dtype=F64)
    s = torch.sign((y * mu_y[..., None]).sum(0))
    resid = y - s * mu_y[..., None]
    assert float(resid.mean(-1).abs().max()) < 5 * math.sqrt(sigma2 / 4000)
    assert float(((resid**2).mean(-1) - sigma2).abs().max()) < 5 * sigma2 * math.sqrt(2 / 4000) + 2 * bias / d


def test_float32_sampler_agrees_with_float64():
    # Noise is drawn in float32 in both runs, so the two dtypes see the same random numbers; the
    # float32 rounding error must be far below the Monte-Carlo error of the metrics.
    base = dict(n_steps=800, thetas=(0.0, 1.5, math.pi), g0s=(0.2, 1.0), trials=500, chunk_trials=500)
    cfg32, cfg64 = AppCConfig(dtype="float32", **base), AppCConfig(dtype="float64", **base)
    y32 = simulate_chunk(appc_coefficients(cfg32), cfg32, 500, torch.Generator().manual_seed(5))
    y64 = simulate_chunk(appc_coefficients(cfg64), cfg64, 500, torch.Generator().manual_seed(5))
    assert float((y32["y0"] - y64["y0"]).abs().max()) < 1e-3
    r32, r64 = run_appc(cfg32, torch.Generator().manual_seed(6)), run_appc(cfg64, torch.Generator().manual_seed(6))
    for key in ("acc", "mse", "nll", "d_acc", "d_mse", "d_nll"):
        se = r64[f"se_{key[2:]}" if key.startswith("d_") else f"se_{key}_level"]
        assert np.all(np.abs(r32[key] - r64[key]) <= 0.05 * se + 1e-9), key


def test_perpendicular_variance_recursion_keeps_x_marginal_and_zero_coupling_limit():
    # Two hand-checkable facts about the coefficients: (i) the backward OU bridge has the forward
    # marginal: with x_0 ~ N(0, sigma^2) per coordinate, Var X(t_n) = e^{-2 beta t} sigma^2 +
    # sigma_W^2 (1 - e^{-2 beta t}) / (2 beta) = 1 for beta = 1, sigma_W^2 = 2, sigma^2 = 1 at every n;
    # (ii) at g0 = 0 the perpendicular coordinate is the EM reversal of a stationary OU, so
    # v_perp -> sigma^2 with an O(h) error that halves when N doubles.
    v = {}
    for n_steps in (100, 200, 400):
        cfg = AppCConfig(n_steps=n_steps, thetas=(0.0,), g0s=(0.5,), schedules=("constant",))
        coef = appc_coefficients(cfg)
        v[n_steps] = coef.v_perp[0] - 1.0
        # covariance of (x_0, X(t_n)) pushed through the bridge coefficients
        P = np.array([[1.0, coef.a_T], [coef.a_T, coef.a_T**2 + coef.q_T]])
        assert abs(P[1, 1] - 1.0) < 1e-12
        for n in range(n_steps):
            F = np.array([[1.0, 0.0], [coef.G[n], coef.K[n]]])
            P = F @ P @ F.T + np.diag([0.0, coef.S[n] ** 2])
            assert abs(P[1, 1] - 1.0) < 1e-12
        assert abs(P[0, 1] - 1.0) < 1e-12  # X(t_N) = x_0 exactly
    assert 1.7 < v[100] / v[200] < 2.3 and 1.7 < v[200] / v[400] < 2.3


def test_paper_claims_sign_pattern():
    # App. C: coupling lowers alignment accuracy when the modalities are aligned (theta = 0) and
    # raises it when they are anti-aligned (theta = pi); constant coupling hurts most when aligned.
    cfg = AppCConfig(n_steps=200, thetas=(0.0, math.pi), g0s=(1.0,), trials=1500)
    res = run_appc(cfg, torch.Generator().manual_seed(7))
    j = {s: cfg.configurations.index((s, 1.0)) for s in cfg.schedules}
    assert res["d_acc"][0, j["constant"]] < -5 * res["se_acc"][0, j["constant"]]
    assert res["d_acc"][1, j["constant"]] > 5 * res["se_acc"][1, j["constant"]]
    assert min(res["d_acc"][0, j[s]] for s in cfg.schedules) == res["d_acc"][0, j["constant"]]


def test_early_coupling_is_least_harmful_when_aligned():
    """Erratum 9: the paper says late coupling is the least detrimental for aligned modalities; with the exact
    score, early coupling is (theta = 0, m^2 = 0.2, t0 = 1). Margin: 4 standard errors of the difference,
    taking the two estimates as independent (common random numbers correlate them positively, so the true
    standard error of the difference is smaller)."""
    cfg = AppCConfig(n_steps=200, thetas=(0.0,), g0s=(0.2, 1.0), trials=1500)
    res = run_appc(cfg, torch.Generator().manual_seed(7))
    for g0 in cfg.g0s:
        early, late = cfg.configurations.index(("early", g0)), cfg.configurations.index(("late", g0))
        se = math.hypot(res["se_acc"][0, early], res["se_acc"][0, late])
        assert res["d_acc"][0, early] - res["d_acc"][0, late] > 4 * se


def test_records_and_reproducibility():
    cfg = AppCConfig(n_steps=50, thetas=(0.0, 1.0), g0s=(0.5,), trials=40, chunk_trials=16)
    a, b = run_appc(cfg, torch.Generator().manual_seed(8)), run_appc(cfg, torch.Generator().manual_seed(8))
    assert len(a["records"]) == 2 * 4 and a["records"] == b["records"]
    keys = {"theta", "schedule", "g0", "acc", "mse", "nll", "d_acc", "d_mse", "d_nll", "se_acc", "se_mse", "se_nll"}
    assert keys <= set(a["records"][0])
    baseline = [r for r in a["records"] if r["schedule"] == "baseline"]
    assert len(baseline) == 2 and all(r["g0"] == 0.0 and r["d_acc"] == 0.0 for r in baseline)
    calls = []

    def progress(iterable, desc, total):
        calls.append(total)
        return iterable

    run_appc(cfg, torch.Generator().manual_seed(8), progress=progress)
    assert calls == [3]


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(m2=0.0), "m2"),
        (dict(t0=2.0), "t0"),
        (dict(thetas=(4.0,)), "thetas"),
        (dict(schedules=("sometimes",)), "schedules"),
        (dict(dtype="float16"), "dtype"),
        (dict(d=1), "d must"),
        (dict(trials=1), "trials"),
        (dict(n_steps=0), "n_steps"),
        (dict(g0s=(float("nan"),)), "g0s"),
    ],
)
def test_config_validation(bad, match):
    with pytest.raises(ValueError, match=match):
        AppCConfig(**bad)


def test_generator_device_must_match():
    with pytest.raises(ValueError, match="generator"):
        run_appc(AppCConfig(trials=4, n_steps=2), torch.Generator(), device="meta")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_agrees_with_cpu_within_mc_noise():
    cfg = small_config(trials=20000)
    cpu = run_appc(cfg, torch.Generator().manual_seed(9))
    gpu = run_appc(cfg, torch.Generator(device="cuda").manual_seed(9), device="cuda")
    for key in ("acc", "mse", "nll"):
        se = np.hypot(cpu[f"se_{key}_level"], gpu[f"se_{key}_level"])
        assert np.all(np.abs(cpu[key] - gpu[key]) < 5 * se), key
