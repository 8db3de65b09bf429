"""Protocol II of the MNIST experiment (paper §5.2): cloning-based speciation curves.

* :func:`run_clones`: whitened-DDPM (102) master trajectories from z_{T-1}; at every scan step k_s
  the master state z_{k_s} is copied into two clones that continue to k = 0 with independent
  reverse noise (104). All clones of all scan steps run in ONE batch: rows are
  [masters | both clones of the largest k_s | ... | both clones of the smallest k_s], so at step k
  the rows still to be stepped, those started at k_s >= k, form a prefix and each step is one
  network call (chunked by ``max_batch``) on that prefix. The masters continue to k = 0 as well:
  their end points are independent model samples.
* Noise: at step k > 0 the white noise of the active prefix is ``noise_fn(k, n_active)``
  ([n_active, 2, H, W]); by default one ``torch.randn`` from the generator per step. Row r always
  receives row r of that draw, so a run split per scan with the same table of draws gives the
  same numbers (tests check this against a naive per-scan loop).
* Agreement (104), the independent baseline phi_indep, the corrected phi^ex (105), 95% Wilson
  intervals mapped through (105), and t_spec (106) by linear interpolation at phi* = 0.55.
* :func:`fit_classifier`: minibatch training of the mode classifiers C_u, C_v (103) on tensors.

phi_indep is the probability that two final samples from DIFFERENT master trajectories carry the
same label: every final sample (masters and clones) is marginally a model sample, and samples of
different masters are independent, so the estimate is the fraction of agreeing pairs among all
cross-master pairs (a U-statistic over M (M - 1) R^2 pairs for M masters with R final samples each);
pairs within one master are excluded because they share the trajectory up to a scan step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..diffusion import VPSchedule, check_g, ddpm_step_whitened
from ..errors import ValidationError

Tensor = torch.Tensor
EpsFn = Callable[[Tensor, int], Tensor]
NoiseFn = Callable[[int, int], Tensor]

PHI_STAR = 0.55
Z95 = 1.959963984540054  # standard normal 97.5% quantile


# ----------------------------------------------------------------------------- cloning (102), (104)
@dataclass(frozen=True, eq=False)
class CloneRun:
    """Final states of one batched cloning run.

    scan_steps: [n_s] descending DDPM steps k_s; master_final: [M, 2, H, W];
    clone_final: [n_s, 2, M, 2, H, W] (scan, clone 1/2, master).
    """

    scan_steps: np.ndarray
    master_final: Tensor
    clone_final: Tensor

    @property
    def n_rows(self) -> int:
        """Rows of the batched run: the masters and two clones per master and scan step."""
        return int(self.master_final.shape[0] * (1 + 2 * len(self.scan_steps)))

    def evaluations(self, T: int) -> int:
        """Network row-evaluations of the run: M T for the masters, 2 M (k_s + 1) per scan."""
        m = int(self.master_final.shape[0])
        return m * T + 2 * m * int(np.sum(self.scan_steps + 1))


def check_scan_steps(scan_steps: Sequence[int], T: int) -> np.ndarray:
    """Distinct integer steps in [0, T-1], returned in descending order."""
    ks = np.asarray([int(k) for k in scan_steps], dtype=np.int64)
    if ks.size == 0 or len(set(ks.tolist())) != ks.size or ks.min() < 0 or ks.max() > T - 1:
        raise ValidationError(f"scan_steps must be distinct integers in [0, {T - 1}]: scan_steps={list(scan_steps)}")
    return np.sort(ks)[::-1].copy()


def active_rows(k: int, m: int, scan_desc: np.ndarray) -> int:
    """Rows stepped at step k: the M masters plus both clones of every scan with k_s >= k."""
    return m * (1 + 2 * int(np.sum(scan_desc >= k)))


def default_noise(generator: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> NoiseFn:
    """noise_fn drawing N(0, I) of shape [n_active, *shape] from ``generator`` (on its device)."""

    def draw(k: int, n: int) -> Tensor:
        return torch.randn((n, *shape), generator=generator, device=generator.device, dtype=dtype)

    return draw


def run_clones(
    eps_fn: EpsFn,
    z_start: Tensor,
    schedule: VPSchedule,
    g: float,
    scan_steps: Sequence[int],
    generator: torch.Generator | None = None,
    noise_fn: NoiseFn | None = None,
    progress: Callable[[Iterable, str, int], Iterable] | None = None,
) -> CloneRun:
    """Masters from z_start (at k = T-1) and two clones per scan step, in one batch (see module doc).

    Whitened DDPM (102) throughout (:func:`diffregimes.diffusion.ddpm_step_whitened`). Give
    ``generator`` (default noise) or ``noise_fn``; eps_fn may chunk its batch (see
    :func:`diffregimes.protocols.sync.batched`).
    """
    g = check_g(g)
    if z_start.dim() != 4 or z_start.shape[1] != 2:
        raise ValidationError(f"z_start must be [M, 2, H, W]: shape={tuple(z_start.shape)}")
    scan = check_scan_steps(scan_steps, schedule.T)
    if noise_fn is None:
        if generator is None:
            raise ValidationError("run_clones needs a generator or a noise_fn")
        noise_fn = default_noise(generator, tuple(z_start.shape[1:]), z_start.dtype)
    m = z_start.shape[0]
    n_total = m * (1 + 2 * len(scan))
    z = torch.empty((n_total, *z_start.shape[1:]), dtype=z_start.dtype, device=z_start.device)
    z[:m] = z_start
    block = {int(k): m * (1 + 2 * i) for i, k in enumerate(scan)}  # first row of scan k's clones
    steps: Iterable = range(schedule.T - 1, -1, -1)
    if progress is not None:
        steps = progress(steps, "DDPM clones", schedule.T)
    for k in steps:
        if k in block:  # clones start from the master's state z_k, before the step at k
            r = block[k]
            z[r : r + m] = z[:m]
            z[r + m : r + 2 * m] = z[:m]
        n = active_rows(k, m, scan)
        noise = None
        if k > 0:
            noise = noise_fn(k, n).to(device=z.device, dtype=z.dtype)
            if noise.shape != (n, *z.shape[1:]):
                raise ValidationError(f"noise_fn({k}, {n}) must return shape {(n, *z.shape[1:])}: {tuple(noise.shape)}")
        zk = z[:n]
        z[:n] = ddpm_step_whitened(zk, eps_fn(zk, k), k, k - 1, schedule, noise, g)
    z = z.detach()
    clones = z[m:].reshape(len(scan), 2, m, *z.shape[1:])
    return CloneRun(scan, z[:m], clones)


# ----------------------------------------------------------------------------- agreement statistics
def wilson_interval(k: np.ndarray | float, n: np.ndarray | float, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion k/n (elementwise); n = 0 gives (0, 1)."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise ValidationError(f"need 0 <= k <= n: k={k}, n={n}")
    safe = np.where(n > 0, n, 1.0)
    p = k / safe
    denom = 1.0 + z * z / safe
    centre = (p + z * z / (2 * safe)) / denom
    half = z * np.sqrt(p * (1 - p) / safe + z * z / (4 * safe * safe)) / denom
    lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
    hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), 1.0)
    return lo, hi


def excess_agreement(phi: np.ndarray | float, phi_indep: float) -> np.ndarray:
    """phi^ex = (phi - phi_indep) / (1 - phi_indep) (105); maps independence to 0, agreement to 1.

    phi_indep = 1 (every sample got the same label) leaves (105) undefined: NaN.
    """
    if not 0.0 <= phi_indep <= 1.0:
        raise ValidationError(f"phi_indep must be in [0, 1]: phi_indep={phi_indep}")
    if phi_indep == 1.0:
        return np.full(np.shape(phi), np.nan)
    return (np.asarray(phi, dtype=np.float64) - phi_indep) / (1.0 - phi_indep)


def clone_agreement(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Agreeing clone pairs (104) per scan: labels [n_s, 2, M] -> (agree [n_s], n [n_s])."""
    labels = np.asarray(labels)
    if labels.ndim != 3 or labels.shape[1] != 2:
        raise ValidationError(f"labels must be [n_s, 2, M]: shape={labels.shape}")
    agree = (labels[:, 0] == labels[:, 1]).sum(axis=1)
    return agree.astype(np.int64), np.full(labels.shape[0], labels.shape[2], dtype=np.int64)


