"""Protocol II of the MNIST experiment (paper §5.2) on tensors: the mode classifiers C_u, C_v (103) and the
clone labels of one coupling g, from which :func:`~.speciation_clones.speciation_curve` gives (104)-(106).

* :func:`train_mode_classifiers`: C_u on u_img, C_v on v_img (103) of real MAIN pairs (90) of two digit
  classes, with held-out accuracies.
* :func:`clone_labels`: ``trials`` batched cloning runs of M masters each (:func:`~.speciation_clones.run_clones`,
  whitened DDPM (102), two clones per master and scan step (104)), every end point labelled by C_u and C_v.

Pure computations: images, labels, hyper-parameters, the run seed, a device and an optional progress wrapper
in; modules and label arrays out. Nothing here reads or writes files (the experiments layer caches both,
:mod:`diffregimes.experiments.mnist`). Every random stream is derived from the run seed under a fixed name
(:func:`diffregimes.seeds.derive_seed`), so the numbers do not depend on where the computation runs.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..data import PairedMNIST
from ..diffusion import VPSchedule, sample_mode_noise
from ..nets import classifier_inputs, make_classifier
from ..seeds import derive_seed
from .speciation_clones import EpsFn, accuracy, fit_classifier, predict_labels, run_clones, speciation_curve
from .stats import bootstrap_indices, percentile_interval

Tensor = torch.Tensor
Progress = Callable[[Iterable, str, int], Iterable]


# ----------------------------------------------------------------------------- mode classifiers (103)
def mode_classifiers(n_classes: int, width: int, seed: int, device: str) -> tuple[nn.Module, nn.Module]:
    """Untrained C_u, C_v (103): sign-symmetrised CNNs whose initial weights are seeded from the run seed
    (streams ``"clf-u"``, ``"clf-v"``), on ``device``."""
    C_u = make_classifier(n_classes, width, sign_symmetric=True, seed=derive_seed(seed, "clf-u")).to(device)
    C_v = make_classifier(n_classes, width, sign_symmetric=True, seed=derive_seed(seed, "clf-v")).to(device)
    return C_u, C_v


def _holdout_split(n: int, holdout: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train, test) indices: a random fraction ``holdout`` (at least one) held out, stream ``"clf-split"``."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "clf-split")))
    n_test = max(1, int(round(float(holdout) * n)))
    return perm[n_test:], perm[:n_test]


def _pair_batches(
    images: Tensor,
    labels: Tensor,
    transform: str,
    pair_seed: int,
    steps: int,
    batch: int,
    device: str,
    target: Callable[[Any], tuple[Tensor, Tensor]],
) -> Iterator[tuple[Tensor, Tensor]]:
    """``steps`` minibatches (input, label) = ``target(pairs)`` of the MAIN pairs (90) of ``images``, epoch after
    epoch (the pairs of epoch e drawn from ``pair_seed``)."""
    pairs = PairedMNIST(images.to(device), labels, transform, "main", pair_seed)
    bsz = min(int(batch), labels.numel())
    epoch, done = 0, 0
    while done < int(steps):
        for b in pairs.batches(epoch, bsz):
            if done >= int(steps):
                return
            x, y = target(b)
            yield x, y.to(device)
            done += 1
        epoch += 1


def train_mode_classifiers(
    images: Tensor,
    labels: Tensor,
    transform: str,
    *,
    n_classes: int,
    width: int,
    steps: int,
    batch: int,
    lr: float,
    holdout: float,
    seed: int,
    device: str,
    progress: Progress | None = None,
) -> tuple[nn.Module, nn.Module, dict[str, float]]:
    """C_u, C_v (103) trained on real MAIN pairs (90) of ``images`` (labels 0..n_classes-1); held-out accuracies.

    A random fraction ``holdout`` of the images (at least one; stream ``"clf-split"``) is kept out. C_u learns
    the class of x_A from u_img = (x_A + x_B)/2, C_v from v_img = (x_A - x_B)/sqrt(2) (103), each with
    ``steps`` Adam steps at learning rate ``lr`` on minibatches of ``batch`` pairs (the pairs of epoch e of the
    training images, stream ``"clf-train-pairs"``); the accuracies are measured on the pairs of the held-out
    images (stream ``"clf-test-pairs"``). Returns (C_u, C_v, stats) with stats ``acc_u``, ``acc_v``,
    ``n_test`` and the mean of the last ten losses ``loss_u_last``, ``loss_v_last``.
    """
    C_u, C_v = mode_classifiers(n_classes, width, seed, device)
    train, test = _holdout_split(labels.numel(), holdout, seed)
    train_pairs = (images[train], labels[train], transform, derive_seed(seed, "clf-train-pairs"))

    def stream(mode: int) -> Iterator[tuple[Tensor, Tensor]]:
        return _pair_batches(*train_pairs, steps, batch, device, lambda b: (classifier_inputs(b.z0)[mode], b.labels_a))

    loss_u = fit_classifier(C_u, stream(0), float(lr), progress, int(steps))
    loss_v = fit_classifier(C_v, stream(1), float(lr), progress, int(steps))
    held = PairedMNIST(
        images[test].to(device), labels[test], transform, "main", derive_seed(seed, "clf-test-pairs")
    ).epoch(0)
    u_img, v_img = classifier_inputs(held.z0)
    stats = {
        "acc_u": accuracy(C_u, u_img, held.labels_a),
        "acc_v": accuracy(C_v, v_img, held.labels_a),
        "n_test": int(test.numel()),
        "loss_u_last": float(np.mean(loss_u[-10:])),
        "loss_v_last": float(np.mean(loss_v[-10:])),
    }
    return C_u, C_v, stats


def train_order_classifier(
    images: Tensor,
    labels: Tensor,
    transform: str,
    *,
    width: int,
    steps: int,
    batch: int,
    lr: float,
    holdout: float,
    seed: int,
    device: str,
    progress: Progress | None = None,
) -> tuple[nn.Module, dict[str, float]]:
    """C_o: the A/B order of a MAIN pair (90) (1 when the plain digit is in channel B) from v_img (103).

    The non-degenerate difference-mode label of Protocol II. With C_u and C_v both trained on the digit (103),
    an accurate pair gives the same label to every end point of a MAIN run (u and v are functions of the same
    digit), so phi_u = phi_v at every scan step and their gap is zero by construction. The order does not have
    that problem: u_img = (x_A + x_B)/2 is exactly invariant under the swap, v_img = (x_A - x_B)/sqrt 2 flips
    sign with it, and the swap is a fair coin drawn independently of the digit. So the digit (read from u) and
    the order (read from v, by a classifier that is NOT sign-symmetric) are independent labels carried by the
    two modes, as in the product mixture of the theory, and phi_v of C_o measures when the difference mode
    commits. Same split, streams and budget as :func:`train_mode_classifiers` (streams ``"clf-o"``,
    ``"clf-o-train-pairs"``, ``"clf-o-test-pairs"``). Returns (C_o, stats) with ``acc_o``, ``n_test``,
    ``loss_o_last``.
    """
    C_o = make_classifier(2, width, sign_symmetric=False, seed=derive_seed(seed, "clf-o")).to(device)
    train, test = _holdout_split(labels.numel(), holdout, seed)

    def stream() -> Iterator[tuple[Tensor, Tensor]]:
        return _pair_batches(
            images[train],
            labels[train],
            transform,
            derive_seed(seed, "clf-o-train-pairs"),
            steps,
            batch,
            device,
            lambda b: (classifier_inputs(b.z0)[1], b.swapped.long()),
        )

    loss = fit_classifier(C_o, stream(), float(lr), progress, int(steps))
    held = PairedMNIST(
        images[test].to(device), labels[test], transform, "main", derive_seed(seed, "clf-o-test-pairs")
    ).epoch(0)
    stats = {
        "acc_o": accuracy(C_o, classifier_inputs(held.z0)[1], held.swapped.long()),
        "n_test": int(test.numel()),
        "loss_o_last": float(np.mean(loss[-10:])),
    }
    return C_o, stats


# ----------------------------------------------------------------------------- clone labels (102), (104)
def clone_labels(
    eps_fn: EpsFn,
    schedule: VPSchedule,
    g: float,
    scan_steps: Sequence[int],
    masters: int,
    trials: int,
    seed: int,
    C_u: nn.Module,
    C_v: nn.Module,
    device: str,
    progress: Progress | None = None,
    image_size: tuple[int, int] = (28, 28),
) -> dict[str, np.ndarray]:
    """Labels of every end point of Protocol II at coupling g: ``trials`` cloning runs of M = ``masters``.

    Trial j starts its masters z_{T-1} from mode-shaped noise (92) drawn by a CPU generator seeded with
    ``derive_seed(seed, "p2-masters", f"{g:g}", j)``; ONE generator on ``device``, seeded with
    ``derive_seed(seed, "p2-clone-noise", f"{g:g}")``, draws the reverse noise of all trials in turn (so the
    trials of one g are not independent pieces of work). Each run is whitened DDPM (102) with two clones per
    master at every scan step k_s (104); the final u_img, v_img (103) of masters and clones are labelled by
    C_u and C_v. Returns, with the trials' masters side by side (N = trials M):
    ``master_u``, ``master_v`` [N]; ``clones_u``, ``clones_v`` [n_s, 2, N] (scan steps in descending order);
    ``scan_steps`` [n_s] descending; ``evaluations``: the network row-evaluations of all trials.
    """
    M = int(masters)
    gen = torch.Generator(device=device).manual_seed(derive_seed(seed, "p2-clone-noise", f"{g:g}"))
    out: dict[str, list] = {"master_u": [], "master_v": [], "clones_u": [], "clones_v": []}
    for trial in range(int(trials)):
        z_start = sample_mode_noise(
            (M, 2, *image_size),
            g,
            torch.Generator().manual_seed(derive_seed(seed, "p2-masters", f"{g:g}", trial)),
            device=device,
        )
        with torch.inference_mode():
            run = run_clones(eps_fn, z_start, schedule, g, scan_steps, generator=gen, progress=progress)
        finals = torch.cat([run.master_final, run.clone_final.reshape(-1, *run.master_final.shape[1:])])
        u_img, v_img = classifier_inputs(finals)
        for mode, x, C in (("u", u_img, C_u), ("v", v_img, C_v)):
            lab = predict_labels(C, x).numpy()
            out[f"master_{mode}"].append(lab[:M])
            out[f"clones_{mode}"].append(lab[M:].reshape(len(run.scan_steps), 2, M))
    res = {k: np.concatenate(v, axis=-1) for k, v in out.items()}
    res["scan_steps"] = run.scan_steps
    res["evaluations"] = np.array(run.evaluations(schedule.T) * int(trials))
    return res


def speciation_gap_bootstrap(
    arr: dict[str, np.ndarray], phi_star: float, n_boot: int, rng: np.random.Generator
) -> tuple[float, float, float, np.ndarray]:
    """t_spec^u − t_spec^v (106) and its bootstrap over masters (each master with its clones; the same
    draw for u and v, which share the masters)."""
    m = arr["master_u"].shape[0]

    def gap(idx: np.ndarray) -> float:
        t = [
            speciation_curve(
                arr["scan_steps"], arr[f"clones_{mode}"][..., idx], arr[f"master_{mode}"][idx], phi_star
            ).t_spec
            for mode in ("u", "v")
        ]
        return t[0] - t[1]

    reps = np.array([gap(d) for d in bootstrap_indices(m, n_boot, rng)])
    return (gap(np.arange(m)), *percentile_interval(reps), reps)


def t_spec_interval(c) -> tuple[float, float]:
    """The t_spec interval; a lower-bound curve that never reaches phi* puts the bound below the smallest
    scan step, taken as k = 0 (conservative)."""
    lo = c.t_spec_lo if np.isfinite(c.t_spec_lo) or not np.isfinite(c.t_spec) else 0.0
    return float(lo), float(c.t_spec_hi)
