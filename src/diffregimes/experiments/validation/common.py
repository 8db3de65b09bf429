"""What the validation experiments share: seeded torch generators, the one-modality model, the interval
verdicts of their claims (a ratio within a band, "nearer one prediction than the other"), the catalog-weighted
unit costs and the serial path of ``run``.

Nothing here knows a particular experiment: :mod:`.speciation`, :mod:`.sync` and :mod:`.collapse` import it,
it imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ...catalog import CATALOG
from ...protocols.stats import INCONCLUSIVE, combine, fmt_interval, verdict
from ...theory import CoupledOU
from ...work import Unit, UnitEnv
from ..base import Result, RunContext


def generator(seed: int, *salt: int, device: str = "cpu") -> torch.Generator:
    """A torch generator seeded from (seed, *salt) alone."""
    return torch.Generator(device=device).manual_seed(int(np.random.SeedSequence([seed, *salt]).generate_state(1)[0]))


def single_modality(beta: float = 1.0, sigma_w2: float = 2.0, sigma2: float = 1.0, m2: float = 1.0) -> CoupledOU:
    """The uncoupled one-modality OU model (decay rate beta, noise sigma_W^2, variance sigma^2, mean norm m^2)."""
    return CoupledOU.general(np.array([[-beta]]), sigma_w2, np.array([[sigma2]]), np.array([[m2]]))


def nearest_indices(grid: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of the grid point nearest each target."""
    return np.array([int(np.argmin(np.abs(grid - t))) for t in targets])


#: float64 state rows alive at once in a cloning run (masters + 2 clones per scan time), and the
#: temporaries of one Euler-Maruyama step (drift, noise, score terms): ~8 copies of the state
CLONE_COPIES = 8


def clone_bytes(masters: int, n_scan: int, k: int, d: int) -> float:
    """Peak bytes of a cloning run of ``masters`` trajectories, ``n_scan`` restart times, k modalities of d."""
    return masters * (1 + 2 * n_scan) * k * d * 8 * CLONE_COPIES


# ----------------------------------------------------------------------------- interval verdicts
def ratio_verdict(t_lo: float, t_hi: float, t_ref: float, tol: float) -> tuple[float, float, str]:
    """(lo, hi, verdict) of the claim t / t_ref = 1 within ±tol, from a crossing interval [t_lo, t_hi]."""
    lo, hi = t_lo / t_ref, t_hi / t_ref
    return lo, hi, verdict(lo, hi, band=(1.0 - tol, 1.0 + tol))


def nearer_verdict(t_lo: float, t_hi: float, near: float, far: float) -> tuple[float, float, str]:
    """(lo, hi, verdict) of "the measured time is nearer ``near`` than ``far``": the interval [t_lo, t_hi]
    mapped to the relative position (t − near) / (far − near) (0 at ``near``, 1 at ``far``), claim < 1/2."""
    if np.isnan(t_lo) or np.isnan(t_hi) or not np.isfinite(near - far) or near == far:
        return float("nan"), float("nan"), INCONCLUSIVE
    a, b = sorted(((t_lo - near) / (far - near), (t_hi - near) / (far - near)))
    return float(a), float(b), verdict(a, b, below=0.5)


def nearer_summary(cells: list[tuple[str, float, float, str]], near: str, far: str) -> tuple[str, str]:
    """Combined verdict of per-cell nearer_verdict results and a one-line interval text (hull over cells
    and the cell whose interval reaches farthest towards ``far``)."""
    if not cells:
        return INCONCLUSIVE, "no cells"
    his = np.array([c[2] for c in cells])
    worst = cells[int(np.argmax(np.where(np.isnan(his), np.inf, his)))]
    hull = (
        fmt_interval(min(c[1] for c in cells), max(c[2] for c in cells), 2)
        if not np.isnan([c[1] for c in cells] + list(his)).any()
        else "undetermined"
    )
    return combine([c[3] for c in cells]), (
        f"position from {near} (0) to {far} (1), {len(cells)} cells: {hull}; "
        f"farthest {worst[0]}: {fmt_interval(worst[1], worst[2], 2)}"
    )


# ----------------------------------------------------------------------------- work units
def unit_costs(name: str, work: list[float], quick_work: list[float]) -> list[float]:
    """Rough seconds per unit: the experiment's quick-preset time (the catalog's ``quick_s``) shared out in
    proportion to each unit's ``work``, relative to the work of the quick preset's units (``quick_work``)."""
    quick_s = next(entry.quick_s for entry in CATALOG if entry.name == name)
    return [quick_s * w / sum(quick_work) for w in work]


def run_serially(
    cfg: Any,
    ctx: RunContext,
    units: Callable[[Any, UnitEnv], list[Unit]],
    assemble: Callable[[Any, list[Any], RunContext], Result],
    desc: str,
) -> Result:
    """The whole experiment in this process: its units in turn, then ``assemble`` (the serial path of ``run``)."""
    env = UnitEnv(ctx.seed, ctx.device, str(ctx.run_dir.path.parent))
    return assemble(cfg, [u() for u in ctx.progress(units(cfg, env), desc)], ctx)
