"""The MNIST models as work units, and the gated model an experiment evaluates.

Each model lineage (pairing, g, seed index, T, classes) is one unit (:func:`model_units`): a pure function of
its small, picklable description that trains the model to its gate budget (:func:`.gate.train_until_gate`)
and keeps its files under ``<out>/_models`` and ``<out>/_cache`` (atomically, keyed by the model's cache
key), so several train side by side on any executor and the MNIST experiments then find every model in the
cache. A model trained by a worker therefore needs ``--out`` on a file system the experiments' workers share
(one machine, or a cluster's shared disk). Interrupting loses at most ``checkpoint_every`` steps per model:
a rerun resumes each lineage from its training state. The records and notes every MNIST report shows about
its models (gate numbers, the models table) are made here too.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...runstore import digest
from ...work import Unit, UnitEnv
from ..base import Experiment, RunContext
from ..config import ExperimentConfig
from .common import out_root
from .gate import digit_classifier, train_until_gate
from .presets import MNIST_PRESETS, SECTION, TrainingConfig
from .schema import mnist_schema
from .training import TrainedModel, model_seed, train_spec


@dataclass(frozen=True)
class ModelUnit:
    """One model to train: its training parameters and identity."""

    params: TrainingConfig
    pairing: str
    g: float
    seed_index: int
    T: int
    classes: tuple[int, ...] | None

    @property
    def label(self) -> str:
        cls = "" if self.classes is None else f" classes {','.join(map(str, self.classes))}"
        return f"{self.pairing.upper()} g={self.g:g} seed#{self.seed_index}{cls}"


def models_needed(name: str, cfg: ExperimentConfig) -> list[ModelUnit]:
    """The models the MNIST experiment ``name`` trains or loads for its parameters ``cfg``, in training order."""
    T, tc = int(cfg.T), TrainingConfig.of(cfg)
    if name == "table1":
        return [
            ModelUnit(tc, pairing, float(g), s, T, None)
            for s in range(int(cfg.n_seeds))
            for g in sorted(cfg.g_values, reverse=True)
            for pairing in cfg.pairings
        ]
    if name == "fig6":
        return [ModelUnit(tc, pairing, float(g), 0, T, None) for pairing in cfg.pairings for g in cfg.g_values]
    if name in ("fig7", "fig9"):
        return [ModelUnit(tc, pairing, float(cfg.g), 0, T, None) for pairing in cfg.pairings]
    if name == "fig8":
        return [ModelUnit(tc, cfg.pairing, float(cfg.g), 0, T, None)]
    if name in ("fig10", "fig11"):
        cls = tuple(int(c) for c in cfg.classes)
        return [ModelUnit(tc, "main", float(g), 0, T, cls) for g in cfg.g_values]
    raise ValueError(f"not an MNIST experiment: {name!r}")


def model_key(unit: ModelUnit, run_seed: int, device: str) -> str:
    """Key of a model unit: the model's lineage (its training, without the budget), its gate ladder and
    the published weights it may load, so that experiments sharing a model share one unit."""
    cfg = unit.params
    spec = train_spec(cfg, unit.pairing, unit.g, model_seed(run_seed, unit.seed_index), unit.T, device, unit.classes)
    return digest(
        {
            "lineage": spec.lineage,
            "gate_steps": cfg.gate_steps,
            "models_dir": cfg.models_dir,
            "gate": cfg.gate_pairs,
        }
    )


def classifier_unit(cfg: TrainingConfig, env: UnitEnv) -> Unit:
    """The gate's digit classifier, trained once before the model units need it."""
    return Unit(
        train_digit_classifier,
        (cfg, env.out, env.device),
        label="digit classifier",
        cost=5.0,
        key=digest({"digit_classifier": cfg.mnist_path, "steps": cfg.digit_clf_steps, "device": env.device}),
    )


def model_units(name: str, cfg: ExperimentConfig, env: UnitEnv) -> list[Unit]:
    """The units of MNIST experiment ``name``: the gate's classifier, then one per model it needs.

    Cost (for the overall ETA) is the training budget in units of the quick preset's 300 x 32 samples.
    """
    clf = classifier_unit(TrainingConfig.of(cfg), env)
    budget = (max(cfg.gate_steps or [0]) or int(cfg.train_steps or 0)) * int(cfg.batch) / (300 * 32)
    units = [clf]
    for m in models_needed(name, cfg):
        units.append(
            Unit(
                train_model,
                (m, env.out, env.seed, env.device),
                label=f"train {m.label}",
                cost=30.0 * max(budget, 0.1),
                after=(clf.key,),
                key=model_key(m, env.seed, env.device),
            )
        )
    return units


