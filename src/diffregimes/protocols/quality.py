"""Sample-quality gate for trained MNIST diffusion models (no I/O).

An independent digit classifier (trained on real digits, not on generated ones) scores images of
one kind, generated or real:

* recognised fraction: share of images whose max softmax probability is >= ``threshold`` (0.9),
  with a 95% Wilson interval;
* class-histogram entropy (nats) of the argmax labels: low when a model drops digit classes;
* Fréchet distance between the Gaussian fits of two sets of the classifier's penultimate features,
  ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2}) (the FID recipe with a
  digit network in place of Inception).

The decision (:func:`gate_decision`) uses the recognised fraction's interval, not its point estimate: a model
passes when the 95 % Wilson interval of recognised_gen lies at or above 0.7 recognised_real, fails when it lies
below, and is "marginal" when it straddles the threshold (a pass/fail decided by a few thousandths of a
statistic whose interval is ± 0.04 would be no decision); the class entropy must also reach 0.9 entropy_real
(its sampling error at a few hundred images is small beside that margin). The Fréchet distance is reported beside the real-vs-real distance of two
disjoint real halves, which is its noise floor at this sample size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.mnist import require_classes
from ..errors import ValidationError
from .speciation_clones import wilson_interval

Tensor = torch.Tensor
RECOGNISED_THRESHOLD = 0.9
RECOGNISED_RATIO = 0.7
ENTROPY_RATIO = 0.9


@dataclass(frozen=True)
class ImageScores:
    """What the digit classifier says about one set of images."""

    n: int
    recognised: float
    recognised_lo: float
    recognised_hi: float
    class_entropy: float
    class_counts: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def classify(classifier: nn.Module, images: Tensor, max_batch: int = 512) -> tuple[Tensor, Tensor]:
    """(softmax probabilities [N, C], penultimate features [N, F]) of images [N, H, W] in [0, 1].

    ``classifier`` must expose ``features(x)`` and ``forward(x)`` (:class:`~diffregimes.nets.SmallCNN`).
    """
    classifier.eval()
    probs, feats = [], []
    for chunk in torch.split(images.float(), max_batch):
        f = classifier.features(chunk)
        feats.append(f.cpu())
        probs.append(torch.softmax(classifier.net[-1](f), dim=1).cpu())
    if not probs:
        raise ValidationError("classify needs at least one image: images has 0 rows")
    return torch.cat(probs), torch.cat(feats)


def class_entropy(labels: np.ndarray, num_classes: int) -> tuple[float, np.ndarray]:
    """Entropy (nats) of the histogram of integer ``labels`` over 0..num_classes-1, and the counts."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum()), counts


def image_scores(probs: Tensor, threshold: float = RECOGNISED_THRESHOLD) -> ImageScores:
    """Recognised fraction (max softmax >= threshold, Wilson 95% interval) and class entropy."""
    if not 0.0 < threshold < 1.0:
        raise ValidationError(f"threshold must be in (0, 1): threshold={threshold}")
    conf, labels = probs.max(dim=1)
    n = int(conf.numel())
    k = int((conf >= threshold).sum())
    lo, hi = wilson_interval(k, n)
    h, counts = class_entropy(labels.numpy(), probs.shape[1])
    return ImageScores(n, k / n, float(lo), float(hi), h, tuple(int(c) for c in counts))


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2).

    tr((S1^{1/2} S2 S1^{1/2})^{1/2}) is computed from the eigenvalues of the symmetric PSD matrix
    S1^{1/2} S2 S1^{1/2}, which avoids the complex round-off of a general sqrtm.
    """
    mu1, mu2 = np.asarray(mu1, float), np.asarray(mu2, float)
    cov1, cov2 = np.asarray(cov1, float), np.asarray(cov2, float)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise ValidationError(f"shapes do not match: mu {mu1.shape}, {mu2.shape}; cov {cov1.shape}, {cov2.shape}")
    s1 = _sqrtm_psd(cov1)
    cross = np.linalg.eigvalsh((s1 @ cov2 @ s1 + (s1 @ cov2 @ s1).T) / 2.0)
    tr_cross = float(np.sqrt(np.clip(cross, 0.0, None)).sum())
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_cross)


def feature_frechet(f1: Tensor | np.ndarray, f2: Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussian fits (mean, unbiased covariance) of two feature sets [N, F]."""
    a, b = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValidationError(f"need at least two feature rows per set: {a.shape[0]}, {b.shape[0]}")
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


