"""The §5 robustness study (issue 16): which of the paper's MNIST claims survive a longer training budget, another
transform T, and the other reading of the ghosting index (107).

Lineages (pairing, seed index, transform, g, T) are trained once each with the evidence preset's recipe; the
budget lineages (edge, g = 0, every seed) store their EMA weights at every rung of ``rungs`` on the way
(:func:`~.training.train_or_load` with ``save_at``: a longer budget continues a shorter one), the transform
lineages (seed 0) stop at ``transform_steps``. The models are the same as the evidence run's where the
recipe agrees: the 2,000-step rung of MAIN and CTRL at seeds 0 and 1 is the published evidence model, bit
for bit (before its fp16 export).

Every (lineage, rung) is then evaluated by one unit: the sample-quality gate, one logged DDIM batch (the same
start noise for MAIN and CTRL at a seed: common random numbers) giving the cosine curves (98) of both the x̂0
predictions and the states, and the memorisation ratio test of the gate's generated pairs against the
training pairs (:mod:`diffregimes.protocols.memorisation`) beside the same test on held-out real pairs. The
result assembles Table 1's claims and the ghosting claims per setting (rung, transform, reading) into a verdict
matrix, one row per claim × setting, each with its interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data import PairedMNIST, apply_transform
from ...protocols.memorisation import pair_memorisation
from ...protocols.stats import ratio_interval
from ...protocols.sync import CosineCurves, cosine_curves, crossing_step, gap_bootstrap, x0_trajectory
from ...seeds import derive_seed
from ...work import Unit, UnitEnv
from ..base import Experiment, Result, RunContext
from ..config import ExperimentConfig
from .channels import plain_channel_scores
from .common import images_for, torch_threads
from .gate import _split, digit_classifier, gate_model, gate_samples_path
from .ghosting import ghosting_claims, ghosting_stats
from .presets import SECTION, TrainingConfig, training_params
from .protocol1 import as_states
from .robustness_text import conclusions, verdict_table, what_was_run
from .schema import mnist_schema
from .table1 import _pooled_ratio, _table1_claims
from .training import TrainSpec, eps_function, load_model, model_seed, start_noise, train_or_load, train_spec

PAIRINGS = ("main", "ctrl")
GATE_KEYS = (
    "recognised",
    "recognised_lo",
    "recognised_hi",
    "recognised_real",
    "class_entropy",
    "class_entropy_real",
    "frechet",
    "frechet_real",
    "gate",
)
PLAIN_KEYS = (
    "plain_recognised",
    "plain_recognised_lo",
    "plain_recognised_hi",
    "plain_recognised_real",
    "plain_found_real",
    "finder_accuracy",
)


def robustness_params(preset: str) -> dict[str, Any]:
    """The study's parameters: ``robustness`` (the evidence recipe; rungs 2k, 4k, 8k × 64) or ``smoke`` (tests)."""
    full = preset == "robustness"
    p = training_params("evidence" if full else "smoke")
    p.update(
        {
            "gate_steps": None,
            "T": 200 if full else 30,
            "rungs": [2000, 4000, 8000] if full else [12, 24],
            "n_seeds": 2 if full else 1,
            "pairings": list(PAIRINGS),
            "transforms": ["edge", "invert", "dilate", "blur"] if full else ["edge", "invert"],
            "transform_steps": 2000 if full else 12,
            "taus": [0.90, 0.95, 0.98],
            "eval_batch": 64 if full else 4,
            "n_boot": 2000 if full else 100,
        }
    )
    return p


@dataclass(frozen=True)
class Lineage:
    """One training trajectory of the study and the budgets at which it is evaluated."""

    pairing: str
    seed_index: int
    transform: str
    rungs: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.pairing.upper()} seed#{self.seed_index} T={self.transform}"


def lineages(cfg: ExperimentConfig) -> list[Lineage]:
    """The budget lineages (edge, every seed, every rung), then the transform lineages (seed 0, one rung)."""
    out = [Lineage(p, s, "edge", tuple(cfg.rungs)) for s in range(cfg.n_seeds) for p in cfg.pairings]
    out += [Lineage(p, 0, t, (cfg.transform_steps,)) for t in cfg.transforms if t != "edge" for p in cfg.pairings]
    return out


def _spec(tc: TrainingConfig, lin: Lineage, T: int, steps: int, run_seed: int, device: str) -> TrainSpec:
    return train_spec(
        tc.replace(transform=lin.transform),
        lin.pairing,
        0.0,
        model_seed(run_seed, lin.seed_index),
        T,
        device,
        None,
        steps=steps,
    )


