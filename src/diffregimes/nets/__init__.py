"""Networks of the MNIST experiment (paper §5): the eps-prediction U-Net, weight EMA, the
sign-symmetrised mode classifiers (103), and atomic checkpoints.

diffusers is imported only when a U-Net is built, so the rest works without it.
"""

from .checkpoint import CheckpointError, CheckpointInfo, load_checkpoint, read_checkpoint, save_checkpoint
from .classifier import SignSymmetricClassifier, SmallCNN, classifier_inputs, make_classifier
from .ema import EMA
from .unet import EpsUNet, UNetConfig, count_parameters, make_unet, seeded_init

__all__ = [
    "CheckpointError",
    "CheckpointInfo",
    "EMA",
    "EpsUNet",
    "SignSymmetricClassifier",
    "SmallCNN",
    "UNetConfig",
    "classifier_inputs",
    "count_parameters",
    "load_checkpoint",
    "make_classifier",
    "make_unet",
    "read_checkpoint",
    "save_checkpoint",
    "seeded_init",
]
