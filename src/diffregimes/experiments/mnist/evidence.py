"""The evidence run's publishing: a finished MNIST run copied into the repository (report, each experiment's
summary and data, every model's weights as fp16 safetensors, one summary.json), and the resumable export of
an unfinished pretraining. Top of the MNIST package: it knows every experiment's presets.
"""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path
from typing import Any

import torch

from ...atomic import atomic_write_bytes
from ...runstore import read_json
from ..config import typed
from . import cloning, ghosting, intervention, table1
from .common import resolve_threads
from .gate import digit_classifier, gate_model, gate_samples_path, train_until_gate
from .models import ModelUnit, models_needed
from .training import load_model, model_seed, state_path, train_spec
from .weights import CLASSIFIER_FILE, export_classifier, export_model, published_name

#: every MNIST experiment, in report order
MNIST_EXPERIMENTS = [*table1.EXPERIMENTS, *ghosting.EXPERIMENTS, *intervention.EXPERIMENTS, *cloning.EXPERIMENTS]


def preset_models(preset: str, overrides: dict[str, Any] | None = None) -> list[ModelUnit]:
    """Every distinct model the MNIST experiments of ``preset`` need (``overrides`` applied to each)."""
    found: dict[tuple, ModelUnit] = {}
    for exp in MNIST_EXPERIMENTS:
        cfg = exp.config.preset(preset, **(overrides or {}))
        for m in models_needed(exp.name, cfg):
            found.setdefault((m.pairing, m.g, m.seed_index, m.T, m.classes), m)
    return list(found.values())


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
    ``dest/models`` (see :mod:`.weights`), and ``dest/summary.json`` with keys ``models``, ``table1``,
    ``claims``, ``command``, ``wall_s`` and ``machine``. ``overrides`` are the MNIST parameter overrides of
    the run (e.g. ``models_dir``), so that each model is the one the experiments used."""
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
    paths = {str(out.resolve()): "."}
    if overrides and overrides.get("models_dir"):
        paths[str(Path(overrides["models_dir"]).resolve())] = "models"
    for report in ("report.md", "report.html"):  # the HTML is self-contained: figures embedded
        if (out / report).exists():
            text = _relink((out / report).read_text(encoding="utf-8"), published_dirs, paths)
            atomic_write_bytes(dest / report, text.encode())
    (dest / "models").mkdir(exist_ok=True)
    units = preset_models(preset, overrides)
    if units:  # the gate's classifier beside the models: a re-run gates them with the same network
        clf, cstats = digit_classifier(units[0].params, out, device)
        export_classifier(clf, cstats["key"], _plain(cstats), dest / "models" / CLASSIFIER_FILE)
    for unit in units:
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
                "gate": gate.get("gate"),
                "ladder": [
                    {"steps": r["steps"], "recognised": r["recognised"], "passes_gate": r["passes_gate"]} for r in tried
                ],
                "file": f"models/{path.name}",
                "key": tm.spec.key,
            }
        )
    summary = {
        "preset": preset,
        "command": command,
        "wall_s": wall_s,
        "machine": _machine(device),
        "models": models,
        "table1": table1,
        "claims": claims,
    }
    atomic_write_bytes(dest / "summary.json", (json.dumps(summary, indent=2, default=str) + "\n").encode())
    return dest


def _machine(device: str) -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cores": resolve_threads(None),
        "cpu": _cpu_name(),
        "device": device,
    }


def _newest_run(out: Path, name: str) -> Path | None:
    """The finished run of experiment ``name`` under ``out`` (with overrides: ``<name>-<hash>``; the newest)."""
    runs = [r for r in (out / name, *out.glob(f"{name}-*")) if (r / "summary.json").exists()]
    return max(runs, key=lambda r: (r / "summary.json").stat().st_mtime) if runs else None


def publish_robustness(out: Path, dest: Path, run_seed: int, command: str, wall_s: float | None, device: str) -> Path:
    """Copy a finished robustness study (:mod:`.robustness`) of ``out`` to ``dest``: its summary, data and figure
    under ``dest/robustness``, the report, the model of every (lineage, rung) as fp16 safetensors under
    ``dest/models`` (``<pairing>_<transform>_seed<i>_<steps>.safetensors``, gate record inside) beside the gate's
    digit classifier, and ``dest/summary.json`` with keys ``budget``, ``matrix``, ``settings``, ``models``,
    ``command``, ``wall_s`` and ``machine``."""
    from . import robustness

    run = _newest_run(out, "robustness")
    if run is None:
        raise FileNotFoundError(f"no finished robustness run under {out}")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "robustness").mkdir(parents=True, exist_ok=True)
    for f in [run / "summary.json", run / "data.csv", *sorted(run.glob("*.png"))]:
        shutil.copy2(f, dest / "robustness" / f.name)
    for report in ("report.md", "report.html"):
        if (out / report).exists():
            text = _relink(
                (out / report).read_text(encoding="utf-8"), {run.name: "robustness"}, {str(out.resolve()): "."}
            )
            atomic_write_bytes(dest / report, text.encode())
    summary = read_json(run / "summary.json")
    cfg = typed(robustness.EXPERIMENTS[0], read_json(run / "config.json")["params"])
    tc = robustness.TrainingConfig.of(cfg)
    (dest / "models").mkdir(exist_ok=True)
    clf, cstats = digit_classifier(tc, out, device)
    export_classifier(clf, cstats["key"], _plain(cstats), dest / "models" / CLASSIFIER_FILE)
    models = []
    for row in summary["records"]["budget"]:
        lin = robustness.Lineage(row["pairing"], int(row["seed"]), row["transform"], (int(row["steps"]),))
        spec = robustness._spec(tc, lin, int(cfg.T), int(row["steps"]), run_seed, device)
        tm = load_model(spec, out, device)
        if tm is None:
            raise FileNotFoundError(f"model {spec.label} ({spec.key}) is missing from {out / '_models'}")
        name = f"{lin.pairing}_{lin.transform}_seed{lin.seed_index}_{spec.steps}.safetensors"
        gate = {k: row[k] for k in robustness.GATE_KEYS}
        export_model(tm, dest / "models" / name, gate)
        models.append({"file": f"models/{name}", "key": spec.key, "label": lin.label, "steps": spec.steps})
    records = summary.get("records", {})
    out_summary = {
        "preset": "robustness",
        "command": command,
        "wall_s": wall_s,
        "machine": _machine(device),
        "budget": records.get("budget", []),
        "matrix": records.get("matrix", []),
        "settings": records.get("settings", []),
        "notes": summary.get("notes", []),
        "models": models,
    }
    atomic_write_bytes(dest / "summary.json", (json.dumps(out_summary, indent=2, default=str) + "\n").encode())
    return dest


def _plain(stats: dict[str, Any]) -> dict[str, Any]:
    """The JSON-plain numbers of a classifier's statistics (what its published file records)."""
    return {
        k: v for k, v in stats.items() if isinstance(v, (int, float, str, bool)) and k not in ("cached", "published")
    }