def train_lineage(tc: TrainingConfig, lin: Lineage, T: int, out: str, run_seed: int, device: str) -> dict[str, Any]:
    """Worker body: train one lineage to its last rung, storing the EMA weights of every rung on the way."""
    with torch_threads(tc.threads, device):
        top = _spec(tc, lin, T, max(lin.rungs), run_seed, device)
        tm = train_or_load(top, Path(out), device, tc.mnist_path, None, tc.checkpoint_every, save_at=lin.rungs)
    return {"label": lin.label, "key": tm.spec.key, "steps": tm.spec.steps}


def evaluate_rung(
    tc: TrainingConfig, lin: Lineage, steps: int, T: int, eval_batch: int, out: str, run_seed: int, device: str
) -> dict[str, Any]:
    """Worker body: the gate numbers, cosine curves (x̂0 and states) and memorisation of one (lineage, rung)."""
    root, tcl = Path(out), tc.replace(transform=lin.transform)
    with torch_threads(tc.threads, device):
        spec = _spec(tc, lin, T, steps, run_seed, device)
        tm = load_model(spec, root, device) or train_or_load(spec, root, device, tc.mnist_path)
        gate = gate_model(tm, tcl, root, device)
        z = start_noise(eval_batch, 0.0, derive_seed(run_seed, "mnist-eval", lin.seed_index), device)
        traj = x0_trajectory(eps_function(tm, tc.clip_x0, device), z, tm.schedule, keep_states=True)
        memo = _memorisation(tm, tcl, root, lin.pairing, device)
    states = as_states(traj)
    return {
        "key": spec.key,
        "gate": {k: gate[k] for k in GATE_KEYS},
        "x0": cosine_curves(traj).per_sample,
        "states": cosine_curves(states).per_sample,
        "steps": traj.steps,
        "state_steps": states.steps,
        **memo,
    }


def _memorisation(tm: Any, tc: TrainingConfig, root: Path, pairing: str, device: str) -> dict[str, Any]:
    """The ratio test on the gate's generated pairs against every training pair, and on held-out real pairs (the
    digit classifier's 20 % test split) against the pairs of the other 80 %: its false-positive floor."""
    _, cstats = digit_classifier(tc, root, device)
    with np.load(gate_samples_path(tm.spec, tc, root, cstats["key"]), allow_pickle=False) as f:
        generated = torch.from_numpy(f["x"])
    images, labels = images_for(tc.mnist_path, tm.spec.classes, tm.spec.n_images)
    gen = pair_memorisation(generated, images, apply_transform(tc.transform, images), pairing).fraction()
    train, test = _split(labels.numel())
    real = PairedMNIST(images[test], labels[test], tc.transform, pairing, derive_seed(0, "memo-real")).epoch(0).z0
    ref = images[train]
    real_m = pair_memorisation(real[: generated.shape[0]], ref, apply_transform(tc.transform, ref), pairing)
    return {"memorised": gen, "memorised_real": real_m.fraction()}


def evaluate_readings(
    tc: TrainingConfig,
    lin: Lineage,
    steps: int,
    T: int,
    eval_batch: int,
    out: str,
    run_seed: int,
    with_clip_off: bool,
    device: str,
) -> dict[str, Any]:
    """Worker body: the plain-digit channel's recognised fraction (:mod:`.channels`) of one (lineage, rung)
    and, with ``with_clip_off``, the x̂0 cosine curves of the evaluation batch (same start noise) with x̂0 left
    unclipped: the readings that need no training (issue 16, item 3)."""
    root, tcl = Path(out), tc.replace(transform=lin.transform)
    with torch_threads(tc.threads, device):
        spec = _spec(tc, lin, T, steps, run_seed, device)
        tm = load_model(spec, root, device) or train_or_load(spec, root, device, tc.mnist_path)
        gate_model(tm, tcl, root, device)  # the cached gate pairs the plain channel is read from
        res: dict[str, Any] = {"key": spec.key, **plain_channel_scores(tm, tcl, root, device)}
        if with_clip_off:
            z = start_noise(eval_batch, 0.0, derive_seed(run_seed, "mnist-eval", lin.seed_index), device)
            traj = x0_trajectory(eps_function(tm, None, device), z, tm.schedule)
            res |= {"x0_clip_off": cosine_curves(traj).per_sample, "steps": traj.steps}
    return res


