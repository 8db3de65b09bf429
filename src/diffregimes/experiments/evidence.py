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
from typing import Any, Iterable, Iterator, TypeVar

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


def model_units(preset: str) -> list[ModelUnit]:
    """Every distinct model the MNIST experiments of ``preset`` need (Table 1 / Figs 6-9, Protocol II)."""
    from .mnist import fig7_params, fig10_params, table1_params

    t1, f7, f10 = table1_params(preset), fig7_params(preset), fig10_params(preset)
    units: dict[tuple, ModelUnit] = {}
    for s in range(int(t1["n_seeds"])):
        for g in sorted(t1["g_values"], reverse=True):
            for pairing in t1["pairings"]:
                units.setdefault((pairing, float(g), s, int(t1["T"]), None),
                                 ModelUnit(t1, pairing, float(g), s, int(t1["T"]), None))
    for pairing in f7["pairings"]:
        units.setdefault((pairing, float(f7["g"]), 0, int(f7["T"]), None),
                         ModelUnit(f7, pairing, float(f7["g"]), 0, int(f7["T"]), None))
    cls = tuple(int(c) for c in f10["classes"])
    for g in f10["g_values"]:
        units.setdefault(("main", float(g), 0, int(f10["T"]), cls),
                         ModelUnit(f10, "main", float(g), 0, int(f10["T"]), cls))
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
    tm, gate, tried = train_until_gate(unit.params, unit.pairing, unit.g, model_seed(run_seed, unit.seed_index),
                                       unit.T, device, Path(out), unit.classes, line_progress)
    return {"label": unit.label, "key": tm.spec.key, "steps": tm.spec.steps, "wall_s": time.perf_counter() - t0,
            "passes_gate": gate["passes_gate"],
            "ladder": [(r["steps"], round(r["recognised"], 3), round(r["recognised_real"], 3),
                        round(r["class_entropy"], 3), round(r["frechet"], 2), r["passes_gate"]) for r in tried]}


def pretrain(out: Path, preset: str = "evidence", run_seed: int = 0, workers: int = 2,
             device: str = "cpu", threads: int | None = None) -> list[dict[str, Any]]:
    """Train every model of ``preset`` into ``out`` with ``workers`` processes; returns the unit reports."""
    units = model_units(preset)
    n_threads = resolve_threads(threads, workers)
    print(f"pretrain: {len(units)} models, {workers} worker(s) x {n_threads} thread(s), out={out}", flush=True)
    reports: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    from .mnist_gate import digit_classifier

    torch.set_num_threads(resolve_threads(threads))
    _, cstats = digit_classifier(units[0].params, Path(out), device)  # once, before the workers need it
    print(f"digit classifier: held-out accuracy {cstats['test_accuracy_x']:.4f} (digits), "
          f"{cstats['test_accuracy_tx']:.4f} (transformed), {'cached' if cstats['cached'] else 'trained'}",
          flush=True)
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
    print(f"[{done}/{total}] {r['label']}: {r['steps']} steps, gate {'PASS' if r['passes_gate'] else 'FAIL'} "
          f"ladder (steps, rec, rec_real, H, FD, pass)={r['ladder']} ({r['wall_s']:.0f} s; elapsed {el:.0f} s, "
          f"ETA {el / done * (total - done):.0f} s)", flush=True)


if __name__ == "__main__":  # python -m diffregimes.experiments.evidence OUT [WORKERS]
    pretrain(Path(sys.argv[1]), workers=int(sys.argv[2]) if len(sys.argv) > 2 else 2)
