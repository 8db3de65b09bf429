"""Benchmark: a measured floor for one training step of the paper U-Net (issue 19).

Every layer the real ``train_step`` runs is captured with forward hooks (module, input shape, dtype under
the training autocast, memory format); each distinct one is then timed alone, forward + backward, at that
exact shape, dtype, layout and thread count (median of repeats, warm caches: a floor, not a prediction),
and multiplied by its count. AdamW and the EMA update are timed alone too. Their sum is the floor; the
rest of the measured step (additions, concatenations, upsampling, layout copies between layers, the
loss, autograd bookkeeping) is reported as "between layers". FLOPs: 2 per multiply-add, forward + both
backward products (3x forward) for convolutions and linears; bytes: inputs + weights + outputs, x3.

    python benchmarks/roofline.py [--threads N] [--batch 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import collections
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timing import median_time
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from diffregimes.diffusion import bf16_autocast_recommended, linear_vp_schedule, make_optimizer, train_step
from diffregimes.nets import EMA, UNetConfig, make_unet

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Op:
    kind: str
    module: nn.Module
    shape: tuple[int, ...]
    channels_last: bool


def capture(model: nn.Module, z0: torch.Tensor, bf16: bool) -> collections.Counter:
    """(layer, input shape, layout) -> calls, from one real training step."""
    seen: collections.Counter = collections.Counter()
    kinds = {nn.Conv2d: "conv", nn.GroupNorm: "groupnorm", nn.Linear: "linear", nn.SiLU: "silu"}

    def hook(mod, args, _out):
        x = args[0]
        cl = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        seen[Op(kinds[type(mod)], mod, tuple(x.shape), cl)] += 1

    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m) in kinds]
    ema, opt = EMA(model), make_optimizer(model)
    train_step(model, ema, opt, z0, 0.3, linear_vp_schedule(200), torch.Generator().manual_seed(0), bf16)
    for h in handles:
        h.remove()
    return seen


def cost(op: Op, bf16: bool) -> tuple[float, float]:
    """(FLOPs, bytes) of forward + backward."""
    n = 1
    for s in op.shape:
        n *= s
    isz = 2 if bf16 and op.kind in ("conv", "linear") else 4
    if op.kind == "conv":
        m = op.module
        B, _, H, W = op.shape
        Ho, Wo = (
            (H + 2 * m.padding[0] - m.kernel_size[0]) // m.stride[0] + 1,
            (W + 2 * m.padding[1] - m.kernel_size[1]) // m.stride[1] + 1,
        )
        macs = B * m.out_channels * Ho * Wo * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        return 6.0 * macs, 3.0 * isz * (n + m.weight.numel() + B * m.out_channels * Ho * Wo)
    if op.kind == "linear":
        m = op.module
        rows = n // m.in_features
        return 6.0 * rows * m.in_features * m.out_features, 3.0 * isz * (n + m.weight.numel() + rows * m.out_features)
    return 8.0 * n, 3.0 * 2 * 4 * n  # elementwise / normalisation: a few flops, read + write each way


def time_op(op: Op, bf16: bool, repeats: int, channels_last: bool) -> float:
    """Median seconds of forward + backward of this layer alone at its captured shape, in a given layout
    (the network's input, 2 channels, needs no input gradient, as in training)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(op.shape, generator=gen)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(op.shape[1] != 2)
    ac = torch.autocast("cpu", torch.bfloat16, enabled=bf16)
    with ac:
        y = op.module(x)
    gy = torch.randn(y.shape, generator=gen).to(y.dtype)
    if y.dim() == 4:
        gy = gy.contiguous(
            memory_format=torch.channels_last
            if y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
            else torch.contiguous_format
        )

    def fn() -> None:
        with ac:
            out = op.module(x)
        out.backward(gy)

    return median_time(fn, repeats, CPU)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=15, help="operators listed, by time (all are in the floor)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = bf16_autocast_recommended(CPU)
    gen = torch.Generator().manual_seed(0)
    z0 = torch.rand(args.batch, 2, 28, 28, generator=gen)
    model = make_unet(UNetConfig(), seed=0)
    ops = capture(model, z0, bf16)

    ema, opt = EMA(model), make_optimizer(model)
    sched, g2 = linear_vp_schedule(200), torch.Generator().manual_seed(1)
    step = median_time(lambda: train_step(model, ema, opt, z0, 0.3, sched, g2, bf16), args.repeats, CPU)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    t_opt = median_time(opt.step, args.repeats, CPU)
    t_ema = median_time(lambda: ema.update(model), args.repeats, CPU)
    q = (
        torch.randn(args.batch, 8, 49, 8, requires_grad=True)
        .to(torch.bfloat16 if bf16 else torch.float32)
        .detach()
        .requires_grad_()
    )

    def attn() -> None:
        F.scaled_dot_product_attention(q, q, q).sum().backward()

    t_attn = median_time(attn, args.repeats, CPU)
    n = 2048
    a, b = torch.randn(n, n).to(torch.bfloat16), torch.randn(n, n).to(torch.bfloat16)
    peak = 2 * n**3 / median_time(lambda: a @ b, args.repeats, CPU)

    with sdpa_kernel([SDPBackend.MATH]):
        t_math = median_time(attn, args.repeats, CPU)
    rows, layout_excess = [], 0.0
    for op, count in ops.items():
        fl, by = cost(op, bf16)
        t = time_op(op, bf16, args.repeats, op.channels_last)
        if op.kind == "conv" and len(op.shape) == 4:  # the same convolution with no layout conversion inside
            t_cl = time_op(op, bf16, args.repeats, True)
            layout_excess += max(t - t_cl, 0.0) * count
            t = min(t, t_cl)
        rows.append((t * count, count, op, fl * count, by * count))
    att_flops = 4.0 * 3 * args.batch * 8 * 49 * 49 * 8
    rows.append((min(t_attn, t_math), 1, "sdpa attention fwd+bwd [B,8,49,8], best backend", att_flops, 0.0))
    nparam = sum(p.numel() for p in model.parameters())
    rows.append((t_opt, 1, "AdamW step", 12.0 * nparam, 4.0 * 7 * nparam))
    rows.append((t_ema, 1, "EMA update", 3.0 * nparam, 4.0 * 3 * nparam))
    rows.sort(key=lambda r: -r[0])
    floor = sum(r[0] for r in rows)
    print(
        f"threads={args.threads} batch={args.batch} bf16={bf16} repeats={args.repeats} (median; each op alone, warm caches)"
    )
    print(f"bf16 matmul 2048^2: {peak / 1e9:.1f} GFLOP/s")
    print(f"{'op':<58} {'n':>3} {'ms':>8} {'GFLOP':>7} {'MB':>7} {'GFLOP/s':>8} {'GB/s':>6} {'%peak':>6}")
    by_kind: collections.Counter = collections.Counter()
    for i, (t, count, op, fl, by) in enumerate(rows):
        name = op if isinstance(op, str) else f"{op.kind} {op.shape}{' cl' if op.channels_last else ''}"
        kind = name.split()[0] if isinstance(op, str) else op.kind
        by_kind[kind] += t
        if i >= args.top:
            continue
        print(
            f"{name[:58]:<58} {count:>3} {t * 1e3:>8.2f} {fl / 1e9:>7.3f} {by / 1e6:>7.1f} {fl / t / 1e9:>8.1f} {by / t / 1e9:>6.1f} {fl / t / peak:>6.0%}"
        )
    if len(rows) > args.top:
        rest_t = sum(r[0] for r in rows[args.top :])
        print(f"... {len(rows) - args.top} more ops (--top): {rest_t * 1e3:.1f} ms together")
    print(
        f"\nmeasured step: {step * 1e3:.1f} ms ({args.batch / step:.1f} images/s); floor (sum of the ops alone): "
        f"{floor * 1e3:.1f} ms ({args.batch / floor:.1f} images/s); step / floor = {step / floor:.2f}"
    )
    for kind, t in by_kind.most_common():
        print(f"  floor {kind:<10} {t * 1e3:8.1f} ms  {t / step:6.1%} of the step")
    print("where the gap (step - floor) goes, measured in this run:")
    print(f"  layout conversions inside the NCHW convolutions  {layout_excess * 1e3:8.1f} ms")
    print(f"  attention: default backend over the best one     {(t_attn - min(t_attn, t_math)) * 1e3:8.1f} ms")
    rest = step - floor - layout_excess - (t_attn - min(t_attn, t_math))
    print(f"  the rest: adds, cat, upsample, loss, framework   {rest * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
