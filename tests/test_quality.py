"""The sample-quality gate's statistics, the claim-verdict rules and the bootstrap of Protocol I gaps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from diffregimes.protocols.quality import (
    class_entropy,
    feature_frechet,
    frechet_distance,
    gate_decision,
    gate_passes,
    image_scores,
)
from diffregimes.protocols.stats import combine, percentile_interval, verdict
from diffregimes.protocols.sync import CosineCurves, crossing_step, crossing_steps, gap_replicates, sync_gaps
from diffregimes.seeds import derive_seed


def test_frechet_of_diagonal_gaussians_has_the_closed_form():
    # commuting covariances: tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_matches_a_general_matrix_square_root():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    s1, s2 = x @ x.T + 0.1 * np.eye(6), y @ y.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)


def test_frechet_of_two_samples_of_one_gaussian_is_the_small_sample_bias():
    # For two independent samples of N(0, I_d) of size n, E[FD] ~ d^2 / (2n) from the covariance terms
    # (each sqrt-trace term is biased by about d(d+1)/(4n)) plus 2d/n from the means: about 2.1 for d=8,
    # n=4000; a distribution shifted by 1 in one coordinate adds exactly 1.
    rng = np.random.default_rng(0)
    d, n = 8, 4000
    same = feature_frechet(rng.standard_normal((n, d)), rng.standard_normal((n, d)))
    shifted_data = rng.standard_normal((n, d))
    shifted_data[:, 0] += 1.0
    shifted = feature_frechet(rng.standard_normal((n, d)), shifted_data)
    assert 0.0 < same < 0.1
    assert shifted == pytest.approx(1.0 + same, abs=0.1)


def test_class_entropy_and_recognised_fraction():
    h, counts = class_entropy(np.repeat(np.arange(10), 7), 10)
    assert h == pytest.approx(math.log(10)) and counts.tolist() == [7] * 10
    assert class_entropy(np.zeros(5, dtype=int), 10)[0] == 0.0
    probs = torch.tensor([[0.95, 0.05], [0.5, 0.5], [0.1, 0.9], [0.2, 0.8]])
    s = image_scores(probs, threshold=0.9)
    assert s.recognised == 0.5 and s.n == 4  # rows 0 and 2 reach 0.9
    assert s.recognised_lo < 0.5 < s.recognised_hi


def _unsure(n: int) -> torch.Tensor:
    """n images with max softmax 0.5 (not recognised), spread evenly over the classes."""
    p = torch.full((n, 10), 0.5 / 9)
    p[torch.arange(n), torch.arange(n) % 10] = 0.5
    return p


def test_gate_thresholds():
    probs_real = torch.eye(10).repeat(10, 1)  # 100 confident images, every class
    real = image_scores(probs_real)
    # Wilson 95 % intervals at n = 100, by hand: 90/100 -> [0.826, 0.945]; 70/100 -> [0.604, 0.781];
    # 60/100 -> [0.502, 0.691]; the threshold is 0.7 x 1.0 (every real image is recognised)
    good = image_scores(torch.cat([torch.eye(10).repeat(9, 1), _unsure(10)]))
    assert good.recognised_lo == pytest.approx(0.826, abs=1e-3) and gate_decision(good, real) == "pass"
    ok = image_scores(torch.cat([torch.eye(10).repeat(7, 1), _unsure(30)]))
    assert (ok.recognised_lo, ok.recognised_hi) == (pytest.approx(0.604, abs=1e-3), pytest.approx(0.781, abs=1e-3))
    assert gate_decision(ok, real) == "marginal" and gate_passes(ok, real)  # usable, flagged
    short = image_scores(torch.cat([torch.eye(10).repeat(6, 1), _unsure(40)]))
    assert short.recognised_hi == pytest.approx(0.691, abs=1e-3)
    assert gate_decision(short, real) == "fail" and not gate_passes(short, real)
    one_class = image_scores(torch.eye(10)[[3] * 100])
    assert gate_decision(one_class, real) == "fail"  # entropy 0 < 0.9 log 10


def test_verdict_rules():
    assert verdict(0.2, 0.5, above=0.0) == "holds"
    assert verdict(-0.5, -0.2, above=0.0) == "fails"
    assert verdict(-0.1, 0.3, above=0.0) == "inconclusive"
    assert verdict(-3.0, -1.0, below=0.0) == "holds"
    assert verdict(1.6, 3.5, band=(1.5, 4.0)) == "holds"
    assert verdict(1.0, 1.4, band=(1.5, 4.0)) == "fails"
    assert verdict(1.2, 2.0, band=(1.5, 4.0)) == "inconclusive"
    assert verdict(float("nan"), 1.0, above=0.0) == "inconclusive"
    assert combine([]) == "inconclusive"  # empty data never holds
    assert combine(["holds", "inconclusive"]) == "inconclusive"
    assert combine(["holds", "fails"]) == "fails"


def test_bootstrap_interval_of_a_mean_has_the_normal_width():
    # the percentile interval of the mean of n N(0, 1) draws has width ~ 2 * 1.96 / sqrt(n); with 4000
    # resamples the width's own Monte-Carlo error is a few per cent
    rng = np.random.default_rng(1)
    x = rng.standard_normal(400)
    reps = x[rng.integers(0, 400, size=(4000, 400))].mean(axis=1)
    lo, hi = percentile_interval(reps)
    assert hi - lo == pytest.approx(2 * 1.959964 * x.std() / 20, rel=0.08)
    assert percentile_interval(np.array([1.0, np.nan, np.nan, 2.0])) == (pytest.approx(np.nan, nan_ok=True),) * 2


def _curves(rng: np.random.Generator, steps: np.ndarray, batch: int) -> CosineCurves:
    s = len(steps)
    ramp = np.linspace(0.0, 1.0, s)[:, None]
    return CosineCurves(
        steps,
        {
            n: np.clip(ramp**p + 0.05 * rng.standard_normal((s, batch)), -1, 1)
            for n, p in (("u", 0.5), ("v", 2.0), ("x_a", 1.0), ("x_b", 1.0))
        },
    )


def test_vectorised_crossings_and_identity_bootstrap_match_the_scalar_path():
    rng = np.random.default_rng(2)
    steps = np.arange(40)[::-1]
    seeds = [_curves(rng, steps, 12) for _ in range(3)]
    rows = np.stack([c.mean("u") for c in seeds])
    assert [None if np.isnan(t) else int(t) for t in crossing_steps(rows, steps, 0.9)] == [
        crossing_step(r, steps, 0.9) for r in rows
    ]
    from diffregimes.diffusion import linear_vp_schedule

    sched = linear_vp_schedule(40)
    expected = np.mean([sync_gaps(c, sched, [0.9])[0]["dt"] for c in seeds])
    ident = gap_replicates(seeds, 0.9, np.arange(3)[None, :], np.broadcast_to(np.arange(12), (1, 3, 12)))
    assert ident[0] == pytest.approx(expected)


def test_derived_seeds_are_deterministic_and_distinct():
    assert derive_seed(0, "mnist-model", 1) == derive_seed(0, "mnist-model", 1)
    seeds = {derive_seed(r, k, i) for r in range(3) for k in ("a", "b") for i in range(3)}
    assert len(seeds) == 18 and all(0 <= s < 2**63 for s in seeds)
    with pytest.raises(ValueError):
        derive_seed(-1, "x")
