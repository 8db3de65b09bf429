"""Benchmark: t_S on the 400 x 400 (g, theta) phase grid of Fig. 4.

Vectorised pass (`anisotropic_phase_grid`: coarse bracketing scan + vectorised Illinois refinement)
against the natural per-cell loop (a Python function per cell evaluates kappa on a 1,000-point time
grid, finds the last bracket, calls scipy.optimize.brentq). The loop runs on a random subsample of
cells and its time is scaled up to the full grid; the roots are compared on that subsample.

    python benchmarks/phase_grid.py [--n 400] [--repeats 5] [--loop-cells 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.optimize import brentq

from diffregimes.theory import AnisotropicKappa, anisotropic_phase_grid

PARAMS = dict(beta=1.0, sigma_w2=2.0, sigma_x2=1.0, sigma_y2=1.0, mx2=1.0, my2=1.0)
T = 10.0


def loop_cell(kap: AnisotropicKappa, g: float, theta: float, t_grid: np.ndarray) -> float:
    """The natural per-cell computation: scan, bracket the last crossing, brentq."""
    values = kap(t_grid, g, theta)
    above = np.flatnonzero(values > 1.0)
    if not above.size:
        return np.nan
    j = above[-1]
    if j == t_grid.size - 1:
        return np.inf
    return brentq(
        lambda t: float(kap(np.asarray(t), g, theta)) - 1.0,
        t_grid[j],
        t_grid[j + 1],
        xtol=1e-14,
        rtol=4 * np.finfo(float).eps,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--n", type=int, default=400, help="grid size per axis (default 400)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (default 5)")
    parser.add_argument("--loop-cells", type=int, default=2000, help="cells timed for the loop (default 2000)")
    parser.add_argument("--grid-times", type=int, default=1000, help="time grid of the loop (default 1000)")
    args = parser.parse_args()

    g = np.linspace(0.0, 2.5, args.n)
    theta = np.linspace(0.0, np.pi, args.n)
    anisotropic_phase_grid(g, theta, T=T, **PARAMS)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        grid = anisotropic_phase_grid(g, theta, T=T, **PARAMS)
        times.append(time.perf_counter() - start)
    t_vec = statistics.median(times)

    rng = np.random.default_rng(0)
    cells = rng.choice(args.n * args.n, size=min(args.loop_cells, args.n * args.n), replace=False)
    gi, ti = np.unravel_index(cells, (args.n, args.n))
    kap = AnisotropicKappa(**PARAMS)
    t_grid = np.linspace(0.0, T, args.grid_times)
    loop_times, roots = [], None
    for _ in range(max(1, args.repeats // 2)):
        start = time.perf_counter()
        roots = np.array([loop_cell(kap, g[a], theta[b], t_grid) for a, b in zip(gi, ti)])
        loop_times.append(time.perf_counter() - start)
    t_loop_full = statistics.median(loop_times) * (args.n * args.n) / cells.size

    ours = grid.t_s[gi, ti]
    same_nan = np.isnan(ours) == np.isnan(roots)
    both = np.isfinite(ours) & np.isfinite(roots)
    max_diff = float(np.max(np.abs(ours[both] - roots[both]))) if both.any() else 0.0

    print(f"phase grid {args.n} x {args.n} (g in [0, 2.5], theta in [0, pi]), anisotropic Fig. 4 parameters")
    print(
        f"loop: {cells.size} random cells timed, scaled up to {args.n * args.n}; "
        f"{args.grid_times} grid times per cell; medians of repeats"
    )
    print(f"{'method':<34}{'time for full grid (s)':>24}{'ratio':>10}")
    print(f"{'per-cell loop (scan + brentq)':<34}{t_loop_full:>24.2f}{1.0:>10.1f}")
    print(f"{'vectorised (bracket + Illinois)':<34}{t_vec:>24.3f}{t_loop_full / t_vec:>10.1f}")
    print(
        f"roots on the sampled cells: max |dt_S| = {max_diff:.2e} over {both.sum()} cells; "
        f"no-speciation cells agree: {int(same_nan.sum())}/{cells.size}"
    )


if __name__ == "__main__":
    main()
