"""``val_speciation``: the g = 0 check of Biroli et al. (2024), measured by cloning with the exact score.

One modality, mixture ±μ with per-coordinate mean 1 and unit variance (β = 1, σ_W² = 2): the cloning
agreement φ(t) against its exact curve φ(a(t)) for several d, and the measured crossing times against both
speciation criteria: a(t) = 1 (Biroli: t_S = ½ log d) and the paper's κ = 1 in the total convention
(t_S = ½ log 2d). This module owns its parameters and their declarations, one work unit per d (its generator
seeded from (seed, d) alone), the assembly of the result and the experiment's declaration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...protocols.regimes import agreement_crossing, clone_agreement, crossing_time, sign_classifier
from ...protocols.stats import fmt_interval
from ...sde import MixtureSpec, MomentTable, PopulationScore, reverse_times
from ...theory import cloning_agreement, posterior_snr, posterior_speciation_time, speciation_time
from ...work import Unit, UnitEnv
from ..base import Claim, Experiment, Result, RunContext
from ..params import Float, Int, List, Schema, distinct
from .common import clone_bytes, generator, nearest_indices, ratio_verdict, run_serially, single_modality, unit_costs

PHI_BIROLI = float(cloning_agreement(1.0))  # agreement when a(t) = 1
PHI_KAPPA = float(cloning_agreement(0.5))  # agreement when the total kappa = 2 a = 1 (one mode, c = 1)
SPECIATION_TOL = 0.10  # "t/t_S ≈ 1": within ±10 %


def speciation_params(preset: str) -> dict[str, Any]:
    """``val_speciation`` parameters at ``preset``: dimensions, master trajectories, scan of t/t_S."""
    return {
        "dims": {"smoke": [16], "quick": [64, 256, 1024], "paper": [64, 256, 1024, 4096]}[preset],
        "masters": {"smoke": 64, "quick": 160, "paper": 1000}[preset],
        "scan_ratios": list(np.round(np.linspace(0.5, 1.5, {"smoke": 5, "quick": 11, "paper": 21}[preset]), 4)),
        "steps_per_unit": {"smoke": 40, "quick": 80, "paper": 200}[preset],
        "horizon_extra": 2.0,
    }


SPECIATION_SCHEMA = Schema(
    {
        "dims": List(Int(2, 10**6), 1, 100),
        "masters": Int(2, 10**8),
        "scan_ratios": List(Float(0.0, 100.0, lo_open=True), 2, 10**4),
        "steps_per_unit": Int(1, 10**6),
        "horizon_extra": Float(0.0, 1e4),
    },
    checks=(distinct("dims"),),
    memory=lambda p: clone_bytes(p["masters"], len(p["scan_ratios"]), 1, max(p["dims"])),
    size_keys=("masters", "dims", "scan_ratios"),
)


def speciation_cell(d: int, cfg: Any, seed: int, device: str) -> dict[str, Any]:
    """One dimension d at g = 0: cloning agreement φ(t) on the scan t/t_S ∈ ``scan_ratios`` (t_S = ½ log d,
    where a(t) = 1) beside its exact curve φ(a(t)) (theory.cloning); the generator is seeded from (seed, d).
    ``cfg``: the experiment's config (its ``dims`` are not read)."""
    model = single_modality()
    t_biroli = posterior_speciation_time(model, d)
    T = t_biroli + cfg.horizon_extra
    times = reverse_times(T, int(np.ceil(T * cfg.steps_per_unit)))
    table = MomentTable.build(model, times, device=device)
    spec = MixtureSpec.from_model(model, d, device=device)
    gen = generator(seed, d, device=device)
    z_T, _ = spec.sample(cfg.masters, gen, t=T)
    idx = nearest_indices(times, np.asarray(cfg.scan_ratios, float) * t_biroli)
    phi = clone_agreement(PopulationScore.build(spec, table), table, z_T, idx, sign_classifier(spec.mu0[None]), gen)[
        :, 0
    ]
    t_scan = times[idx]
    return {
        "d": d,
        "t_biroli": t_biroli,
        "t_kappa": speciation_time(model, "total", d),
        "t_scan": t_scan,
        "phi": phi,
        "phi_theory": cloning_agreement(posterior_snr(model, t_scan, "total", d)),
    }


def _speciation_work(d: int, cfg: Any) -> float:
    """Relative work of :func:`speciation_cell`: clone rows x d x Euler-Maruyama steps over [0, T]."""
    T = posterior_speciation_time(single_modality(), d) + cfg.horizon_extra
    return cfg.masters * (1 + 2 * len(cfg.scan_ratios)) * d * T * cfg.steps_per_unit


def speciation_units(cfg: Any, env: UnitEnv) -> list[Unit]:
    """One unit per dimension d (each d draws from its own generator, seeded from (seed, d)).

    Each unit receives the config with ``dims`` narrowed to its own d: a unit's key hashes its arguments, so a
    cell whose own parameters did not change keeps its stored result when dimensions are added or removed."""
    quick = type(cfg).preset("quick")
    costs = unit_costs(
        "val_speciation",
        [_speciation_work(d, cfg) for d in cfg.dims],
        [_speciation_work(d, quick) for d in quick.dims],
    )
    return [
        Unit(speciation_cell, (d, cfg.replace(dims=[d]), env.seed, env.device), f"val_speciation d={d}", cost)
        for d, cost in zip(cfg.dims, costs)
    ]


