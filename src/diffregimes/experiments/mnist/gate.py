"""The sample-quality gate of every trained MNIST model (DESIGN F; :mod:`diffregimes.protocols.quality`).

An independent digit classifier (a :class:`~diffregimes.nets.SmallCNN`, 10 classes; not the
sign-invariant C_u / C_v of Protocol II) is trained on the real images of a fixed 80 % split of the data
and on their transforms T(x), both labelled with the digit, so that it reads either channel of a pair
(a digit x or its T(x)). Its accuracy on the held-out 20 % is reported.

A model is scored on ``gate_pairs`` pairs drawn by whitened DDPM (102) from its own start noise: both
channels x_A, x_B of every generated pair (each is a digit or a transformed digit, in MAIN and in
CTRL alike) against both channels of as many held-out real pairs of the same pairing. Scoring the
channels rather than u_img = (x_A + x_B)/2 keeps the gate meaningful for CTRL, whose u superposes two
different digits and is not a digit at all.

With ``gate_steps`` set (evidence preset), :func:`train_until_gate` trains a model to the first budget
of that ladder at which it passes, continuing one lineage (no step is trained twice).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ...data import PairedMNIST
from ...nets import CheckpointError, load_checkpoint, make_classifier, save_checkpoint
from ...protocols.quality import fit_digit_classifier, quality_report
from ...protocols.speciation_clones import accuracy
from ...runstore import digest
from ...seeds import derive_seed
from .common import FORMAT, cached_npz, data_fingerprint, images_for
from .presets import TrainingConfig
from .training import TrainedModel, TrainSpec, generate_pairs_seeded, train_or_load, train_spec
from .weights import CLASSIFIER_FILE, find_published, load_classifier, load_published

HOLDOUT = 0.2


CLF_WIDTH = 32


CLF_BATCH = 128


Progress = Callable[[Iterable, str, int], Iterable]


def _split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) indices of the fixed 80/20 split of the whole data set."""
    gen = torch.Generator().manual_seed(derive_seed(0, "digit-classifier-split"))
    perm = torch.randperm(n, generator=gen)
    n_test = int(round(HOLDOUT * n))
    return perm[n_test:], perm[:n_test]


def digit_classifier(cfg: TrainingConfig, root: Path, device: str) -> tuple[nn.Module, dict[str, Any]]:
    """The gate's digit classifier for the data of ``cfg`` and its stats: the one published in ``cfg.models_dir``
    (:data:`~.weights.CLASSIFIER_FILE`) when it was made for this key, else the cached one in ``root/_cache``,
    else trained and cached. With published models the gate thus scores them with the network that gated
    them, and a re-run gives the published gate numbers whatever the executor or thread count."""
    clf_cfg = {
        "format": FORMAT,
        "kind": "digits",
        "data": data_fingerprint(cfg.mnist_path),
        "transform": cfg.transform,
        "steps": int(cfg.digit_clf_steps),
        "width": CLF_WIDTH,
        "batch": CLF_BATCH,
        "holdout": HOLDOUT,
    }
    key = digest(clf_cfg)
    path = root / "_cache" / f"digits_{key}.pt"
    clf = make_classifier(10, CLF_WIDTH, sign_symmetric=False, seed=derive_seed(0, "digit-classifier")).to(device)
    if cfg.models_dir:
        stats = load_classifier(Path(cfg.models_dir) / CLASSIFIER_FILE, key, clf, device)
        if stats is not None:
            return clf.eval(), dict(stats, key=key, cached=True, published=True)
    if path.exists():
        try:
            info = load_checkpoint(path, model=clf, map_location=device)
            if info.config.get("key") == key:
                return clf.eval(), dict(info.config["stats"], key=key, cached=True)
        except CheckpointError:
            path.unlink(missing_ok=True)
    images, labels = images_for(cfg.mnist_path)
    train, test = _split(labels.numel())
    pm = PairedMNIST(images, labels, cfg.transform, "main", 0)
    x_train = torch.cat([images[train], pm.transformed[train]]).to(device)
    y_train = torch.cat([labels[train], labels[train]]).to(device)
    gen = torch.Generator().manual_seed(derive_seed(0, "digit-classifier-batches"))
    losses = fit_digit_classifier(clf, x_train, y_train, int(cfg.digit_clf_steps), CLF_BATCH, gen)
    stats = {
        "test_accuracy_x": accuracy(clf, images[test].to(device), labels[test]),
        "test_accuracy_tx": accuracy(clf, pm.transformed[test].to(device), labels[test]),
        "n_train": int(train.numel()),
        "n_test": int(test.numel()),
        "loss_last": float(np.mean(losses[-20:])),
    }
    save_checkpoint(path, clf, None, None, int(cfg.digit_clf_steps), {"key": key, "stats": stats})
    return clf.eval(), dict(stats, key=key, cached=False)


