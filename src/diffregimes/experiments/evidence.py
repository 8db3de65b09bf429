"""The MNIST models as work units, and the publishing of an evidence run.

Each model lineage (pairing, g, seed index, T, classes) is one unit (:func:`model_unit`): a pure function
of its small, picklable description that trains the model to its gate budget
(:func:`.mnist_gate.train_until_gate`) and keeps its files under ``<out>/_models`` and ``<out>/_cache``
(atomically, keyed by the model's cache key), so several train side by side on any executor and the MNIST
experiments then find every model in the cache. A model trained by a worker therefore needs ``--out`` on a
file system the experiments' workers share (one machine, or a cluster's shared disk). Interrupting loses at
most ``checkpoint_every`` steps per model: a rerun resumes each lineage from its training state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..runstore import digest
from ..work import Unit, UnitEnv
from .mnist_common import model_seed, resolve_threads, train_spec


@dataclass(frozen=True)
class ModelUnit:
    """One model to train: its experiment parameters and identity."""

    params: dict[str, Any]
    pairing: str
    g: float
    seed_index: int
    T: int
    classes: tuple[int, ...] | None

    @property
    def label(self) -> str:
        cls = "" if self.classes is None else f" classes {','.join(map(str, self.classes))}"
        return f"{self.pairing.upper()} g={self.g:g} seed#{self.seed_index}{cls}"


def models_needed(name: str, p: dict[str, Any]) -> list[ModelUnit]:
    """The models the MNIST experiment ``name`` trains or loads for its parameters ``p``, in training order."""
    T = int(p["T"])
    if name == "table1":
        return [
            ModelUnit(p, pairing, float(g), s, T, None)
            for s in range(int(p["n_seeds"]))
            for g in sorted(p["g_values"], reverse=True)
            for pairing in p["pairings"]
        ]
    if name == "fig6":
        return [ModelUnit(p, pairing, float(g), 0, T, None) for pairing in p["pairings"] for g in p["g_values"]]
    if name in ("fig7", "fig9"):
        return [ModelUnit(p, pairing, float(p["g"]), 0, T, None) for pairing in p["pairings"]]
    if name == "fig8":
        return [ModelUnit(p, p["pairing"], float(p["g"]), 0, T, None)]
    if name in ("fig10", "fig11"):
        cls = tuple(int(c) for c in p["classes"])
        return [ModelUnit(p, "main", float(g), 0, T, cls) for g in p["g_values"]]
    raise ValueError(f"not an MNIST experiment: {name!r}")


MNIST_EXPERIMENTS = ("table1", "fig6", "fig7", "fig8", "fig9", "fig10", "fig11")


def preset_models(preset: str, overrides: dict[str, Any] | None = None) -> list[ModelUnit]:
    """Every distinct model the MNIST experiments of ``preset`` need (``overrides`` applied to each)."""
    from . import mnist

    found: dict[tuple, ModelUnit] = {}
    for name in MNIST_EXPERIMENTS:
        p = {**getattr(mnist, f"{name}_params")(preset), **(overrides or {})}
        for m in models_needed(name, p):
            found.setdefault((m.pairing, m.g, m.seed_index, m.T, m.classes), m)
    return list(found.values())


def model_key(unit: ModelUnit, run_seed: int, device: str) -> str:
    """Key of a model unit: the model's lineage (its training, without the budget), its gate ladder and
    the published weights it may load, so that experiments sharing a model share one unit."""
    p = unit.params
    spec = train_spec(p, unit.pairing, unit.g, model_seed(run_seed, unit.seed_index), unit.T, device, unit.classes)
    return digest(
        {
            "lineage": spec.lineage,
            "gate_steps": p.get("gate_steps"),
            "models_dir": p.get("models_dir"),
            "gate": p["gate_pairs"],
        }
    )


def classifier_unit(p: dict[str, Any], env: UnitEnv) -> Unit:
    """The gate's digit classifier, trained once before the model units need it."""
    return Unit(
        train_digit_classifier,
        (p, env.out, env.device),
        label="digit classifier",
        cost=5.0,
        key=digest({"digit_classifier": p["mnist_path"], "steps": p["digit_clf_steps"], "device": env.device}),
    )


