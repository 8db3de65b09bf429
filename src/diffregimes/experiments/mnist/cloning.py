"""Figs 10 and 11 (paper §5.2, Protocol II): cloning speciation of the common and difference modes.

Whitened-DDPM masters and clones on a two-class subset, sign-symmetric classifiers C_u, C_v (103), agreement
(104), φ^ex (105) with Wilson intervals, t_spec at φ* = 0.55 (106). Work units: the model trainings, C_u and
C_v, then one unit per g labelling that g's clones (:func:`~diffregimes.protocols.protocol2.clone_labels`),
shared by key between Figs 10 and 11, from whose results the driver assembles each figure's result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ... import __version__
from ...diffusion import VPSchedule, linear_vp_schedule
from ...nets import CheckpointError, load_checkpoint, make_classifier, save_checkpoint
from ...protocols.protocol2 import (
    clone_labels,
    mode_classifiers,
    speciation_gap_bootstrap,
    t_spec_interval,
    train_mode_classifiers,
    train_order_classifier,
)
from ...protocols.speciation_clones import speciation_curve
from ...protocols.stats import fmt_interval, percentile_interval, verdict
from ...protocols.sync import (
    step_ou_time,
)
from ...runstore import digest
from ...seeds import derive_seed
from ...work import Unit, UnitEnv
from ..base import Claim, Result, RunContext
from ..config import ExperimentConfig
from .common import FORMAT, cached_npz, data_fingerprint, images_for, out_root, torch_threads
from .models import ModelUnit, gate_notes, gate_record, gated_model, mnist_experiment, model_key, model_units
from .presets import common_notes, fig10_params, fig11_params, preset_notes
from .training import TrainedModel, eps_function


def _scan_steps(cfg: ExperimentConfig) -> list[int]:
    T = int(cfg.T)
    ks = sorted({min(max(int(round(f * (T - 1))), 0), T - 1) for f in cfg.scan_fracs})
    if len(ks) < 2:
        raise ValueError(f"scan_fracs must give at least two distinct steps at T={T}: {cfg.scan_fracs}")
    return ks


def _classifier_config(cfg: ExperimentConfig, seed: int) -> dict[str, Any]:
    """Everything that determines the trained C_u, C_v (103) (their cache key)."""
    return {
        "format": FORMAT,
        "kind": "clf",
        "data": data_fingerprint(cfg.mnist_path),
        "classes": cfg.classes,
        "n_images": cfg.n_images,
        "transform": cfg.transform,
        "steps": cfg.clf_steps,
        "batch": cfg.clf_batch,
        "width": cfg.clf_width,
        "lr": cfg.clf_lr,
        "holdout": cfg.holdout,
        "seed": seed,
    } | ({"v_label": cfg.v_label} if cfg.v_label != "digit" else {})  # the paper's C_v keeps its old key


def _classifiers(
    cfg: ExperimentConfig, seed: int, device: str, root: Path, progress=None
) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """C_u, C_v (103) on real MAIN pairs of the two classes, with their held-out accuracies: loaded from
    ``root/_models/clf_<key>.pt``, else trained (:func:`~diffregimes.protocols.protocol2.train_mode_classifiers`)
    and stored there."""
    clf_cfg = _classifier_config(cfg, seed)
    key = digest(clf_cfg)
    path = root / "_models" / f"clf_{key}.pt"
    if path.exists():
        C_u, C_v = mode_classifiers(len(cfg.classes), int(cfg.clf_width), seed, device)
        if cfg.v_label == "order":
            C_v = make_classifier(2, int(cfg.clf_width), sign_symmetric=False, seed=derive_seed(seed, "clf-o")).to(
                device
            )
        try:
            info = load_checkpoint(path, model=nn.ModuleDict({"u": C_u, "v": C_v}), map_location=device)
            return C_u, C_v, dict(info.config["stats"], key=key, cached=True)
        except (CheckpointError, KeyError):
            path.unlink(missing_ok=True)
    images, labels = images_for(cfg.mnist_path, cfg.classes, cfg.n_images)
    C_u, C_v, stats = train_mode_classifiers(
        images,
        labels,
        cfg.transform,
        n_classes=len(cfg.classes),
        width=int(cfg.clf_width),
        steps=int(cfg.clf_steps),
        batch=int(cfg.clf_batch),
        lr=float(cfg.clf_lr),
        holdout=float(cfg.holdout),
        seed=seed,
        device=device,
        progress=progress,
    )
    if cfg.v_label == "order":  # the non-degenerate variant: C_v reads the A/B order, not the digit
        C_v, ostats = train_order_classifier(
            images,
            labels,
            cfg.transform,
            width=int(cfg.clf_width),
            steps=int(cfg.clf_steps),
            batch=int(cfg.clf_batch),
            lr=float(cfg.clf_lr),
            holdout=float(cfg.holdout),
            seed=seed,
            device=device,
            progress=progress,
        )
        stats = dict(stats, acc_v=ostats["acc_o"], v_label="order")
    save_checkpoint(
        path, nn.ModuleDict({"u": C_u, "v": C_v}), None, None, int(cfg.clf_steps), {"cfg": clf_cfg, "stats": stats}
    )
    return C_u, C_v, dict(stats, key=key, cached=False)


def _clone_labels(
    cfg: ExperimentConfig,
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
    scan = _scan_steps(cfg)
    C_u, C_v, cstats = clf
    key = digest(
        {
            "format": FORMAT,
            "kind": "p2",
            "model": tm.spec.key,
            "clf": cstats["key"],
            "masters": cfg.masters,
            "trials": cfg.trials,
            "scan": scan,
            "seed": seed,
            "clip": cfg.clip_x0,
            "classes": cfg.classes,
        }
    )

    def compute() -> dict[str, np.ndarray]:
        eps = eps_function(tm, cfg.clip_x0, device, int(cfg.max_batch))
        return clone_labels(
            eps, tm.schedule, g, scan, int(cfg.masters), int(cfg.trials), seed, C_u, C_v, device, progress
        )

    return cached_npz(root / "_cache" / f"p2_{key}.npz", compute)


def _mode_classifiers_unit(cfg: ExperimentConfig, out: str, seed: int, device: str) -> dict[str, Any]:
    """Work unit: train (or load) C_u, C_v (103) into ``out/_models``; returns their statistics."""
    with torch_threads(cfg.threads, device):
        return _classifiers(cfg, seed, device, Path(out))[2]


def _clone_labels_unit(cfg: ExperimentConfig, g: float, out: str, seed: int, device: str) -> dict[str, Any]:
    """Work unit: the clone labels of one g (:func:`_clone_labels`) with the model (trained by its unit) and
    C_u, C_v (stored by theirs) read from ``out``; returns the label arrays and the model's gate record."""
    root = Path(out)
    with torch_threads(cfg.threads, device):
        clf = _classifiers(cfg, seed, device, root)
        tm = gated_model(cfg, "main", g, 0, int(cfg.T), seed, device, root, cfg.classes)
        labels = _clone_labels(cfg, g, tm, clf, seed, device, root)
    return {"labels": labels, "model": gate_record(tm)}


