"""Benchmark: the App. C exact-score experiment at paper scale (2000 trials x 13 theta x 10 configurations
x 800 steps, d = 32).

Batched `run_appc` (torch, all (theta, schedule, g0) cells in one tensor, common random numbers,
signal-plane reduction, trials in cache-sized chunks, float32) against a straightforward loop
(NumPy float64, one configuration at a time, all d coordinates, the forward X path stored, fresh
random numbers for every configuration). The loop runs on a subsample of trials and its time is
scaled up to the full trial count; the two methods' metrics are compared in units of their
standard errors (they must agree within Monte-Carlo noise).

    python benchmarks/exact_score.py [--trials 2000] [--repeats 3] [--naive-trials 200] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import torch

from diffregimes.protocols.appc import AppCConfig, run_appc
from diffregimes.sde import reverse_times

METRICS = ("acc", "mse", "nll")


def _logcosh(u: np.ndarray) -> np.ndarray:
    a = np.abs(u)
    return a + np.log1p(np.exp(-2 * a)) - math.log(2.0)


def naive_cell(
    cfg: AppCConfig, schedule: str, g0: float, theta: float, n: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One (theta, schedule, g0) cell, literally: (138)-(146) in d dimensions, per-trial metrics."""
    model = cfg.model(schedule, g0)
    times = reverse_times(cfg.T, cfg.n_steps)
    h = cfg.T / cfg.n_steps
    mom = model.moments(times)
    d, sw2, sd2 = cfg.d, cfg.sigma_w2, cfg.sigma_data2
    amp = math.sqrt(d * cfg.m2)
    u, v = np.eye(d)[0], np.eye(d)[1]
    mu0 = np.stack([amp * u, amp * (math.cos(theta) * u + math.sin(theta) * v)])  # (139)
    s = rng.choice([-1.0, 1.0], size=(n, 1))
    x0 = s * mu0[0] + math.sqrt(sd2) * rng.standard_normal((n, d))  # (138)
    path = np.empty((cfg.n_steps + 1, n, d))  # path[i] = X(t_i)
    path[-1] = x0
    a_h = math.exp(-cfg.beta * h)
    sd_h = math.sqrt(sw2 * (1 - a_h**2) / (2 * cfg.beta))
    for i in range(cfg.n_steps - 1, -1, -1):  # forward in t
        path[i] = a_h * path[i + 1] + sd_h * rng.standard_normal((n, d))
    C, Phi, M = mom.C, mom.transition, mom.M
    # y_T ~ P_T(y | x_T) (142)
    c, V = C[0, 1, 0] / C[0, 0, 0], C[0, 1, 1] - C[0, 1, 0] ** 2 / C[0, 0, 0]
    mu_x, mu_y = Phi[0] @ mu0
    w_plus = 1 / (1 + np.exp(-2 * (path[0] @ mu_x) / C[0, 0, 0]))
    s_T = np.where(rng.random(n) < w_plus, 1.0, -1.0)[:, None]
    y = c * path[0] + s_T * (mu_y - c * mu_x) + math.sqrt(V) * rng.standard_normal((n, d))
    for i in range(cfg.n_steps):  # (143)
        x = path[i]
        mu_x, mu_y = Phi[i] @ mu0
        c, V = C[i, 1, 0] / C[i, 0, 0], C[i, 1, 1] - C[i, 1, 0] ** 2 / C[i, 0, 0]
        b = mu_y - c * mu_x
        eta = (x @ mu_x) / C[i, 0, 0] + ((y - c * x) @ b) / V
        score = -(y - c * x - np.tanh(eta)[:, None] * b) / V  # (142)
        drift = -(M[i, 1, 0] * x + M[i, 1, 1] * y) + sw2 * score
        y = y + h * drift + math.sqrt(sw2 * h) * rng.standard_normal((n, d))
    s_x = np.sign(x0 @ mu0[0])
    proj = y @ mu0[1]
    ell0 = (x0 @ mu0[0]) / sd2
    nll = (
        0.5 * d * math.log(2 * math.pi * sd2)
        + ((y * y).sum(1) + mu0[1] @ mu0[1]) / (2 * sd2)
        - _logcosh(ell0 + proj / sd2)
        + _logcosh(ell0)
    )  # (146)
    return {
        "acc": (np.sign(proj) == s_x).astype(float),
        "mse": 0.5 * ((y - s_x[:, None] * mu0[1]) ** 2).sum(1),
        "nll": nll,
    }  # (145)