def robustness_units(cfg: ExperimentConfig, env: UnitEnv) -> list[Unit]:
    """One training unit per lineage, then per (lineage, rung) an evaluation unit and a readings unit after it."""
    tc, units = TrainingConfig.of(cfg), []
    for lin in lineages(cfg):
        train = Unit(
            train_lineage,
            (tc, lin, cfg.T, env.out, env.seed, env.device),
            f"train {lin.label}",
            cost=30.0 * max(lin.rungs) * tc.batch / (300 * 32),
        )
        units.append(train)
        for steps in lin.rungs:
            units.append(
                Unit(
                    evaluate_rung,
                    (tc, lin, steps, cfg.T, cfg.eval_batch, env.out, env.seed, env.device),
                    f"evaluate {lin.label} at {steps}",
                    cost=20.0,
                    after=(train.key,),
                )
            )
            clip_off = lin.transform == "edge" and steps == cfg.transform_steps
            units.append(
                Unit(
                    evaluate_readings,
                    (tc, lin, steps, cfg.T, cfg.eval_batch, env.out, env.seed, clip_off, env.device),
                    f"readings {lin.label} at {steps}",
                    cost=6.0 if clip_off else 1.0,
                    after=(units[-1].key,),
                )
            )
    return units


def _settings(cfg: ExperimentConfig) -> list[tuple[str, str, int, int, str]]:
    """(label, transform, steps, seeds, variant) of every column of the verdict matrix. Variants: ``""`` (the
    evaluation as run), ``"clip-off"`` (x̂0 unclipped) and ``"batch16"`` (the first 16 images of each batch)."""
    out = [(f"{s} steps × {cfg.batch}", "edge", s, cfg.n_seeds, "") for s in cfg.rungs]
    out += [
        (f"T = {t}, {cfg.transform_steps} steps", t, cfg.transform_steps, 1, "") for t in cfg.transforms if t != "edge"
    ]
    if cfg.transform_steps in cfg.rungs:
        at = f"{cfg.transform_steps} steps × {cfg.batch}"
        out += [(f"{at}, x̂0 not clipped", "edge", cfg.transform_steps, cfg.n_seeds, "clip-off")]
        if cfg.eval_batch > SMALL_BATCH:
            out += [(f"{at}, evaluation batch {SMALL_BATCH}", "edge", cfg.transform_steps, cfg.n_seeds, "batch16")]
    return out


SMALL_BATCH = 16  # the evaluation batch of the paper's robustness check ("evaluation batch larger")


def _variant_curves(ev: dict, extra: dict, reading: str, variant: str) -> CosineCurves:
    if variant == "clip-off":
        return CosineCurves(np.asarray(extra["steps"]), {k: np.asarray(v) for k, v in extra["x0_clip_off"].items()})
    c = _curves(ev, reading)
    if variant == "batch16":
        return CosineCurves(c.steps, {k: v[:, :SMALL_BATCH] for k, v in c.per_sample.items()})
    return c


def assemble_robustness(cfg: ExperimentConfig, results: list[Any], ctx: RunContext) -> Result:
    """The budget rows, the verdict matrix (claim × setting) and the headline ratios."""
    evals: dict[tuple[str, int, str, int], tuple[dict, dict]] = {}
    it = iter(results)
    for lin in lineages(cfg):
        next(it)  # the training unit
        for steps in lin.rungs:
            evals[(lin.pairing, lin.seed_index, lin.transform, steps)] = (next(it), next(it))
    rng = np.random.default_rng(derive_seed(ctx.seed, "robustness-boot"))
    rows, matrix, numbers = _budget_rows(cfg, evals), [], []
    headline: dict[str, dict[str, list[float]]] = {
        "ratio_by_steps": {},
        "ratio_by_transform": {},
        "ratio_by_reading": {},
    }
    for label, transform, steps, n_seeds, variant in _settings(cfg):
        batch = SMALL_BATCH if variant == "batch16" else cfg.eval_batch
        for reading in ("x0",) if variant else ("x0", "states"):
            curves = {
                (p, 0.0): [_variant_curves(*evals[(p, s, transform, steps)], reading, variant) for s in range(n_seeds)]
                for p in cfg.pairings
            }
            claims = []
            if reading == "x0":  # Table 1's Δt is defined on x̂0 (98)-(100)
                boot = gap_bootstrap(curves, cfg.taus, n_seeds, batch, cfg.n_boot, rng)
                ratio = {
                    t: ratio_interval(
                        boot[("main", 0.0, t)][3],
                        boot[("ctrl", 0.0, t)][3],
                        boot[("main", 0.0, t)][0],
                        boot[("ctrl", 0.0, t)][0],
                    )
                    for t in cfg.taus
                }
                pooled = _pooled_ratio(boot, [0.0], cfg.taus)
                claims += _table1_claims(boot, ratio, pooled, list(cfg.pairings), [0.0], cfg.taus)
                by, at = (
                    ("ratio_by_reading", variant)
                    if variant
                    else ("ratio_by_steps", str(steps))
                    if transform == "edge"
                    else ("ratio_by_transform", transform)
                )
                headline[by][at] = [round(float(v), 3) for v in pooled]
            ghost = ghosting_stats(curves[("main", 0.0)][0], curves[("ctrl", 0.0)][0], cfg.n_boot, rng)
            claims += ghosting_claims(ghost, cfg.T)
            where = f"{label}, (107) on {'x̂0' if reading == 'x0' else 'states'}"
            matrix += [
                {"claim": c.claim, "setting": where, "verdict": c.verdict, "interval": c.interval, "ours": c.ours}
                for c in claims
            ]
            numbers.append(
                {"setting": where, "transform": transform, "steps": steps, "variant": variant, "reading": reading}
                | {k: [round(float(x), 4) for x in v] for k, v in ghost.items()}
                | ({"ratio": headline[by][at]} if reading == "x0" else {})
            )
    columns = {k: [r[k] for r in rows] for k in rows[0]} if rows else {}
    return Result(
        columns,
        headline,
        (),
        tables=[verdict_table(matrix)],
        records={"budget": rows, "matrix": matrix, "settings": numbers},
        notes=[what_was_run(cfg), *conclusions(rows, numbers, matrix), _NOTE, *_gate_lines(rows)],
    )