def train_digit_classifier(cfg: TrainingConfig, out: str, device: str) -> dict[str, Any]:
    """Worker body: train (or load) the gate's digit classifier into ``out``; returns its statistics."""
    _, stats = digit_classifier(cfg, Path(out), device)
    return {k: v for k, v in stats.items() if isinstance(v, (int, float, str, bool))}


def train_model(unit: ModelUnit, out: str, run_seed: int, device: str) -> dict[str, Any]:
    """Worker body: train one model to its gate budget; returns its gate ladder (picklable)."""
    t0 = time.perf_counter()
    tm, gate, tried = train_until_gate(
        unit.params,
        unit.pairing,
        unit.g,
        model_seed(run_seed, unit.seed_index),
        unit.T,
        device,
        Path(out),
        unit.classes,
        None,
    )
    return {
        "label": unit.label,
        "key": tm.spec.key,
        "steps": tm.spec.steps,
        "wall_s": time.perf_counter() - t0,
        "passes_gate": gate["passes_gate"],
        "ladder": [
            {k: r[k] for k in ("steps", "recognised", "recognised_real", "class_entropy", "frechet", "passes_gate")}
            for r in tried
        ],
    }


def model_for(
    cfg: ExperimentConfig,
    pairing: str,
    g: float,
    seed_index: int,
    T: int,
    ctx: RunContext,
    classes: list[int] | None = None,
) -> TrainedModel:
    """The (cached) model of (pairing, g, seed index), trained to its gate budget; its gate record
    is attached as ``stats["gate"]``."""
    return gated_model(cfg, pairing, g, seed_index, T, ctx.seed, ctx.device, out_root(ctx), classes, ctx.progress)


def gated_model(
    cfg: ExperimentConfig,
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
    """:func:`model_for` without a run context: run seed, device and output root given (in a work unit)."""
    tc = TrainingConfig.of(cfg)
    tm, gate, tried = train_until_gate(tc, pairing, g, model_seed(seed, seed_index), T, device, root, classes, progress)
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


def gate_record(m: TrainedModel) -> dict[str, Any]:
    """What :func:`gate_notes` reads of a model (small and picklable: a work unit returns it)."""
    return {"key": m.spec.key, "label": m.spec.label, "gate": m.stats["gate"]}


def gate_notes(models: list[TrainedModel] | list[dict[str, Any]]) -> list[str]:
    """The section's first line: whether its models (or their :func:`gate_record`) pass the sample-quality gate."""
    records = [m if isinstance(m, dict) else gate_record(m) for m in models]
    recs = {r["key"]: r["gate"] for r in records}
    failing = [r["label"] for r in records if not r["gate"]["passes_gate"]]
    rec_ratio = [r["recognised"] / r["recognised_real"] for r in recs.values() if r["recognised_real"] > 0]
    lo, hi = (f"{min(rec_ratio):.2f}", f"{max(rec_ratio):.2f}") if rec_ratio else ("", "")
    span = "" if not rec_ratio else f"recognised/real {lo}" if lo == hi else f"recognised/real {lo}–{hi}"
    marginal = sorted({r["label"] for r in records if r["gate"].get("gate") == "marginal"})
    rule = "the gate needs the 95 % interval of recognised/real ≥ 0.70 and class entropy ≥ 0.90 × real"
    if failing:
        return [
            f"PIPELINE CHECK, NOT EVIDENCE: {len(failing)} of {len(recs)} models fail the sample-quality gate "
            f"({span}; {rule}): {', '.join(sorted(set(failing)))}."
        ]
    if marginal:
        return [
            f"{len(recs) - len(marginal)} of {len(recs)} models pass the sample-quality gate and {len(marginal)} "
            f"{'is' if len(marginal) == 1 else 'are'} marginal, the interval of recognised/real straddling 0.70 "
            f"({span}; {rule}): {', '.join(marginal)}. The verdicts stand, but rest in part on a model at the edge "
            "of the gate: read them as the weaker evidence."
        ]
    n = "Both" if len(recs) == 2 else f"All {len(recs)}" if len(recs) > 1 else "The"
    return [f"{n} model{'s' if len(recs) != 1 else ''} pass the sample-quality gate ({span}; {rule})."]


def model_record(m: TrainedModel) -> dict[str, Any]:
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


def train_table(models: list[TrainedModel]) -> dict[str, Any]:
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


def mnist_experiment(
    name: str,
    title: str,
    params: Any,
    run: Any,
    *,
    units: Any = None,
    after: tuple[str, ...] = (),
    assemble: Any = None,
) -> Experiment:
    """The declaration of an MNIST experiment: its presets, schema (from ``params``) and units (``units(name,
    cfg, env)``, default :func:`model_units`: its models' trainings)."""
    return Experiment(
        name,
        title,
        SECTION,
        params,
        run,
        presets=MNIST_PRESETS,
        schema=mnist_schema(params),
        units=functools.partial(units or model_units, name),
        after=after,
        assemble=assemble,
    )