def naive_run(cfg: AppCConfig, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {key: np.empty((len(cfg.thetas), len(cfg.configurations))) for key in METRICS}
    se = {key: np.empty_like(val) for key, val in out.items()}
    for i, theta in enumerate(cfg.thetas):
        for j, (schedule, g0) in enumerate(cfg.configurations):
            cell = naive_cell(cfg, schedule, g0, theta, n, rng)
            for key in METRICS:
                out[key][i, j] = cell[key].mean()
                se[key][i, j] = cell[key].std(ddof=1) / math.sqrt(n)
    return {**out, **{f"se_{key}_level": val for key, val in se.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000, help="trials per cell, batched method (default 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default 3)")
    parser.add_argument("--naive-trials", type=int, default=200, help="trials per cell of the loop (default 200)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 400 trials, loop on 40, one repeat")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.trials, args.naive_trials, args.repeats = 400, 40, 1
    cfg = AppCConfig(trials=args.trials)
    n_cells = len(cfg.thetas) * len(cfg.configurations)
    print(
        f"App. C: {len(cfg.thetas)} theta x {len(cfg.configurations)} configurations x {cfg.trials} trials x "
        f"{cfg.n_steps} steps, d = {cfg.d}, m^2 = {cfg.m2}, t0 = {cfg.t0}; torch threads = {torch.get_num_threads()}, "
        f"load average at start = {os.getloadavg()[0]:.2f}"
    )

    run_appc(AppCConfig(trials=50, n_steps=20), torch.Generator().manual_seed(0))  # warm-up
    times, fast = [], None
    for r in range(args.repeats):
        start = time.perf_counter()
        fast = run_appc(cfg, torch.Generator().manual_seed(r))
        times.append(time.perf_counter() - start)
    t_fast = statistics.median(times)

    naive_times, naive = [], None
    for r in range(args.repeats):
        start = time.perf_counter()
        naive = naive_run(cfg, args.naive_trials, seed=1000 + r)
        naive_times.append(time.perf_counter() - start)
    scale = cfg.trials / args.naive_trials
    t_naive = statistics.median(naive_times) * scale

    # agreement in units of the standard errors: levels (both SEs) and differences against the
    # baseline (batched: paired SE; loop: independent runs, SEs add in quadrature)
    # The loop's per-trial spread is at least the batched one's (same law; the batched method
    # replaces |y_perp|^2 by its mean), so its SE is floored at the batched per-trial std / sqrt(n):
    # a few dozen trials alone can give a zero sample SE for the accuracy.
    z_level, z_delta = [], []
    for key in METRICS:
        std_fast = fast[f"se_{key}_level"] * math.sqrt(cfg.trials)
        se_naive = np.maximum(naive[f"se_{key}_level"], std_fast / math.sqrt(args.naive_trials))
        z_level.append(np.abs(fast[key] - naive[key]) / np.hypot(fast[f"se_{key}_level"], se_naive))
        d_naive = naive[key][:, 1:] - naive[key][:, :1]
        se_d_naive = np.hypot(se_naive[:, 1:], se_naive[:, :1])
        z_delta.append(np.abs(fast[f"d_{key}"][:, 1:] - d_naive) / np.hypot(fast[f"se_{key}"][:, 1:], se_d_naive))
    z_level, z_delta = np.stack(z_level), np.stack(z_delta)

    print()
    print(
        f"{'method':<46} {'trials run':>10} {'median s':>9} {'s at ' + str(cfg.trials) + ' trials':>17} {'ratio':>7} "
        f"{'max|dlevel|/SE':>15} {'max|dDelta|/SE':>15}"
    )
    print(
        f"{'batched run_appc (torch f32, CRN, plane)':<46} {cfg.trials:>10} {t_fast:>9.2f} {t_fast:>17.2f} {1.0:>7.1f} "
        f"{'-':>15} {'-':>15}"
    )
    print(
        f"{'per-configuration loop (NumPy f64, full d)':<46} {args.naive_trials:>10} "
        f"{statistics.median(naive_times):>9.2f} {t_naive:>17.1f} {t_naive / t_fast:>7.1f} "
        f"{z_level.max():>15.2f} {z_delta.max():>15.2f}"
    )
    print()
    print(
        f"loop timed on {args.naive_trials} trials per cell and scaled x{scale:g} to {cfg.trials}; "
        f"repeats: {args.repeats}; {n_cells} cells."
    )
    n_cmp = z_level.size
    # under agreement the z's are ~|N(0,1)|: the max of n of them exceeds sqrt(2 log n) + 1 rarely
    bound = math.sqrt(2 * math.log(n_cmp)) + 1.0
    ok = z_level.max() < bound and z_delta.max() < bound
    print(
        f"agreement ({n_cmp} level and {z_delta.size} Delta comparisons of acc/MSE/NLL): "
        f"{'consistent within MC noise' if ok else 'INCONSISTENT'} (bound {bound:.2f} = sqrt(2 ln n) + 1)"
    )


if __name__ == "__main__":
    main()