def independent_agreement(labels: np.ndarray) -> tuple[float, int]:
    """phi_indep: agreement of final samples of different masters (see the module docstring).

    labels: [M, R] integer labels, row i = the R final samples that share master i.
    Returns (fraction of agreeing cross-master pairs, number of such ordered pairs).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[0] < 2:
        raise ValidationError(f"labels must be [M >= 2, R]: shape={labels.shape}")
    m, r = labels.shape
    classes = np.unique(labels)
    counts = np.stack([(labels == c).sum(axis=1) for c in classes], axis=1)  # [M, C]
    total = counts.sum(axis=0)
    agree = float(np.sum(total**2) - np.sum(counts**2))  # ordered pairs, different masters
    pairs = (m * r) ** 2 - m * r * r
    return agree / pairs, int(pairs)


def speciation_crossing(
    steps: Sequence[float], phi_ex: Sequence[float], threshold: float = PHI_STAR
) -> tuple[float, bool]:
    """t_spec = sup{k in scan : phi^ex(k) >= phi*} (106), linearly interpolated.

    With k_j the largest scan step where phi^ex >= phi* and k_{j+1} the next larger one (below
    phi*), t_spec = k_j + (phi_j - phi*) / (phi_j - phi_{j+1}) (k_{j+1} - k_j). Returns
    (t_spec, censored): censored is True when phi^ex >= phi* already at the largest scan step
    (t_spec is then that step, a lower bound). Never reaching phi*: (NaN, False).
    """
    k = np.asarray(steps, dtype=np.float64)
    y = np.asarray(phi_ex, dtype=np.float64)
    if k.shape != y.shape or k.ndim != 1 or k.size == 0:
        raise ValidationError(f"steps and phi_ex must be 1-D of equal, non-zero length: {k.shape}, {y.shape}")
    order = np.argsort(k)
    k, y = k[order], y[order]
    above = np.nonzero(y >= threshold)[0]
    if above.size == 0:
        return float("nan"), False
    j = int(above.max())
    if j == k.size - 1:
        return float(k[j]), True
    return float(k[j] + (y[j] - threshold) / (y[j] - y[j + 1]) * (k[j + 1] - k[j])), False


@dataclass(frozen=True)
class SpeciationCurve:
    """phi_m(k) (104) with Wilson bounds, phi_indep, phi^ex (105) with mapped bounds, t_spec (106).

    steps ascending; t_spec_lo / t_spec_hi are the crossings of the lower / upper bound curves.
    """

    steps: np.ndarray
    agree: np.ndarray
    n: np.ndarray
    phi: np.ndarray
    phi_lo: np.ndarray
    phi_hi: np.ndarray
    phi_indep: float
    n_indep: int
    phi_ex: np.ndarray
    ex_lo: np.ndarray
    ex_hi: np.ndarray
    t_spec: float
    t_spec_lo: float
    t_spec_hi: float
    censored: bool


def speciation_curve(
    scan_steps: Sequence[int], clone_labels: np.ndarray, master_labels: np.ndarray, threshold: float = PHI_STAR
) -> SpeciationCurve:
    """Everything of (104)-(106) for one mode from predicted labels.

    clone_labels: [n_s, 2, M] (scan order as scan_steps); master_labels: [M] labels of the master
    end points. phi_indep uses all final samples grouped by master (R = 1 + 2 n_s per master).
    """
    steps = np.asarray(scan_steps, dtype=np.int64)
    clone_labels = np.asarray(clone_labels)
    agree, n = clone_agreement(clone_labels)
    order = np.argsort(steps)
    steps, agree, n = steps[order], agree[order], n[order]
    per_master = np.concatenate(
        [np.asarray(master_labels)[:, None], clone_labels.reshape(-1, clone_labels.shape[-1]).T], axis=1
    )
    phi_ind, n_ind = independent_agreement(per_master)
    phi = agree / n
    lo, hi = wilson_interval(agree, n)
    ex, ex_lo, ex_hi = (excess_agreement(x, phi_ind) for x in (phi, lo, hi))
    t, censored = speciation_crossing(steps, ex, threshold)
    t_lo, _ = speciation_crossing(steps, ex_lo, threshold)
    t_hi, _ = speciation_crossing(steps, ex_hi, threshold)
    return SpeciationCurve(steps, agree, n, phi, lo, hi, phi_ind, n_ind, ex, ex_lo, ex_hi, t, t_lo, t_hi, censored)


# ----------------------------------------------------------------------------- classifiers (103)
@torch.no_grad()
def predict_labels(classifier: nn.Module, x: Tensor, max_batch: int = 1024) -> Tensor:
    """argmax of the classifier's logits, in chunks; x: [N, H, W]; returns int64 [N] on CPU."""
    classifier.eval()
    out = [classifier(c).argmax(dim=1).cpu() for c in torch.split(x, max_batch)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)


def fit_classifier(
    classifier: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    lr: float = 1e-3,
    progress: Callable[[Iterable, str, int], Iterable] | None = None,
    total: int | None = None,
) -> list[float]:
    """Adam on cross-entropy over the given (inputs [B, H, W], labels [B]) minibatches; returns losses."""
    opt = torch.optim.Adam(classifier.parameters(), lr=lr)
    classifier.train()
    losses = []
    it = batches if progress is None else progress(batches, "classifier", total)
    for x, y in it:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(classifier(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    classifier.eval()
    return losses


def accuracy(classifier: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of correct argmax predictions."""
    if x.shape[0] == 0:
        return float("nan")
    return float((predict_labels(classifier, x) == y.cpu()).double().mean())