def model_units(name: str, p: dict[str, Any], env: UnitEnv) -> list[Unit]:
    """The units of MNIST experiment ``name``: the gate's classifier, then one per model it needs.

    Cost (for the overall ETA) is the training budget in units of the quick preset's 300 x 32 samples.
    """
    clf = classifier_unit(p, env)
    budget = (max(p.get("gate_steps") or [0]) or int(p["train_steps"] or 0)) * int(p["batch"]) / (300 * 32)
    units = [clf]
    for m in models_needed(name, p):
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


def train_digit_classifier(p: dict[str, Any], out: str, device: str) -> dict[str, Any]:
    """Worker body: train (or load) the gate's digit classifier into ``out``; returns its statistics."""
    from .mnist_gate import digit_classifier

    _, stats = digit_classifier(p, Path(out), device)
    return {k: v for k, v in stats.items() if isinstance(v, (int, float, str, bool))}


def train_model(unit: ModelUnit, out: str, run_seed: int, device: str) -> dict[str, Any]:
    """Worker body: train one model to its gate budget; returns its gate ladder (picklable)."""
    from .mnist_gate import train_until_gate

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


def publish(
    out: Path,
    dest: Path,
    preset: str,
    run_seed: int = 0,
    command: str = "",
    wall_s: float | None = None,
    device: str = "cpu",
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Copy a finished MNIST run of ``out`` to ``dest`` for the repository: report (Markdown, HTML, figures),
    each experiment's summary.json and data.csv, every model's EMA weights as fp16 safetensors under
    ``dest/models`` (see :mod:`.mnist_publish`), and ``dest/summary.json`` with keys ``models``, ``table1``,
    ``claims``, ``command``, ``wall_s`` and ``machine``. ``overrides`` are the MNIST parameter overrides of
    the run (e.g. ``models_dir``), so that each model is the one the experiments used."""
    import json
    import platform
    import shutil

    from ..atomic import atomic_write_bytes
    from ..runstore import read_json
    from .mnist_gate import train_until_gate
    from .mnist_publish import export_model, published_name

    out, dest = Path(out), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    claims, table1, models = [], [], []
    published_dirs: dict[str, str] = {}  # run directory -> its name under dest
    for name in ("table1", "fig6", "fig7", "fig8", "fig9", "fig10", "fig11"):
        # runs with overrides (e.g. --models) live in <name>-<hash of the overrides>: take the newest
        runs = [r for r in (out / name, *out.glob(f"{name}-*")) if (r / "summary.json").exists()]
        if not runs:
            continue
        run = max(runs, key=lambda r: (r / "summary.json").stat().st_mtime)
        summary = read_json(run / "summary.json")
        (dest / name).mkdir(exist_ok=True)
        published_dirs[run.name] = name
        for f in [run / "summary.json", run / "data.csv", *sorted(run.glob("*.png"))]:
            shutil.copy2(f, dest / name / f.name)
        claims += [
            {
                "experiment": name,
                "claim": c["claim"],
                "paper": c["paper"],
                "ours": c["ours"],
                "interval": c.get("interval", ""),
                "verdict": c.get("verdict"),
            }
            for c in summary["claims"]
        ]
        if name == "table1":
            table1 = summary.get("records", {}).get("table1", [])
    if (out / "report.html").exists():  # self-contained: figures embedded
        shutil.copy2(out / "report.html", dest / "report.html")
    if (out / "report.md").exists():
        atomic_write_bytes(
            dest / "report.md", _relink((out / "report.md").read_text(encoding="utf-8"), published_dirs).encode()
        )
    (dest / "models").mkdir(exist_ok=True)
    for unit in preset_models(preset, overrides):
        tm, gate, tried = train_until_gate(
            unit.params, unit.pairing, unit.g, model_seed(run_seed, unit.seed_index), unit.T, device, out, unit.classes
        )
        path = export_model(tm, dest / "models" / published_name(tm.spec, unit.seed_index), gate)
        models.append(
            {
                "pairing": unit.pairing,
                "g": unit.g,
                "seed": unit.seed_index,
                "classes": unit.classes,
                "steps": tm.spec.steps,
                "batch": tm.spec.batch,
                "recognised": gate["recognised"],
                "recognised_real": gate["recognised_real"],
                "class_entropy": gate["class_entropy"],
                "class_entropy_real": gate["class_entropy_real"],
                "frechet": gate["frechet"],
                "frechet_real": gate["frechet_real"],
                "passes_gate": gate["passes_gate"],
                "ladder": [
                    {"steps": r["steps"], "recognised": r["recognised"], "passes_gate": r["passes_gate"]} for r in tried
                ],
                "file": f"models/{path.name}",
                "key": tm.spec.key,
            }
        )
    machine = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cores": resolve_threads(None),
        "cpu": _cpu_name(),
        "device": device,
    }
    summary = {
        "preset": preset,
        "command": command,
        "wall_s": wall_s,
        "machine": machine,
        "models": models,
        "table1": table1,
        "claims": claims,
    }
    atomic_write_bytes(dest / "summary.json", (json.dumps(summary, indent=2, default=str) + "\n").encode())
    return dest


def _relink(markdown: str, published_dirs: dict[str, str]) -> str:
    """The report's figure links, which name the run directories (``fig10-<hash of the overrides>/``), pointed at
    the directories they are published under (``fig10/``)."""
    for run_name, name in published_dirs.items():
        markdown = markdown.replace(f"]({run_name}/", f"]({name}/")
    return markdown


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def save_progress(
    out: Path, dest: Path, preset: str = "evidence", run_seed: int = 0, device: str = "cpu"
) -> dict[str, list]:
    """Make an unfinished pretraining resumable from the repository (another session, another machine).

    Every model that is trained and gated at the budget where it passes (or at the last rung of the
    ladder) is exported to ``dest/models`` as fp16 safetensors (:mod:`.mnist_publish`), and the training
    state of every other lineage that has one is copied to ``dest/resume``. To continue: copy
    ``dest/resume/*.state.pt`` into ``<out>/_models/`` and rerun ``reproduce --preset evidence --workers 2
    --models dest/models``. Trains nothing; returns {"exported": [...], "resume": [...]}.
    """
    import shutil

    from .mnist_common import load_model, state_path, train_spec
    from .mnist_gate import digit_classifier, gate_model, gate_samples_path
    from .mnist_publish import export_model, published_name

    out, dest = Path(out), Path(dest)
    done: dict[str, list] = {"exported": [], "resume": []}
    for unit in preset_models(preset):
        p, seed = unit.params, model_seed(run_seed, unit.seed_index)
        _, cstats = digit_classifier(p, out, device)
        finished = None
        for steps in p.get("gate_steps") or [p["train_steps"]]:
            spec = train_spec(p, unit.pairing, unit.g, seed, unit.T, device, unit.classes, steps=steps)
            tm = load_model(spec, out, device)
            if tm is None or not gate_samples_path(spec, p, out, cstats["key"]).exists():
                break
            gate = gate_model(tm, p, out, device)
            finished = (tm, gate)
            if gate["passes_gate"]:
                break
        last = (p.get("gate_steps") or [p["train_steps"]])[-1]
        if finished is not None and (finished[1]["passes_gate"] or finished[0].spec.steps == last):
            path = export_model(
                finished[0], dest / "models" / published_name(finished[0].spec, unit.seed_index), finished[1]
            )
            done["exported"].append(path.name)
            continue
        state = state_path(out, train_spec(p, unit.pairing, unit.g, seed, unit.T, device, unit.classes))
        if state.exists():
            (dest / "resume").mkdir(parents=True, exist_ok=True)
            shutil.copy2(state, dest / "resume" / state.name)
            done["resume"].append(f"{unit.label}: {state.name}")
    return done
