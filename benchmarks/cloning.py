"""Benchmark: Protocol II cloning throughput against the network's pure forward throughput.

For each configuration (masters M, scan steps) it times, median of the repeats after a warm-up:

* ``batched``: :func:`diffregimes.protocols.speciation_clones.run_clones`, all clones of all scan
  steps in one batch (active prefix per step, chunks of ``--max-batch`` rows), whitened DDPM step,
  noise draws and x0 clipping included;
* ``forward``: the same sequence of network calls (same chunk sizes, same k) on preallocated
  inputs, the network alone: the ceiling for the cloning run;
* ``naive``: the per-scan loop: the masters alone, then each scan step's two clones as a separate
  batch of 2M rows from k_s to 0 (the same number of row evaluations).

Throughput is row-evaluations per second (clones·steps/s, masters included); the table gives
batched / forward (target >= 80%: clones should cost little more than plain forwards) and batched / naive.

    python benchmarks/cloning.py [--quick] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from timing import median_time

from diffregimes.diffusion import ddpm_step_whitened, linear_vp_schedule, sample_mode_noise
from diffregimes.nets import UNetConfig, count_parameters, make_unet
from diffregimes.protocols.speciation_clones import active_rows, check_scan_steps, run_clones
from diffregimes.protocols.sync import batched, clip_x0

G = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small configuration, 2 repeats (~1 min on CPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 2 quick, 3 full)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads on CPU (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--T", type=int, default=50, help="diffusion steps (default 50)")
    parser.add_argument("--max-batch", type=int, default=256, help="rows per network call (default 256)")
    parser.add_argument("--channels", type=int, nargs="+", default=[8, 16, 32], help="U-Net channels (quick preset)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 3)
    T = args.T
    schedule = linear_vp_schedule(T)
    model = make_unet(UNetConfig(block_out_channels=tuple(args.channels), norm_num_groups=4), seed=0).to(device).eval()

    def net(z, k):
        with torch.inference_mode():
            return model(z, k)

    eps = batched(clip_x0(net, schedule), args.max_batch)
    fracs = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65]
    scan = check_scan_steps(sorted({int(round(f * (T - 1))) for f in fracs}), T)
    configs = [16] if args.quick else [16, 48]

    print(
        f"device={device} threads={torch.get_num_threads()} U-Net {tuple(args.channels)} "
        f"params={count_parameters(model):,} T={T} scans={scan.tolist()} max_batch={args.max_batch} "
        f"repeats={repeats} (median)"
    )
    header = (
        f"{'M':>4} {'rows':>6} {'evals':>7} {'batched/s':>10} {'forward/s':>10} {'naive/s':>9} "
        f"{'batched/forward':>15} {'batched/naive':>13}"
    )
    print(header)
    print("-" * len(header))
    for m in configs:
        z0 = sample_mode_noise((m, 2, 28, 28), G, torch.Generator().manual_seed(0), device=device)
        gen = torch.Generator(device=device).manual_seed(1)
        evals = m * T + 2 * m * int(np.sum(scan + 1))

        def batched_run():
            with torch.inference_mode():
                run_clones(eps, z0, schedule, G, scan, generator=gen)

        sizes = [active_rows(k, m, scan) for k in range(T - 1, -1, -1)]
        x = torch.randn(max(sizes), 2, 28, 28, generator=torch.Generator().manual_seed(2)).to(device)

        def forward_only():
            with torch.inference_mode():
                for k, n in zip(range(T - 1, -1, -1), sizes):
                    for chunk in torch.split(x[:n], args.max_batch):
                        model(chunk, k)

        def naive_run():
            with torch.inference_mode():
                z, states = z0.clone(), {}
                for k in range(T - 1, -1, -1):
                    states[k] = z
                    noise = torch.randn(z.shape, generator=gen, device=device) if k > 0 else None
                    z = ddpm_step_whitened(z, eps(z, k), k, k - 1, schedule, noise, G)
                for k_s in scan:
                    z = torch.cat([states[int(k_s)]] * 2)
                    for k in range(int(k_s), -1, -1):
                        noise = torch.randn(z.shape, generator=gen, device=device) if k > 0 else None
                        z = ddpm_step_whitened(z, eps(z, k), k, k - 1, schedule, noise, G)

        t_b = median_time(batched_run, repeats, device)
        t_f = median_time(forward_only, repeats, device)
        t_n = median_time(naive_run, repeats, device)
        print(
            f"{m:>4} {m * (1 + 2 * len(scan)):>6} {evals:>7} {evals / t_b:>10.0f} {evals / t_f:>10.0f} "
            f"{evals / t_n:>9.0f} {t_f / t_b:>14.0%} {t_n / t_b:>12.2f}x"
        )


if __name__ == "__main__":
    main()