def _p2_cost(cfg: ExperimentConfig) -> float:
    """Rough weight of one g's clone labelling for the overall ETA: about 3 ms per network row-evaluation
    (the quick U-Net on a 2-core CPU), M T for the masters and 2 M (k_s + 1) per scan step, per trial."""
    m, T = int(cfg.masters), int(cfg.T)
    return 3e-3 * int(cfg.trials) * (m * T + 2 * m * sum(k + 1 for k in _scan_steps(cfg)))


def _protocol2_units(name: str, cfg: ExperimentConfig, env: UnitEnv) -> list[Unit]:
    """Units of Fig. 10 / Fig. 11: the model trainings (:func:`model_units`), C_u and C_v (103), then one unit
    per g labelling that g's clones once its model and the classifiers are in.

    Their keys name what a result depends on, not the experiment, so Figs 10 and 11 share the units of the
    g values they have in common. A g is one unit: its trials share one clone-noise generator.
    """

    units = model_units(name, cfg, env)
    clf = Unit(
        _mode_classifiers_unit,
        (cfg, env.out, env.seed, env.device),
        "mode classifiers C_u, C_v",
        cost=10.0 * int(cfg.clf_steps) * int(cfg.clf_batch) / (150 * 64),
        key=digest({"unit": "mode-classifiers", "cfg": _classifier_config(cfg, env.seed), "device": env.device}),
    )
    T, classes, scan = int(cfg.T), tuple(int(c) for c in cfg.classes), _scan_steps(cfg)
    per_g = []
    for g in (float(g) for g in cfg.g_values):
        model = model_key(ModelUnit(cfg, "main", g, 0, T, classes), env.seed, env.device)
        key = {
            "unit": "p2-clone-labels",
            "format": FORMAT,
            "version": __version__,
            "model": model,
            "classifiers": clf.key,
            "g": g,
            "masters": cfg.masters,
            "trials": cfg.trials,
            "scan": scan,
            "seed": env.seed,
            "clip": cfg.clip_x0,
            "max_batch": cfg.max_batch,
            "device": env.device,
        }
        per_g.append(
            Unit(
                _clone_labels_unit,
                (cfg, g, env.out, env.seed, env.device),
                f"Protocol II clones g={g:g}",
                cost=_p2_cost(cfg),
                after=(model, clf.key),
                key=digest(key),
            )
        )
    return units + [clf] + per_g


