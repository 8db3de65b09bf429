"""Pre-training of the MNIST models of a preset as independent units, several processes side by side.

Each model lineage (pairing, g, seed index, T, classes) is one unit: a pure function of its small,
picklable description that trains the model to its gate budget (:func:`.mnist_gate.train_until_gate`)
and writes only its own files under ``<out>/_models`` and ``<out>/_cache`` (atomically, keyed by the
model's cache key). Several units run in separate one-thread processes (on a 2-core CPU two
one-thread trainings side by side beat one two-thread training, DESIGN §6); afterwards the MNIST
experiments find every model in the cache. Interrupting loses at most ``checkpoint_every`` steps per
unit: a rerun resumes each lineage from its training state.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TypeVar

import torch

from .mnist_common import model_seed, resolve_threads

T_ = TypeVar("T_")


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


def model_units(
    preset: str, overrides: dict[str, Any] | None = None, only: Sequence[str] | None = None
) -> list[ModelUnit]:
    """Every distinct model the MNIST experiments of ``preset`` need (Table 1 / Figs 6-9, Protocol II),
    with ``overrides`` applied to every experiment's parameters; ``only``: restrict to these experiments."""
    from .mnist import fig7_params, fig10_params, table1_params

    want = set(only) if only else {"table1", "fig6", "fig7", "fig8", "fig9", "fig10", "fig11"}
    t1, f7, f10 = ({**f(preset), **(overrides or {})} for f in (table1_params, fig7_params, fig10_params))
    if not want & {"table1", "fig6"}:
        t1 = {**t1, "n_seeds": 0}
    elif not want & {"table1"}:
        t1 = {**t1, "n_seeds": 1}
    if not want & {"fig7", "fig8", "fig9"}:
        f7 = {**f7, "pairings": []}
    if not want & {"fig10", "fig11"}:
        f10 = {**f10, "g_values": []}
    units: dict[tuple, ModelUnit] = {}
    for s in range(int(t1["n_seeds"])):
        for g in sorted(t1["g_values"], reverse=True):
            for pairing in t1["pairings"]:
                units.setdefault(
                    (pairing, float(g), s, int(t1["T"]), None), ModelUnit(t1, pairing, float(g), s, int(t1["T"]), None)
                )
    for pairing in f7["pairings"]:
        units.setdefault(
            (pairing, float(f7["g"]), 0, int(f7["T"]), None),
            ModelUnit(f7, pairing, float(f7["g"]), 0, int(f7["T"]), None),
        )
    cls = tuple(int(c) for c in f10["classes"])
    for g in f10["g_values"]:
        units.setdefault(
            ("main", float(g), 0, int(f10["T"]), cls), ModelUnit(f10, "main", float(g), 0, int(f10["T"]), cls)
        )
    return list(units.values())


def line_progress(iterable: Iterable[T_], desc: str, total: int | None = None, every: float = 0.1) -> Iterator[T_]:
    """Plain progress for logs: one line per ``every`` of the total, with rate and ETA."""
    t0, n = time.perf_counter(), 0
    step = max(1, int((total or 0) * every))
    for item in iterable:
        yield item
        n += 1
        if total and (n % step == 0 or n == total):
            el = time.perf_counter() - t0
            eta = el / n * (total - n)
            print(f"  {desc}: {n}/{total} ({el:.0f} s, ETA {eta:.0f} s)", flush=True)


def train_unit(unit: ModelUnit, out: str, run_seed: int, device: str, threads: int) -> dict[str, Any]:
    """Worker body: train one unit to its gate budget; returns its gate ladder (picklable)."""
    from .mnist_gate import train_until_gate

    torch.set_num_threads(threads)
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
        line_progress,
    )
    return {
        "label": unit.label,
        "key": tm.spec.key,
        "steps": tm.spec.steps,
        "wall_s": time.perf_counter() - t0,
        "passes_gate": gate["passes_gate"],
        "ladder": [
            (
                r["steps"],
                round(r["recognised"], 3),
                round(r["recognised_real"], 3),
                round(r["class_entropy"], 3),
                round(r["frechet"], 2),
                r["passes_gate"],
            )
            for r in tried
        ],
    }