def _relink(markdown: str, published_dirs: dict[str, str], paths: dict[str, str] | None = None) -> str:
    """The report as published: every mention of a run directory (``fig10-<hash of the overrides>``: figure links,
    anchors, "results in ...") by the name it is published under (``fig10``), and the build machine's absolute
    ``paths`` by their published names (e.g. the models folder by ``models``)."""
    for run_name, name in published_dirs.items():
        markdown = markdown.replace(f"{run_name}/", f"{name}/").replace(f"#{run_name}", f"#{name}")
        markdown = markdown.replace(f'id="{run_name}"', f'id="{name}"').replace(f"id='{run_name}'", f"id='{name}'")
    for path, name in sorted((paths or {}).items(), key=lambda kv: -len(kv[0])):
        markdown = markdown.replace(path, name)
    return markdown


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def save_progress(
    out: Path, dest: Path, preset: str = "evidence", run_seed: int = 0, device: str = "cpu"
) -> dict[str, list]:
    """Make an unfinished pretraining resumable from the repository (another session, another machine).

    Every model that is trained and gated at the budget where it passes (or at the last rung of the
    ladder) is exported to ``dest/models`` as fp16 safetensors (:mod:`.weights`), and the training
    state of every other lineage that has one is copied to ``dest/resume``. To continue: copy
    ``dest/resume/*.state.pt`` into ``<out>/_models/`` and rerun ``reproduce --preset evidence --workers 2
    --models dest/models``. Trains nothing; returns {"exported": [...], "resume": [...]}.
    """
    out, dest = Path(out), Path(dest)
    done: dict[str, list] = {"exported": [], "resume": []}
    for unit in preset_models(preset):
        cfg, seed = unit.params, model_seed(run_seed, unit.seed_index)
        _, cstats = digit_classifier(cfg, out, device)
        finished = None
        for steps in cfg.gate_steps or [cfg.train_steps]:
            spec = train_spec(cfg, unit.pairing, unit.g, seed, unit.T, device, unit.classes, steps=steps)
            tm = load_model(spec, out, device)
            if tm is None or not gate_samples_path(spec, cfg, out, cstats["key"]).exists():
                break
            gate = gate_model(tm, cfg, out, device)
            finished = (tm, gate)
            if gate["passes_gate"]:
                break
        last = (cfg.gate_steps or [cfg.train_steps])[-1]
        if finished is not None and (finished[1]["passes_gate"] or finished[0].spec.steps == last):
            path = export_model(
                finished[0], dest / "models" / published_name(finished[0].spec, unit.seed_index), finished[1]
            )
            done["exported"].append(path.name)
            continue
        state = state_path(out, train_spec(cfg, unit.pairing, unit.g, seed, unit.T, device, unit.classes))
        if state.exists():
            (dest / "resume").mkdir(parents=True, exist_ok=True)
            shutil.copy2(state, dest / "resume" / state.name)
            done["resume"].append(f"{unit.label}: {state.name}")
    return done
