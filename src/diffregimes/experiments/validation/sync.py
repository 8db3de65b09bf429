"""``val_sync``: per-mode speciation and the synchronization gap of the coupled symmetric case.

Product mixture (independent labels on the common and the difference mode): per-mode cloning with the exact
score gives the measured t_S+ and t_S− against g, beside the theory in both κ conventions (per dimension, as
in the paper's figures, and in total) and the class-posterior criterion, and the measured gap t_S+ − t_S−
with its bootstrap interval. This module owns its parameters and their declarations, one work unit per g
(its generators seeded from (seed, index of g) alone), the assembly of the result and the declaration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...protocols.regimes import (
    agreement_crossing,
    clone_agreement,
    crossing_replicates,
    resampled_curves,
    sign_classifier,
)
from ...protocols.stats import bootstrap_indices, bounded_percentile_interval, combine, fmt_interval, verdict
from ...sde import MomentTable, reverse_times
from ...sde.components import ComponentMixtureScore, product_mixture_means, sample_components
from ...seeds import derive_seed
from ...theory import (
    CoupledOU,
    cloning_agreement,
    mode_posterior_snr,
    single_mode_speciation_time,
    symmetric_eigenvalues,
)
from ...work import Unit, UnitEnv
from ..base import Claim, Experiment, Result, RunContext
from ..params import BOOTSTRAP, COUPLING, HORIZON, NORM, SCALE, Float, Int, List, Schema, distinct, symmetric_coupling
from .common import clone_bytes, generator, nearer_summary, nearer_verdict, run_serially, unit_costs

PHI_MID = 0.75  # halfway between chance (1/2) and certain agreement (1)


def sync_params(preset: str) -> dict[str, Any]:
    """``val_sync`` parameters at ``preset``: product mixture, d, couplings, masters, scan."""
    return {
        "beta": 1.0,
        "sigma_w2": 2.0,
        "sigma2": 1.0,
        "m_plus2": 1.0,
        "m_minus2": 1.0,
        "d": {"smoke": 8, "quick": 16, "paper": 64}[preset],
        "g_values": {
            "smoke": [0.0, 0.5],
            "quick": [0.0, 0.2, 0.4, 0.6, 0.8],
            "paper": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        }[preset],
        "masters": {"smoke": 64, "quick": 300, "paper": 2000}[preset],
        "n_scan": {"smoke": 8, "quick": 25, "paper": 41}[preset],
        "T": 5.0,
        "steps_per_unit": {"smoke": 40, "quick": 80, "paper": 200}[preset],
        "n_boot": {"smoke": 200, "quick": 1000, "paper": 2000}[preset],
    }


SYNC_SCHEMA = Schema(
    {
        "beta": Float(-1e8, 1e8),
        "sigma_w2": SCALE,
        "sigma2": SCALE,
        "m_plus2": NORM,
        "m_minus2": NORM,
        "d": Int(2, 10**6),
        "g_values": List(COUPLING, 1, 1000),
        "masters": Int(2, 10**8),
        "n_scan": Int(2, 10**5),
        "T": HORIZON,
        "steps_per_unit": Int(1, 10**6),
        "n_boot": BOOTSTRAP,
    },
    checks=(symmetric_coupling("g_values"), distinct("g_values")),
    # cloning rows, the moment table, and the bootstrap (resample indices and agreement curves per master)
    memory=lambda p: (
        clone_bytes(p["masters"], p["n_scan"], 2, p["d"])
        + p["T"] * p["steps_per_unit"] * 4 * 8 * 8
        + p["n_boot"] * p["masters"] * (8 + 2 * 8)
    ),
    size_keys=("masters", "n_scan", "d", "n_boot"),
)


def _mode_theory(cfg: Any, g: float) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, lam, m2 in zip(("plus", "minus"), symmetric_eigenvalues(cfg.beta, g), (cfg.m_plus2, cfg.m_minus2)):
        out[f"ts_{name}_perdim"] = single_mode_speciation_time(lam, m2, cfg.sigma2, cfg.sigma_w2)
        out[f"ts_{name}_total"] = single_mode_speciation_time(lam, cfg.d * m2, cfg.sigma2, cfg.sigma_w2)
        out[f"ts_{name}_posterior"] = _posterior_time(lam, m2, cfg)
    return out


def _posterior_time(lam: float, m2: float, cfg: Any) -> float | None:
    """Largest t with a_pm(t) = d m^2 e^{2 lam t} / c(t) = 1 (the Biroli criterion for one mode)."""
    from scipy.optimize import brentq

    def f(t: float) -> float:
        return float(mode_posterior_snr(lam, m2, cfg.sigma2, cfg.sigma_w2, t, cfg.d)) - 1.0

    grid = np.linspace(0.0, 4 * cfg.T, 801)
    values = np.array([f(t) for t in grid])
    above = np.flatnonzero(values > 0)
    if not above.size or above[-1] == grid.size - 1:
        return None
    j = above[-1]
    return float(brentq(f, grid[j], grid[j + 1], xtol=1e-12))


def _sync_scan(cfg: Any) -> tuple[np.ndarray, np.ndarray]:
    """The reverse-time grid of ``val_sync`` and the indices of its ``n_scan`` clone restart times on it."""
    times = reverse_times(cfg.T, int(np.ceil(cfg.T * cfg.steps_per_unit)))
    return times, np.unique(np.linspace(0, len(times) - 1, cfg.n_scan).round().astype(int))


def sync_cell(j: int, g: float, cfg: Any, seed: int, device: str) -> dict[str, Any]:
    """Coupling g (the j-th of ``g_values``): per-mode cloning agreement of the product mixture (one clone pair
    per master and scan time, classes read on the +μ₊ and +μ₋ directions), and the bootstrap over masters of the
    bounds on t_S+ − t_S− per replicate. The generators are seeded from (seed, j). ``cfg``: the experiment's
    config (its ``g_values`` are not read)."""
    means, _ = product_mixture_means(cfg.m_plus2, cfg.m_minus2, cfg.d, device=device)
    directions = torch.stack([means[0] + means[1], means[0] - means[1]])  # +mu_+ and +mu_- directions
    times, idx = _sync_scan(cfg)
    t_scan = times[idx]
    model = CoupledOU.symmetric(cfg.beta, g, cfg.sigma_w2, cfg.sigma2, cfg.m_plus2, cfg.m_minus2)
    table = MomentTable.build(model, times, device=device)
    gen = generator(seed, j, device=device)
    z_T, _ = sample_components(model, means, cfg.masters, cfg.T, gen)
    agree = clone_agreement(
        ComponentMixtureScore.build(means, table),
        table,
        z_T,
        idx,
        sign_classifier(directions),
        gen,
        per_master=True,
    )  # (n_scan, masters, 2)
    rng = np.random.default_rng(derive_seed(seed, "val-sync-bootstrap", j))
    curves = resampled_curves(agree, bootstrap_indices(cfg.masters, int(cfg.n_boot), rng))
    (p_lo, p_hi), (m_lo, m_hi) = (crossing_replicates(t_scan, curves[..., m], PHI_MID) for m in (0, 1))
    # bounds on t_S+ − t_S− per replicate; the replicates themselves stay here (n_boot x n_scan x 2 curves)
    return {"g": g, "t_scan": t_scan, "phi": agree.mean(axis=1), "gap_reps": (p_lo - m_hi, p_hi - m_lo)}


def _sync_work(cfg: Any) -> float:
    """Relative work of one :func:`sync_cell`: clone rows x d x Euler-Maruyama steps over [0, T]."""
    return cfg.masters * (1 + 2 * cfg.n_scan) * cfg.d * cfg.T * cfg.steps_per_unit


def sync_units(cfg: Any, env: UnitEnv) -> list[Unit]:
    """One unit per coupling g (each draws from its own generators, seeded from (seed, index of g)).

    Each unit receives the config with ``g_values`` narrowed to its own g: a unit's key hashes its arguments, so
    a cell whose own parameters did not change keeps its stored result when couplings are added or removed."""
    quick = type(cfg).preset("quick")
    cost = unit_costs("val_sync", [_sync_work(cfg)], [_sync_work(quick)] * len(quick.g_values))[0]
    return [
        Unit(sync_cell, (j, g, cfg.replace(g_values=[g]), env.seed, env.device), f"val_sync g={g:g}", cost)
        for j, g in enumerate(cfg.g_values)
    ]


def _sync_row(cell: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """One g's predictions (:func:`_mode_theory`), measured t_S± with their Wilson intervals and the gap's
    bootstrap interval."""
    g, t_scan, phi = cell["g"], cell["t_scan"], cell["phi"]
    row: dict[str, Any] = {"g": g, **_mode_theory(cfg, g)}
    for m, name in enumerate(("plus", "minus")):
        row[f"measured_{name}"], row[f"ci_lo_{name}"], row[f"ci_hi_{name}"] = agreement_crossing(
            t_scan, phi[:, m], cfg.masters, PHI_MID
        )
    row["gap_ci_lo"], row["gap_ci_hi"] = bounded_percentile_interval(*cell["gap_reps"])
    return row


def assemble_sync(cfg: Any, per_g: list[dict[str, Any]], ctx: RunContext) -> Result:
    """The result from the cells of :func:`sync_units` (one per g, in ``g_values`` order)."""
    d = cfg.d
    cols: dict[str, list] = {k: [] for k in ("g", "t", "phi_plus", "phi_minus", "theory_plus", "theory_minus")}
    for cell in per_g:
        g, t_scan, phi = cell["g"], cell["t_scan"], cell["phi"]
        theory = [
            cloning_agreement(mode_posterior_snr(lam, m2, cfg.sigma2, cfg.sigma_w2, t_scan, d))
            for lam, m2 in zip(symmetric_eigenvalues(cfg.beta, g), (cfg.m_plus2, cfg.m_minus2))
        ]
        for key, values in (
            ("g", np.full(t_scan.size, g)),
            ("t", t_scan),
            ("phi_plus", phi[:, 0]),
            ("phi_minus", phi[:, 1]),
            ("theory_plus", theory[0]),
            ("theory_minus", theory[1]),
        ):
            cols[key] += list(values)
    rows = [_sync_row(cell, cfg) for cell in per_g]
    gap_reps = [cell["gap_reps"] for cell in per_g]
    gap_measured = [r["measured_plus"] - r["measured_minus"] for r in rows]
    gap_total = [r["ts_plus_total"] - r["ts_minus_total"] for r in rows]
    gap_perdim = [(r["ts_plus_perdim"] or np.nan) - (r["ts_minus_perdim"] or np.nan) for r in rows]

    def worst(conv: str) -> float:
        errs = [
            abs(r[f"measured_{m}"] - r[f"ts_{m}_{conv}"]) if r[f"ts_{m}_{conv}"] is not None else np.inf
            for r in rows
            for m in ("plus", "minus")
        ]
        return float(np.nanmax(errs))

    err_total, err_perdim = worst("total"), worst("perdim")
    follows = "total" if err_total < err_perdim else "per-dim"
    # each mode and g: is the measured t_S's interval nearer the total-κ than the per-dim prediction?
    # (per-dim None: κ stays below 1 for t > 0, i.e. a prediction at t <= 0; 0 is the one nearest the data)
    cells = [
        (
            f"g={r['g']:g} {'+' if m == 'plus' else '−'}",
            *nearer_verdict(
                r[f"ci_lo_{m}"],
                r[f"ci_hi_{m}"],
                r[f"ts_{m}_total"],
                r[f"ts_{m}_perdim"] if r[f"ts_{m}_perdim"] is not None else 0.0,
            ),
        )
        for r in rows
        for m in ("plus", "minus")
    ]
    total_verdict, total_interval = nearer_summary(cells, "total κ", "per-dim κ")
    steps = [
        (f"{a['g']:g}→{b['g']:g}", *bounded_percentile_interval(rb[0] - ra[1], rb[1] - ra[0]))
        for a, b, ra, rb in zip(rows, rows[1:], gap_reps, gap_reps[1:])
    ]  # independent runs per g
    widens = combine([verdict(lo, hi, above=0.0) for _, lo, hi in steps])
    headline: dict[str, Any] = {"follows_convention": follows, "max_err_total": err_total, "max_err_perdim": err_perdim}
    for r, gm, gt in zip(rows, gap_measured, gap_total):
        headline[f"g{r['g']:g}_ts_plus_measured"] = r["measured_plus"]
        headline[f"g{r['g']:g}_ts_minus_measured"] = r["measured_minus"]
        headline[f"g{r['g']:g}_ts_plus_posterior"] = r["ts_plus_posterior"]
        headline[f"g{r['g']:g}_ts_minus_posterior"] = r["ts_minus_posterior"]
        headline[f"g{r['g']:g}_ts_plus_total"] = r["ts_plus_total"]
        headline[f"g{r['g']:g}_ts_minus_total"] = r["ts_minus_total"]
        headline[f"g{r['g']:g}_gap_measured"] = gm
        headline[f"g{r['g']:g}_gap_theory_total"] = gt
        headline[f"g{r['g']:g}_gap_ci_lo"], headline[f"g{r['g']:g}_gap_ci_hi"] = r["gap_ci_lo"], r["gap_ci_hi"]
    claims = [
        Claim(
            "a finite-d sampler speciates where the total κ = d·κ_per-dim crosses 1, not the per-dimension κ "
            "(62) of the paper's figures: every measured t_S± nearer the total-κ than the per-dim-κ prediction",
            "κ per dimension in the figures",
            f"measured per-mode t_S within {err_total:.3f} of the total-κ theory, {err_perdim:.3f} of the per-dim one",
            total_verdict,
            total_interval,
            kind="finding",
        ),
        Claim(
            "coupling opens a synchronization gap t_S+ − t_S− that widens with g (rises at every step of g)",
            "gap widens with g",
            "measured: "
            + ", ".join(f"g={r['g']:g}: {gm:+.3f}" for r, gm in zip(rows, gap_measured))
            + "; total-κ theory: "
            + ", ".join(f"{gt:+.3f}" for gt in gap_total),
            widens,
            "rise per step: " + ", ".join(f"{k} {fmt_interval(lo, hi, 3)}" for k, lo, hi in steps),
        ),
    ]
    arrays = {
        "g": np.array([r["g"] for r in rows]),
        "gap_measured": np.array(gap_measured),
        "gap_total": np.array(gap_total),
        "gap_perdim": np.array(gap_perdim),
        **{k: np.array([np.nan if r[k] is None else r[k] for r in rows], float) for k in rows[0] if k != "g"},
    }
    notes = [
        f"Product mixture z₀ = s₊μ₊ + s₋μ₋ + noise, d = {d}, m±² = {cfg.m_plus2:g}, {cfg.m_minus2:g}; "
        f"Measured t_S±: where the clone agreement of that mode crosses φ = {PHI_MID} (halfway from chance to "
        "certain), beside three predictions: κ± = 1 per dimension (the paper's figures), κ± = 1 in total (d·m²), and "
        "the class-posterior criterion a± = μ±ᵀC±⁻¹μ± = 1 (Biroli et al.; φ = 0.775 there).",
        "Per-dimension κ (the paper's figures) predicts t_S± about ½ log d earlier in forward time than what a "
        f"finite-d sampler shows; the measurements follow the {follows} convention.",
        "Intervals: a measured t_S± is bracketed by the crossings of the 95 % Wilson bands of its agreement curve "
        "(test inversion); the total-vs-per-dim finding holds when every such interval lies on the total-κ side of "
        "the midpoint between the two predictions. The gap t_S+ − t_S− is bootstrapped over master trajectories "
        f"({cfg.n_boot} resamples; each master with its clones, both modes together, numpy Generator from the run "
        "seed); runs at different g are independent, so the rise of the gap between neighbouring g is the "
        "difference of independent replicates; 'widens' holds when every rise's 95 % percentile interval is "
        "above 0. A replicate curve still above φ = 0.75 at the scan's end (t = T) only bounds its crossing (≥ T), one "
        "never reaching it bounds it by the first scan time: the interval takes the 2.5 % order statistic of the "
        "replicates' lower bounds and the 97.5 % one of their upper bounds (conservative at both ends).",
    ]
    return Result(cols, headline, claims, arrays=arrays, notes=notes)


def run_sync(cfg: Any, ctx: RunContext) -> Result:
    """Per-mode cloning of the product mixture for each g: measured t_S+- and the gap beside the theory (the
    units of :func:`sync_units` in turn, in this process)."""
    return run_serially(cfg, ctx, sync_units, assemble_sync, "couplings")


EXPERIMENTS = [
    Experiment(
        "val_sync",
        "Validation — per-mode speciation and the synchronization gap (product mixture)",
        "validation",
        sync_params,
        run_sync,
        schema=SYNC_SCHEMA,
        units=sync_units,
        assemble=assemble_sync,
    ),
]