def pretrain(
    out: Path,
    preset: str = "evidence",
    run_seed: int = 0,
    workers: int = 2,
    device: str = "cpu",
    threads: int | None = None,
    overrides: dict[str, Any] | None = None,
    only: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Train every model of ``preset`` into ``out`` with ``workers`` processes; returns the unit reports."""
    units = model_units(preset, overrides, only)
    if not units:
        return []
    n_threads = resolve_threads(threads, workers)
    print(f"pretrain: {len(units)} models, {workers} worker(s) x {n_threads} thread(s), out={out}", flush=True)
    reports: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    from .mnist_gate import digit_classifier

    torch.set_num_threads(resolve_threads(threads))
    _, cstats = digit_classifier(units[0].params, Path(out), device)  # once, before the workers need it
    print(
        f"digit classifier: held-out accuracy {cstats['test_accuracy_x']:.4f} (digits), "
        f"{cstats['test_accuracy_tx']:.4f} (transformed), {'cached' if cstats['cached'] else 'trained'}",
        flush=True,
    )
    if workers <= 1:
        for i, u in enumerate(units):
            reports.append(train_unit(u, str(out), run_seed, device, n_threads))
            _report_line(reports[-1], i + 1, len(units), t0)
        return reports
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(train_unit, u, str(out), run_seed, device, n_threads) for u in units]
        for i, f in enumerate(cf.as_completed(futures)):
            reports.append(f.result())
            _report_line(reports[-1], i + 1, len(units), t0)
    return reports


def _report_line(r: dict[str, Any], done: int, total: int, t0: float) -> None:
    el = time.perf_counter() - t0
    print(
        f"[{done}/{total}] {r['label']}: {r['steps']} steps, gate {'PASS' if r['passes_gate'] else 'FAIL'} "
        f"ladder (steps, rec, rec_real, H, FD, pass)={r['ladder']} ({r['wall_s']:.0f} s; elapsed {el:.0f} s, "
        f"ETA {el / done * (total - done):.0f} s)",
        flush=True,
    )


if __name__ == "__main__":  # python -m diffregimes.experiments.evidence OUT [WORKERS]
    pretrain(Path(sys.argv[1]), workers=int(sys.argv[2]) if len(sys.argv) > 2 else 2)


def publish(
    out: Path,
    dest: Path,
    preset: str,
    run_seed: int = 0,
    command: str = "",
    wall_s: float | None = None,
    device: str = "cpu",
) -> Path:
    """Copy a finished MNIST run of ``out`` to ``dest`` for the repository: report (Markdown, HTML, figures),
    each experiment's summary.json and data.csv, every model's EMA weights as fp16 safetensors under
    ``dest/models`` (see :mod:`.mnist_publish`), and ``dest/summary.json`` with keys ``models``, ``table1``,
    ``claims``, ``command``, ``wall_s`` and ``machine``."""
    import json
    import platform
    import shutil

    from ..atomic import atomic_write_bytes
    from .mnist_gate import train_until_gate
    from .mnist_publish import export_model, published_name
    from .runstore import read_json

    out, dest = Path(out), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    claims, table1, models = [], [], []
    for name in ("table1", "fig6", "fig7", "fig8", "fig9", "fig10", "fig11"):
        # runs with overrides (e.g. --models) live in <name>-<hash of the overrides>: take the newest
        runs = [r for r in (out / name, *out.glob(f"{name}-*")) if (r / "summary.json").exists()]
        if not runs:
            continue
        run = max(runs, key=lambda r: (r / "summary.json").stat().st_mtime)
        summary = read_json(run / "summary.json")
        (dest / name).mkdir(exist_ok=True)
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
    for f in ("report.md", "report.html"):
        if (out / f).exists():
            shutil.copy2(out / f, dest / f)
    (dest / "models").mkdir(exist_ok=True)
    for unit in model_units(preset):
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
    for unit in model_units(preset):
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
