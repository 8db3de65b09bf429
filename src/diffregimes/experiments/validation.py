"""Measured regimes beside the theory: exact-score simulations of speciation and collapse.

* ``val_speciation`` -- the g = 0 check of Biroli et al. (2024): one modality, mixture +-mu with
  per-coordinate mean 1 and unit variance (beta = 1, sigma_W^2 = 2), cloning agreement phi(t) against
  its exact curve phi(a(t)) for several d, and the measured crossing times against both speciation
  criteria: a(t) = 1 (Biroli: t_S = (1/2) log d) and the paper's kappa = 1 in the total convention
  (t_S = (1/2) log 2d).
* ``val_sync`` -- coupled symmetric case, product mixture (independent labels on the common and the
  difference mode): per-mode cloning gives measured t_S+ and t_S- against g, beside the theory in
  both kappa conventions, and the measured synchronization gap.
* ``val_collapse`` -- collapse with the empirical score: condensation (inverse participation ratio Y_2
  of the posterior weights over training points at population points) and nearest-training-point
  agreement of clones, against (1/2) log(1 + sigma^2/(n^{2/d} - 1)); per-mode condensation of the
  coupled symmetric case against (78).

Each experiment is a list of independent work units (:mod:`diffregimes.work`), one per cell
whose random generators are seeded from the cell alone: one per d, one per g, one per (n, d) case plus one
for all per-mode collapse cells (they share one generator). ``assemble_*`` builds the result from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..catalog import CATALOG
from ..protocols.regimes import (
    agreement_crossing,
    clone_agreement,
    crossing_interval,
    crossing_replicates,
    crossing_time,
    nearest_point_classifier,
    participation_ratio,
    resampled_curves,
    sign_classifier,
)
from ..protocols.stats import (
    INCONCLUSIVE,
    bootstrap_indices,
    bounded_percentile_interval,
    combine,
    fmt_interval,
    verdict,
)
from ..sde import MixtureSpec, MomentTable, PopulationScore, reverse_times
from ..sde.components import ComponentMixtureScore, product_mixture_means, sample_components
from ..sde.scores import EmpiricalScore
from ..seeds import derive_seed
from ..theory import (
    CoupledOU,
    cloning_agreement,
    mode_collapse_time,
    mode_posterior_snr,
    posterior_snr,
    posterior_speciation_time,
    single_mode_speciation_time,
    speciation_time,
    symmetric_eigenvalues,
)
from ..theory.moments import symmetric_mode_c, symmetric_mode_q
from ..work import Unit, UnitEnv
from .base import Claim, Experiment, Result, RunContext
from .params import (
    BOOTSTRAP,
    COUPLING,
    HORIZON,
    NORM,
    SCALE,
    Float,
    Int,
    List,
    Schema,
    distinct,
    symmetric_coupling,
)

PHI_BIROLI = float(cloning_agreement(1.0))  # agreement when a(t) = 1
PHI_KAPPA = float(cloning_agreement(0.5))  # agreement when the total kappa = 2 a = 1 (one mode, c = 1)
PHI_MID = 0.75  # halfway between chance (1/2) and certain agreement (1)
SPECIATION_TOL = 0.10  # "t/t_S ≈ 1": within ±10 %
COLLAPSE_TOL = 0.35  # "collapse near t_C": clone-NN crossing within ±35 %


def _generator(seed: int, *salt: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(np.random.SeedSequence([seed, *salt]).generate_state(1)[0]))


def _single_modality(beta: float = 1.0, sigma_w2: float = 2.0, sigma2: float = 1.0, m2: float = 1.0) -> CoupledOU:
    return CoupledOU.general(np.array([[-beta]]), sigma_w2, np.array([[sigma2]]), np.array([[m2]]))


def _nearest_indices(grid: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return np.array([int(np.argmin(np.abs(grid - t))) for t in targets])


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


def _nearer_summary(cells: list[tuple[str, float, float, str]], near: str, far: str) -> tuple[str, str]:
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
def _without(p: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``p`` without the lists of cells: a unit's key hashes its arguments, so a cell whose own parameters did not
    change keeps its stored result when cells are added to or removed from a list."""
    return {k: v for k, v in p.items() if k not in keys}


def _costs(name: str, work: list[float], quick_work: list[float]) -> list[float]:
    """Rough seconds per unit: the experiment's quick-preset time (the catalog's ``quick_s``) shared out in
    proportion to each unit's ``work``, relative to the work of the quick preset's units (``quick_work``)."""
    quick_s = next(entry.quick_s for entry in CATALOG if entry.name == name)
    return [quick_s * w / sum(quick_work) for w in work]


