"""Fig. 9 (paper §5.1, Protocol I): the v-only intervention (101) — a perturbation of the difference mode at
step k_int — and the RMS changes Δu, Δv of the final outputs, MAIN vs CTRL.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...diffusion import to_modes
from ...protocols.stats import bootstrap_indices, combine, fmt_interval, percentile_interval, verdict
from ...protocols.sync import (
    InterventionResult,
    step_ou_time,
    v_intervention,
)
from ...seeds import derive_seed
from ..base import Claim, Result, RunContext
from ..config import ExperimentConfig
from .common import torch_threads
from .models import gate_notes, mnist_experiment, model_for
from .presets import common_notes, fig9_params, preset_notes
from .protocol1 import eval_seed, ou_axis
from .training import eps_function, start_noise


def run_fig9(cfg: ExperimentConfig, ctx: RunContext) -> Result:
    """v-only intervention (101): RMS Delta u, Delta v of the final outputs, MAIN vs CTRL."""
    T, g, sigma = int(cfg.T), float(cfg.g), float(cfg.sigma)
    k_paper = int(round(float(cfg.k_int_frac) * T))
    k_ints = sorted({int(round(f * T)) for f in cfg.scan_fracs} | {k_paper}, reverse=True)
    k_ints = [min(max(k, 0), T - 1) for k in k_ints]
    bsz = int(cfg.eval_batch)
    xi = torch.randn((bsz, 28, 28), generator=torch.Generator().manual_seed(derive_seed(ctx.seed, "fig9-xi")))
    cols: dict[str, list] = {k: [] for k in ("pairing", "k_int", "ou_t_int", "rms_du", "rms_dv", "paper_point")}
    arrays: dict[str, Any] = {"k_ints": np.array(k_ints), "k_paper": np.array(k_paper)}
    res = {}
    models = []
    with torch_threads(cfg.threads, ctx.device):
        for pairing in cfg.pairings:
            tm = model_for(cfg, pairing, g, 0, T, ctx)
            models.append(tm)
            z = start_noise(bsz, g, eval_seed(ctx, 0), ctx.device)
            r = v_intervention(
                eps_function(tm, cfg.clip_x0, ctx.device),
                z,
                tm.schedule,
                k_ints,
                sigma,
                xi.to(ctx.device),
                progress=ctx.progress,
            )
            res[pairing] = r
            for i, k in enumerate(r.k_ints):
                cols["pairing"].append(pairing)
                cols["k_int"].append(int(k))
                cols["ou_t_int"].append(step_ou_time(int(k), tm.schedule))
                cols["rms_du"].append(float(r.rms_du[i]))
                cols["rms_dv"].append(float(r.rms_dv[i]))
                cols["paper_point"].append(int(k == k_paper))
            arrays.update(
                {
                    f"{pairing}_rms_du": r.rms_du,
                    f"{pairing}_rms_dv": r.rms_dv,
                    f"{pairing}_path_du": r.path_du,
                    f"{pairing}_path_dv": r.path_dv,
                }
            )
            arrays["steps"] = r.steps
            arrays["ou_t"] = ou_axis(r.steps, tm)
    ci_rng = np.random.default_rng(derive_seed(ctx.seed, "fig9-rms-intervals"))  # apart from the claims' draws
    for pairing, r in res.items():
        arrays[f"{pairing}_rms_du_ci"], arrays[f"{pairing}_rms_dv_ci"] = _rms_intervals(r, int(cfg.n_boot), ci_rng)
    headline: dict[str, Any] = {"k_int": k_paper, "T": T, "sigma": sigma}
    at = {}
    for pairing, r in res.items():
        i = int(np.nonzero(r.k_ints == k_paper)[0][0])
        at[pairing] = (float(r.rms_du[i]), float(r.rms_dv[i]))
        headline[f"{pairing}_rms_du"], headline[f"{pairing}_rms_dv"] = at[pairing]
    claims = []
    if {"main", "ctrl"} <= set(at):
        i_paper = {pp: int(np.nonzero(r.k_ints == k_paper)[0][0]) for pp, r in res.items()}
        claims = _intervention_claims(
            {pp: _per_sample_ms(r, i_paper[pp]) for pp, r in res.items()},
            sigma,
            T,
            k_paper,
            int(cfg.n_boot),
            np.random.default_rng(derive_seed(ctx.seed, "fig9-bootstrap")),
        )
    notes = (
        gate_notes(models)
        + preset_notes(cfg)
        + common_notes(cfg)
        + [
            f"g = {g:g}, σ = {sigma:g}; intervention at k_int = {k_paper} = round({cfg.k_int_frac:.2f} T) (the paper's "
            "260 of 500), plus a scan over k_int. RMS over samples and pixels of the final u, v of (91), with vs without "
            "the intervention, same initial noise and same ξ for MAIN and CTRL. Error bars (a) and bands (b): 95 % "
            "percentile bootstrap over the samples of the batch."
        ]
    )
    return Result(cols, headline, claims, arrays=arrays, notes=notes)


def _rms_intervals(r: InterventionResult, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """95 % percentile bootstrap intervals (over samples) of RMS Δu and RMS Δv at every intervention step:
    two arrays [n_k, 2] of (lo, hi)."""
    out = []
    for mode in (0, 1):
        rows = []
        for i in range(len(r.k_ints)):
            ms = _per_sample_ms(r, i)[mode]
            rows.append(percentile_interval(np.sqrt(ms[bootstrap_indices(ms.size, n_boot, rng)].mean(axis=1))))
        out.append(np.array(rows))
    return out[0], out[1]


def _per_sample_ms(r: InterventionResult, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample mean squares over pixels of the final u and v differences (91) at branch i."""
    ua, va = to_modes(r.perturbed[i].double())
    ub, vb = to_modes(r.base.double())
    return (((ua - ub) ** 2).flatten(1).mean(1).numpy(), ((va - vb) ** 2).flatten(1).mean(1).numpy())