def _protocol2_per_g(cfg: ExperimentConfig, results: list[Any], seed: int) -> tuple[dict[float, dict], dict]:
    """From the results of :func:`_protocol2_units` (in their order): per g the curves (104)-(106) of both
    modes, the bootstrap of the gap and the model's gate record; and the statistics of C_u, C_v."""
    n_g = len(cfg.g_values)
    cstats, labels = results[-n_g - 1], results[-n_g:]
    per_g: dict[float, dict] = {}
    for g, r in zip((float(g) for g in cfg.g_values), labels):
        arr = r["labels"]
        curves = {
            mode: speciation_curve(arr["scan_steps"], arr[f"clones_{mode}"], arr[f"master_{mode}"], float(cfg.phi_star))
            for mode in ("u", "v")
        }
        boot = speciation_gap_bootstrap(
            arr,
            float(cfg.phi_star),
            int(cfg.n_boot),
            np.random.default_rng(derive_seed(seed, "p2-bootstrap", f"{g:g}")),
        )
        per_g[g] = {"model": r["model"], "curves": curves, "evaluations": int(arr["evaluations"]), "gap_boot": boot}
    return per_g, cstats


def _protocol2_here(name: str, cfg: ExperimentConfig, ctx: RunContext) -> list[Any]:
    """Every unit of :func:`_protocol2_units` in this process, in turn (the experiment without a driver)."""
    env = UnitEnv(ctx.seed, ctx.device, str(out_root(ctx)))
    return [u() for u in ctx.progress(_protocol2_units(name, cfg, env), "units")]


def _interp_ou(k: float, schedule: VPSchedule) -> float:
    return step_ou_time(k, schedule) if np.isfinite(k) else float("nan")


#: why the paper's Protocol II cannot show a widening gap on MAIN pairs (issue 16, item 5; issue 20)
DIGIT_V_WHY = (
    "C_u and C_v are both trained on the digit label, and a MAIN pair (x, T(x)) holds one digit, so accurate "
    "classifiers give ŷ_u = ŷ_v and φ_u = φ_v at most scan steps: the gap is pinned near 0 at every g "
    "(tests/test_robustness_stats.py shows the degeneracy); v_label = order reads the difference mode instead"
)


def _gap_claims(per_g: dict[float, dict], T: int, v_label: str) -> list[Claim]:
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
                why=DIGIT_V_WHY if v_label == "digit" else "",
            )
        )
    return claims