GATE_DECISIONS = ("pass", "marginal", "fail")


def gate_decision(
    gen: ImageScores,
    real: ImageScores,
    recognised_ratio: float = RECOGNISED_RATIO,
    entropy_ratio: float = ENTROPY_RATIO,
) -> str:
    """ "pass" when the interval of recognised_gen clears ``recognised_ratio`` * recognised_real and the class
    entropy reaches ``entropy_ratio`` * entropy_real; "fail" when the interval lies below the threshold or the
    entropy falls short; otherwise "marginal" (see the module docstring)."""
    threshold = recognised_ratio * real.recognised
    if gen.class_entropy < entropy_ratio * real.class_entropy or gen.recognised_hi < threshold:
        return "fail"
    return "pass" if gen.recognised_lo >= threshold else "marginal"


def gate_passes(
    gen: ImageScores,
    real: ImageScores,
    recognised_ratio: float = RECOGNISED_RATIO,
    entropy_ratio: float = ENTROPY_RATIO,
) -> bool:
    """Whether a model may be used: its :func:`gate_decision` is "pass" or "marginal" (not "fail")."""
    return gate_decision(gen, real, recognised_ratio, entropy_ratio) != "fail"


def quality_report(
    classifier: nn.Module, generated: Tensor, real: Tensor, threshold: float = RECOGNISED_THRESHOLD
) -> dict[str, Any]:
    """Gate numbers for ``generated`` beside ``real`` images (both [N, H, W] in [0, 1]).

    The Fréchet distance of a finite sample is biased upwards by O(dim / n), so both distances are
    taken at equal sizes against the same reference: ``real`` is split into halves A and B, and
    FD(first |B| generated, A) is reported beside the floor FD(B, A).
    """
    if real.shape[0] < 4 or generated.shape[0] < 2:
        raise ValidationError(f"need >= 2 generated and >= 4 real images: {generated.shape[0]}, {real.shape[0]}")
    p_gen, f_gen = classify(classifier, generated)
    p_real, f_real = classify(classifier, real)
    gen, ref = image_scores(p_gen, threshold), image_scores(p_real, threshold)
    half = real.shape[0] // 2
    m = min(real.shape[0] - half, generated.shape[0])
    out = {
        "recognised": gen.recognised,
        "recognised_lo": gen.recognised_lo,
        "recognised_hi": gen.recognised_hi,
        "recognised_real": ref.recognised,
        "recognised_real_lo": ref.recognised_lo,
        "recognised_real_hi": ref.recognised_hi,
        "class_entropy": gen.class_entropy,
        "class_entropy_real": ref.class_entropy,
        "class_counts": list(gen.class_counts),
        "class_counts_real": list(ref.class_counts),
        "frechet": feature_frechet(f_gen[:m], f_real[:half]),
        "frechet_real": feature_frechet(f_real[half : half + m], f_real[:half]),
        "n_generated": gen.n,
        "n_real": ref.n,
        "threshold": threshold,
        "gate": gate_decision(gen, ref),
        "passes_gate": gate_passes(gen, ref),
    }
    out["entropy_max"] = math.log(p_gen.shape[1])
    return out


def fit_digit_classifier(
    classifier: nn.Module,
    images: Tensor,
    labels: Tensor,
    steps: int,
    batch: int,
    generator: torch.Generator,
    lr: float = 1e-3,
) -> list[float]:
    """Adam on cross-entropy for ``steps`` minibatches of ``batch`` images drawn (with replacement
    across epochs, without within one) from ``images`` [N, H, W] and integer ``labels`` [N].

    The minibatch order comes from ``generator`` only, so the fit is reproducible.
    """
    if steps < 1 or not 1 <= batch <= images.shape[0]:
        raise ValidationError(f"need steps >= 1 and 1 <= batch <= {images.shape[0]}: steps={steps}, batch={batch}")
    require_classes(labels, 2, "the digit classifier's training set")
    opt = torch.optim.Adam(classifier.parameters(), lr=lr)
    classifier.train()
    losses: list[float] = []
    order = torch.randperm(images.shape[0], generator=generator)
    pos = 0
    for _ in range(steps):
        if pos + batch > order.numel():
            order, pos = torch.randperm(images.shape[0], generator=generator), 0
        idx = order[pos : pos + batch]
        pos += batch
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(classifier(images[idx]), labels[idx])
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    classifier.eval()
    return losses
