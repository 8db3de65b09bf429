"""Protocols I and II of the MNIST experiment (paper §5): diffregimes.protocols.sync and
diffregimes.protocols.speciation_clones, checked against trajectories and score functions whose
answers are known by construction or by hand derivation (comments give the derivations).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from diffregimes.diffusion import (
    ddim_step,
    ddpm_step_whitened,
    from_modes,
    linear_vp_schedule,
    perturb_difference_mode,
    predict_x0,
    reverse_pairs,
    sample_mode_noise,
    to_modes,
)
from diffregimes.protocols.speciation_clones import (
    Z95,
    active_rows,
    clone_agreement,
    excess_agreement,
    independent_agreement,
    run_clones,
    speciation_crossing,
    speciation_curve,
    wilson_interval,
)
from diffregimes.protocols.sync import (
    X0Trajectory,
    batched,
    clip_x0,
    cosine_curves,
    cosine_to_final,
    crossing_step,
    ghosting_index,
    step_ou_time,
    sync_gaps,
    v_intervention,
    x0_trajectory,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def hand_ou_times(T: int) -> np.ndarray:
    """t_k = -1/2 log prod_{s<=k} (1 - beta_s), beta linear from 1e-4*1000/T to 0.02*1000/T (94)."""
    betas = np.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T)
    return -0.5 * np.cumsum(np.log1p(-betas))


# ============================================================================ cosines and crossings
def _rotating(cosines: np.ndarray, scale: np.ndarray) -> torch.Tensor:
    """Vectors scale_k (c_k e1 + sqrt(1 - c_k^2) e2) in R^4: cosine to the last one (c = 1) is c_k."""
    c = torch.as_tensor(cosines, dtype=torch.float64)
    out = torch.zeros(len(c), 4, dtype=torch.float64)
    out[:, 0], out[:, 1] = c, torch.sqrt(1 - c**2)
    return out * torch.as_tensor(scale, dtype=torch.float64)[:, None]


def test_cosine_to_final_recovers_constructed_cosines_and_ignores_magnitude():
    c = np.array([0.1, -0.4, 0.7, 0.95, 1.0])
    m = _rotating(c, np.array([5.0, 0.3, 2.0, 1e-3, 7.0]))[:, None]  # [S, B=1, 4]
    assert np.allclose(cosine_to_final(m)[:, 0].numpy(), c, atol=1e-12)


def test_crossing_step_is_the_largest_step_at_or_above_tau():
    ks = np.arange(99, -1, -1)  # logged in reverse order, as a trajectory is
    cos = 1 - (ks + 0.5) / 100  # Cos(k) >= tau  <=>  k <= 100 (1 - tau) - 0.5
    assert crossing_step(cos, ks, 0.95) == 4
    assert crossing_step(cos, ks, 0.90) == 9
    assert crossing_step(cos, ks, 0.98) == 1
    assert crossing_step(cos, ks, 0.999) is None


def test_crossing_step_takes_the_literal_max_for_a_non_monotone_curve():
    ks = np.arange(60, -1, -1)
    cos = np.full(ks.shape, 0.5)
    cos[ks == 50] = 0.97  # a spike, then back below tau until k <= 5
    cos[ks <= 5] = 0.99
    assert crossing_step(cos, ks, 0.95) == 50  # (99): max{k : Cos(k) >= tau}
    assert crossing_step(cos, ks, 0.98) == 5


def test_sync_gap_of_a_constructed_trajectory_in_steps_and_ou_time():
    T = 40
    sched = linear_vp_schedule(T)
    ks = np.arange(T - 1, -1, -1)
    # u reaches 0.95 at k <= 30, v only at k <= 12 (linear ramps built to cross there)
    cu = np.where(ks <= 30, 0.96, 0.5)
    cv = np.where(ks <= 12, 0.96, 0.2)
    cu[-1] = cv[-1] = 1.0
    u = _rotating(cu, np.ones(T))[:, None].reshape(T, 1, 2, 2)
    v = _rotating(cv, np.ones(T))[:, None].reshape(T, 1, 2, 2)
    traj = X0Trajectory(ks, from_modes(u, v).float(), from_modes(u[-1], v[-1]).float())
    row = sync_gaps(cosine_curves(traj), sched, [0.95])[0]
    assert (row["t_u"], row["t_v"], row["dt"]) == (30.0, 12.0, -18.0)
    t = hand_ou_times(T)
    assert row["dt_ou"] == pytest.approx(t[12] - t[30], abs=1e-12)
    assert step_ou_time(-1, sched) == 0.0 and step_ou_time(12, sched) == pytest.approx(t[12], abs=1e-12)


def test_ghosting_index_hand_value():
    # x_A = e1 + s e2, x_B = e1 - s e2 (final s = 0): u = sqrt2 e1 so c_u = 1, c_A = c_B = 1/sqrt(1+s^2),
    # GI = 2 - 2/sqrt(1+s^2)  (107)-(108)
    s = np.array([2.0, 1.0, 0.5, 0.0])
    xa = torch.zeros(4, 1, 2, 2, dtype=torch.float64)
    xb = torch.zeros_like(xa)
    xa[:, 0, 0, 0] = xb[:, 0, 0, 0] = 1.0
    xa[:, 0, 0, 1], xb[:, 0, 0, 1] = torch.as_tensor(s), -torch.as_tensor(s)
    traj = X0Trajectory(np.arange(3, -1, -1), torch.stack([xa, xb], dim=2), torch.stack([xa[-1], xb[-1]], dim=1))
    gh = ghosting_index(cosine_curves(traj))
    assert np.allclose(gh["c_u"], 1.0, atol=1e-12)
    assert np.allclose(gh["c_a"], 1 / np.sqrt(1 + s**2), atol=1e-12)
    assert np.allclose(gh["gi"], 2 - 2 / np.sqrt(1 + s**2), atol=1e-12)


# ============================================================================ DDIM trajectories
def point_mass_eps(x_star: torch.Tensor, sched):
    """Exact eps for data = one point x*: z_k = sqrt(a) x* + sqrt(1-a) eps  =>  eps = (z - sqrt(a) x*)/sqrt(1-a)."""

    def eps(z, k):
        a = float(sched.alpha_bars[k])
        return (z - a**0.5 * x_star) / (1 - a) ** 0.5

    return eps


def test_x0_trajectory_of_a_point_mass_predicts_the_point_at_every_step():
    T = 30
    sched = linear_vp_schedule(T)
    x_star = torch.rand(1, 2, 4, 4, generator=gen(1), dtype=torch.float64)
    z = sample_mode_noise((3, 2, 4, 4), 0.4, gen(2), dtype=torch.float64)
    traj = x0_trajectory(point_mass_eps(x_star, sched), z, sched, keep_states=True)
    assert traj.steps.tolist() == list(range(T - 1, -1, -1))
    assert torch.allclose(traj.x0.double(), x_star.expand(T, 3, 2, 4, 4), atol=1e-5)
    assert torch.allclose(traj.final.double(), x_star.expand(3, 2, 4, 4), atol=1e-5)
    assert torch.equal(traj.states[0], z.float())
    c = cosine_curves(traj)
    assert np.allclose(c.mean("u"), 1.0, atol=1e-6) and crossing_step(c.mean("v"), c.steps, 0.98) == T - 1


def test_clip_x0_clips_the_implied_prediction_and_keeps_it_consistent():
    T = 25
    sched = linear_vp_schedule(T)
    z = torch.randn(4, 2, 3, 3, generator=gen(3), dtype=torch.float64) * 3
    raw = lambda z, k: -2.0 * z  # noqa: E731 - implies x0_hat far outside [0, 1]
    wrapped = clip_x0(raw, sched, 0.0, 1.0)
    for k in (0, 7, T - 1):
        want = predict_x0(z, raw(z, k), k, sched).clamp(0, 1)
        assert torch.allclose(predict_x0(z, wrapped(z, k), k, sched), want, atol=1e-9)


def test_batched_eps_equals_one_call():
    f = lambda z, k: torch.sin(z) * (k + 1)  # noqa: E731
    z = torch.randn(10, 2, 2, 2, generator=gen(4))
    assert torch.equal(batched(f, 3)(z, 5), f(z, 5))


# ============================================================================ intervention (101)
def gaussian_eps(s2: tuple[float, float], g: float, sched):
    """Exact eps for zero-mean Gaussian data with per-mode variances s2 = (s_u^2, s_v^2) and mode noise
    variances (1-g, 1+g) (92): E[eps_m | z_m] = sqrt(1-a) sig_m^2 / (a s_m^2 + (1-a) sig_m^2) z_m."""
    sig2 = (1 - g, 1 + g)

    def eps(z, k):
        a = float(sched.alpha_bars[k])
        u, v = to_modes(z)
        cu, cv = ((1 - a) ** 0.5 * sig2[i] / (a * s2[i] + (1 - a) * sig2[i]) for i in range(2))
        return from_modes(cu * u, cv * v)

    return eps


def ddim_gain(s2: float, sig2: float, sched, k_from: int) -> float:
    """Product of the per-step DDIM factors from step k_from to the end, by hand: with the eps above,
    x0_hat = sqrt(a) s^2 z / D and z' = sqrt(a') x0_hat + sqrt(1-a') eps_hat, D = a s^2 + (1-a) sig^2, so
    z' = z [sqrt(a' a) s^2 + sqrt((1-a')(1-a)) sig^2] / D, with a' = 1 after step 0."""
    ab = sched.alpha_bars.numpy()
    f = 1.0
    for k in range(k_from, -1, -1):
        a, ap = ab[k], (ab[k - 1] if k > 0 else 1.0)
        f *= (math.sqrt(ap * a) * s2 + math.sqrt((1 - ap) * (1 - a)) * sig2) / (a * s2 + (1 - a) * sig2)
    return f


def test_v_intervention_on_gaussian_data_matches_the_hand_gain():
    T, g, sigma = 50, 0.5, 0.25
    sched = linear_vp_schedule(T)
    s2 = (0.3, 0.05)
    z = sample_mode_noise((8, 2, 5, 5), g, gen(5), dtype=torch.float64)
    xi = torch.randn(8, 5, 5, generator=gen(6), dtype=torch.float64)
    res = v_intervention(gaussian_eps(s2, g, sched), z, sched, [40, 26, 3], sigma, xi)
    rms_xi = float(xi.pow(2).mean().sqrt())
    for i, k in enumerate([40, 26, 3]):
        assert res.rms_du[i] == pytest.approx(0.0, abs=1e-12)  # u untouched, modes decoupled
        assert res.rms_dv[i] == pytest.approx(sigma * rms_xi * ddim_gain(s2[1], 1 + g, sched, k), rel=1e-9)
    u0, v0 = to_modes(z)
    ub, vb = to_modes(res.base.double())
    assert torch.allclose(ub, ddim_gain(s2[0], 1 - g, sched, T - 1) * u0, rtol=1e-5, atol=1e-7)
    assert torch.allclose(vb, ddim_gain(s2[1], 1 + g, sched, T - 1) * v0, rtol=1e-5, atol=1e-7)


def test_v_intervention_branches_equal_separate_runs_for_a_nonlinear_eps():
    T, sigma = 25, 0.3
    sched = linear_vp_schedule(T)
    eps = lambda z, k: z / torch.sqrt(1 + 0.05 * z * z) + 0.001 * k  # noqa: E731 - nonlinear, bounded
    z0 = torch.randn(3, 2, 4, 4, generator=gen(7), dtype=torch.float64)
    xi = torch.randn(3, 4, 4, generator=gen(8), dtype=torch.float64)
    k_ints = [20, 9, 0]
    res = v_intervention(eps, z0, sched, k_ints, sigma, xi)
    for i, k_int in enumerate(k_ints):  # reference: one unbatched run per intervention step
        z = z0.clone()
        for k, kp in reverse_pairs(T):
            if k == k_int:
                z = perturb_difference_mode(z, sigma, xi)
            z = ddim_step(z, eps(z, k), k, kp, sched)
        assert torch.allclose(res.perturbed[i].double(), z.float().double(), atol=1e-6)
    zero = v_intervention(eps, z0, sched, [12], 0.0, xi)
    # sigma = 0: only the rounding of the (u, v) round trip separates the branch from the base
    assert torch.allclose(zero.perturbed[0], zero.base, rtol=1e-9, atol=1e-9) and zero.rms_dv[0] < 1e-9
    assert np.isnan(res.path_dv[0, 0]) and not np.isnan(res.path_dv[0, T - 1 - 20])


def test_v_intervention_rejects_steps_not_visited():
    sched = linear_vp_schedule(30)
    z = torch.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="k_ints"):
        v_intervention(lambda z, k: z, z, sched, [30], 0.1, torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="k_ints"):
        v_intervention(lambda z, k: z, z, sched, [5], 0.1, torch.zeros(1, 2, 2), num_steps=10)  # visits 0,3,6,..


# ============================================================================ Protocol II statistics
def test_wilson_interval_hand_values():
    # 8/10 at 95%: centre (p + z^2/2n)/(1 + z^2/n), half z sqrt(p(1-p)/n + z^2/4n^2)/(1 + z^2/n)
    #  = (0.4902, 0.9433), the textbook value; 0/10: (0, z^2/(n + z^2)) = (0, 0.2775)
    lo, hi = wilson_interval(np.array([8, 0]), np.array([10, 10]))
    assert lo[0] == pytest.approx(0.4902, abs=1e-4) and hi[0] == pytest.approx(0.9433, abs=1e-4)
    assert lo[1] == 0.0 and hi[1] == pytest.approx(Z95**2 / (10 + Z95**2), abs=1e-12)


def test_excess_agreement_maps_independence_to_zero_and_agreement_to_one():
    assert np.allclose(excess_agreement(np.array([0.6, 1.0, 0.8]), 0.6), [0.0, 1.0, 0.5])
    assert np.isnan(excess_agreement(0.9, 1.0))


def test_speciation_crossing_interpolates_at_phi_star():
    k = [10, 20, 30, 40]
    # largest scan step >= 0.55 is 20 (0.7), next 30 (0.5): 20 + (0.15 / 0.2) * 10 = 27.5
    assert speciation_crossing(k, [0.9, 0.7, 0.5, 0.2]) == (pytest.approx(27.5), False)
    # (106) is a sup: the last point above phi* counts even after a dip, 30 + 0.05/0.4 * 10 = 31.25
    assert speciation_crossing(k, [0.9, 0.5, 0.6, 0.2]) == (pytest.approx(31.25), False)
    assert speciation_crossing(k[::-1], [0.2, 0.5, 0.7, 0.9])[0] == pytest.approx(27.5)  # order-free
    assert speciation_crossing(k, [0.9, 0.9, 0.8, 0.6]) == (40.0, True)
    t, cens = speciation_crossing(k, [0.5, 0.4, 0.3, 0.2])
    assert math.isnan(t) and not cens


def test_independent_agreement_hand_value_and_brute_force():
    # masters [0,0], [1,1], [0,1]: 24 ordered cross-master pairs, 8 agree (counted by hand) -> 1/3
    phi, pairs = independent_agreement(np.array([[0, 0], [1, 1], [0, 1]]))
    assert (phi, pairs) == (pytest.approx(1 / 3), 24)
    lab = np.random.default_rng(0).integers(0, 3, size=(7, 5))
    agree = total = 0
    for (i, a), (j, b) in itertools.product(enumerate(lab), repeat=2):
        if i != j:
            agree += int(np.sum(a[:, None] == b[None, :]))
            total += a.size * b.size
    assert independent_agreement(lab) == (pytest.approx(agree / total), total)


def test_speciation_curve_assembles_counts_intervals_and_crossing():
    # 3 scans (k = 5, 15, 25) x 100 masters; clone pairs agree 100, 70, 40 times; masters balanced
    labels = np.zeros((3, 2, 100), dtype=int)
    for s, n_agree in enumerate([100, 70, 40]):
        labels[s, 1, n_agree:] = 1
    master = np.array([0, 1] * 50)
    c = speciation_curve([5, 15, 25], labels, master)
    assert c.agree.tolist() == [100, 70, 40] and c.n.tolist() == [100, 100, 100]
    per_master = np.concatenate([master[:, None], labels.reshape(6, 100).T], axis=1)
    assert c.phi_indep == pytest.approx(independent_agreement(per_master)[0])
    ex = (np.array([1.0, 0.7, 0.4]) - c.phi_indep) / (1 - c.phi_indep)
    assert np.allclose(c.phi_ex, ex)
    assert c.t_spec == pytest.approx(speciation_crossing([5, 15, 25], ex)[0])
    lo, hi = wilson_interval(np.array([100, 70, 40]), 100)
    assert np.allclose(c.ex_lo, (lo - c.phi_indep) / (1 - c.phi_indep))
    assert c.t_spec_lo <= c.t_spec <= c.t_spec_hi


# ============================================================================ cloning runs
def _noise_table(T: int, rows: int, shape, seed: int) -> torch.Tensor:
    return torch.randn((T, rows, *shape), generator=gen(seed), dtype=torch.float64)


def test_batched_clones_equal_a_naive_per_scan_loop_with_the_same_noise():
    T, g, m = 24, 0.3, 3
    sched = linear_vp_schedule(T)
    scan = [2, 17, 9, 0]
    eps = lambda z, k: z / torch.sqrt(1 + 0.05 * z * z) + 0.001 * k  # noqa: E731 - row-wise, +*/sqrt only
    z0 = sample_mode_noise((m, 2, 3, 3), g, gen(9), dtype=torch.float64)
    rows = m * (1 + 2 * len(scan))
    table = _noise_table(T, rows, (2, 3, 3), 10)
    run = run_clones(eps, z0, sched, g, scan, noise_fn=lambda k, n: table[k, :n])
    assert run.scan_steps.tolist() == [17, 9, 2, 0]

    def naive(z, k_from, row0):  # one block of m rows on its own, rows row0.. of each step's draw
        for k in range(k_from, -1, -1):
            z = ddpm_step_whitened(z, eps(z, k), k, k - 1, sched, table[k, row0 : row0 + m] if k > 0 else None, g)
        return z

    states, z = {}, z0.clone()
    for k in range(T - 1, -1, -1):  # master alone, caching its state at each scan step
        states[k] = z.clone()
        z = ddpm_step_whitened(z, eps(z, k), k, k - 1, sched, table[k, :m] if k > 0 else None, g)
    assert torch.allclose(run.master_final, z, atol=1e-12)
    for i, k_s in enumerate(run.scan_steps):
        for c in range(2):
            want = naive(states[int(k_s)], int(k_s), m * (1 + 2 * i + c))
            assert torch.allclose(run.clone_final[i, c], want, atol=1e-12)
    # the active prefix really shrinks: only masters and the scan-17 clones are stepped at k = 12
    assert active_rows(12, m, run.scan_steps) == 3 * m
    assert run.evaluations(T) == m * T + 2 * m * (18 + 10 + 3 + 1)


def test_clones_from_the_last_step_are_the_master_end_point():
    # the step at k = 0 has no noise (k_prev = -1): clones started at k_s = 0 equal the master's end
    T, g = 25, 0.2
    sched = linear_vp_schedule(T)
    z0 = sample_mode_noise((4, 2, 3, 3), g, gen(11), dtype=torch.float64)
    run = run_clones(lambda z, k: 0.5 * z, z0, sched, g, [0, 7], generator=gen(12))
    i0 = list(run.scan_steps).index(0)
    assert torch.equal(run.clone_final[i0, 0], run.master_final)
    assert torch.equal(run.clone_final[i0, 1], run.master_final)
    i7 = list(run.scan_steps).index(7)
    assert not torch.allclose(run.clone_final[i7, 0], run.clone_final[i7, 1])  # independent noise


def two_point_eps(x_star: torch.Tensor, g: float, sched):
    """Exact eps for data +-x* (prob 1/2 each) under mode-shaped noise: in whitened coordinates
    y = W z the noise is white, so P(+ | z_k) = sigmoid(2 sqrt(a) <W z, W x*> / (1 - a)) and
    E[x0 | z] = (2 P - 1) x*; eps = (z - sqrt(a) E[x0|z]) / sqrt(1 - a)."""
    w = torch.tensor([1 / math.sqrt(1 - g), 1 / math.sqrt(1 + g)], dtype=torch.float64)

    def whiten(z):
        u, v = to_modes(z)
        return torch.stack([u * w[0], v * w[1]], dim=1)

    wx = whiten(x_star)

    def eps(z, k):
        a = float(sched.alpha_bars[k])
        logit = 2 * a**0.5 * (whiten(z) * wx).sum(dim=(1, 2, 3)) / (1 - a)
        mean = (2 * torch.sigmoid(logit) - 1)[:, None, None, None] * x_star
        return (z - a**0.5 * mean) / (1 - a) ** 0.5

    return eps


def test_clone_agreement_on_two_point_data_goes_from_chance_to_certainty():
    # data +-x*: clones from the pure-noise end agree with probability E[p^2 + (1-p)^2] = 1/2 (p ~ 1/2
    # there), clones from k = 0 always agree. 600 pairs: sd of the estimate 0.02.
    T, g, m = 40, 0.5, 600
    sched = linear_vp_schedule(T)
    x_star = torch.full((1, 2, 2, 2), 0.8, dtype=torch.float64)
    z0 = sample_mode_noise((m, 2, 2, 2), g, gen(13), dtype=torch.float64)
    run = run_clones(two_point_eps(x_star, g, sched), z0, sched, g, [T - 1, 0], generator=gen(14))
    sign = lambda z: (z.sum(dim=(-1, -2, -3)) > 0).long().numpy()  # noqa: E731 - class of an end point
    labels = np.stack([np.stack([sign(run.clone_final[s, c]) for c in range(2)]) for s in range(2)])
    agree, n = clone_agreement(labels)
    phi = dict(zip(run.scan_steps.tolist(), (agree / n).tolist()))
    assert phi[0] == 1.0
    assert abs(phi[T - 1] - 0.5) < 0.08
    master = sign(run.master_final)
    assert abs(master.mean() - 0.5) < 0.08  # both classes generated


class _MeanSign(torch.nn.Module):
    """A stand-in for C_u / C_v: label 1 when an image's mean pixel is positive (labels vary between samples)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1).mean(1)
        return torch.stack([-m, m], dim=1)


def test_clone_labels_are_the_labelled_end_points_of_each_trial_from_the_documented_streams():
    """protocols.protocol2.clone_labels (Protocol II at one g) equals run_clones per trial from the masters'
    seeds derive_seed(seed, "p2-masters", g, trial), the trials drawing their reverse noise in turn from one
    generator seeded derive_seed(seed, "p2-clone-noise", g); masters' and clones' end points labelled through
    (103), the trials side by side."""
    from diffregimes.nets import classifier_inputs
    from diffregimes.protocols.protocol2 import clone_labels
    from diffregimes.protocols.speciation_clones import predict_labels
    from diffregimes.seeds import derive_seed

    schedule, g, scan, M, trials, seed = linear_vp_schedule(30), 0.3, [2, 6], 4, 2, 5
    C = _MeanSign()

    def eps(z: torch.Tensor, k: int) -> torch.Tensor:
        return 0.1 * z

    out = clone_labels(eps, schedule, g, scan, M, trials, seed, C, C, "cpu")
    gen = torch.Generator().manual_seed(derive_seed(seed, "p2-clone-noise", "0.3"))
    for trial in range(trials):
        z = sample_mode_noise(
            (M, 2, 28, 28), g, torch.Generator().manual_seed(derive_seed(seed, "p2-masters", "0.3", trial))
        )
        run = run_clones(eps, z, schedule, g, scan, generator=gen)
        cols = slice(trial * M, (trial + 1) * M)
        for i, mode in enumerate("uv"):
            master = predict_labels(C, classifier_inputs(run.master_final)[i]).numpy()
            clones = predict_labels(C, classifier_inputs(run.clone_final)[i].reshape(-1, 28, 28)).numpy()
            assert np.array_equal(out[f"master_{mode}"][cols], master)
            assert np.array_equal(out[f"clones_{mode}"][..., cols], clones.reshape(len(scan), 2, M))
    assert len(set(out["master_u"].tolist())) == 2  # the labels do tell the samples apart
    assert out["scan_steps"].tolist() == [6, 2]
    assert int(out["evaluations"]) == trials * (M * 30 + 2 * M * (7 + 3))  # M T + 2 M (k_s + 1) per scan
