"""Benchmark: training images/s per machine, today's single U-Net against K U-Nets trained as one.

Rows (paper U-Net, batch 64 per model, bf16 autocast where native, AdamW + EMA, median of repeats):
today's ``train_step`` on one thread, on all threads, and as P one-thread processes side by side
(the evidence run's setting: its images/s summed); today's step with the math attention kernel
(diffusers' default CPU flash-attention backward is slow at 49 tokens x 8 dims); then
``ensemble_train_step`` with K = 2, 4, 8 members, contiguous and channels-last, on all threads and
as P one-thread processes. Ratios are against the P-process baseline measured in the same run.

    python benchmarks/ensemble.py [--quick] [--ks 2 4 8] [--procs 2]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os

import torch
from timing import median_time
from torch.nn.attention import SDPBackend, sdpa_kernel

from diffregimes.diffusion import bf16_autocast_recommended, linear_vp_schedule, make_optimizer, train_step
from diffregimes.diffusion.ensemble import ensemble_train_step
from diffregimes.nets import EMA, UNetConfig, make_unet
from diffregimes.nets.ensemble import EnsembleUNet

BATCH, G = 64, 0.3


def _attention(math: bool) -> contextlib.AbstractContextManager:
    return sdpa_kernel([SDPBackend.MATH]) if math else contextlib.nullcontext()


def images_per_s(k: int, layout: str, math: bool, threads: int, steps: int, repeats: int) -> float:
    """Training images/s of one configuration: k = 0 is today's single model, k >= 1 an ensemble."""
    torch.set_num_threads(threads)
    schedule, bf16 = linear_vp_schedule(200), bf16_autocast_recommended("cpu")
    gens = [torch.Generator().manual_seed(j) for j in range(max(k, 1))]
    batches = [torch.rand(BATCH, 2, 28, 28, generator=g) for g in gens]
    if k == 0:
        model = make_unet(UNetConfig(), seed=0)
        ema, opt = EMA(model), make_optimizer(model)

        def step() -> None:
            train_step(model, ema, opt, batches[0], G, schedule, gens[0], bf16)
    else:
        ens = EnsembleUNet.from_members([make_unet(UNetConfig(), seed=j) for j in range(k)], layout == "cl")
        ema, opt = EMA(ens), make_optimizer(ens)

        def step() -> None:
            ensemble_train_step(ens, ema, opt, batches, [G] * k, schedule, gens, bf16)

    def run() -> None:
        for _ in range(steps):
            step()

    with _attention(math):
        return max(k, 1) * BATCH * steps / median_time(run, repeats, torch.device("cpu"))


def _worker(args: tuple) -> float:
    return images_per_s(*args)


def per_machine(k: int, layout: str, math: bool, procs: int, steps: int, repeats: int) -> float:
    """Summed images/s of ``procs`` one-thread processes running the same configuration side by side."""
    if procs == 1:
        return images_per_s(k, layout, math, 1, steps, repeats)
    with mp.get_context("spawn").Pool(procs) as pool:
        return sum(pool.map(_worker, [(k, layout, math, 1, steps, repeats)] * procs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 step x 3 repeats per row (loaded check, ~2 min)")
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="processes of the baseline")
    args = parser.parse_args()
    steps, repeats = (1, 3) if args.quick else (3, 5)
    threads = torch.get_num_threads()
    print(
        f"threads={threads} procs={args.procs} batch={BATCH} bf16={bf16_autocast_recommended('cpu')} "
        f"steps/repeat={steps} repeats={repeats} (median)"
    )
    print(f"{'configuration':<44} {'img/s':>8} {'vs base':>8}")
    base = per_machine(0, "nc", False, args.procs, steps, repeats)

    def row(name: str, ips: float) -> None:
        print(f"{name:<44} {ips:>8.1f} {ips / base:>7.2f}x", flush=True)

    row(f"today: {args.procs} x 1-thread processes", base)
    row("today: 1 thread", images_per_s(0, "nc", False, 1, steps, repeats))
    row(f"today: {threads} threads", images_per_s(0, "nc", False, threads, steps, repeats))
    row(f"today + math attention: {args.procs} x 1-thread", per_machine(0, "nc", True, args.procs, steps, repeats))
    for k in args.ks:
        for layout in ("nc", "cl"):
            row(f"ensemble K={k} {layout}: {threads} threads", images_per_s(k, layout, True, threads, steps, repeats))
        row(f"ensemble K={k} cl: {args.procs} x 1-thread", per_machine(k, "cl", True, args.procs, steps, repeats))


if __name__ == "__main__":
    main()