def _run_serially(
    p: dict[str, Any],
    ctx: RunContext,
    units: Callable[[dict[str, Any], UnitEnv], list[Unit]],
    assemble: Callable[[dict[str, Any], list[Any], RunContext], Result],
    desc: str,
) -> Result:
    """The whole experiment in this process: its units in turn, then ``assemble`` (the serial path of ``run``)."""
    env = UnitEnv(ctx.seed, ctx.device, str(ctx.run_dir.path.parent))
    return assemble(p, [u() for u in ctx.progress(units(p, env), desc)], ctx)


# ----------------------------------------------------------------------------- speciation, g = 0
def speciation_params(preset: str) -> dict[str, Any]:
    """``val_speciation`` parameters at ``preset``: dimensions, master trajectories, scan of t/t_S."""
    return {
        "dims": {"smoke": [16], "quick": [64, 256, 1024], "paper": [64, 256, 1024, 4096]}[preset],
        "masters": {"smoke": 64, "quick": 160, "paper": 1000}[preset],
        "scan_ratios": list(np.round(np.linspace(0.5, 1.5, {"smoke": 5, "quick": 11, "paper": 21}[preset]), 4)),
        "steps_per_unit": {"smoke": 40, "quick": 80, "paper": 200}[preset],
        "horizon_extra": 2.0,
    }


#: float64 state rows alive at once in a cloning run (masters + 2 clones per scan time), and the
#: temporaries of one Euler-Maruyama step (drift, noise, score terms): ~8 copies of the state
_CLONE_COPIES = 8


def _clone_bytes(masters: int, n_scan: int, k: int, d: int) -> float:
    return masters * (1 + 2 * n_scan) * k * d * 8 * _CLONE_COPIES


SPECIATION_SCHEMA = Schema(
    {
        "dims": List(Int(2, 10**6), 1, 100),
        "masters": Int(2, 10**8),
        "scan_ratios": List(Float(0.0, 100.0, lo_open=True), 2, 10**4),
        "steps_per_unit": Int(1, 10**6),
        "horizon_extra": Float(0.0, 1e4),
    },
    checks=(distinct("dims"),),
    memory=lambda p: _clone_bytes(p["masters"], len(p["scan_ratios"]), 1, max(p["dims"])),
    size_keys=("masters", "dims", "scan_ratios"),
)


def speciation_cell(d: int, p: dict[str, Any], seed: int, device: str) -> dict[str, Any]:
    """One dimension d at g = 0: cloning agreement φ(t) on the scan t/t_S ∈ ``scan_ratios`` (t_S = ½ log d,
    where a(t) = 1) beside its exact curve φ(a(t)) (theory.cloning); the generator is seeded from (seed, d)."""
    model = _single_modality()
    t_biroli = posterior_speciation_time(model, d)
    T = t_biroli + p["horizon_extra"]
    times = reverse_times(T, int(np.ceil(T * p["steps_per_unit"])))
    table = MomentTable.build(model, times, device=device)
    spec = MixtureSpec.from_model(model, d, device=device)
    gen = _generator(seed, d, device=device)
    z_T, _ = spec.sample(p["masters"], gen, t=T)
    idx = _nearest_indices(times, np.asarray(p["scan_ratios"], float) * t_biroli)
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


def _speciation_work(d: int, p: dict[str, Any]) -> float:
    """Relative work of :func:`speciation_cell`: clone rows x d x Euler-Maruyama steps over [0, T]."""
    T = posterior_speciation_time(_single_modality(), d) + p["horizon_extra"]
    return p["masters"] * (1 + 2 * len(p["scan_ratios"])) * d * T * p["steps_per_unit"]


def speciation_units(p: dict[str, Any], env: UnitEnv) -> list[Unit]:
    """One unit per dimension d (each d draws from its own generator, seeded from (seed, d))."""
    quick = speciation_params("quick")
    costs = _costs(
        "val_speciation",
        [_speciation_work(d, p) for d in p["dims"]],
        [_speciation_work(d, quick) for d in quick["dims"]],
    )
    cell_p = _without(p, "dims")
    return [
        Unit(speciation_cell, (d, cell_p, env.seed, env.device), f"val_speciation d={d}", cost)
        for d, cost in zip(p["dims"], costs)
    ]


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


def _binomial_se(phi: np.ndarray, masters: int) -> np.ndarray:
    """Binomial standard error of an agreement fraction over ``masters`` trials; φ(1 − φ) is floored at
    1/(4 masters) so that a scan time where every pair agrees keeps a nonzero error (finite z-scores)."""
    return np.sqrt(np.maximum(phi * (1 - phi), 0.25 / masters) / masters)


def assemble_speciation(p: dict[str, Any], cells: list[dict[str, Any]], ctx: RunContext) -> Result:
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
            ("phi_se", _binomial_se(cell["phi"], p["masters"])),
            ("phi_theory", cell["phi_theory"]),
        ):
            cols[key] += list(values)
        cell_headline, claim = _speciation_finding(cell, p["masters"])
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


