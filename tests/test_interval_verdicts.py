"""Intervals behind the verdicts of the validation and App. C claims, checked on independent values:
published intervals, scipy's Wilson interval, closed forms and the coverage of synthetic curves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import binomtest, norm

from diffregimes.experiments.validation.common import nearer_summary, nearer_verdict, ratio_verdict
from diffregimes.protocols.appc import AppCConfig, run_appc
from diffregimes.protocols.regimes import (
    agreement_crossing,
    clone_agreement,
    crossing_interval,
    crossing_replicates,
    resampled_curves,
    sign_classifier,
)
from diffregimes.protocols.stats import (
    bounded_percentile_interval,
    fmt_interval,
    paired_proportion_difference,
    percentile_interval,
    verdict,
)
from diffregimes.sde import MixtureSpec, MomentTable, PopulationScore, reverse_times
from diffregimes.theory import CoupledOU


def _paired(both: int, first_only: int, second_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.repeat([True, True, False, False], [both, first_only, second_only, neither])
    y = np.repeat([True, False, True, False], [both, first_only, second_only, neither])
    return x, y


def test_paired_difference_matches_the_published_newcombe_interval():
    # Cavo et al. (2012), complete response before/after consolidation, 2x2 table [[59, 6], [16, 80]]:
    # Newcombe square-and-add interval -0.0621 (95% CI -0.1186 to -0.0046) (Fagerland, Lydersen & Laake 2017,
    # ch. 8; R package contingencytables).
    est, lo, hi = paired_proportion_difference(*_paired(59, 6, 16, 80))
    assert est == pytest.approx(-0.0621, abs=5e-5)
    assert lo == pytest.approx(-0.1186, abs=5e-5) and hi == pytest.approx(-0.0046, abs=5e-5)
    # swapping the two outcomes mirrors the interval
    est2, lo2, hi2 = paired_proportion_difference(*_paired(59, 16, 6, 80))
    assert (est2, lo2, hi2) == pytest.approx((-est, -hi, -lo), abs=1e-12)


def test_paired_difference_without_discordant_pairs_is_the_wilson_half_width():
    # all n pairs agree and succeed: both Wilson intervals are [n / (n + z^2), 1], phi = 0, so the interval
    # is +- z^2 / (n + z^2) around 0 -- not the degenerate [0, 0] of a normal or bootstrap interval.
    n, z = 64, norm.ppf(0.975)
    est, lo, hi = paired_proportion_difference(np.ones(n, bool), np.ones(n, bool))
    assert est == 0.0 and hi == pytest.approx(z * z / (n + z * z), rel=1e-9) and lo == pytest.approx(-hi, rel=1e-12)
    assert verdict(lo, hi, below=0.0) == "inconclusive"
    assert all(math.isnan(v) for v in paired_proportion_difference(np.zeros(0, bool), np.zeros(0, bool)))


def test_agreement_crossing_by_hand_with_scipy_wilson_bands():
    # falling agreement curve, n = 200 pairs per scan time; level 0.75 between t = 1 (0.85) and t = 2 (0.65)
    t = np.array([0.0, 1.0, 2.0, 3.0])
    k = np.array([190, 170, 130, 110])
    n = 200
    bands = np.array([binomtest(int(x), n).proportion_ci(method="wilson") for x in k])
    lo_band, hi_band = bands[:, 0], bands[:, 1]

    def cross(v: np.ndarray) -> float:  # the single downward crossing of 0.75, by hand
        j = int(np.flatnonzero(v >= 0.75)[-1])
        return t[j] + (v[j] - 0.75) / (v[j] - v[j + 1])

    est, lo, hi = agreement_crossing(t, k / n, n, 0.75)
    assert est == pytest.approx(1.5, abs=1e-12)
    assert lo == pytest.approx(cross(lo_band), abs=1e-12) and hi == pytest.approx(cross(hi_band), abs=1e-12)
    assert lo < est < hi


def test_crossing_interval_censoring():
    t = np.array([1.0, 2.0, 3.0])
    # upper band still above the level at the last scan time: open upper end
    assert crossing_interval(t, [0.9, 0.7, 0.6], [0.8, 0.6, 0.5], [1.0, 0.8, 0.76], 0.75)[2] == math.inf
    # lower band never reaches the level: the crossing may lie anywhere before the scan
    assert crossing_interval(t, [0.8, 0.6, 0.5], [0.7, 0.5, 0.4], [0.9, 0.7, 0.6], 0.75)[1] == 0.0
    # the whole band below the level: [0, first scan time], the estimate undefined
    est, lo, hi = crossing_interval(t, [0.5, 0.4, 0.3], [0.4, 0.3, 0.2], [0.6, 0.5, 0.4], 0.75)
    assert math.isnan(est) and (lo, hi) == (0.0, 1.0)
    assert all(math.isnan(v) for v in crossing_interval(np.zeros(0), [], [], [], 0.5))


def test_crossing_interval_covers_a_known_crossing_with_the_binomial_width():
    # phi(t) = 0.95 - 0.4 t crosses 0.75 at t* = 0.5 (a scan time); n pairs per scan time. The interval should
    # cover t* in >= ~95 % of repetitions and be about 2 z SE(phi(t*)) / |slope| wide.
    rng = np.random.default_rng(11)
    t = np.linspace(0.0, 1.0, 11)
    phi, n, reps = 0.95 - 0.4 * t, 400, 2000
    covered, widths = 0, []
    for _ in range(reps):
        k = rng.binomial(n, phi)
        _, lo, hi = agreement_crossing(t, k / n, n, 0.75)
        covered += lo <= 0.5 <= hi
        widths.append(hi - lo)
    coverage = covered / reps
    assert 0.93 <= coverage <= 0.99, coverage
    expected = 2 * norm.ppf(0.975) * math.sqrt(0.75 * 0.25 / n) / 0.4
    assert np.mean(widths) == pytest.approx(expected, rel=0.1)


def test_ratio_verdict_flips_with_the_tolerance_band():
    # exact agreement curve through 0.75 at t = t_S, n = 10^4 pairs: t/t_S = 1 +- 0.028
    t_s = 2.0
    r = np.linspace(0.5, 1.5, 11)
    n = 10_000
    _, lo, hi = agreement_crossing(r * t_s, 0.75 - 0.3 * (r - 1.0), n, 0.75)
    half = norm.ppf(0.975) * math.sqrt(0.75 * 0.25 / n) / 0.3
    r_lo, r_hi, v = ratio_verdict(lo, hi, t_s, 0.10)
    assert (r_lo, r_hi) == pytest.approx((1 - half, 1 + half), abs=2e-3) and v == "holds"
    assert ratio_verdict(lo, hi, t_s, 0.01)[2] == "inconclusive"  # band narrower than the interval
    _, lo, hi = agreement_crossing(r * t_s, 0.75 - 0.3 * (r - 1.2), n, 0.75)  # crossing at 1.2 t_S
    assert ratio_verdict(lo, hi, t_s, 0.10)[2] == "fails"
    assert ratio_verdict(lo, hi, t_s, 0.25)[2] == "holds"
    assert ratio_verdict(float("nan"), float("nan"), t_s, 0.10)[2] == "inconclusive"


def test_open_ended_intervals_decide_what_they_can():
    assert verdict(1.2, math.inf, band=(0.9, 1.1)) == "fails"
    assert verdict(1.0, math.inf, band=(0.9, 1.1)) == "inconclusive"
    assert verdict(0.0, 0.8, below=1.0) == "holds"
    assert verdict(1.3, math.inf, above=1.0) == "holds"
    assert verdict(-math.inf, 0.5, above=1.0) == "fails"
    assert fmt_interval(1.2, math.inf) == "[1.20, ∞)" and fmt_interval(-math.inf, 0.5, 1) == "(−∞, 0.5]"
    assert fmt_interval(float("nan"), 1.0) == "undetermined"


def test_nearer_verdict_positions():
    # predictions 2 (near) and 4 (far): midpoint 3
    assert nearer_verdict(2.1, 2.8, 2.0, 4.0) == pytest.approx((0.05, 0.4, "holds"))
    assert nearer_verdict(3.2, 3.9, 2.0, 4.0)[2] == "fails"
    assert nearer_verdict(2.5, 3.5, 2.0, 4.0)[2] == "inconclusive"
    assert nearer_verdict(2.1, 2.8, 4.0, 2.0)[2] == "fails"  # roles swapped, order of far/near too
    assert nearer_verdict(0.0, math.inf, 2.0, 4.0)[2] == "inconclusive"
    assert nearer_verdict(float("nan"), 2.5, 2.0, 4.0)[2] == "inconclusive"
    # a family holds only when every cell holds, never on no cells
    cells = [("a", *nearer_verdict(2.1, 2.8, 2.0, 4.0)), ("b", *nearer_verdict(2.5, 3.5, 2.0, 4.0))]
    assert nearer_summary(cells[:1], "x", "y")[0] == "holds" and nearer_summary(cells, "x", "y")[0] == "inconclusive"
    assert "farthest b: [0.25, 0.75]" in nearer_summary(cells, "x", "y")[1]
    assert nearer_summary([], "x", "y")[0] == "inconclusive"


def test_resampled_curves_and_censored_replicates():
    rng = np.random.default_rng(5)
    samples = rng.random((4, 9, 2))
    idx = rng.integers(0, 9, size=(7, 9))
    direct = np.stack([samples[:, row].mean(axis=1) for row in idx])
    assert np.allclose(resampled_curves(samples, idx), direct, atol=1e-12)
    t = np.array([0.5, 1.0, 2.0])
    lower, upper = crossing_replicates(t, np.array([[1.0, 0.6, 0.2], [1.0, 0.9, 0.8], [0.3, 0.2, 0.1]]), 0.5)
    # inside the scan: 1 + 0.1 / 0.4; still above at the end: [2, inf); never reached: [0, 0.5]
    assert lower == pytest.approx([1.25, 2.0, 0.0]) and upper == pytest.approx([1.25, math.inf, 0.5])


def test_bounded_percentile_interval_brackets_the_exact_replicates():
    # exact replicates 1..200; those above 190 are censored (known only to be >= 190), 5 % of them: the plain
    # percentile interval of the censored-as-undefined replicates is undetermined, the bounded one is not
    x = np.random.default_rng(2).permutation(np.arange(1.0, 201.0))
    lower, upper = np.minimum(x, 190.0), np.where(x > 190, np.inf, x)
    exact = np.quantile(x, [0.025, 0.975])
    lo, hi = bounded_percentile_interval(lower, upper)
    assert lo == 5.0 and hi == math.inf and lo <= exact[0] and hi >= exact[1]
    assert math.isnan(percentile_interval(np.where(x > 190, np.nan, x))[0])
    assert verdict(lo, hi, above=0.0) == "holds"
    # no censoring: order statistics next to the interpolated percentiles
    lo, hi = bounded_percentile_interval(x, x)
    assert (lo, hi) == (5.0, 196.0) and lo <= exact[0] <= lo + 1 and hi - 1 <= exact[1] <= hi
    assert all(math.isnan(v) for v in bounded_percentile_interval(np.full(10, np.nan), np.full(10, np.nan)))


def test_per_master_agreement_averages_to_the_agreement_curve():
    d, masters = 8, 50
    model = CoupledOU.general(np.array([[-1.0]]), 2.0, np.eye(1), np.eye(1))
    spec = MixtureSpec.from_model(model, d)
    table = MomentTable.build(model, reverse_times(2.0, 40))
    idx = np.array([30, 10, 20])
    runs = []
    for per_master in (False, True):
        gen = torch.Generator().manual_seed(4)
        z_T, _ = spec.sample(masters, gen, t=2.0)
        runs.append(
            clone_agreement(
                PopulationScore.build(spec, table),
                table,
                z_T,
                idx,
                sign_classifier(spec.mu0[None]),
                gen,
                per_master=per_master,
            )
        )
    assert runs[1].shape == (3, masters, 1) and set(np.unique(runs[1])) <= {0.0, 1.0}
    assert np.array_equal(runs[1].mean(axis=1), runs[0])


def test_appc_keeps_per_trial_metrics_on_request():
    cfg = AppCConfig(n_steps=20, thetas=(0.0,), g0s=(0.5,), trials=30, chunk_trials=16)
    kept = run_appc(cfg, torch.Generator().manual_seed(3), keep_trials=True)
    plain = run_appc(cfg, torch.Generator().manual_seed(3))
    assert "per_trial" not in plain
    acc = kept["per_trial"]["acc"]
    assert acc.shape == (1, 4, 30) and np.allclose(acc.mean(-1), plain["acc"], atol=1e-15)
