"""Table 1 and Fig. 6 (paper §5.1, Protocol I): the synchronization gap Δt(τ) (100) of MAIN and CTRL over g
and seeds with paired bootstrap intervals, the MAIN/CTRL ratio, and the cosine-to-final curves (98).

Units: DDPM step k at the experiment's T and OU time t = -1/2 log alpha_bar_k; Δt is also given rescaled
to T = 200 (Δt * 200 / T), comparable with the paper's Table 1 because the β schedule is scaled with T.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ...data import PAIRINGS
from ...diffusion import PAPER_T
from ...protocols.stats import combine, fmt_interval, percentile_interval, ratio_interval, verdict
from ...protocols.sync import (
    PAPER_TABLE1,
    CosineCurves,
    gap_bootstrap,
    sync_gaps,
)
from ...seeds import derive_seed
from ..base import Claim, Result, RunContext
from ..config import ExperimentConfig
from .common import torch_threads
from .models import gate_notes, mnist_experiment, model_for, model_record, train_table
from .presets import common_notes, fig6_params, preset_notes, table1_params
from .protocol1 import eval_seed, ou_axis, protocol1_curves
from .training import TrainedModel


def run_table1(cfg: ExperimentConfig, ctx: RunContext) -> Result:
    """Delta t(tau) (100) for MAIN and CTRL over g and seeds (Table 1), with 95 % intervals.

    Intervals: a two-level bootstrap (seeds with replacement, then images within each drawn seed;
    :func:`hierarchical_draws`) of the seed-mean Delta t, with the same draws for MAIN and CTRL (same
    seeds, same initial noise), so the MAIN/CTRL ratios are paired.
    """
    T, taus = int(cfg.T), [float(t) for t in cfg.taus]
    gs, n_seeds = [float(g) for g in cfg.g_values], int(cfg.n_seeds)
    rows: list[dict[str, Any]] = []
    models: list[TrainedModel] = []
    curves: dict[tuple[str, float], list[CosineCurves]] = {}
    with torch_threads(cfg.threads, ctx.device):
        for pairing, g, s in itertools.product(cfg.pairings, gs, range(n_seeds)):
            tm = model_for(cfg, pairing, g, s, T, ctx)
            models.append(tm)
            c = protocol1_curves(tm, cfg, int(cfg.eval_batch), eval_seed(ctx, s), ctx)
            curves.setdefault((pairing, g), []).append(c)
            for r in sync_gaps(c, tm.schedule, taus):
                rows.append({"pairing": pairing, "g": g, "seed": s, **r, "dt_T200": r["dt"] * PAPER_T / T})
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    boot = gap_bootstrap(
        curves,
        taus,
        n_seeds,
        int(cfg.eval_batch),
        int(cfg.n_boot),
        np.random.default_rng(derive_seed(ctx.seed, "table1-bootstrap")),
    )
    cells = [
        {"pairing": pp, "g": g, "tau": t, "dt_mean": e, "dt_ci_low": lo, "dt_ci_high": hi}
        for (pp, g, t), (e, lo, hi, _) in boot.items()
    ]
    ratio = {
        (g, t): ratio_interval(
            boot[("main", g, t)][3], boot[("ctrl", g, t)][3], boot[("main", g, t)][0], boot[("ctrl", g, t)][0]
        )
        for g in gs
        for t in taus
        if ("main", g, t) in boot and ("ctrl", g, t) in boot
    }
    pooled = _pooled_ratio(boot, gs, taus) if ratio else (float("nan"),) * 3
    headline: dict[str, Any] = {f"dt_{pp}_g{g:g}_tau{t:.2f}": e for (pp, g, t), (e, *_rest) in boot.items()}
    headline.update(
        {
            "ratio_main_ctrl_pooled": pooled[0],
            "ratio_main_ctrl_pooled_lo": pooled[1],
            "ratio_main_ctrl_pooled_hi": pooled[2],
            "models": len(models),
            "T": T,
            "models_passing_gate": sum(bool(m.stats["gate"]["passes_gate"]) for m in models),
        }
    )
    tables = _table1_tables(cfg, boot, ratio, pooled, rows, gs, taus, models)
    claims = _table1_claims(boot, ratio, pooled, cfg.pairings, gs, taus)
    seeds_note = (
        "one seed: the interval is over images only"
        if n_seeds == 1
        else f"{n_seeds} seeds: the interval resamples seeds, then images within each seed"
    )
    notes = (
        gate_notes(models)
        + preset_notes(cfg)
        + common_notes(cfg)
        + [
            "Δt(τ) = t_v(τ) − t_u(τ) (100) with t_m(τ) = max{k : Cos_m(k) ≥ τ} (99) on the batch-mean cosine "
            f"curve (98) of one DDIM batch of {cfg.eval_batch} per model; MAIN and CTRL at the same seed share the "
            f"initial noise. 95 % percentile bootstrap intervals ({cfg.n_boot} resamples; {seeds_note}). "
            f"Column dt_T200 of data.csv rescales steps to T = 200 (×{PAPER_T / T:g})."
        ]
    )
    records = {"table1": cells, "models": [model_record(m) for m in models]}
    return Result(cols, headline, claims, notes=notes, tables=tables, records=records)


def _pooled_ratio(boot: dict[tuple, tuple], gs: list[float], taus: list[float]) -> tuple[float, float, float]:
    """sum over (g, tau) of |Delta t_MAIN| / sum of |Delta t_CTRL| (one overall MAIN/CTRL factor)."""
    keys = [(g, t) for g in gs for t in taus]
    num = sum(np.abs(boot[("main", g, t)][3]) for g, t in keys)
    den = sum(np.abs(boot[("ctrl", g, t)][3]) for g, t in keys)
    est_n = sum(abs(boot[("main", g, t)][0]) for g, t in keys)
    est_d = sum(abs(boot[("ctrl", g, t)][0]) for g, t in keys)
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = np.where(den > 0, num / den, np.nan)
    return (est_n / est_d if est_d > 0 else float("nan"), *percentile_interval(reps))


def _cell_text(e: float, lo: float, hi: float, digits: int = 1) -> str:
    if not np.isfinite(e):
        return "n/a"
    return f"{e:.{digits}f} {fmt_interval(lo, hi, digits)}"


def _table1_tables(
    cfg: ExperimentConfig,
    boot: dict,
    ratio: dict,
    pooled: tuple,
    rows: list[dict],
    gs: list[float],
    taus: list[float],
    models: list[TrainedModel],
) -> list[dict[str, Any]]:
    T, n_seeds = int(cfg.T), int(cfg.n_seeds)
    hdr = ["g"] + [f"{pp.upper()} τ={t:.2f}" for pp in cfg.pairings for t in taus]
    main_rows = [[f"{g:g}"] + [_cell_text(*boot[(pp, g, t)][:3]) for pp in cfg.pairings for t in taus] for g in gs]
    who = "single seed" if n_seeds == 1 else f"mean over {n_seeds} seeds"

    def ou(pp: str, g: float, t: float) -> str:
        v = np.array([r["dt_ou"] for r in rows if r["pairing"] == pp and r["g"] == g and r["tau"] == t])
        v = v[np.isfinite(v)]
        return f"{v.mean():.3f}" if v.size else "n/a"

    ou_rows = [[f"{g:g}"] + [ou(pp, g, t) for pp in cfg.pairings for t in taus] for g in gs]
    ratio_rows = [
        [f"{g:g}"] + [_cell_text(*ratio[(g, t)], digits=2) if (g, t) in ratio else "n/a" for t in taus] for g in gs
    ]
    return [
        {
            "title": f"Table 1 — Δt(τ) in DDPM steps at T = {T} ({who}, 95 % bootstrap interval; negative: u "
            "stabilises first)",
            "header": hdr,
            "rows": main_rows,
        },
        {"title": f"Δt(τ) in OU time (t = −½ log ᾱ_k; {who})", "header": hdr, "rows": ou_rows},
        {
            "title": f"|Δt| MAIN ÷ CTRL with 95 % paired-bootstrap interval (paper: typically ≈ 2–3); pooled over "
            f"all cells: {_cell_text(*pooled, digits=2)}",
            "header": ["g"] + [f"τ={t:.2f}" for t in taus],
            "rows": ratio_rows,
        },
        {
            "title": "Paper's Table 1 for reference (T = 200, 4 seeds; Δt means in DDPM steps)",
            "header": ["g"] + [f"{pp.upper()} τ={t:.2f}" for pp in PAIRINGS for t in (0.90, 0.95, 0.98)],
            "rows": [
                [f"{g:g}"] + [f"{v:g}" for pp in PAIRINGS for v in PAPER_TABLE1[(pp, g)]] for g in (0.0, 0.3, 0.5, 0.7)
            ],
        },
        train_table(models),
    ]


def _table1_claims(
    boot: dict, ratio: dict, pooled: tuple, pairings: list[str], gs: list[float], taus: list[float]
) -> list[Claim]:
    keys = [(pp, g, t) for pp in pairings for g in gs for t in taus if (pp, g, t) in boot]
    neg = [verdict(boot[k][1], boot[k][2], below=0.0) for k in keys]
    n_hold = sum(v == "holds" for v in neg)
    his = [boot[k][2] for k in keys if np.isfinite(boot[k][2])]
    claims = [
        Claim(
            "Δt(τ) < 0: the common mode u stabilises before the difference mode v",
            "Δt < 0 in every cell (MAIN and CTRL)",
            f"{n_hold}/{len(keys)} cells have their whole interval below 0",
            combine(neg),
            f"largest upper bound {max(his):.1f} steps" if his else "undetermined",
        )
    ]
    if ratio:
        larger = [verdict(lo, hi, above=1.0) for (_, lo, hi) in ratio.values()]
        los = [lo for (_, lo, _) in ratio.values() if np.isfinite(lo)]
        claims.append(
            Claim(
                "|Δt| larger in MAIN than in CTRL for every g and τ",
                "larger in every cell",
                f"{sum(v == 'holds' for v in larger)}/{len(larger)} cells with the ratio's interval above 1",
                combine(larger),
                f"smallest lower bound {min(los):.2f}" if los else "undetermined",
            )
        )
        claims.append(
            Claim(
                "|Δt| MAIN ÷ CTRL ≈ 2–3 (agreement: interval inside [1.5, 4])",
                "≈ 2–3×",
                f"pooled ratio {pooled[0]:.2f}",
                verdict(pooled[1], pooled[2], band=(1.5, 4.0)),
                fmt_interval(pooled[1], pooled[2]),
            )
        )
    return claims


def run_fig6(cfg: ExperimentConfig, ctx: RunContext) -> Result:
    """Cos_u(k), Cos_v(k) (98) for MAIN and CTRL at a few g (seed 0)."""
    T = int(cfg.T)
    cols: dict[str, list] = {
        k: [] for k in ("pairing", "g", "k", "ou_t", "cos_u", "cos_v", "cos_u_sd", "cos_v_sd", "cos_x_a", "cos_x_b")
    }
    headline: dict[str, Any] = {}
    models = []
    with torch_threads(cfg.threads, ctx.device):
        for pairing, g in itertools.product(cfg.pairings, cfg.g_values):
            tm = model_for(cfg, pairing, g, 0, T, ctx)
            models.append(tm)
            c = protocol1_curves(tm, cfg, int(cfg.eval_batch), eval_seed(ctx, 0), ctx)
            n = len(c.steps)
            cols["pairing"] += [pairing] * n
            cols["g"] += [float(g)] * n
            cols["k"] += c.steps.tolist()
            cols["ou_t"] += ou_axis(c.steps, tm).tolist()
            for name in ("u", "v"):
                cols[f"cos_{name}"] += c.mean(name).tolist()
                cols[f"cos_{name}_sd"] += c.sd(name).tolist()
            cols["cos_x_a"] += c.mean("x_a").tolist()
            cols["cos_x_b"] += c.mean("x_b").tolist()
            for r in sync_gaps(c, tm.schedule, [0.95]):
                headline[f"{pairing}_g{g:g}_t_u_0.95"] = r["t_u"]
                headline[f"{pairing}_g{g:g}_t_v_0.95"] = r["t_v"]
    notes = (
        gate_notes(models)
        + preset_notes(cfg)
        + common_notes(cfg)
        + [
            "Cosine of each logged x̂0 mode to its final value (98), batch mean ± sd over the evaluation batch; "
            "x axis: DDPM step k (reverse time runs right to left in k, left to right on the plot)."
        ]
    )
    return Result(cols, headline, notes=notes)


EXPERIMENTS = [
    mnist_experiment(
        "table1", "Table 1 — Protocol I synchronization gap Δt(τ), MAIN vs CTRL", table1_params, run_table1
    ),
    mnist_experiment(
        "fig6", "Fig. 6 — cosine-to-final curves Cos_u, Cos_v (Protocol I)", fig6_params, run_fig6, after=("table1",)
    ),
]
