"""The plain-digit channel of a pair: the gate's recognised fraction of that channel alone (issue 16).

The pairs (90) carry a plain digit x in one channel and a transformed digit T(x') in the other, in a random
order (each pair's channels are swapped with probability 1/2, :func:`~diffregimes.data.make_pairs`). The
gate (:mod:`.gate`) scores both channels together; a model that draws a clean T(x) and a smudged x passes
it on the strength of the easy channel. This module finds the plain channel of every pair with a second,
independent classifier — plain x against T(x), trained on the real images of the gate's 80 % split — and
scores that channel alone with the gate's digit classifier, beside the same statistic for held-out real
pairs (whose plain channel is known, which also measures how often the finder is right).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...data import apply_transform, make_pairs
from ...nets import CheckpointError, load_checkpoint, make_classifier, save_checkpoint
from ...protocols.quality import classify, fit_digit_classifier, image_scores
from ...runstore import digest
from ...seeds import derive_seed
from .common import FORMAT, data_fingerprint, images_for
from .gate import CLF_BATCH, CLF_WIDTH, HOLDOUT, _split, digit_classifier, gate_samples_path, held_out
from .presets import TrainingConfig
from .training import TrainedModel

# Plain x against T(x) is far easier than ten digits (the two differ in every pixel statistic: mean for invert,
# thickness for dilate, sharpness for blur, thin outlines for edge); a quarter of the digit classifier's
# budget reaches > 99 % held-out accuracy on every transform (recorded as ``finder_accuracy``).
FINDER_STEPS = 500


def channel_finder(cfg: TrainingConfig, root: Path, device: str) -> tuple[nn.Module, dict[str, Any]]:
    """The plain-vs-transformed classifier of ``cfg``'s data and transform (class 0: x, class 1: T(x)), cached in
    ``root/_cache`` by its key, with its held-out accuracy."""
    key = digest(
        {
            "format": FORMAT,
            "kind": "plain-finder",
            "data": data_fingerprint(cfg.mnist_path),
            "transform": cfg.transform,
            "steps": FINDER_STEPS,
            "width": CLF_WIDTH,
            "batch": CLF_BATCH,
            "holdout": HOLDOUT,
        }
    )
    path = root / "_cache" / f"finder_{key}.pt"
    clf = make_classifier(2, CLF_WIDTH, sign_symmetric=False, seed=derive_seed(0, "plain-finder")).to(device)
    if path.exists():
        try:
            info = load_checkpoint(path, model=clf, map_location=device)
            if info.config.get("key") == key:
                return clf.eval(), dict(info.config["stats"], key=key)
        except CheckpointError:
            path.unlink(missing_ok=True)
    images, labels = images_for(cfg.mnist_path)
    train, test = _split(labels.numel())
    tx = apply_transform(cfg.transform, images)
    x_train = torch.cat([images[train], tx[train]]).to(device)
    y_train = torch.cat([torch.zeros(train.numel()), torch.ones(train.numel())]).long().to(device)
    gen = torch.Generator().manual_seed(derive_seed(0, "plain-finder-batches"))
    fit_digit_classifier(clf, x_train, y_train, FINDER_STEPS, CLF_BATCH, gen)
    x_test = torch.cat([images[test], tx[test]])
    y_test = torch.cat([torch.zeros(test.numel()), torch.ones(test.numel())]).long()
    p, _ = classify(clf, x_test.to(device))
    stats = {"finder_accuracy": float((p.argmax(dim=1) == y_test).double().mean())}
    save_checkpoint(path, clf, None, None, FINDER_STEPS, {"key": key, "stats": stats})
    return clf.eval(), dict(stats, key=key)


def plain_channel(finder: nn.Module, pairs: torch.Tensor) -> torch.Tensor:
    """The channel of each pair [N, 2, H, W] that ``finder`` calls more likely plain: [N, H, W]."""
    p_a, _ = classify(finder, pairs[:, 0])
    p_b, _ = classify(finder, pairs[:, 1])
    a_is_plain = p_a[:, 0] >= p_b[:, 0]
    return torch.where(a_is_plain[:, None, None], pairs[:, 0], pairs[:, 1])


def _real_pairs(cfg: TrainingConfig, pairing: str, classes: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` held-out real pairs of ``pairing`` and their true plain channels."""
    x, y = held_out(cfg, classes)
    pairs = make_pairs(
        x, y, apply_transform(cfg.transform, x), pairing, torch.Generator().manual_seed(derive_seed(0, "plain-real"))
    )
    z0, swapped = pairs.z0[:n], pairs.swapped[:n]
    return z0, torch.where(swapped[:, None, None], z0[:, 1], z0[:, 0])


def plain_channel_scores(tm: TrainedModel, cfg: TrainingConfig, root: Path, device: str) -> dict[str, Any]:
    """Recognised fraction (Wilson 95 %) of the plain-digit channel of the gate's generated pairs of ``tm``
    beside held-out real pairs, and how often the finder picks the right channel of a real pair."""
    clf, cstats = digit_classifier(cfg, root, device)
    finder, fstats = channel_finder(cfg, root, device)
    clf, finder = clf.cpu(), finder.cpu()  # the cached pairs live on the CPU
    with np.load(gate_samples_path(tm.spec, cfg, root, cstats["key"]), allow_pickle=False) as f:
        generated = torch.from_numpy(f["x"])
    real, truth = _real_pairs(cfg, tm.spec.pairing, tm.spec.classes, generated.shape[0])
    found = plain_channel(finder, real)
    gen_scores = image_scores(classify(clf, plain_channel(finder, generated))[0])
    real_scores = image_scores(classify(clf, found)[0])
    return {
        "plain_recognised": gen_scores.recognised,
        "plain_recognised_lo": gen_scores.recognised_lo,
        "plain_recognised_hi": gen_scores.recognised_hi,
        "plain_recognised_real": real_scores.recognised,
        "plain_found_real": float((found == truth).flatten(1).all(dim=1).double().mean()),
        "finder_accuracy": fstats["finder_accuracy"],
    }
