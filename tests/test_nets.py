"""Networks (diffregimes.nets) and the training step (diffregimes.diffusion.train_step):
U-Net shapes, EMA algebra, sign invariance of the classifiers (103), atomic checkpoints and
bit-exact resumption.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from diffregimes.diffusion import linear_vp_schedule, make_optimizer, train_step
from diffregimes.nets import (
    EMA,
    CheckpointError,
    UNetConfig,
    classifier_inputs,
    count_parameters,
    load_checkpoint,
    make_classifier,
    make_unet,
    read_checkpoint,
    save_checkpoint,
)

pytest.importorskip("diffusers")


TINY = UNetConfig(block_out_channels=(8, 16), norm_num_groups=4)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------- U-Net
def test_seeded_init_is_reproducible_and_leaves_global_rng():
    state = torch.random.get_rng_state()
    a, b, c = make_unet(TINY, seed=3), make_unet(TINY, seed=3), make_unet(TINY, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (n, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), n
    assert any(not torch.equal(x, z) for x, z in zip(a.parameters(), c.parameters()))


def test_default_unet_size_and_shapes():
    model = make_unet()
    assert 0.9e6 < count_parameters(model) < 1.2e6
    z = torch.randn(3, 2, 28, 28, generator=gen())
    with torch.no_grad():
        out = model(z, torch.tensor([0, 50, 199]))
    assert out.shape == (3, 2, 28, 28) and torch.isfinite(out).all()


def test_unet_scalar_and_vector_timestep():
    model = make_unet(TINY, seed=0).eval()
    z = torch.randn(2, 2, 28, 28, generator=gen())
    with torch.no_grad():
        a = model(z, 17)
        b = model(z, torch.tensor([17, 17]))
        c = model(z, torch.tensor([17, 120]))
    assert torch.allclose(a, b)
    assert not torch.allclose(a[1], c[1])  # the time embedding matters


def test_unet_config_validation_and_roundtrip():
    assert UNetConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ValueError, match="divisible"):
        UNetConfig(sample_size=28, block_out_channels=(8, 16, 16, 16), norm_num_groups=4)
    with pytest.raises(ValueError, match="norm_num_groups"):
        UNetConfig(block_out_channels=(6, 12), norm_num_groups=4)
    with pytest.raises(ValueError, match="attention_levels"):
        UNetConfig(attention_levels=(5,))
    assert count_parameters(make_unet(UNetConfig(attention_levels=(1,)))) > count_parameters(make_unet())


# ------------------------------------------------------------------------------------------ EMA
def test_ema_update_rule_and_state():
    net = torch.nn.Linear(3, 2)
    ema = EMA(net, decay=0.9)
    w0 = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    assert torch.allclose(ema.shadow["weight"], 0.9 * w0 + 0.1 * (w0 + 1.0))
    other = torch.nn.Linear(3, 2)
    ema.copy_to(other)
    assert torch.allclose(other.weight, ema.shadow["weight"])
    ema2 = EMA(torch.nn.Linear(3, 2), decay=0.5)
    ema2.load_state_dict(ema.state_dict())
    assert ema2.decay == 0.9 and ema2.num_updates == 1
    assert torch.equal(ema2.shadow["weight"], ema.shadow["weight"])
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        EMA(net, decay=1.0)


# ------------------------------------------------------------------------------------ classifier
def test_classifier_sign_invariance():
    clf = make_classifier(num_classes=2, seed=0)
    x = torch.randn(5, 28, 28, generator=gen())
    out = clf(x)
    assert out.shape == (5, 2)
    assert torch.allclose(out, clf(-x), atol=1e-6)
    assert torch.allclose(clf(x[:, None]), out, atol=1e-6)
    plain = make_classifier(num_classes=2, sign_symmetric=False, seed=0)
    assert not torch.allclose(plain(x), plain(-x), atol=1e-6)  # the invariance is not free
    with pytest.raises(ValueError, match="classifier input"):
        clf(torch.zeros(2, 2, 28, 28))


def test_classifier_inputs_swap_behaviour():
    z = torch.rand(4, 2, 28, 28, generator=gen())
    u, v = classifier_inputs(z)
    u_s, v_s = classifier_inputs(z.flip(1))  # A/B swap
    assert torch.allclose(u, u_s) and torch.allclose(v, -v_s)
    assert u.min() >= 0 and u.max() <= 1  # the 1/2 of (103)
    assert torch.allclose(v, (z[:, 0] - z[:, 1]) / math.sqrt(2))


# --------------------------------------------------------------------------- training, checkpoints
def build(seed: int = 0):
    model = make_unet(TINY, seed=seed)
    return model, EMA(model, decay=0.9), make_optimizer(model, lr=1e-3)


BATCHES = [torch.rand(4, 2, 28, 28, generator=gen(100 + i)) for i in range(5)]
SCHEDULE = linear_vp_schedule(200)


def run(model, ema, opt, g_rng, batches, autocast=False):
    return [train_step(model, ema, opt, b, 0.3, SCHEDULE, g_rng, autocast_bf16=autocast) for b in batches]


def test_train_step_is_one_adam_step_on_the_loss():
    """The first AdamW step (weight decay 0) moves every parameter by -lr g / (|g| + eps): after one step the
    bias-corrected moments are m_hat = g and v_hat = g^2 (Kingma & Ba, Alg. 1). g is the gradient of eps_loss
    computed here separately, on an identical copy, with the generator at the same state."""
    from diffregimes.diffusion import eps_loss

    model, ema, opt = build()
    reference = make_unet(TINY, seed=0)
    loss_ref = eps_loss(reference.train(), BATCHES[0], 0.3, SCHEDULE, gen(1))
    loss_ref.backward()
    before = [p.detach().clone() for p in model.parameters()]
    loss = train_step(model, ema, opt, BATCHES[0], 0.3, SCHEDULE, gen(1))
    assert loss == pytest.approx(loss_ref.item(), rel=1e-6)
    lr, eps = opt.param_groups[0]["lr"], opt.param_groups[0]["eps"]
    for p0, p1, ref in zip(before, model.parameters(), reference.parameters()):
        g = ref.grad if ref.grad is not None else torch.zeros_like(p0)
        torch.testing.assert_close(p1.detach(), p0 - lr * g / (g.abs() + eps), rtol=0, atol=2e-7)
    assert ema.num_updates == 1


def test_train_step_validates():
    model, ema, opt = build()
    with pytest.raises(ValueError, match=r"g must be in \[0, 1\)"):
        train_step(model, ema, opt, BATCHES[0], 1.5, SCHEDULE, gen())
    with pytest.raises(ValueError, match="batch_z0 must be"):
        train_step(model, ema, opt, BATCHES[0][:, :1], 0.3, SCHEDULE, gen())


def test_bf16_autocast_keeps_fp32_master_weights():
    model, ema, opt = build()
    losses = run(model, ema, opt, gen(1), BATCHES[:2], autocast=True)
    assert all(math.isfinite(v) for v in losses)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(t.dtype == torch.float32 for t in ema.shadow.values() if t.is_floating_point())


def test_resume_from_checkpoint_is_bit_exact(tmp_path):
    model, ema, opt = build()
    g_rng = gen(42)
    straight = run(model, ema, opt, g_rng, BATCHES)

    m1, e1, o1 = build()
    g1 = gen(42)
    first = run(m1, e1, o1, g1, BATCHES[:3])
    path = save_checkpoint(tmp_path / "ck.pt", m1, e1, o1, step=3, config_dict={"unet": TINY.to_dict()}, generator=g1)
    del m1, e1, o1, g1

    m2, e2, o2 = build(seed=123)  # different init: everything must come from the checkpoint
    g2 = gen(0)
    info = load_checkpoint(path, m2, e2, o2, generator=g2)
    assert info.step == 3 and UNetConfig.from_dict(info.config["unet"]) == TINY
    rest = run(m2, e2, o2, g2, BATCHES[3:])
    assert first + rest == straight
    for (n, a), b in zip(model.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), n
    for n, t in ema.shadow.items():
        assert torch.equal(t, e2.shadow[n]), n


def test_checkpoint_atomic_and_corrupt(tmp_path):
    model, ema, opt = build()
    path = tmp_path / "sub" / "ck.pt"
    save_checkpoint(path, model, ema, opt, step=0, config_dict={})
    save_checkpoint(path, model, ema, opt, step=1, config_dict={})  # overwrite in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["ck.pt"]  # no temp files left
    assert read_checkpoint(path)["step"] == 1

    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated checkpoint") as ei:
        load_checkpoint(path, model)
    assert str(path) in str(ei.value) and "\n" not in str(ei.value)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=str(path.name)):
        load_checkpoint(path, model)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt", model)


def test_checkpoint_mismatch_is_clear(tmp_path):
    model, ema, opt = build()
    path = save_checkpoint(tmp_path / "ck.pt", model, None, None, step=2, config_dict={})
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(path, make_unet())
    with pytest.raises(CheckpointError, match="no ema state"):
        load_checkpoint(path, model, ema=ema)
    with pytest.raises(CheckpointError, match="no generator state"):
        load_checkpoint(path, model, generator=gen())


def test_bf16_recommendation_follows_the_cpu_flags():
    """bf16 autocast is recommended on CPU exactly when the CPU has native bf16 (AVX512-BF16 or AMX tiles), read
    here from the kernel's /proc/cpuinfo flags rather than from torch's probes."""
    from diffregimes.diffusion import bf16_autocast_recommended

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo (not Linux)")
    flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
    assert bf16_autocast_recommended("cpu") == bool({"avx512_bf16", "amx_tile"} & flags)
    assert bf16_autocast_recommended("meta") is False
    if not torch.cuda.is_available():
        assert bf16_autocast_recommended("cuda") is False