def _intervention_claims(
    ms: dict[str, tuple[np.ndarray, np.ndarray]], sigma: float, T: int, k: int, n_boot: int, rng: np.random.Generator
) -> list[Claim]:
    """Fig. 9 claims; RMS = sqrt(mean over samples of the per-sample mean square), paired bootstrap over
    samples (MAIN and CTRL share initial noise and xi)."""
    n = ms["main"][0].size
    draws = np.vstack([np.arange(n)[None, :], bootstrap_indices(n, n_boot, rng)])

    def rms(pp: str, mode: int) -> np.ndarray:
        return np.sqrt(ms[pp][mode][draws].mean(axis=1))

    mu, mv, cu, cv = rms("main", 0), rms("main", 1), rms("ctrl", 0), rms("ctrl", 1)
    less = [verdict(*percentile_interval(a[1:] - b[1:]), below=0.0) for a, b in ((mu, cu), (mv, cv))]
    v_more = [verdict(*percentile_interval(np.log(v[1:] / u[1:])), above=0.0) for u, v in ((mu, mv), (cu, cv))]
    ivl = lambda x: fmt_interval(*percentile_interval(x[1:]), 4)  # noqa: E731
    return [
        Claim(
            f"v-only intervention (σ = {sigma:g}) changes MAIN less than CTRL",
            "MAIN Δu 0.0247, Δv 0.0274 vs CTRL Δu 0.0708, Δv 0.0851 (T = 500, k = 260)",
            f"MAIN Δu {mu[0]:.4f}, Δv {mv[0]:.4f} vs CTRL Δu {cu[0]:.4f}, Δv {cv[0]:.4f} (T = {T}, k = {k})",
            combine(less),
            f"MAIN−CTRL: Δu {ivl(mu - cu)}, Δv {ivl(mv - cv)}",
        ),
        Claim(
            "the difference mode is the more affected one (RMS Δv > RMS Δu)",
            "Δv > Δu in MAIN and CTRL",
            f"Δv/Δu: MAIN {mv[0] / mu[0]:.2f}, CTRL {cv[0] / cu[0]:.2f}" if mu[0] > 0 and cu[0] > 0 else "Δu = 0",
            combine(v_more),
            f"MAIN {ivl(mv / mu)}, CTRL {ivl(cv / cu)}",
        ),
    ]


EXPERIMENTS = [
    mnist_experiment(
        "fig9", "Fig. 9 — v-only intervention, RMS Δu and Δv (Protocol I)", fig9_params, run_fig9, after=("table1",)
    ),
]