def _curves(ev: dict, reading: str) -> CosineCurves:
    steps = ev["steps"] if reading == "x0" else ev["state_steps"]
    return CosineCurves(np.asarray(steps), {k: np.asarray(v) for k, v in ev[reading].items()})


def _budget_rows(cfg: ExperimentConfig, evals: dict) -> list[dict[str, Any]]:
    rows = []
    for (pairing, seed, transform, steps), (ev, extra) in sorted(
        evals.items(), key=lambda kv: (kv[0][2], kv[0][3], kv[0][1], kv[0][0])
    ):
        c = _curves(ev, "x0")
        cu, cv = c.mean("u"), c.mean("v")
        row = {"pairing": pairing, "seed": seed, "transform": transform, "steps": steps, "key": ev["key"]}
        row |= {k: ev["gate"][k] for k in GATE_KEYS}
        for t in cfg.taus:
            tu, tv = crossing_step(cu, c.steps, t), crossing_step(cv, c.steps, t)
            row[f"dt_{t:g}"] = float("nan") if tu is None or tv is None else float(tv - tu)
        row["memorised"], row["memorised_lo"], row["memorised_hi"] = ev["memorised"]
        row["memorised_real"] = ev["memorised_real"][0]
        row |= {k: extra[k] for k in PLAIN_KEYS}
        rows.append(row)
    return rows


def _gate_lines(rows: list[dict[str, Any]]) -> list[str]:
    bad = [
        f"{r['pairing'].upper()} seed#{r['seed']} {r['transform']} {r['steps']}: {r['gate']}"
        for r in rows
        if r["gate"] != "pass"
    ]
    return [f"Models not passing the gate outright: {'; '.join(bad)}."] if bad else ["Every model passes the gate."]


_NOTE = (
    "Settings: the budget rungs use MAIN and CTRL at g = 0 with the edge transform, every seed; the transform "
    "settings seed 0 at the first rung. Each claim is decided by its interval (holds / fails / inconclusive). "
    "(107) on x̂0 reads the predictions x̂0(k) (what Table 1 uses); on states it reads z_k itself (what Fig. 8 "
    "shows). A copy is a generated pair whose nearest training pair is < 1/3 as far as the second nearest. "
    "What each transform does to the modes of a MAIN pair (u = (x_A + x_B)/√2, v = (x_A − x_B)/√2): edge "
    "(Sobel outline) keeps the digit in both u and v; invert (x_B = 1 − x_A) makes x_A + x_B = 1, so u is a "
    "constant and v carries the whole digit; dilate (x_B ≥ x_A) leaves in v only the one-pixel ring the dilation "
    "adds, u is a thick digit; blur leaves in v only the fine detail the blur removes, u is the digit. In CTRL "
    "the two channels are different digits under every transform."
)


def run_robustness(cfg: ExperimentConfig, ctx: RunContext) -> Result:
    """The study in this process: every unit of :func:`robustness_units` in turn, then the assembly."""
    env = UnitEnv(ctx.seed, ctx.device, str(ctx.run_dir.path.parent))
    return assemble_robustness(cfg, [u() for u in robustness_units(cfg, env)], ctx)


EXPERIMENTS = [
    Experiment(
        "robustness",
        "§5 robustness — the claims against training budget, transform and reading",
        SECTION,
        robustness_params,
        run_robustness,
        presets=("smoke", "robustness"),
        schema=mnist_schema(robustness_params),
        units=robustness_units,
        assemble=assemble_robustness,
    )
]
