"""K U-Nets trained as one (nets/ensemble.py, diffusion/ensemble.py) against each trained alone.

Reference (the second method): each member trained alone by ``train_step`` on the diffusers
``UNet2DModel``, from the same seed, on the same batches, with its own generator. Expected equality is
bitwise, for a reason stated per case: the ensemble issues, per member, the same floating-point
operations on the same operands in the same order, except inside the grouped convolutions, whose
per-group reduction order is the kernel's choice.
"""

from __future__ import annotations

import pytest
import torch

from diffregimes.diffusion import bf16_autocast_recommended, linear_vp_schedule, make_optimizer, train_step
from diffregimes.diffusion.ensemble import ensemble_train_step
from diffregimes.nets import EMA, UNetConfig, make_unet
from diffregimes.nets.ensemble import EnsembleUNet

pytest.importorskip("diffusers")

SEEDS, GS, STEPS, BATCH = (3, 8), (0.0, 0.5), 3, 4


def _batches(dtype: torch.dtype) -> list[list[torch.Tensor]]:
    """Per member, STEPS batches of clean pairs [BATCH, 2, 28, 28]."""
    gen = torch.Generator().manual_seed(11)
    return [[torch.rand(BATCH, 2, 28, 28, generator=gen, dtype=dtype) for _ in range(STEPS)] for _ in SEEDS]


def _alone(j: int, dtype: torch.dtype, bf16: bool, batches) -> tuple[dict, dict, list[float]]:
    model = make_unet(UNetConfig(), seed=SEEDS[j]).to(dtype)
    ema, opt = EMA(model, 0.9), make_optimizer(model)
    gen = torch.Generator().manual_seed(100 + j)
    schedule = linear_vp_schedule(200)
    losses = [train_step(model, ema, opt, b, GS[j], schedule, gen, bf16) for b in batches[j]]
    return model.state_dict(), dict(ema.shadow), losses


def _together(dtype: torch.dtype, bf16: bool, batches, channels_last: bool = False):
    members = [make_unet(UNetConfig(), seed=s).to(dtype) for s in SEEDS]
    ens = EnsembleUNet.from_members(members, channels_last=channels_last)
    ema, opt = EMA(ens, 0.9), make_optimizer(ens)
    gens = [torch.Generator().manual_seed(100 + j) for j in range(len(SEEDS))]
    schedule = linear_vp_schedule(200)
    losses = [
        ensemble_train_step(ens, ema, opt, [b[i] for b in batches], GS, schedule, gens, bf16) for i in range(STEPS)
    ]
    return ens, ema, losses


def _assert_members_equal_alone(dtype: torch.dtype, bf16: bool) -> None:
    batches = _batches(dtype)
    ens, ema, losses = _together(dtype, bf16, batches)
    for j in range(len(SEEDS)):
        params, shadow, alone_losses = _alone(j, dtype, bf16, batches)
        mine = ens.member_state_dict(j)
        assert mine.keys() == params.keys()
        differing = [n for n in params if not torch.equal(mine[n], params[n])]
        assert not differing, f"member {j}: {len(differing)} tensors differ from training alone, e.g. {differing[:3]}"
        mine_ema = ens.member_state_dict(j, ema.shadow)
        assert all(torch.equal(mine_ema[n], shadow[n]) for n in shadow), f"member {j}: EMA differs"
        # the loss is an fp32 mean of n = BATCH*2*28*28 positive terms, summed in another order here:
        # |difference| <= 2 n u mean (Higham, Accuracy and Stability, (3.4) with all terms >= 0), u = 2^-24
        bound = 2 * BATCH * 2 * 28 * 28 * 2.0**-24
        assert [step[j] for step in losses] == pytest.approx(alone_losses, rel=bound)


def test_members_bitwise_equal_alone_float64():
    """Float64 convolutions run the reference (im2col + gemm) kernel once per group, exactly as a
    single network's; GroupNorm(K*G) normalises each group over the same contiguous elements; every
    other operation is per element or the same call per member; AdamW and the EMA are elementwise.
    So equality is bitwise on any CPU."""
    torch.set_num_threads(1)
    _assert_members_equal_alone(torch.float64, bf16=False)


@pytest.mark.skipif(not bf16_autocast_recommended("cpu"), reason="measured on a CPU with native bf16 (AMX)")
def test_members_bitwise_equal_alone_training_precision():
    """The production setting (bf16 autocast, fp32 master weights, one thread): oneDNN's bf16 grouped
    convolution runs each group with the kernel and blocking of the single convolution at these channel
    counts (a multiple of its 16-channel block, or all of a 2-channel input), so equality is bitwise here.
    In fp32 it is not (2- and 96-channel groups take another kernel: see benchmarks/ensemble.py --check)."""
    torch.set_num_threads(1)
    _assert_members_equal_alone(torch.float32, bf16=True)


def test_single_member_forward_equals_diffusers_bitwise():
    """K = 1, contiguous: the ensemble issues the diffusers forward's operations one for one."""
    torch.set_num_threads(1)
    model = make_unet(UNetConfig(), seed=5)
    ens = EnsembleUNet.from_members([model], channels_last=False)
    gen = torch.Generator().manual_seed(0)
    z, k = torch.randn(1, 3, 2, 28, 28, generator=gen), torch.randint(0, 200, (1, 3), generator=gen)
    with torch.no_grad():
        assert torch.equal(ens(z, k)[0], model(z[0], k[0]))


def test_channels_last_changes_layout_not_function():
    """channels_last reorders reductions inside the convolutions only; in float64 the two layouts agree to
    a bound derived from the summation error: each output is a sum of n <= 1152 products (128 channels x
    3 x 3), whose reordering changes it by <= 2 n u sum|terms| (Higham, Accuracy and Stability, §3.1), u =
    2^-53; 30 layers in sequence add such errors, each amplified by at most the network's Lipschitz factor
    (< 1e3 for these weights is generous): tolerance 2 * 1152 * 2^-53 * 30 * 1e3 ~ 8e-9 relative."""
    torch.set_num_threads(1)
    members = [make_unet(UNetConfig(), seed=s).double() for s in SEEDS]
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(len(SEEDS), 2, 2, 28, 28, generator=gen, dtype=torch.float64)
    k = torch.randint(0, 200, (len(SEEDS), 2), generator=gen)
    with torch.no_grad():
        a = EnsembleUNet.from_members(members, channels_last=False)(z, k)
        b = EnsembleUNet.from_members(members, channels_last=True)(z, k)
    tol = 2 * 1152 * 2.0**-53 * 30 * 1e3
    assert (a - b).abs().max().item() <= tol * a.abs().max().item()


def test_bad_member_inputs_are_refused():
    ens = EnsembleUNet(UNetConfig(), members=2)
    with pytest.raises(Exception, match="need z"):
        ens(torch.zeros(3, 1, 2, 28, 28), torch.zeros(3, 1, dtype=torch.long))
