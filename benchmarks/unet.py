"""Benchmark: the MNIST eps-U-Net (diffusers UNet2DModel, (32, 64, 64)) on this machine.

Training images/s (train_step: AdamW + EMA, mode-shaped noise) and sampling images/s (one
no-grad forward) in fp32 and in bf16 autocast, at batch 64 and 128; median of the timed repeats
after a warm-up. Achieved FLOP/s uses the forward FLOPs counted by FlopCounterMode (training
~3x forward) and is shown as a fraction of a 2048x2048 matmul measured in the same run, in bf16
(the project's reference) and in fp32 (the fair one where bf16 is emulated).

    python benchmarks/unet.py [--quick] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch
from timing import median_time
from torch.utils.flop_counter import FlopCounterMode

from diffregimes.diffusion import bf16_autocast_recommended, linear_vp_schedule, make_optimizer, train_step
from diffregimes.experiments.mnist.common import resolve_threads
from diffregimes.nets import EMA, UNetConfig, count_parameters, make_unet

G = 0.3


def matmul_flops(dtype: torch.dtype, device: torch.device, repeats: int, n: int = 2048) -> float:
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=gen, device=device).to(dtype)
    b = torch.randn(n, n, generator=gen, device=device).to(dtype)
    return 2 * n**3 / median_time(lambda: a @ b, repeats, device)


def forward_flops(model: torch.nn.Module, batch: int, device: torch.device) -> int:
    z = torch.zeros(batch, 2, 28, 28, device=device)
    k = torch.zeros(batch, dtype=torch.long, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(z, k)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (~1-2 min on CPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3 quick, 5 full)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: every core this process may use)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args()
    torch.set_num_threads(resolve_threads(args.threads))
    device = torch.device(args.device)
    repeats = args.repeats or (3 if args.quick else 5)
    train_steps = 1 if args.quick else 3
    sample_calls = 2 if args.quick else 5

    schedule = linear_vp_schedule(200)
    model = make_unet(UNetConfig(), seed=0).to(device)
    ema, opt = EMA(model, decay=0.999), make_optimizer(model)
    gen = torch.Generator(device=device).manual_seed(0)
    peak = {dt: matmul_flops(dt, device, repeats) for dt in (torch.bfloat16, torch.float32)}

    print(
        f"device={device} threads={torch.get_num_threads()} params={count_parameters(model):,} "
        f"repeats={repeats} (median) bf16-native={bf16_autocast_recommended(device)}"
    )
    print(f"matmul 2048^2: bf16 {peak[torch.bfloat16] / 1e9:.1f} GFLOP/s, fp32 {peak[torch.float32] / 1e9:.1f} GFLOP/s")
    header = (
        f"{'mode':<8} {'batch':>5} {'prec':<5} {'img/s':>8} {'vs fp32':>7} {'GFLOP/s':>8} "
        f"{'/bf16 mm':>8} {'/fp32 mm':>8}"
    )
    print(header)
    print("-" * len(header))
    used = "bf16" if bf16_autocast_recommended(device) else "fp32"
    best: dict[str, tuple[float, float]] = {}
    for mode in ("train", "sample"):
        for batch in args.batches:
            z0 = torch.rand(batch, 2, 28, 28, generator=gen, device=device)
            k = torch.randint(0, schedule.T, (batch,), generator=gen, device=device)
            fwd = forward_flops(model, batch, device)
            base = None
            for prec in ("fp32", "bf16"):
                bf16 = prec == "bf16"
                if mode == "train":

                    def fn():
                        for _ in range(train_steps):
                            train_step(model, ema, opt, z0, G, schedule, gen, autocast_bf16=bf16)

                    n_img, flops = batch * train_steps, 3 * fwd * train_steps
                else:

                    def fn():
                        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                            for _ in range(sample_calls):
                                model(z0, k)

                    n_img, flops = batch * sample_calls, fwd * sample_calls
                t = median_time(fn, repeats, device)
                ips = n_img / t
                base = ips if base is None else base
                rate = flops / t
                print(
                    f"{mode:<8} {batch:>5} {prec:<5} {ips:>8.1f} {ips / base:>6.2f}x {rate / 1e9:>8.1f} "
                    f"{rate / peak[torch.bfloat16]:>7.0%} {rate / peak[torch.float32]:>7.0%}"
                )
                if prec == used and ips > best.get(mode, (0.0, 0.0))[0]:
                    best[mode] = (ips, rate)
    dtype = torch.bfloat16 if used == "bf16" else torch.float32
    (tr_ips, tr_rate), (sa_ips, _) = best["train"], best["sample"]
    print(f"\nprecision used by training here: {used} (native bf16: {bf16_autocast_recommended(device)})")
    print(f"  matmul peak ({used}, 2048^2): {peak[dtype] / 1e9:.1f} GFLOP/s")
    print(
        f"  training: {tr_ips:.1f} images/s, {tr_rate / 1e9:.1f} GFLOP/s achieved = {tr_rate / peak[dtype]:.0%} "
        f"of the {used} matmul peak (target >= 60 %)"
    )
    print(f"  sampling: {sa_ips:.1f} images/s (one network evaluation per image)")


if __name__ == "__main__":
    main()
