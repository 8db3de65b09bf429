"""Exact scores and reverse-time integrators (diffregimes.sde).

Every asserted number comes from an independent route: autograd of an explicitly written
log-density (full k*d covariance, torch.distributions), a closed form, or Monte Carlo against the
data law with a tolerance of 5 standard errors computed from the sample size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal

from diffregimes.sde import (
    EmpiricalScore,
    MixtureSpec,
    MomentTable,
    PopulationScore,
    class_means,
    conditional_log_density,
    conditional_score,
    empirical_score,
    euler_maruyama,
    heun_ode,
    mixture_score,
    population_score,
    reverse_times,
)
from diffregimes.theory import CoupledOU, CouplingSchedule

F64 = torch.float64


def aniso(g=0.8, theta=1.0, **kw) -> CoupledOU:
    par = dict(beta=1.0, g=g, sigma_w2=2.0, sigma_x2=0.5, sigma_y2=0.8, mx2=1.0, my2=1.5, theta=theta)
    par.update(kw)
    return CoupledOU.anisotropic(**par)


MODELS = {
    "symmetric": CoupledOU.symmetric(beta=1.0, g=0.4, sigma_w2=2.0, sigma2=0.7, m_plus2=1.5, m_minus2=0.3),
    "aniso-late": aniso(g=CouplingSchedule.late(0.8, 1.0)),
    "aniso-early": aniso(g=CouplingSchedule.early(1.2, 0.5), theta=2.5),
}


def full_mvn(mean_block: torch.Tensor, cov_block: np.ndarray) -> MultivariateNormal:
    """N(mean, cov (x) I_d) on R^{k d}, flattened modality-major (z.reshape(k * d))."""
    d = mean_block.shape[-1]
    cov = torch.kron(torch.as_tensor(cov_block, dtype=F64), torch.eye(d, dtype=F64))
    return MultivariateNormal(mean_block.reshape(-1), covariance_matrix=cov)


def mixture_log_density(spec: MixtureSpec, t: float, z: torch.Tensor) -> torch.Tensor:
    """log P_t(z) of (19), written out as log(1/2 N(mu, C) + 1/2 N(-mu, C)) with the full covariance."""
    m = spec.model.moments(np.asarray(t))
    mu = torch.as_tensor(m.transition, dtype=F64) @ spec.mu0
    flat = z.reshape(z.shape[:-2] + (-1,))
    lp = torch.stack([full_mvn(mu, m.C).log_prob(flat), full_mvn(-mu, m.C).log_prob(flat)])
    return torch.logsumexp(lp, 0) - math.log(2.0)


def autograd_score(logp, z: torch.Tensor) -> torch.Tensor:
    z = z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(logp(z).sum(), z)
    return grad


# ----------------------------------------------------------------------------- data law
def test_class_means_reproduce_gram_including_singular():
    for theta in (0.0, 1.0, math.pi):
        gram = aniso(theta=theta).gram
        mu0 = class_means(gram, 16)
        assert mu0.shape == (2, 16)
        assert np.allclose((mu0 @ mu0.T).numpy() / 16, gram, atol=1e-12)
    # (139): mu_x = sqrt(d) m_x u with u = e_1, mu_y in span(e_1, e_2)
    mu0 = class_means(aniso(theta=1.0).gram, 16).numpy()
    assert np.allclose(mu0[0], np.sqrt(16) * 1.0 * np.eye(16)[0])
    assert np.allclose(mu0[1, 2:], 0)
    with pytest.raises(ValueError, match="rank"):
        class_means(np.eye(3), 2)


def test_mixture_sample_matches_population_law():
    # P_t (19) at t = 0.7: class-conditional mean s mu(t) and per-dimension covariance C(t), checked
    # against the theory moments with 5-standard-error tolerances (n = 4000 draws, d = 6).
    spec = MixtureSpec.from_model(MODELS["aniso-late"], d=6)
    gen = torch.Generator().manual_seed(3)
    n, t = 4000, 0.7
    z, s = spec.sample(n, gen, t=t)
    m = spec.model.moments(np.asarray(t))
    mu = torch.as_tensor(m.transition) @ spec.mu0
    resid = z - s[:, None, None] * mu
    assert float(resid.mean(0).abs().max()) < 5 * math.sqrt(float(np.diag(m.C).max()) / n)
    cov = torch.einsum("nid,njd->ij", resid, resid).numpy() / (n * 6)
    se = np.sqrt((np.outer(np.diag(m.C), np.diag(m.C)) + m.C**2) / (n * 6))
    assert np.all(np.abs(cov - m.C) < 5 * se)


# ----------------------------------------------------------------------------- population score
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("t", [0.0, 0.3, 1.7])
def test_population_score_matches_autograd_of_log_density(name, t):
    spec = MixtureSpec.from_model(MODELS[name], d=5)
    z = torch.randn(7, 2, 5, generator=torch.Generator().manual_seed(1), dtype=F64) * 2
    expected = autograd_score(lambda x: mixture_log_density(spec, t, x), z)
    assert torch.allclose(population_score(spec, t, z), expected, atol=1e-11, rtol=1e-10)


def test_population_score_table_equals_direct_evaluation():
    spec = MixtureSpec.from_model(MODELS["aniso-early"], d=4)
    times = reverse_times(2.0, 8)
    table = MomentTable.build(spec.model, times)
    score = PopulationScore.build(spec, table)
    z = torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(2), dtype=F64)
    for i, t in enumerate(times):
        assert torch.allclose(score(i, z), population_score(spec, float(t), z), atol=1e-12, rtol=1e-12)


# ----------------------------------------------------------------------------- empirical score
def test_empirical_score_single_point_is_gaussian_score():
    # n = 1: p_t^(1) = N(Phi z_1, Q), whose score is -Q^{-1} (z - Phi z_1) (closed form).
    m = MODELS["symmetric"].moments(np.asarray(0.4))
    Phi, Q = torch.as_tensor(m.transition), torch.as_tensor(m.Q)
    gen = torch.Generator().manual_seed(4)
    z1 = torch.randn(1, 2, 6, generator=gen, dtype=F64)
    z = torch.randn(5, 2, 6, generator=gen, dtype=F64)
    expected = -torch.einsum("ij,njd->nid", torch.linalg.inv(Q), z - Phi @ z1[0])
    assert torch.allclose(empirical_score(z, z1, Phi, Q), expected, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 5, 37, 1000])
def test_empirical_score_matches_autograd_for_any_chunking(chunk_size):
    m = MODELS["aniso-late"].moments(np.asarray(0.25))
    Phi, Q = torch.as_tensor(m.transition), torch.as_tensor(m.Q)
    gen = torch.Generator().manual_seed(5)
    data = torch.randn(37, 2, 3, generator=gen, dtype=F64)
    z = torch.randn(4, 2, 3, generator=gen, dtype=F64)

    def logp(x):  # log p_t^(n) (18) written out with the full covariance
        means = torch.einsum("ij,njd->nid", Phi, data).reshape(37, -1)
        dist = full_mvn(torch.zeros(2, 3, dtype=F64), m.Q)
        lp = dist.log_prob(x.reshape(x.shape[0], 1, -1) - means)  # (batch, n)
        return torch.logsumexp(lp, 1) - math.log(37)

    expected = autograd_score(logp, z)
    assert torch.allclose(empirical_score(z, data, Phi, Q, chunk_size=chunk_size), expected, atol=1e-10, rtol=1e-10)


def test_empirical_score_is_stable_when_one_point_dominates():
    # At t = 1e-6 the logits differ by ~1e5, so exp() of the raw logits under/overflows; the
    # streamed log-sum-exp must return the single-component score of the nearest kernel centre.
    m = MODELS["symmetric"].moments(np.asarray(1e-6))
    Phi, Q = torch.as_tensor(m.transition), torch.as_tensor(m.Q)
    gen = torch.Generator().manual_seed(6)
    data = torch.randn(50, 2, 4, generator=gen, dtype=F64)
    z = data[[3, 17, 42]] + 1e-3 * torch.randn(3, 2, 4, generator=gen, dtype=F64)
    got = empirical_score(z, data, Phi, Q, chunk_size=7)
    nearest = Phi @ data[[3, 17, 42]]
    expected = -torch.einsum("ij,njd->nid", torch.linalg.inv(Q), z - nearest)
    assert torch.isfinite(got).all()
    assert torch.allclose(got, expected, rtol=1e-9, atol=0)


# ----------------------------------------------------------------------------- conditional score
def _conditional_inputs(spec: MixtureSpec, t: float, seed: int):
    m = spec.model.moments(np.asarray(t))
    mu = torch.as_tensor(m.transition) @ spec.mu0
    gen = torch.Generator().manual_seed(seed)
    xy = 1.5 * torch.randn(6, 2, spec.d, generator=gen, dtype=F64)
    return m, mu, xy


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("t", [0.0, 0.05, 0.9, 2.0])
def test_conditional_score_is_y_block_of_joint_score(name, t):
    # grad_y log P_t(y|x) = grad_y log P_t(x, y) since P_t(x) does not depend on y: the Schur-
    # complement form (142) must equal the y-row of the joint mixture score (21).
    spec = MixtureSpec.from_model(MODELS[name], d=5)
    m, mu, xy = _conditional_inputs(spec, t, seed=7)
    joint = mixture_score(xy, torch.as_tensor(np.linalg.inv(m.C)), mu)
    got = conditional_score(xy[:, 1], xy[:, 0], mu[0], mu[1], torch.as_tensor(m.C))
    assert torch.allclose(got, joint[:, 1], atol=1e-11, rtol=1e-10)


@pytest.mark.parametrize("t", [0.0, 0.6])
def test_conditional_density_and_score_match_joint_mixture(t):
    # log P_t(y|x) = log P_t(x, y) - log P_t(x), both mixtures written out with torch.distributions;
    # the conditional score is checked against autograd of that difference.
    spec = MixtureSpec.from_model(MODELS["aniso-late"], d=4)
    m, mu, xy = _conditional_inputs(spec, t, seed=8)
    x = xy[:, 0]

    def log_cond(y):
        joint = mixture_log_density(spec, t, torch.stack([x, y], 1))
        px = [full_mvn(sgn * mu[:1], m.C[:1, :1]).log_prob(x) for sgn in (1, -1)]
        return joint - (torch.logsumexp(torch.stack(px), 0) - math.log(2.0))

    C = torch.as_tensor(m.C)
    y = xy[:, 1]
    assert torch.allclose(conditional_log_density(y, x, mu[0], mu[1], C), log_cond(y), atol=1e-10, rtol=1e-12)
    assert torch.allclose(conditional_score(y, x, mu[0], mu[1], C), autograd_score(log_cond, y), atol=1e-10, rtol=1e-10)


# ----------------------------------------------------------------------------- integrators
def _class_stats_check(spec: MixtureSpec, z0: torch.Tensor) -> None:
    """Monte-Carlo checks of z0 against the data law (13): class balance, class means, covariance.

    Classes are assigned by the Bayes rule sign(mu0^T Sigma0^{-1} z); with the Fisher separation used
    here (d tr(Sigma0^{-1} G) >= 30) the misclassification rate is Phi(-sqrt(30)) < 1e-7, negligible.
    """
    n, k, d = z0.shape
    sigma0 = spec.model.sigma0
    P = torch.as_tensor(np.linalg.inv(sigma0))
    s = torch.sign((torch.einsum("ij,njd->nid", P, z0) * spec.mu0).sum((-2, -1)))
    frac = float((s > 0).double().mean())
    assert abs(frac - 0.5) < 5 * math.sqrt(0.25 / n)
    resid = z0 - s[:, None, None] * spec.mu0
    for sign in (1, -1):
        r = resid[s == sign]
        se_mean = np.sqrt(np.diag(sigma0) / r.shape[0])[:, None]
        assert np.all(np.abs(r.mean(0).numpy()) < 5 * se_mean)
    cov = torch.einsum("nid,njd->ij", resid, resid).numpy() / (n * d)
    se = np.sqrt((np.outer(np.diag(sigma0), np.diag(sigma0)) + sigma0**2) / (n * d))
    assert np.all(np.abs(cov - sigma0) < 5 * se), (cov, sigma0, se)


@pytest.mark.parametrize("name", ["symmetric", "aniso-late"])
def test_euler_maruyama_population_score_reproduces_data_mixture(name):
    spec = MixtureSpec.from_model(MODELS[name], d=8)
    table = MomentTable.build(spec.model, reverse_times(2.0, 200))
    gen = torch.Generator().manual_seed(9)
    z_T, _ = spec.sample(4000, gen, t=2.0)  # exact draws of P_T (19)
    _class_stats_check(spec, euler_maruyama(PopulationScore.build(spec, table), z_T, table, gen))


def test_heun_ode_population_score_reproduces_data_mixture():
    spec = MixtureSpec.from_model(MODELS["aniso-early"], d=8)
    table = MomentTable.build(spec.model, reverse_times(2.0, 50))
    gen = torch.Generator().manual_seed(10)
    z_T, _ = spec.sample(4000, gen, t=2.0)
    _class_stats_check(spec, heun_ode(PopulationScore.build(spec, table), z_T, table))


def test_euler_maruyama_weak_error_shrinks_with_step():
    # Exact answer: E|z_0|^2 / d = tr Sigma(0) + tr G (13-14). EM has weak order 1: quadrupling the
    # number of steps should cut the bias ~4x; we require that the coarse bias is resolved (> 5 SE)
    # and that the fine bias is below half of it (room for MC noise and O(h^2) terms).
    spec = MixtureSpec.from_model(MODELS["aniso-late"], d=8)
    exact = float(np.trace(spec.model.sigma0) + np.trace(spec.model.gram))
    gen = torch.Generator().manual_seed(11)
    errors, ses = [], []
    for n_steps in (10, 40):
        table = MomentTable.build(spec.model, reverse_times(2.0, n_steps))
        z_T, _ = spec.sample(20000, gen, t=2.0)
        sq = (euler_maruyama(PopulationScore.build(spec, table), z_T, table, gen) ** 2).sum((-2, -1)) / 8
        errors.append(float(sq.mean()) - exact)
        ses.append(float(sq.std()) / math.sqrt(sq.numel()))
    assert abs(errors[0]) > 5 * ses[0]
    assert abs(errors[1]) < 0.5 * abs(errors[0])


def test_heun_ode_is_second_order_on_gaussian_flow():
    # mu = 0 (zero Gram): the probability-flow map A from T to 0 is linear and must transport C(T)
    # to Sigma(0): A C(T) A^T = Sigma(0). Push the columns of chol(C(T)) through (d = 1); the error
    # of sum_j z_j z_j^T against Sigma(0) must fall ~4x when the step halves (order 2).
    model = CoupledOU.general(
        np.array([[-1.0, 0.3], [0.7, -1.5]]), 2.0, np.array([[0.6, 0.2], [0.2, 0.9]]), np.zeros((2, 2))
    )
    spec = MixtureSpec.from_model(model, d=1)
    L_T = torch.as_tensor(np.linalg.cholesky(model.moments(np.asarray(2.0)).C))
    z_T = L_T.T[:, :, None].clone()  # (2 points, k=2, d=1), columns of L_T
    errors = []
    for n_steps in (10, 20, 40):
        table = MomentTable.build(model, reverse_times(2.0, n_steps))
        z0 = heun_ode(PopulationScore.build(spec, table), z_T, table)[..., 0]
        errors.append(float(np.abs((z0.T @ z0).numpy() - model.sigma0).max()))
    assert errors[0] < 0.05
    assert 3.0 < errors[0] / errors[1] < 5.0 and 3.0 < errors[1] / errors[2] < 5.0


def test_empirical_score_collapses_onto_training_points():
    # Regime III: integrating the exact empirical score (18) down to t_end = 1e-4 must land every
    # sample next to a training point. By hand: the last kernel is N(Phi z_i, Q(t_end)) with
    # Q ~ sigma_W^2 t_end I, so the distance is ~ sqrt(k d sigma_W^2 t_end) = sqrt(8 * 2e-4) = 0.04,
    # against a nearest-neighbour spacing of the training points of order 1 (they are N(+-mu, Sigma)
    # draws in k d = 8 dimensions); we require < 0.1 x spacing. The exact reverse process picks each
    # of the n = 16 points with probability 1/16, so with 256 samples every point is hit (a miss
    # has probability 16 (15/16)^256 < 1e-6).
    spec = MixtureSpec.from_model(MODELS["symmetric"], d=4)
    gen = torch.Generator().manual_seed(12)
    data, _ = spec.sample(16, gen)
    s = np.linspace(1.0, 0.0, 401)
    times = 1e-4 + (2.0 - 1e-4) * s**2  # finer steps near t_end
    table = MomentTable.build(spec.model, times)
    z_T, _ = spec.sample(256, gen, t=2.0)
    z0 = euler_maruyama(EmpiricalScore.build(table, data, chunk_size=5), z_T, table, gen)
    centres = (table.Phi[-1] @ data).reshape(16, -1)
    dist = torch.cdist(z0.reshape(256, -1), centres)
    spacing = torch.cdist(centres, centres) + torch.diag(torch.full((16,), math.inf, dtype=F64))
    nearest = dist.min(1)
    assert float((nearest.values / spacing.min(1).values[nearest.indices]).max()) < 0.1
    assert torch.unique(nearest.indices).numel() == 16


def test_callback_sees_every_grid_point():
    spec = MixtureSpec.from_model(MODELS["symmetric"], d=2)
    times = reverse_times(1.0, 5)
    table = MomentTable.build(spec.model, times)
    z_T, _ = spec.sample(3, torch.Generator().manual_seed(13), t=1.0)
    for integrator in (euler_maruyama, heun_ode):
        seen = []
        out = integrator(
            PopulationScore.build(spec, table),
            z_T,
            table,
            torch.Generator().manual_seed(0),
            callback=lambda i, t, z, seen=seen: seen.append((i, t, z.clone())),
        )
        assert [i for i, _, _ in seen] == list(range(6))
        assert np.allclose([t for _, t, _ in seen], times)
        assert torch.equal(seen[0][2], z_T) and torch.equal(seen[-1][2], out)


def test_euler_maruyama_reproducible_from_generator():
    spec = MixtureSpec.from_model(MODELS["aniso-late"], d=3)
    table = MomentTable.build(spec.model, reverse_times(1.0, 20))
    z_T, _ = spec.sample(10, torch.Generator().manual_seed(14), t=1.0)
    score = PopulationScore.build(spec, table)
    a = euler_maruyama(score, z_T, table, torch.Generator().manual_seed(1))
    b = euler_maruyama(score, z_T, table, torch.Generator().manual_seed(1))
    c = euler_maruyama(score, z_T, table, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_invalid_inputs_raise_value_error():
    model = MODELS["symmetric"]
    with pytest.raises(ValueError, match="strictly decreasing"):
        MomentTable.build(model, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        MomentTable.build(model, np.array([1.0, -0.5]))
    with pytest.raises(ValueError, match="n_steps"):
        reverse_times(1.0, 0)
    with pytest.raises(ValueError, match="t_end"):
        reverse_times(1.0, 10, t_end=1.0)
    spec = MixtureSpec.from_model(model, d=3)
    with pytest.raises(ValueError, match="shape"):
        population_score(spec, 0.5, torch.zeros(4, 3, 3, dtype=F64))
    with pytest.raises(ValueError, match="t must be"):
        population_score(spec, -1.0, torch.zeros(4, 2, 3, dtype=F64))
    with pytest.raises(ValueError, match="chunk_size"):
        empirical_score(
            torch.zeros(1, 2, 3, dtype=F64),
            torch.zeros(2, 2, 3, dtype=F64),
            torch.eye(2, dtype=F64),
            torch.eye(2, dtype=F64),
            chunk_size=0,
        )
    table = MomentTable.build(model, reverse_times(1.0, 4))
    with pytest.raises(ValueError, match="z_T"):
        euler_maruyama(PopulationScore.build(spec, table), torch.zeros(4, 3, 3, dtype=F64), table, torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_euler_maruyama_on_cuda_reproduces_data_mixture():
    spec = MixtureSpec.from_model(MODELS["aniso-late"], d=8, device="cuda")
    table = MomentTable.build(spec.model, reverse_times(2.0, 200), device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(9)
    z_T, _ = spec.sample(4000, gen, t=2.0)
    z0 = euler_maruyama(PopulationScore.build(spec, table), z_T, table, gen)
    assert z0.device.type == "cuda"
    _class_stats_check(MixtureSpec(spec.model, spec.mu0.cpu()), z0.cpu())
