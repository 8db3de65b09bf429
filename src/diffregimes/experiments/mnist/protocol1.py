"""What the Protocol I experiments (Table 1, Figs 6-9) share: the evaluation seed (common random numbers for
MAIN and CTRL), the cached cosine curves (98) of one DDIM batch, and the OU-time axis of DDPM steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...protocols.sync import (
    CosineCurves,
    X0Trajectory,
    cosine_curves,
    step_ou_time,
    x0_trajectory,
)
from ...runstore import digest
from ...seeds import derive_seed
from ..base import RunContext
from ..config import ExperimentConfig
from .common import FORMAT, cached_npz, out_root
from .training import TrainedModel, eps_function, start_noise


def eval_seed(ctx: RunContext, seed_index: int) -> int:
    """Seed of the evaluation start noise: shared by MAIN and CTRL (common random numbers)."""
    return derive_seed(ctx.seed, "mnist-eval", seed_index)


def _batch_key(kind: str, tm: TrainedModel, cfg: ExperimentConfig, eval_batch: int, eval_seed: int) -> str:
    """Cache key of one logged DDIM batch of ``tm`` (its curves on x̂0 or on the states)."""
    return digest(
        {
            "format": FORMAT,
            "kind": kind,
            "model": tm.spec.key,
            "batch": eval_batch,
            "seed": eval_seed,
            "clip": cfg.clip_x0,
        }
    )


def protocol1_curves(
    tm: TrainedModel, cfg: ExperimentConfig, eval_batch: int, eval_seed: int, ctx: RunContext
) -> CosineCurves:
    """Cosine curves of one DDIM batch, cached in <out>/_cache (shared by Table 1, Figs 6-7)."""
    key = _batch_key("p1", tm, cfg, eval_batch, eval_seed)

    def compute() -> dict[str, Any]:
        z = start_noise(eval_batch, tm.spec.g, eval_seed, ctx.device)
        traj = x0_trajectory(eps_function(tm, cfg.clip_x0, ctx.device), z, tm.schedule, progress=ctx.progress)
        c = cosine_curves(traj)
        return {"steps": c.steps, **{f"cos_{n}": a for n, a in c.per_sample.items()}}

    arr = cached_npz(out_root(ctx) / "_cache" / f"p1_{key}.npz", compute)
    return CosineCurves(arr["steps"], {n: arr[f"cos_{n}"] for n in ("u", "v", "x_a", "x_b")})


def as_states(traj: X0Trajectory) -> X0Trajectory:
    """The states z_k of a DDIM trajectory (logged with ``keep_states``) as the trajectory whose curves (98) are read,
    ending on the clean output (k = -1): (107) read on the states, as the paper's Fig. 8 shows them."""
    return X0Trajectory(np.append(traj.steps, -1), torch.cat([traj.states, traj.final[None]]), traj.final)


def state_curves(
    tm: TrainedModel, cfg: ExperimentConfig, eval_batch: int, eval_seed: int, ctx: RunContext
) -> CosineCurves:
    """Cosine curves of the states z_k of the DDIM batch of :func:`protocol1_curves` (same start noise), cached
    beside them in <out>/_cache."""
    key = _batch_key("p1-states", tm, cfg, eval_batch, eval_seed)

    def compute() -> dict[str, Any]:
        z = start_noise(eval_batch, tm.spec.g, eval_seed, ctx.device)
        eps = eps_function(tm, cfg.clip_x0, ctx.device)
        c = cosine_curves(as_states(x0_trajectory(eps, z, tm.schedule, keep_states=True, progress=ctx.progress)))
        return {"steps": c.steps, **{f"cos_{n}": a for n, a in c.per_sample.items()}}

    arr = cached_npz(out_root(ctx) / "_cache" / f"p1states_{key}.npz", compute)
    return CosineCurves(arr["steps"], {n: arr[f"cos_{n}"] for n in ("u", "v", "x_a", "x_b")})


def ou_axis(ks: np.ndarray, model: TrainedModel) -> np.ndarray:
    """OU time t = -1/2 log alpha_bar_k of DDPM steps ks."""
    return np.array([step_ou_time(int(k), model.schedule) for k in ks])