def _binomial_se(phi: np.ndarray, masters: int) -> np.ndarray:
    """Binomial standard error of an agreement fraction over ``masters`` trials; φ(1 − φ) is floored at
    1/(4 masters) so that a scan time where every pair agrees keeps a nonzero error (finite z-scores)."""
    return np.sqrt(np.maximum(phi * (1 - phi), 0.25 / masters) / masters)


def _speciation_finding(cell: dict[str, Any], masters: int) -> tuple[dict[str, float], Claim]:
    """Headline numbers and the claim of one d: the crossing of φ = φ(a = 1) against t_S = ½ log d (Biroli et
    al.), and the crossing of φ(total κ = 1) beside ½ log 2d."""
    d, t_biroli, t_kappa = cell["d"], cell["t_biroli"], cell["t_kappa"]
    t_scan, phi = cell["t_scan"], cell["phi"]
    se = _binomial_se(phi, masters)
    _, t_lo, t_hi = agreement_crossing(t_scan, phi, masters, PHI_BIROLI)
    r_lo, r_hi, v = ratio_verdict(t_lo, t_hi, t_biroli, SPECIATION_TOL)
    cross_b = crossing_time(t_scan, phi, PHI_BIROLI)
    cross_k = crossing_time(t_scan, phi, PHI_KAPPA)
    z = np.abs(phi - cell["phi_theory"]) / se
    headline = {
        f"d{d}_ts_biroli": t_biroli,
        f"d{d}_ts_kappa_total": t_kappa,
        f"d{d}_measured_at_phi_biroli": cross_b,
        f"d{d}_measured_at_phi_kappa": cross_k,
        f"d{d}_ratio_measured_to_ts": cross_b / t_biroli,
        f"d{d}_max_z": float(z.max()),
        f"d{d}_ratio_ci_lo": r_lo,
        f"d{d}_ratio_ci_hi": r_hi,
    }
    claim = Claim(
        f"g = 0, d = {d}: cloning crossing at t/t_S = 1 within ±{SPECIATION_TOL:.0%} (Biroli et al.)",
        "t/t_S ≈ 1",
        f"measured {cross_b:.3f} vs t_S = ½ log d = {t_biroli:.3f} (ratio {cross_b / t_biroli:.3f}); "
        f"at φ(κ_total = 1): {cross_k:.3f} vs ½ log 2d = {t_kappa:.3f}",
        v,
        f"t/t_S {fmt_interval(r_lo, r_hi, 3)}",
        kind="finding",
    )
    return headline, claim


def assemble_speciation(cfg: Any, cells: list[dict[str, Any]], ctx: RunContext) -> Result:
    """The result from the cells of :func:`speciation_units` (one per d, in ``dims`` order)."""
    cols: dict[str, list] = {"d": [], "t": [], "t_over_ts": [], "phi": [], "phi_se": [], "phi_theory": []}
    headline: dict[str, Any] = {}
    claims = []
    for cell in cells:
        t_scan = cell["t_scan"]
        for key, values in (
            ("d", np.full(t_scan.size, cell["d"])),
            ("t", t_scan),
            ("t_over_ts", t_scan / cell["t_biroli"]),
            ("phi", cell["phi"]),
            ("phi_se", _binomial_se(cell["phi"], cfg.masters)),
            ("phi_theory", cell["phi_theory"]),
        ):
            cols[key] += list(values)
        cell_headline, claim = _speciation_finding(cell, cfg.masters)
        headline.update(cell_headline)
        claims.append(claim)
    notes = [
        f"φ is the probability that two clones restarted at t end in the same class; its exact curve is "
        f"φ = E[(1 + tanh² u)/2], u ~ N(a, a), a(t) = μ(t)ᵀC(t)⁻¹μ(t) (theory.cloning). Crossings are read at "
        f"φ = {PHI_BIROLI:.4f} (a = 1, Biroli's t_S) and φ = {PHI_KAPPA:.4f} (total κ = 1, the paper's criterion).",
        "Standard errors are binomial with the number of master trajectories.",
        "Interval of a crossing time: the crossings of the 95 % Wilson bands of φ at each scan time (test "
        "inversion: t stays in the interval while the level lies inside φ's band at t); a band beyond the scan "
        "range leaves that end open (0 or ∞). Linear interpolation between scan times is not in the interval. "
        f"The claim holds when t/t_S's interval lies within 1 ± {SPECIATION_TOL:g}, fails when it lies outside.",
    ]
    return Result(cols, headline, claims, notes=notes)


def run_speciation(cfg: Any, ctx: RunContext) -> Result:
    """Cloning agreement at g = 0 for each d against its exact curve; crossings against both t_S criteria
    (the units of :func:`speciation_units` in turn, in this process)."""
    return run_serially(cfg, ctx, speciation_units, assemble_speciation, "dimensions")


EXPERIMENTS = [
    Experiment(
        "val_speciation",
        "Validation — speciation by cloning at g = 0 (Biroli et al. check)",
        "validation",
        speciation_params,
        run_speciation,
        schema=SPECIATION_SCHEMA,
        units=speciation_units,
        assemble=assemble_speciation,
    ),
]