def held_out(cfg: TrainingConfig, classes: Sequence[int] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels of the fixed 20 % hold-out (restricted to ``classes``)."""
    images, labels = images_for(cfg.mnist_path)
    _, test = _split(labels.numel())
    x, y = images[test], labels[test]
    if classes is not None:
        keep = torch.isin(y, torch.as_tensor(list(classes)))
        x, y = x[keep], y[keep]
    return x, y


def real_channels(cfg: TrainingConfig, pairing: str, classes: Sequence[int] | None, n_pairs: int) -> torch.Tensor:
    """Both channels of ``n_pairs`` held-out real pairs of ``pairing`` (restricted to ``classes``)."""
    x, y = held_out(cfg, classes)
    pairs = PairedMNIST(x, y, cfg.transform, pairing, derive_seed(0, "gate-real-pairs")).epoch(0)
    z0 = pairs.z0[:n_pairs]
    return z0.reshape(-1, *z0.shape[-2:])


def generate_pairs(tm: TrainedModel, cfg: TrainingConfig, n: int, device: str) -> torch.Tensor:
    """The gate's ``n`` generated pairs of ``tm`` (seeded from the model's own seed)."""
    return generate_pairs_seeded(tm, n, derive_seed(tm.spec.seed, "gate-samples"), device, clip=cfg.clip_x0)


def gate_samples_path(spec: TrainSpec, cfg: TrainingConfig, root: Path, clf_key: str) -> Path:
    """Where the gate's generated pairs of the model ``spec`` are cached."""
    key = digest(
        {
            "format": FORMAT,
            "kind": "gate",
            "model": spec.key,
            "clf": clf_key,
            "n": int(cfg.gate_pairs),
            "clip": cfg.clip_x0,
        }
    )
    return root / "_cache" / f"gate_samples_{key}.npz"


def gate_model(tm: TrainedModel, cfg: TrainingConfig, root: Path, device: str) -> dict[str, Any]:
    """Gate numbers of one model. The generated pairs (the costly part) are cached in ``root/_cache`` by
    model and classifier key; the scores are recomputed from them on every call (a second)."""
    clf, cstats = digit_classifier(cfg, root, device)
    n = int(cfg.gate_pairs)
    path = gate_samples_path(tm.spec, cfg, root, cstats["key"])
    key = path.stem.removeprefix("gate_samples_")
    samples = cached_npz(path, lambda: {"x": generate_pairs(tm, cfg, n, device).numpy()})["x"]
    gen = torch.from_numpy(samples)
    real = real_channels(cfg, tm.spec.pairing, tm.spec.classes, n)
    rep = quality_report(clf.cpu(), gen.reshape(-1, 28, 28), real)
    clf.to(device)
    return {
        "key": key,
        "model": tm.spec.key,
        "pairing": tm.spec.pairing,
        "g": tm.spec.g,
        "seed": tm.spec.seed,
        "steps": tm.spec.steps,
        "batch": tm.spec.batch,
        "classes": tm.spec.classes,
        "classifier_test_accuracy": cstats["test_accuracy_x"],
        **rep,
    }


def train_until_gate(
    cfg: TrainingConfig,
    pairing: str,
    g: float,
    seed: int,
    T: int,
    device: str,
    root: Path,
    classes: Sequence[int] | None = None,
    progress: Progress | None = None,
) -> tuple[TrainedModel, dict[str, Any], list[dict[str, Any]]]:
    """Train (or load) one model and gate it: (model, its gate record, the gate record of every budget
    tried). With ``cfg.gate_steps`` the budgets of that ladder are tried in order until one passes."""
    if cfg.models_dir:
        found = _published(cfg, pairing, g, seed, T, device, root, classes)
        if found is not None:
            return found
        print(
            f"--models {cfg.models_dir}: no published model for "
            f"{train_spec(cfg, pairing, g, seed, T, device, classes).label}; training it",
            file=sys.stderr,  # a warning: shown under --no-progress too
            flush=True,
        )
    ladder = [int(s) for s in (cfg.gate_steps or [])]
    if not ladder:
        spec = train_spec(cfg, pairing, g, seed, T, device, classes)
        tm = train_or_load(spec, root, device, cfg.mnist_path, progress, int(cfg.checkpoint_every))
        rec = gate_model(tm, cfg, root, device)
        return tm, rec, [rec]
    if sorted(set(ladder)) != ladder or ladder[0] < 1:
        raise ValueError(f"gate_steps must be increasing positive integers: gate_steps={ladder}")
    tried: list[dict[str, Any]] = []
    for steps in ladder:
        spec: TrainSpec = train_spec(cfg, pairing, g, seed, T, device, classes, steps=steps)
        tm = train_or_load(spec, root, device, cfg.mnist_path, progress, int(cfg.checkpoint_every))
        rec = gate_model(tm, cfg, root, device)
        tried.append(rec)
        if rec["passes_gate"]:
            break
    return tm, rec, tried


def _published(
    cfg: TrainingConfig,
    pairing: str,
    g: float,
    seed: int,
    T: int,
    device: str,
    root: Path,
    classes: Sequence[int] | None,
) -> tuple[TrainedModel, dict[str, Any], list[dict[str, Any]]] | None:
    """The model of ``cfg.models_dir`` (published weights, :mod:`.mnist_publish`) and its gate record,
    or None when that directory holds no model of this identity."""
    path = find_published(Path(cfg.models_dir), train_spec(cfg, pairing, g, seed, T, device, classes))
    if path is None:
        return None
    tm = load_published(path, device)
    rec = gate_model(tm, cfg, root, device)
    return tm, rec, [rec]