def run_speciation(p: dict[str, Any], ctx: RunContext) -> Result:
    """Cloning agreement at g = 0 for each d against its exact curve; crossings against both t_S criteria
    (the units of :func:`speciation_units` in turn, in this process)."""
    return _run_serially(p, ctx, speciation_units, assemble_speciation, "dimensions")


# ----------------------------------------------------------------------------- synchronization gap
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
        _clone_bytes(p["masters"], p["n_scan"], 2, p["d"])
        + p["T"] * p["steps_per_unit"] * 4 * 8 * 8
        + p["n_boot"] * p["masters"] * (8 + 2 * 8)
    ),
    size_keys=("masters", "n_scan", "d", "n_boot"),
)


def _mode_theory(p: dict[str, Any], g: float) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, lam, m2 in zip(("plus", "minus"), symmetric_eigenvalues(p["beta"], g), (p["m_plus2"], p["m_minus2"])):
        out[f"ts_{name}_perdim"] = single_mode_speciation_time(lam, m2, p["sigma2"], p["sigma_w2"])
        out[f"ts_{name}_total"] = single_mode_speciation_time(lam, p["d"] * m2, p["sigma2"], p["sigma_w2"])
        out[f"ts_{name}_posterior"] = _posterior_time(lam, m2, p)
    return out


def _posterior_time(lam: float, m2: float, p: dict[str, Any]) -> float | None:
    """Largest t with a_pm(t) = d m^2 e^{2 lam t} / c(t) = 1 (the Biroli criterion for one mode)."""
    from scipy.optimize import brentq

    def f(t: float) -> float:
        return float(mode_posterior_snr(lam, m2, p["sigma2"], p["sigma_w2"], t, p["d"])) - 1.0

    grid = np.linspace(0.0, 4 * p["T"], 801)
    values = np.array([f(t) for t in grid])
    above = np.flatnonzero(values > 0)
    if not above.size or above[-1] == grid.size - 1:
        return None
    j = above[-1]
    return float(brentq(f, grid[j], grid[j + 1], xtol=1e-12))