def _p2_notes(cfg: ExperimentConfig, cstats: dict) -> list[str]:
    return (
        preset_notes(cfg)
        + common_notes(cfg)
        + [
            f"Two classes: digits {cfg.classes[0]} and {cfg.classes[1]} (MAIN pairs only). {cfg.trials} trial{'s' if cfg.trials != 1 else ''} × "
            f"{cfg.masters} master trajectories, whitened DDPM (102), T = {cfg.T}; two clones per master at each scan "
            "step, all clones of all scan steps in one batch.",
            f"Classifiers (sign-symmetrised logits (103)) held-out accuracy on real pairs: C_u {cstats['acc_u']:.3f}, "
            f"C_v {cstats['acc_v']:.3f} (n = {cstats['n_test']}).",
            "C_v reads the digit from v, as in (103): on MAIN pairs u and v carry the same digit, so accurate C_u and "
            "C_v label every end point alike and φ_u = φ_v wherever both are right (the gap cannot widen with g)."
            if cfg.v_label == "digit"
            else "C_v reads the A/B order of the pair from v (a sign-sensitive classifier): u is blind to the order, "
            "the order is independent of the digit, so φ_v measures when the difference mode commits.",
            "φ_indep = agreement of final samples of different master trajectories (independent by construction), "
            "over all cross-master pairs of masters' and clones' end points. 95% Wilson intervals for φ_m, mapped "
            "through (105); t_spec interval = crossings of the mapped lower/upper bounds (a lower bound that never "
            "reaches φ* in the scan range is taken as k = 0). t_spec in DDPM steps "
            "(reverse time: larger k = earlier); gap = t_spec^u − t_spec^v > 0 means u speciates first.",
        ]
    )


def assemble_fig10(cfg: ExperimentConfig, results: list[Any], ctx: RunContext) -> Result:
    """t_spec^u and t_spec^v (106) against g (Fig. 10), from the results of :func:`_protocol2_units`."""
    per_g, cstats = _protocol2_per_g(cfg, results, ctx.seed)
    schedule = linear_vp_schedule(int(cfg.T))  # the schedule of every model: OU time t of a DDPM step k
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
            lo, hi = t_spec_interval(c)
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
        _gap_claims(per_g, int(cfg.T), cfg.v_label),
        notes=gate_notes([d["model"] for d in per_g.values()]) + _p2_notes(cfg, cstats),
    )


def run_fig10(cfg: ExperimentConfig, ctx: RunContext) -> Result:
    """Fig. 10 in this process: every unit of :func:`_protocol2_units` in turn, then :func:`assemble_fig10`."""
    return assemble_fig10(cfg, _protocol2_here("fig10", cfg, ctx), ctx)


def assemble_fig11(cfg: ExperimentConfig, results: list[Any], ctx: RunContext) -> Result:
    """phi^ex_u(k), phi^ex_v(k) (105) with Wilson bands at g = 0 and g = 0.5 (Fig. 11), from the results of
    :func:`_protocol2_units`."""
    per_g, cstats = _protocol2_per_g(cfg, results, ctx.seed)
    schedule = linear_vp_schedule(int(cfg.T))
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
    headline: dict[str, Any] = {}  # the curves' own numbers (Fig. 10 holds the times' gap and its interval)
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
        u, v = (np.asarray(d["curves"][m].phi_ex, dtype=float) for m in ("u", "v"))
        parted = np.abs(u - v)[np.isfinite(u - v)]  # φ^ex is undefined where the independent-clone level is 1
        headline[f"max_phi_ex_u_minus_v_g{g:g}"] = float(parted.max()) if parted.size else None  # how far they part
    return Result(cols, headline, notes=gate_notes([d["model"] for d in per_g.values()]) + _p2_notes(cfg, cstats))


def run_fig11(cfg: ExperimentConfig, ctx: RunContext) -> Result:
    """Fig. 11 in this process: every unit of :func:`_protocol2_units` in turn, then :func:`assemble_fig11`."""
    return assemble_fig11(cfg, _protocol2_here("fig11", cfg, ctx), ctx)


EXPERIMENTS = [
    # Protocol II: units per g (shared by key between the two figures), result assembled by the driver
    mnist_experiment(
        "fig10",
        "Fig. 10 — cloning speciation times t_spec^u, t_spec^v vs g (Protocol II)",
        fig10_params,
        run_fig10,
        units=_protocol2_units,
        assemble=assemble_fig10,
    ),
    mnist_experiment(
        "fig11",
        "Fig. 11 — speciation curves φ^ex_u, φ^ex_v at g = 0 and 0.5 (Protocol II)",
        fig11_params,
        run_fig11,
        units=_protocol2_units,
        assemble=assemble_fig11,
    ),
]
