"""Intervals and verdicts for claims: bootstrap percentile intervals and the holds/fails/inconclusive rule.

A claim is a statement about an estimated quantity. Its verdict comes from the quantity's 95 % interval:
"holds" when the whole interval lies where the claim says, "fails" when the whole interval lies where
the claim says it must not, otherwise "inconclusive" (the data cannot tell). Point estimates alone never
decide a verdict.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .speciation_clones import Z95, wilson_interval

HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The (1 - level)/2 and (1 + level)/2 percentiles of the finite bootstrap ``replicates``.

    NaN replicates (a statistic undefined on that resample, e.g. a curve that never crosses) are
    counted: if more than (1 - level)/2 of them are NaN the interval is (nan, nan) — undecidable.
    """
    r = np.asarray(replicates, dtype=np.float64).ravel()
    if r.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    if np.mean(~np.isfinite(r)) > alpha:
        return float("nan"), float("nan")
    finite = r[np.isfinite(r)]
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1.0 - alpha))


def bounded_percentile_interval(lower: np.ndarray, upper: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates known only within bounds [lower, upper] (e.g. a crossing
    beyond the scan range: [last scan time, inf)): the (1 - level)/2 order statistic of the lower bounds and
    the (1 + level)/2 order statistic of the upper bounds, each taken without interpolation, so neither end
    is narrower than the percentile interval of the unknown exact replicates. Bounds may be infinite; NaN
    replicates are counted as in :func:`percentile_interval`."""
    lo_r, hi_r = (np.asarray(x, dtype=np.float64).ravel() for x in (lower, upper))
    if lo_r.shape != hi_r.shape:
        raise ValueError(f"lower and upper must pair up: {lo_r.shape} vs {hi_r.shape}")
    alpha = (1.0 - level) / 2.0
    bad = np.isnan(lo_r) | np.isnan(hi_r)
    if lo_r.size == 0 or np.mean(bad) > alpha:
        return float("nan"), float("nan")
    if np.any(lo_r[~bad] > hi_r[~bad]):
        raise ValueError("every lower bound must be <= its upper bound")
    return (
        float(np.quantile(lo_r[~bad], alpha, method="lower")),
        float(np.quantile(hi_r[~bad], 1.0 - alpha, method="higher")),
    )


def bootstrap_indices(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, n] row indices drawn with replacement (one resample per row)."""
    if n < 1 or n_boot < 1:
        raise ValueError(f"need n >= 1 and n_boot >= 1: n={n}, n_boot={n_boot}")
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap(
    stat: Callable[[np.ndarray], float], n: int, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> tuple[float, float, float]:
    """(estimate, lo, hi): ``stat(indices)`` on all rows and its percentile interval over resamples."""
    est = float(stat(np.arange(n)))
    reps = np.array([stat(idx) for idx in bootstrap_indices(n, n_boot, rng)])
    lo, hi = percentile_interval(reps, level)
    return est, lo, hi


def verdict(
    lo: float,
    hi: float,
    above: float | None = None,
    below: float | None = None,
    band: tuple[float, float] | None = None,
) -> str:
    """holds / fails / inconclusive for a claim about a quantity with interval [lo, hi].

    Exactly one of: ``above`` (claim: quantity > above), ``below`` (claim: quantity < below), ``band``
    (claim: quantity within [a, b]). An infinite end is a half-line (a censored bound, e.g. a crossing
    later than the last scan time: hi = inf); an interval with a NaN end is inconclusive.
    """
    if sum(x is not None for x in (above, below, band)) != 1:
        raise ValueError("give exactly one of above, below, band")
    if np.isnan(lo) or np.isnan(hi):
        return INCONCLUSIVE
    if lo > hi:
        raise ValueError(f"interval must have lo <= hi: lo={lo}, hi={hi}")
    if above is not None:
        return HOLDS if lo > above else FAILS if hi <= above else INCONCLUSIVE
    if below is not None:
        return HOLDS if hi < below else FAILS if lo >= below else INCONCLUSIVE
    a, b = band
    return HOLDS if a <= lo and hi <= b else FAILS if hi < a or lo > b else INCONCLUSIVE


def combine(verdicts: list[str]) -> str:
    """A claim made for every member of a family (e.g. every cell of a table): holds when each member
    holds, fails when any member fails, else inconclusive. Empty data is inconclusive, never holds."""
    if not verdicts:
        return INCONCLUSIVE
    if any(v == FAILS for v in verdicts):
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE


def fmt_interval(lo: float, hi: float, digits: int = 2) -> str:
    """'[lo, hi]' for a report ('(−∞, hi]', '[lo, ∞)' for a half-line), 'undetermined' with a NaN end."""
    if np.isnan(lo) or np.isnan(hi):
        return "undetermined"
    left = "(−∞" if lo == -np.inf else f"[{lo:.{digits}f}"
    right = "∞)" if hi == np.inf else f"{hi:.{digits}f}]"
    return f"{left}, {right}"


def paired_proportion_difference(x: np.ndarray, y: np.ndarray, z: float = Z95) -> tuple[float, float, float]:
    """(p_x − p_y, lo, hi) for two binary outcomes observed on the same trials (paired), with Newcombe's
    square-and-add interval built from the two Wilson intervals and the phi correlation of the pairs
    (Newcombe 1998, Stat. Med. 17:2635, method 10; Fagerland, Lydersen & Laake 2017, ch. 8).

    Unlike a normal or bootstrap interval it stays non-degenerate when the outcomes never disagree
    (then it is ± the Wilson half-width of the common proportion). Empty data: (nan, nan, nan).
    """
    x, y = np.asarray(x, dtype=bool).ravel(), np.asarray(y, dtype=bool).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must hold the same trials: {x.shape} vs {y.shape}")
    n = x.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    a, b = int(np.sum(x & y)), int(np.sum(x & ~y))  # both / x only
    c, d = int(np.sum(~x & y)), int(np.sum(~x & ~y))  # y only / neither
    px, py = (a + b) / n, (a + c) / n
    (lx, ux), (ly, uy) = (tuple(float(v) for v in wilson_interval(k, n, z)) for k in (a + b, a + c))
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    # phi with Newcombe's continuity correction: positive products shrink by n/2 (never below 0)
    num = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    phi = num / np.sqrt(float(margins)) if margins > 0 else 0.0
    dx_lo, dx_hi, dy_lo, dy_hi = px - lx, ux - px, py - ly, uy - py
    lo = px - py - np.sqrt(max(dx_lo**2 + dy_hi**2 - 2 * phi * dx_lo * dy_hi, 0.0))
    hi = px - py + np.sqrt(max(dy_lo**2 + dx_hi**2 - 2 * phi * dy_lo * dx_hi, 0.0))
    return px - py, float(lo), float(hi)


def ratio_interval(main: np.ndarray, ctrl: np.ndarray, main_est: float, ctrl_est: float) -> tuple[float, float, float]:
    """|a| / |b| (e.g. |Delta t_MAIN| / |Delta t_CTRL|) and the percentile interval of the paired bootstrap
    replicates ``main``, ``ctrl`` (drawn together); a replicate with a zero denominator is dropped (NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = np.abs(main) / np.abs(ctrl)
        est = abs(main_est) / abs(ctrl_est) if ctrl_est != 0 else float("nan")
    reps = np.where(np.isfinite(reps), reps, np.nan)
    return (est if np.isfinite(est) else float("nan"), *percentile_interval(reps))
