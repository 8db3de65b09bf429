"""Benchmark: ``diffregimes reproduce`` under the serial executor against the process executor.

Each repeat runs the whole command in a fresh process and a fresh output directory (nothing reused), serial
first, then ``--executor process --workers N``; the table gives the median wall time of each and the
speed-up. The serial run uses every core for one unit at a time (torch threads = cores); the process run
gives each of N workers cores ÷ N threads. The ideal speed-up is N where the units allow it; the critical
path (the longest chain of dependent units, e.g. an MNIST model's training then Table 1's evaluation) and
Amdahl's serial parts (reports, figures) bound it.

    python benchmarks/executors.py [--preset quick] [--workers 2] [--repeats 3] [--only fig1,manifold]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_reproduce(preset: str, out: Path, extra: list[str], only: str | None) -> float:
    """Wall seconds of one ``diffregimes reproduce`` into the empty directory ``out``."""
    cmd = [sys.executable, "-m", "diffregimes.cli", "reproduce", "--preset", preset, "--out", str(out), "--no-progress"]
    cmd += ["--only", only] if only else []
    start = time.perf_counter()
    subprocess.run(cmd + extra, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--preset", default="quick", help="preset to run (default quick)")
    parser.add_argument("--workers", type=int, default=2, help="process workers (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each (default 3)")
    parser.add_argument("--only", default=None, help="comma-separated experiments (default: all of the preset)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    modes = {"serial": [], f"process x{args.workers}": ["--executor", "process", "--workers", str(args.workers)]}
    times: dict[str, list[float]] = {m: [] for m in modes}
    root = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    try:
        for r in range(args.repeats):
            for mode, extra in modes.items():
                out = root / f"{mode.split()[0]}-{r}"
                times[mode].append(timed_reproduce(args.preset, out, extra, args.only))
                shutil.rmtree(out, ignore_errors=True)
                print(f"repeat {r + 1}/{args.repeats} {mode}: {times[mode][-1]:.1f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    serial = statistics.median(times["serial"])
    print(
        f"reproduce --preset {args.preset}{' --only ' + args.only if args.only else ''}; {cores} cores; "
        f"median of {args.repeats}"
    )
    print(f"{'executor':<14} {'median s':>9} {'min s':>8} {'max s':>8} {'speed-up':>9}")
    for mode, ts in times.items():
        med = statistics.median(ts)
        print(f"{mode:<14} {med:9.1f} {min(ts):8.1f} {max(ts):8.1f} {serial / med:8.2f}x")
    print(f"ideal: {min(args.workers, cores)}x (workers, at most the cores)")


if __name__ == "__main__":
    main()