def _sync_scan(p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The reverse-time grid of ``val_sync`` and the indices of its ``n_scan`` clone restart times on it."""
    times = reverse_times(p["T"], int(np.ceil(p["T"] * p["steps_per_unit"])))
    return times, np.unique(np.linspace(0, len(times) - 1, p["n_scan"]).round().astype(int))


def sync_cell(j: int, g: float, p: dict[str, Any], seed: int, device: str) -> dict[str, Any]:
    """Coupling g (the j-th of ``g_values``): per-mode cloning agreement of the product mixture (one clone pair
    per master and scan time, classes read on the +μ₊ and +μ₋ directions), and the bootstrap over masters of the
    bounds on t_S+ − t_S− per replicate. The generators are seeded from (seed, j)."""
    means, _ = product_mixture_means(p["m_plus2"], p["m_minus2"], p["d"], device=device)
    directions = torch.stack([means[0] + means[1], means[0] - means[1]])  # +mu_+ and +mu_- directions
    times, idx = _sync_scan(p)
    t_scan = times[idx]
    model = CoupledOU.symmetric(p["beta"], g, p["sigma_w2"], p["sigma2"], p["m_plus2"], p["m_minus2"])
    table = MomentTable.build(model, times, device=device)
    gen = _generator(seed, j, device=device)
    z_T, _ = sample_components(model, means, p["masters"], p["T"], gen)
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
    curves = resampled_curves(agree, bootstrap_indices(p["masters"], int(p["n_boot"]), rng))
    (p_lo, p_hi), (m_lo, m_hi) = (crossing_replicates(t_scan, curves[..., m], PHI_MID) for m in (0, 1))
    # bounds on t_S+ − t_S− per replicate; the replicates themselves stay here (n_boot x n_scan x 2 curves)
    return {"g": g, "t_scan": t_scan, "phi": agree.mean(axis=1), "gap_reps": (p_lo - m_hi, p_hi - m_lo)}


def _sync_work(p: dict[str, Any]) -> float:
    """Relative work of one :func:`sync_cell`: clone rows x d x Euler-Maruyama steps over [0, T]."""
    return p["masters"] * (1 + 2 * p["n_scan"]) * p["d"] * p["T"] * p["steps_per_unit"]


def sync_units(p: dict[str, Any], env: UnitEnv) -> list[Unit]:
    """One unit per coupling g (each draws from its own generators, seeded from (seed, index of g))."""
    quick = sync_params("quick")
    cost = _costs("val_sync", [_sync_work(p)], [_sync_work(quick)] * len(quick["g_values"]))[0]
    cell_p = _without(p, "g_values")
    return [
        Unit(sync_cell, (j, g, cell_p, env.seed, env.device), f"val_sync g={g:g}", cost)
        for j, g in enumerate(p["g_values"])
    ]


def _sync_row(cell: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    """One g's predictions (:func:`_mode_theory`), measured t_S± with their Wilson intervals and the gap's
    bootstrap interval."""
    g, t_scan, phi = cell["g"], cell["t_scan"], cell["phi"]
    row: dict[str, Any] = {"g": g, **_mode_theory(p, g)}
    for m, name in enumerate(("plus", "minus")):
        row[f"measured_{name}"], row[f"ci_lo_{name}"], row[f"ci_hi_{name}"] = agreement_crossing(
            t_scan, phi[:, m], p["masters"], PHI_MID
        )
    row["gap_ci_lo"], row["gap_ci_hi"] = bounded_percentile_interval(*cell["gap_reps"])
    return row


def assemble_sync(p: dict[str, Any], per_g: list[dict[str, Any]], ctx: RunContext) -> Result:
    """The result from the cells of :func:`sync_units` (one per g, in ``g_values`` order)."""
    d = p["d"]
    cols: dict[str, list] = {k: [] for k in ("g", "t", "phi_plus", "phi_minus", "theory_plus", "theory_minus")}
    for cell in per_g:
        g, t_scan, phi = cell["g"], cell["t_scan"], cell["phi"]
        theory = [
            cloning_agreement(mode_posterior_snr(lam, m2, p["sigma2"], p["sigma_w2"], t_scan, d))
            for lam, m2 in zip(symmetric_eigenvalues(p["beta"], g), (p["m_plus2"], p["m_minus2"]))
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
    rows = [_sync_row(cell, p) for cell in per_g]
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
    total_verdict, total_interval = _nearer_summary(cells, "total κ", "per-dim κ")
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
        f"Product mixture z₀ = s₊μ₊ + s₋μ₋ + noise, d = {d}, m±² = {p['m_plus2']:g}, {p['m_minus2']:g}; "
        f"Measured t_S±: where the clone agreement of that mode crosses φ = {PHI_MID} (halfway from chance to "
        "certain), beside three predictions: κ± = 1 per dimension (the paper's figures), κ± = 1 in total (d·m²), and "
        "the class-posterior criterion a± = μ±ᵀC±⁻¹μ± = 1 (Biroli et al.; φ = 0.775 there).",
        "Per-dimension κ (the paper's figures) predicts t_S± about ½ log d earlier in forward time than what a "
        f"finite-d sampler shows; the measurements follow the {follows} convention.",
        "Intervals: a measured t_S± is bracketed by the crossings of the 95 % Wilson bands of its agreement curve "
        "(test inversion); the total-vs-per-dim finding holds when every such interval lies on the total-κ side of "
        "the midpoint between the two predictions. The gap t_S+ − t_S− is bootstrapped over master trajectories "
        f"({p['n_boot']} resamples; each master with its clones, both modes together, numpy Generator from the run "
        "seed); runs at different g are independent, so the rise of the gap between neighbouring g is the "
        "difference of independent replicates; 'widens' holds when every rise's 95 % percentile interval is "
        "above 0. A replicate curve still above φ = 0.75 at the scan's end (t = T) only bounds its crossing (≥ T), one "
        "never reaching it bounds it by the first scan time: the interval takes the 2.5 % order statistic of the "
        "replicates' lower bounds and the 97.5 % one of their upper bounds (conservative at both ends).",
    ]
    return Result(cols, headline, claims, arrays=arrays, notes=notes)


def run_sync(p: dict[str, Any], ctx: RunContext) -> Result:
    """Per-mode cloning of the product mixture for each g: measured t_S+- and the gap beside the theory (the
    units of :func:`sync_units` in turn, in this process)."""
    return _run_serially(p, ctx, sync_units, assemble_sync, "couplings")


# ----------------------------------------------------------------------------- collapse
def collapse_params(preset: str) -> dict[str, Any]:
    """``val_collapse`` parameters at ``preset``: (n, d) cases, probes, clone scan, per-mode couplings."""
    return {
        "cases": {
            "smoke": [[64, 4]],
            "quick": [[256, 8], [1024, 10], [4096, 12]],
            "paper": [[256, 8], [1024, 10], [4096, 12], [16384, 14]],
        }[preset],
        "probes": {"smoke": 64, "quick": 160, "paper": 1024}[preset],
        "n_scan": {"smoke": 6, "quick": 16, "paper": 31}[preset],
        "clone_masters": {"smoke": 32, "quick": 48, "paper": 512}[preset],
        "clone_scan": {"smoke": 4, "quick": 8, "paper": 16}[preset],
        "mode_g": {"smoke": [0.5], "quick": [0.0, 0.4, 0.8], "paper": [0.0, 0.2, 0.4, 0.6, 0.8]}[preset],
        "clone_steps": {"smoke": 100, "quick": 400, "paper": 800}[preset],
        "mode_case": [1024, 10],
        "beta": 1.0,
        "sigma_w2": 2.0,
        "sigma2": 1.0,
        "n_boot": {"smoke": 200, "quick": 1000, "paper": 2000}[preset],
    }


def _collapse_memory(p: dict[str, Any]) -> float:
    """Peak bytes of the largest case: posterior weights of the probes (probes x n, ~4 copies), the
    empirical-score weights of all clone rows (rows x n, ~4 copies) and the data (n x d)."""
    clone_rows = p["clone_masters"] * (1 + 2 * p["clone_scan"])
    boot = p["n_boot"] * (p["probes"] * 8 + p["n_scan"] * 8 * 2)  # resample indices and resampled Y_2 curves
    return max((p["probes"] + clone_rows) * n * 8 * 4 + n * d * 8 for n, d in [*p["cases"], p["mode_case"]]) + boot


CASE = List(Int(2, 10**9), 2, 2)

COLLAPSE_SCHEMA = Schema(
    {
        "cases": List(CASE, 1, 100),
        "probes": Int(1, 10**8),
        "n_scan": Int(2, 10**5),
        "clone_masters": Int(2, 10**8),
        "clone_scan": Int(2, 10**5),
        "mode_g": List(COUPLING, 1, 1000),
        "clone_steps": Int(1, 10**7),
        "mode_case": CASE,
        "beta": Float(-1e8, 1e8),
        "sigma_w2": SCALE,
        "sigma2": SCALE,
        "n_boot": BOOTSTRAP,
    },
    checks=(symmetric_coupling("mode_g"), distinct("mode_g")),
    memory=_collapse_memory,
    size_keys=("cases", "mode_case", "probes", "clone_masters", "clone_scan", "n_boot"),
)


def _y2_probes(
    lam: float, p: dict[str, Any], data: torch.Tensor, t_scan: np.ndarray, gen: torch.Generator
) -> np.ndarray:
    """Y_2 at population probes z ~ N(0, c(t)) of one d-dimensional mode with decay rate lam: (n_scan, probes)."""
    d = data.shape[-1]
    out = []
    for t in t_scan:
        c = float(symmetric_mode_c(lam, p["sigma2"], p["sigma_w2"], t))
        q = float(symmetric_mode_q(lam, p["sigma_w2"], t))
        z = np.sqrt(c) * torch.randn((p["probes"], 1, d), generator=gen, dtype=data.dtype, device=data.device)
        Phi = torch.tensor([[np.exp(lam * t)]], dtype=data.dtype)
        out.append(participation_ratio(z, data, Phi, torch.tensor([[q]], dtype=data.dtype)).cpu().numpy())
    return np.stack(out)


def y2_crossing(
    t_scan: np.ndarray, y2_probes: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[float, float, float, tuple[np.ndarray, np.ndarray]]:
    """(t, lo, hi, replicates): where mean Y_2 falls through 1/2, the crossings of its pointwise 95 % bootstrap
    bands over probes (:func:`crossing_interval`), and the bounds on each bootstrap replicate's crossing
    (:func:`crossing_replicates`)."""
    curves = resampled_curves(y2_probes, bootstrap_indices(y2_probes.shape[1], n_boot, rng))  # (n_boot, n_scan)
    band_lo, band_hi = np.quantile(curves, [0.025, 0.975], axis=0)
    est, lo, hi = crossing_interval(t_scan, y2_probes.mean(axis=1), band_lo, band_hi, 0.5)
    return est, lo, hi, crossing_replicates(t_scan, curves, 0.5)


def collapse_case(n: int, d: int, p: dict[str, Any], seed: int, device: str) -> dict[str, Any]:
    """One (n, d) case of the single modality: n training points, Y_2 at population probes on a scan around
    t_C = ½ log(1 + σ²/(n^(2/d) − 1)) with its bootstrap crossing, and the nearest-training-point agreement of
    clones run with the empirical score. The generators are seeded from (seed, n, d)."""
    model = _single_modality(p["beta"], p["sigma_w2"], p["sigma2"], 0.0)
    alpha = np.log(n) / d
    t_c = mode_collapse_time(2 * p["beta"], p["sigma2"], p["sigma_w2"], alpha)  # = (1/2) log(1 + s^2/(n^{2/d}-1))
    gen = _generator(seed, n, d, device=device)
    data = torch.randn((n, 1, d), generator=gen, dtype=torch.float64, device=device) * np.sqrt(p["sigma2"])
    t_scan = np.linspace(0.25 * t_c, 3.0 * t_c, p["n_scan"])
    y2_probes = _y2_probes(-p["beta"], p, data, t_scan, gen)
    # clones with the empirical score: a geometric grid resolves the stiff small-t end
    times = np.concatenate([np.geomspace(4 * t_c, 1e-3, p["clone_steps"]), [0.0]])
    times = np.unique(np.concatenate([times, np.linspace(t_scan[0], t_scan[-1], p["clone_scan"])]))[::-1]
    table = MomentTable.build(model, times[:-1], device=device)
    z_T = np.sqrt(1.0) * torch.randn((p["clone_masters"], 1, d), generator=gen, dtype=torch.float64, device=device)
    # clones are costlier than Y_2 probes (a full empirical-score run per scan time): a coarser scan
    clone_t = np.linspace(t_scan[0], t_scan[-1], p["clone_scan"])
    idx = _nearest_indices(table.times.cpu().numpy(), clone_t)
    nn = clone_agreement(EmpiricalScore.build(table, data), table, z_T, idx, nearest_point_classifier(data), gen)[:, 0]
    rng = np.random.default_rng(derive_seed(seed, "val-collapse-y2", n, d))
    m_y2, y2_lo, y2_hi, _ = y2_crossing(t_scan, y2_probes, int(p["n_boot"]), rng)
    return {
        "n": n,
        "d": d,
        "t_c": t_c,
        "t_scan": t_scan,
        "y2": y2_probes.mean(axis=1),
        "y2_crossing": (m_y2, y2_lo, y2_hi),
        "clone_t": clone_t,
        "nn": nn,
    }


def collapse_modes(p: dict[str, Any], seed: int, device: str) -> list[dict[str, Any]]:
    """Per-mode condensation of the coupled symmetric case (76): for each g of ``mode_g`` and each eigenmode,
    Y_2 at probes of that d-dimensional OU mode (decay rate τ± = 2(β ∓ g)) on a scan around its collapse time
    (78) with the same n, with the bootstrap crossing; beside (77) as printed.

    One unit for every (g, mode): the training set and all probes come from one generator, seeded from
    (seed, 7), drawn in turn across the cells; splitting them would change the numbers."""
    n, d = p["mode_case"]
    gen = _generator(seed, 7, device=device)
    data = torch.randn((n, 1, d), generator=gen, dtype=torch.float64, device=device) * np.sqrt(p["sigma2"])
    cells = []
    for j, g in enumerate(p["mode_g"]):
        for mode, lam in zip(("plus", "minus"), symmetric_eigenvalues(p["beta"], g)):
            tau = -2 * lam
            t_same_n = mode_collapse_time(tau, p["sigma2"], p["sigma_w2"], np.log(n) / d)
            t_paper = mode_collapse_time(tau, p["sigma2"], p["sigma_w2"], np.log(n) / (2 * d))
            t_scan = np.linspace(0.25 * t_same_n, 3.0 * t_same_n, p["n_scan"])
            y2_probes = _y2_probes(lam, p, data, t_scan, gen)
            rng = np.random.default_rng(derive_seed(seed, "val-collapse-modes", j, mode))
            est, lo, hi, reps = y2_crossing(t_scan, y2_probes, int(p["n_boot"]), rng)
            cells.append(
                {
                    "g": g,
                    "mode": mode,
                    "t_same_n": t_same_n,
                    "t_paper": t_paper,
                    "t_scan": t_scan,
                    "y2": y2_probes.mean(axis=1),
                    "y2_crossing": (est, lo, hi),
                    "replicates": reps,
                }
            )
    return cells


def _collapse_case_work(n: int, d: int, p: dict[str, Any]) -> float:
    """Relative work of :func:`collapse_case`: the empirical score sums over n points in d dimensions for every
    clone row and step, the participation ratio for every probe and scan time."""
    clone_rows = p["clone_masters"] * (1 + 2 * p["clone_scan"])
    return n * d * (clone_rows * (p["clone_steps"] + p["clone_scan"]) + p["probes"] * p["n_scan"])


def _collapse_modes_work(p: dict[str, Any]) -> float:
    """Relative work of :func:`collapse_modes`: the participation ratio of every probe, scan time, g and mode."""
    n, d = p["mode_case"]
    return n * d * p["probes"] * p["n_scan"] * 2 * len(p["mode_g"])


def _collapse_work(p: dict[str, Any]) -> list[float]:
    return [_collapse_case_work(n, d, p) for n, d in p["cases"]] + [_collapse_modes_work(p)]


def collapse_units(p: dict[str, Any], env: UnitEnv) -> list[Unit]:
    """One unit per (n, d) case (each with its own generators, seeded from (seed, n, d)), then one for every
    per-mode cell together (:func:`collapse_modes`: their generator is shared)."""
    costs = _costs("val_collapse", _collapse_work(p), _collapse_work(collapse_params("quick")))
    case_p = _without(p, "cases", "mode_g", "mode_case")
    units = [
        Unit(collapse_case, (n, d, case_p, env.seed, env.device), f"val_collapse n={n} d={d}", cost)
        for (n, d), cost in zip(p["cases"], costs)
    ]
    n, d = p["mode_case"]
    modes_p = _without(p, "cases")
    return units + [Unit(collapse_modes, (modes_p, env.seed, env.device), f"val_collapse modes n={n} d={d}", costs[-1])]


def _collapse_case_finding(case: dict[str, Any], clone_masters: int) -> tuple[dict[str, float], Claim]:
    """Headline numbers and the claim of one (n, d) case: the clone-NN crossing of ½ against t_C."""
    n, d, t_c = case["n"], case["d"], case["t_c"]
    m_y2, y2_lo, y2_hi = case["y2_crossing"]
    m_nn, nn_lo, nn_hi = agreement_crossing(case["clone_t"], case["nn"], clone_masters, 0.5)
    r_lo, r_hi, v = ratio_verdict(nn_lo, nn_hi, t_c, COLLAPSE_TOL)
    headline = {
        f"n{n}_d{d}_tc_theory": t_c,
        f"n{n}_d{d}_tc_y2": m_y2,
        f"n{n}_d{d}_tc_clone_nn": m_nn,
        f"n{n}_d{d}_tc_clone_nn_ci_lo": nn_lo,
        f"n{n}_d{d}_tc_clone_nn_ci_hi": nn_hi,
        f"n{n}_d{d}_tc_y2_ci_lo": y2_lo,
        f"n{n}_d{d}_tc_y2_ci_hi": y2_hi,
    }
    claim = Claim(
        f"collapse near ½ log(1 + σ²/(n^(2/d) − 1)), n = {n}, d = {d}: clone-NN crossing within "
        f"±{COLLAPSE_TOL:.0%} of t_C",
        f"t_C = {t_c:.3f}",
        f"Y₂ = ½ at t = {m_y2:.3f} {fmt_interval(y2_lo, y2_hi, 3)}; clone NN agreement ½ at "
        f"t = {m_nn:.3f} (t/t_C = {m_nn / t_c:.2f})",
        v,
        f"clone NN t/t_C {fmt_interval(r_lo, r_hi, 2)}",
        kind="finding",
    )
    return headline, claim


def _collapse_rows(
    cols: dict[str, list],
    experiment: str,
    n: int,
    d: int,
    g: float,
    mode: str,
    t: np.ndarray,
    y2: np.ndarray | list[float],
    nn: np.ndarray | list[float],
) -> None:
    """Append one scan's rows to the table (``y2`` and ``nn``: a column each, NaN where not measured)."""
    for key, values in (
        ("experiment", [experiment] * t.size),
        ("n", [n] * t.size),
        ("d", [d] * t.size),
        ("g", [g] * t.size),
        ("mode", [mode] * t.size),
        ("t", t),
        ("y2", y2),
        ("clone_nn", nn),
    ):
        cols[key] += list(values)


def assemble_collapse(p: dict[str, Any], results: list[Any], ctx: RunContext) -> Result:
    """The result from the units of :func:`collapse_units`: the (n, d) cases in ``cases`` order, then the
    per-mode cells."""
    cases, mode_cells = results[:-1], results[-1]
    cols: dict[str, list] = {k: [] for k in ("experiment", "n", "d", "g", "mode", "t", "y2", "clone_nn")}
    headline: dict[str, Any] = {}
    claims = []
    for case in cases:
        n, d, t_scan, clone_t = case["n"], case["d"], case["t_scan"], case["clone_t"]
        _collapse_rows(cols, "biroli", n, d, 0.0, "single", t_scan, case["y2"], np.full(t_scan.size, np.nan))
        _collapse_rows(cols, "biroli_clones", n, d, 0.0, "single", clone_t, np.full(clone_t.size, np.nan), case["nn"])
        case_headline, claim = _collapse_case_finding(case, p["clone_masters"])
        headline.update(case_headline)
        claims.append(claim)
    n, d = p["mode_case"]
    mode_ci: dict[tuple[float, str], tuple[float, float, tuple[np.ndarray, np.ndarray]]] = {}
    for cell in mode_cells:
        g, mode, t_scan = cell["g"], cell["mode"], cell["t_scan"]
        est, lo, hi = cell["y2_crossing"]
        mode_ci[(g, mode)] = (lo, hi, cell["replicates"])
        _collapse_rows(cols, "modes", n, d, g, mode, t_scan, cell["y2"], [np.nan] * t_scan.size)
        headline[f"g{g:g}_{mode}_tc_same_n"] = cell["t_same_n"]
        headline[f"g{g:g}_{mode}_tc_paper77"] = cell["t_paper"]
        headline[f"g{g:g}_{mode}_tc_y2"] = est
        headline[f"g{g:g}_{mode}_tc_y2_ci_lo"], headline[f"g{g:g}_{mode}_tc_y2_ci_hi"] = lo, hi
    coupled = [g for g in p["mode_g"] if g > 0]
    if coupled:
        # probes of the two modes are independent draws: the difference of independent replicates
        order = [
            (
                g,
                *bounded_percentile_interval(
                    mode_ci[(g, "plus")][2][0] - mode_ci[(g, "minus")][2][1],
                    mode_ci[(g, "plus")][2][1] - mode_ci[(g, "minus")][2][0],
                ),
            )
            for g in coupled
        ]
        claims.append(
            Claim(
                "common mode collapses before the difference mode in reverse time (t_C+ > t_C−) at every g > 0",
                "t_C+ rises, t_C− falls with g",
                ", ".join(
                    f"g={g:g}: Y₂ crossings {headline[f'g{g:g}_plus_tc_y2']:.3f} vs "
                    f"{headline[f'g{g:g}_minus_tc_y2']:.3f}"
                    for g in coupled
                ),
                combine([verdict(lo, hi, above=0.0) for _, lo, hi in order]),
                "t_C+ − t_C−: " + ", ".join(f"g={g:g} {fmt_interval(lo, hi, 3)}" for g, lo, hi in order),
            )
        )
    err_same = np.mean(
        [
            abs(headline[f"g{g:g}_{m}_tc_y2"] - headline[f"g{g:g}_{m}_tc_same_n"])
            for g in p["mode_g"]
            for m in ("plus", "minus")
        ]
    )
    err_paper = np.mean(
        [
            abs(headline[f"g{g:g}_{m}_tc_y2"] - headline[f"g{g:g}_{m}_tc_paper77"])
            for g in p["mode_g"]
            for m in ("plus", "minus")
        ]
    )
    cells = [
        (
            f"g={g:g} {'+' if m == 'plus' else '−'}",
            *nearer_verdict(
                mode_ci[(g, m)][0],
                mode_ci[(g, m)][1],
                headline[f"g{g:g}_{m}_tc_same_n"],
                headline[f"g{g:g}_{m}_tc_paper77"],
            ),
        )
        for g in p["mode_g"]
        for m in ("plus", "minus")
    ]
    same_verdict, same_interval = _nearer_summary(cells, "(78) with n^(2/d)", "(77)")
    claims.append(
        Claim(
            "per-mode collapse (78) with n^(2/d) (same n) beats (77) as printed: every measured "
            "per-mode Y₂ crossing nearer (78)",
            "(77) with n^(1/d)",
            f"mean |measured − theory|: {err_same:.3f} with n^(2/d) (same n), {err_paper:.3f} with (77) as printed",
            same_verdict,
            same_interval,
            kind="finding",
        )
    )
    notes = [
        "Y₂ = Σᵢ wᵢ² of the posterior weights (31) over the n training points, averaged over probes drawn from the "
        "population law P_t (the REM's reference points): ≈ 1/n while the empirical measure generalises, O(1) once it "
        "condenses. Clone NN agreement: two clones restarted at t with the empirical score end on the same training point.",
        "Per mode, the symmetric coupled process factorises (76): each eigenmode is a d-dimensional OU with decay rate "
        "τ± = 2(β ∓ g). With the same n, its own REM condition is 1 + χ = n^(2/d) (column tc_same_n); the paper's "
        "(77) uses n^(1/d) (tc_paper77).",
        "Intervals (conditional on the one training set drawn per case): a Y₂ crossing is bracketed by the crossings "
        f"of the pointwise 95 % percentile bands of mean Y₂ from {p['n_boot']} bootstrap resamples of the probes "
        "(numpy Generator from the run seed); a clone-NN crossing by those of the 95 % Wilson bands of the agreement "
        "(test inversion; an end beyond the scan range stays open). t_C+ − t_C−: difference of the bootstrap "
        "replicates' crossings of the two modes (independent probes; a replicate crossing beyond the scan enters by its "
        "bounds, conservatively). The collapse-time claim holds when t/t_C's "
        f"interval lies within 1 ± {COLLAPSE_TOL:g}; the (78)-vs-(77) finding when every per-mode interval lies on "
        "the (78) side of the midpoint between the two predictions.",
    ]
    return Result(cols, headline, claims, notes=notes)


def run_collapse(p: dict[str, Any], ctx: RunContext) -> Result:
    """Condensation Y_2 and clone nearest-point agreement against the collapse times, joint and per mode (the
    units of :func:`collapse_units` in turn, in this process)."""
    return _run_serially(p, ctx, collapse_units, assemble_collapse, "(n, d) cases and per-mode collapse")


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
    Experiment(
        "val_collapse",
        "Validation — collapse with the empirical score, joint and per mode",
        "validation",
        collapse_params,
        run_collapse,
        schema=COLLAPSE_SCHEMA,
        units=collapse_units,
        assemble=assemble_collapse,
    ),
]
