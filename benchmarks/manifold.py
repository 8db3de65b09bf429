"""Benchmark: collapse time t_C of the manifold model (GLM replica formula, F = tanh) on a 100-point psi grid.

Vectorised pass (`theory.manifold.collapse_time`: the output-channel integral of the replica formula is
shared by every psi at a given t, so one integral per t node serves the whole grid; the root of each psi is
read off a cubic spline through the nodes) against the natural per-point loop (for each psi, scipy's
brentq on t, each evaluation solving the replica formula for that single psi). The loop runs on a subsample
of the grid and its time is scaled up; the roots are compared on that subsample.

    python benchmarks/manifold.py [--n 100] [--repeats 5] [--loop-points 10] [--activation tanh]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.optimize import brentq

from diffregimes.theory.glm import rs_information
from diffregimes.theory.manifold import collapse_time, gaussian_bound_time

ALPHA, M2 = 0.2, 1.0


def loop_point(psi: float, activation: str) -> float:
    """The natural per-point computation: brentq on t, one replica-formula solve per evaluation."""
    t_hi = float(gaussian_bound_time(ALPHA, activation, M2)) * 1.01

    def f(t: float) -> float:
        return psi * float(rs_information(t, [psi], activation, M2).information[0, 0]) - ALPHA

    return brentq(f, 1e-3, t_hi, xtol=1e-10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--n", type=int, default=100, help="psi grid size (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of the vectorised pass (default 5)")
    parser.add_argument("--loop-points", type=int, default=10, help="psi points timed for the loop (default 10)")
    parser.add_argument("--activation", choices=("tanh", "sign"), default="tanh")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (default 1: on a shared 2-core machine more threads spin-wait)",
    )
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads)
    except ImportError:
        pass

    psi = np.linspace(0.1, 1.0, args.n)
    collapse_time(psi, ALPHA, args.activation, "random", M2)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = collapse_time(psi, ALPHA, args.activation, "random", M2)
        times.append(time.perf_counter() - start)
    t_vec = statistics.median(times)

    sub = np.unique(np.linspace(0, args.n - 1, args.loop_points).round().astype(int))
    loop_times, roots = [], None
    for _ in range(max(1, args.repeats // 2)):
        start = time.perf_counter()
        roots = np.array([loop_point(float(psi[k]), args.activation) for k in sub])
        loop_times.append(time.perf_counter() - start)
    t_loop_full = statistics.median(loop_times) * args.n / sub.size
    rel = np.abs(ours[sub] / roots - 1)

    print(
        f"collapse time t_C on {args.n} psi in [0.1, 1], F = {args.activation}, alpha = {ALPHA}, m^2 = {M2}; "
        f"BLAS threads {args.threads}"
    )
    print(f"loop: {sub.size} psi points timed, scaled up to {args.n}; medians of repeats")
    print(f"{'method':<44}{'time for the grid (s)':>22}{'ratio':>10}")
    print(f"{'per-point loop (brentq, one RS solve per t)':<44}{t_loop_full:>22.2f}{1.0:>10.1f}")
    print(f"{'vectorised (shared I_out per t node)':<44}{t_vec:>22.3f}{t_loop_full / t_vec:>10.1f}")
    print(f"roots on the sampled points: max relative difference {rel.max():.1e} over {sub.size} points")


if __name__ == "__main__":
    main()
