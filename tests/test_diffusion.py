"""Discrete VP diffusion (diffregimes.diffusion): schedule (94), modes (91), mode-shaped noise
(92)-(93), DDIM / DDPM steps and the whitened DDPM (102).

Monte-Carlo assertions use 5 standard errors computed from the sample size; reference numbers
come from closed forms, from diffusers' schedulers, or from a scalar moment recursion.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from diffregimes.diffusion import (
    ddim_sample,
    ddim_step,
    ddpm_sample,
    ddpm_step,
    ddpm_step_whitened,
    from_modes,
    linear_vp_schedule,
    mode_std,
    noise_covariance,
    ou_time,
    perturb_difference_mode,
    predict_x0,
    q_sample,
    reverse_pairs,
    sample_mode_noise,
    shape_noise,
    to_modes,
    unwhiten,
    whiten,
)

F64 = torch.float64
Z_SE = 5.0


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------- schedule
@pytest.mark.parametrize("T", [200, 500])
def test_schedule_linear_and_cumulative(T):
    s = linear_vp_schedule(T)
    assert s.T == T and s.betas.shape == (T,) and s.betas.dtype == F64
    assert s.beta_min == pytest.approx(1e-4 * 1000 / T) and s.beta_max == pytest.approx(0.02 * 1000 / T)
    assert torch.allclose(torch.diff(s.betas, 2), torch.zeros(T - 2, dtype=F64), atol=1e-15)
    assert torch.allclose(s.alphas, 1 - s.betas)
    assert torch.allclose(s.alpha_bars, torch.cumprod(s.alphas, 0))
    assert s.alpha_bars[0] == pytest.approx(1 - s.betas[0].item())  # (94): product starts at s = 0
    assert 1e-5 < s.alpha_bars[-1] < 1e-4  # same end point for any T (scaled betas)


def test_default_schedule_is_paper_T():
    assert linear_vp_schedule().T == 200


@pytest.mark.parametrize(
    "kw", [dict(T=1), dict(T=200, beta_min=0.0), dict(T=200, beta_min=0.2, beta_max=0.1), dict(T=200, beta_max=1.0)]
)
def test_schedule_rejects_bad_input(kw):
    with pytest.raises(ValueError, match="must"):
        linear_vp_schedule(**kw)


def test_ou_time_inverts_alpha_bar():
    s = linear_vp_schedule(200)
    t = s.ou_times
    assert torch.allclose(torch.exp(-2 * t), s.alpha_bars, rtol=1e-14)
    assert torch.all(torch.diff(t) > 0)
    assert ou_time(1.0).item() == 0.0
    with pytest.raises(ValueError, match="alpha_bar must be in"):
        ou_time(0.0)


@pytest.mark.parametrize("T", [200, 500])
def test_schedule_matches_diffusers(T):
    diffusers = pytest.importorskip("diffusers")
    s = linear_vp_schedule(T)
    ref = diffusers.DDPMScheduler(
        num_train_timesteps=T, beta_start=s.beta_min, beta_end=s.beta_max, beta_schedule="linear"
    )
    # diffusers keeps its schedule in float32: agreement to float32 precision
    assert torch.allclose(ref.alphas_cumprod.double(), s.alpha_bars, rtol=1e-6, atol=0)


# -------------------------------------------------------------------------------------- modes
def test_modes_roundtrip_and_orthonormal():
    z = torch.randn(3, 2, 5, 5, generator=gen(), dtype=F64)
    u, v = to_modes(z)
    assert u.shape == (3, 5, 5)
    assert torch.allclose(from_modes(u, v), z, atol=1e-15)
    assert torch.allclose(u.square() + v.square(), z.square().sum(1), atol=1e-14)  # norm kept
    assert torch.allclose(unwhiten(whiten(z, 0.6), 0.6), z, atol=1e-14)


@pytest.mark.parametrize("g", [-0.1, 1.0, 1.2, float("nan")])
def test_g_out_of_range(g):
    with pytest.raises(ValueError, match=r"g must be in \[0, 1\)"):
        sample_mode_noise((2, 2, 4, 4), g, gen())


def test_shapes_validated():
    with pytest.raises(ValueError, match="shape"):
        sample_mode_noise((2, 3, 4, 4), 0.3, gen())
    with pytest.raises(ValueError, match="must have shape"):
        to_modes(torch.zeros(2, 3, 4, 4))


@pytest.mark.parametrize("g", [0.0, 0.3, 0.7])
def test_mode_noise_covariance(g):
    n_img = 256
    eps = sample_mode_noise((n_img, 2, 28, 28), g, gen(1), dtype=F64)
    n = n_img * 28 * 28
    ab = eps.permute(1, 0, 2, 3).reshape(2, n)
    cov = ab @ ab.T / n  # zero mean known
    target = noise_covariance(g)
    # SE of a sample second moment of a bivariate normal: sqrt((S_ii S_jj + S_ij^2) / n)
    se = torch.sqrt((torch.outer(target.diag(), target.diag()) + target**2) / n)
    assert torch.all((cov - target).abs() < Z_SE * se), (cov, target)
    u, v = to_modes(eps)
    s_u2, s_v2 = 1 - g, 1 + g
    uv = torch.stack([u.reshape(-1), v.reshape(-1)])
    cov_uv = uv @ uv.T / n
    target_uv = torch.diag(torch.tensor([s_u2, s_v2], dtype=F64))
    se_uv = torch.sqrt((torch.outer(target_uv.diag(), target_uv.diag()) + target_uv**2) / n)
    assert torch.all((cov_uv - target_uv).abs() < Z_SE * se_uv), (cov_uv, target_uv)


@pytest.mark.parametrize("g", [0.0, 0.5])
def test_mode_noise_ks(g):
    eps = sample_mode_noise((64, 2, 28, 28), g, gen(2), dtype=F64)
    u, v = to_modes(eps)
    s_u, s_v = mode_std(g)
    for m, s in ((u, s_u), (v, s_v)):
        x = m.reshape(-1)[:20000].numpy()
        assert stats.kstest(x, stats.norm(scale=s).cdf).pvalue > 1e-3


def test_mode_noise_deterministic_and_shape_noise():
    a = sample_mode_noise((2, 2, 4, 4), 0.4, gen(5))
    b = sample_mode_noise((2, 2, 4, 4), 0.4, gen(5))
    assert torch.equal(a, b)
    xi = torch.randn(2, 2, 4, 4, generator=gen(5))
    assert torch.allclose(shape_noise(xi, 0.4), a)


def test_q_sample_and_predict_x0():
    s = linear_vp_schedule(200)
    z0 = torch.rand(4, 2, 6, 6, generator=gen(), dtype=F64)
    eps = sample_mode_noise(z0.shape, 0.3, gen(1), dtype=F64)
    k = torch.tensor([0, 10, 100, 199])
    zk = q_sample(z0, k, eps, s)
    for i, ki in enumerate(k.tolist()):
        a = s.alpha_bars[ki]
        assert torch.allclose(zk[i], a.sqrt() * z0[i] + (1 - a).sqrt() * eps[i])
        assert torch.allclose(q_sample(z0[i : i + 1], ki, eps[i : i + 1], s), zk[i : i + 1])
    assert torch.allclose(predict_x0(zk, eps, k, s), z0, atol=1e-10)  # (97) with the true noise
    with pytest.raises(ValueError, match="k must be integers in"):
        q_sample(z0, 200, eps, s)


def test_perturb_difference_mode_leaves_u():
    z = torch.randn(2, 2, 4, 4, generator=gen(), dtype=F64)
    xi = torch.randn(2, 4, 4, generator=gen(1), dtype=F64)
    out = perturb_difference_mode(z, 0.25, xi)
    u0, v0 = to_modes(z)
    u1, v1 = to_modes(out)
    assert torch.allclose(u1, u0) and torch.allclose(v1, v0 + 0.25 * xi)


# ------------------------------------------------------------------ steps against diffusers
def _diffusers_schedulers(s):
    diffusers = pytest.importorskip("diffusers")
    kw = dict(
        num_train_timesteps=s.T,
        beta_start=s.beta_min,
        beta_end=s.beta_max,
        beta_schedule="linear",
        clip_sample=False,
        prediction_type="epsilon",
    )
    ddim = diffusers.DDIMScheduler(**kw, set_alpha_to_one=True, timestep_spacing="leading")
    ddpm = diffusers.DDPMScheduler(**kw, variance_type="fixed_small")
    # diffusers stores alphas_cumprod in float32 (checked against ours in
    # test_schedule_matches_diffusers); give both sides the same float64 schedule so that this
    # test compares the step algebra, not float32 rounding of the schedule.
    for sch in (ddim, ddpm):
        sch.alphas_cumprod = s.alpha_bars.clone()
        sch.betas, sch.alphas = s.betas.clone(), s.alphas.clone()
    return ddim, ddpm


@pytest.mark.parametrize("T,num_steps", [(200, None), (200, 50), (500, 37)])
def test_ddim_matches_diffusers(T, num_steps):
    s = linear_vp_schedule(T)
    ddim, _ = _diffusers_schedulers(s)
    ddim.set_timesteps(num_steps or T)
    pairs = reverse_pairs(T, num_steps)
    assert [k for k, _ in pairs] == ddim.timesteps.tolist()
    x = torch.randn(3, 2, 28, 28, generator=gen(), dtype=F64)
    e = torch.randn(3, 2, 28, 28, generator=gen(1), dtype=F64)
    for k, k_prev in pairs:
        ref = ddim.step(e, k, x, eta=0.0).prev_sample
        assert torch.allclose(ddim_step(x, e, k, k_prev, s), ref, rtol=0, atol=1e-6), k


@pytest.mark.parametrize("T", [200, 500])
def test_ddpm_matches_diffusers(T):
    s = linear_vp_schedule(T)
    _, ddpm = _diffusers_schedulers(s)
    x = torch.randn(3, 2, 28, 28, generator=gen(), dtype=F64)
    e = torch.randn(3, 2, 28, 28, generator=gen(1), dtype=F64)
    for k in [T - 1, T // 2, 37, 1, 0]:
        # diffusers draws its noise as randn(shape, generator): same seed, same noise
        ref = ddpm.step(e, k, x, generator=gen(100 + k)).prev_sample
        noise = torch.randn(x.shape, generator=gen(100 + k), dtype=F64)
        assert torch.allclose(ddpm_step(x, e, k, k - 1, s, noise), ref, rtol=0, atol=1e-6), k
        # whitened coordinates at g = 0 are the (u, v) rotation: give it the same noise there
        out = ddpm_step_whitened(x, e, k, k - 1, s, whiten(noise, 0.0), 0.0)
        assert torch.allclose(out, ref, rtol=0, atol=1e-6), k


def test_whitened_ddpm_is_mode_shaped_ddpm():
    s = linear_vp_schedule(200)
    x = torch.randn(2, 2, 5, 5, generator=gen(), dtype=F64)
    e = torch.randn(2, 2, 5, 5, generator=gen(1), dtype=F64)
    xi = torch.randn(2, 2, 5, 5, generator=gen(2), dtype=F64)
    for g in (0.3, 0.9):
        out = ddpm_step_whitened(x, e, 120, 119, s, xi, g)
        # the posterior mean is linear with scalar coefficients, so whitening only reshapes the noise
        assert torch.allclose(out, ddpm_step(x, e, 120, 119, s, shape_noise(xi, g)), atol=1e-12)


def test_step_validation():
    s = linear_vp_schedule(200)
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="k_prev must be < k"):
        ddim_step(x, x, 10, 10, s)
    with pytest.raises(ValueError, match="noise must be"):
        ddpm_step(x, x, 10, 9, s, None)
    with pytest.raises(ValueError, match="num_steps must be in"):
        reverse_pairs(200, 0)


# ---------------------------------------------- exact-eps Gaussian toy: the reverse marginals
M_A, M_B = 0.8, 0.2


def gaussian_eps(s2: float, g: float, schedule):
    """Exact eps-prediction E[eps | z_k] for x_A ~ N(M_A, s2), x_B ~ N(M_B, s2) per pixel."""
    mu = ((M_A + M_B) / math.sqrt(2), (M_A - M_B) / math.sqrt(2))
    sig2 = (1 - g, 1 + g)

    def eps(z, k):
        a = float(schedule.alpha_bars[k])
        modes = to_modes(z)
        out = [
            math.sqrt(1 - a) * sm * (zm - math.sqrt(a) * m) / (a * s2 + (1 - a) * sm)
            for zm, m, sm in zip(modes, mu, sig2)
        ]
        return from_modes(*out)

    return eps, mu, sig2


def chain_moments(s2, mu, sig2, schedule, k_start, checkpoints):
    """Exact mean/variance of one mode under the whitened DDPM chain (a scalar linear recursion)."""
    ab = schedule.alpha_bars.tolist()
    m = math.sqrt(ab[k_start]) * mu
    v = ab[k_start] * s2 + (1 - ab[k_start]) * sig2
    out = {}
    for k in range(k_start, 0, -1):
        a, ap = ab[k], ab[k - 1]
        beta = 1 - a / ap
        c = math.sqrt(1 - a) * sig2 / (a * s2 + (1 - a) * sig2)  # eps_hat = c (z - sqrt(a) mu)
        slope = (1 - math.sqrt(1 - a) * c) / math.sqrt(a)  # x0_hat = slope z + shift
        shift = math.sqrt(1 - a) * c * mu
        c0, ck = math.sqrt(ap) * beta / (1 - a), math.sqrt(a / ap) * (1 - ap) / (1 - a)
        m = (c0 * slope + ck) * m + c0 * shift
        v = (c0 * slope + ck) ** 2 * v + (1 - ap) / (1 - a) * beta * sig2
        if k - 1 in checkpoints:
            out[k - 1] = (m, v)
    return out


def run_chain(s2, g, checkpoints, n_img=1024):
    s = linear_vp_schedule(200)
    eps_fn, mu, sig2 = gaussian_eps(s2, g, s)
    gz = gen(7)
    z0 = torch.tensor([M_A, M_B], dtype=F64)[None, :, None, None] + math.sqrt(s2) * torch.randn(
        n_img, 2, 4, 4, generator=gz, dtype=F64
    )
    z = q_sample(z0, s.T - 1, sample_mode_noise(z0.shape, g, gz, dtype=F64), s)
    got = {}
    for k in range(s.T - 1, 0, -1):
        z = ddpm_step_whitened(z, eps_fn(z, k), k, k - 1, s, torch.randn(z.shape, generator=gz, dtype=F64), g)
        if k - 1 in checkpoints:
            got[k - 1] = to_modes(z)
    return s, mu, sig2, got


def _assert_moments(x, mean, var, what):
    n = x.numel()
    se_m, se_v = math.sqrt(var / n), var * math.sqrt(2 / (n - 1))
    assert abs(x.mean().item() - mean) < Z_SE * se_m, (what, x.mean().item(), mean)
    assert abs(x.var().item() - var) < Z_SE * se_v, (what, x.var().item(), var)


def test_whitened_ddpm_point_mass_reproduces_forward_marginals():
    # point-mass data: Var(x0 | z_k) = 0, so the DDPM kernel (fixed_small variance) is the exact
    # reverse kernel and the chain must follow the forward marginals (94) per mode
    g, ks = 0.6, (150, 100, 40, 5)
    s, mu, sig2, got = run_chain(0.0, g, ks)
    for k in ks:
        a = s.alpha_bars[k].item()
        for mode, m, sm in zip(got[k], mu, sig2):
            _assert_moments(mode, math.sqrt(a) * m, (1 - a) * sm, (k, sm))


def test_whitened_ddpm_gaussian_data_moments():
    # spread data: the mean still follows the forward marginal exactly (the DDPM mean is the exact
    # conditional mean); the variance follows the chain's own recursion, which sits a few percent
    # below the forward marginal (fixed_small omits c0^2 Var(x0 | z_k) per step)
    g, s2, ks = 0.5, 0.25, (150, 80, 20)
    s, mu, sig2, got = run_chain(s2, g, ks)
    for i, (m, sm) in enumerate(zip(mu, sig2)):
        ref = chain_moments(s2, m, sm, s, s.T - 1, ks)
        for k in ks:
            a = s.alpha_bars[k].item()
            x = got[k][i]
            _assert_moments(x, math.sqrt(a) * m, ref[k][1], (k, sm))
            fwd_var = a * s2 + (1 - a) * sm
            assert abs(ref[k][1] / fwd_var - 1) < 0.1


def test_ddpm_sample_deterministic_and_ddim_sample_point_mass():
    s = linear_vp_schedule(200)
    eps_fn, mu, _ = gaussian_eps(0.0, 0.4, s)
    start = sample_mode_noise((2, 2, 4, 4), 0.4, gen(3), dtype=F64)
    a = ddpm_sample(eps_fn, start, s, 0.4, gen(4), k_start=120)
    b = ddpm_sample(eps_fn, start, s, 0.4, gen(4), k_start=120)
    assert torch.equal(a, b)
    c = ddpm_sample(eps_fn, start, s, 0.4, gen(5), k_start=120)
    assert torch.allclose(c, a)  # point mass: every path ends on the data point
    target = from_modes(torch.full((2, 4, 4), mu[0], dtype=F64), torch.full((2, 4, 4), mu[1], dtype=F64))
    assert torch.allclose(a, target, atol=1e-8)
    z = q_sample(target, 199, start, s)
    assert torch.allclose(ddim_sample(eps_fn, z, s, num_steps=50), target, atol=1e-8)
