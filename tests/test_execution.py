"""Work units and executors: dependencies, the result store, retries after a raise or a dead worker, and
reproduce giving byte-identical data files whichever executor ran it (serial, process, local Ray).

The unit functions below are module-level so that spawned workers can import them by reference.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from diffregimes.errors import ValidationError
from diffregimes.execution.driver import reproduce
from diffregimes.execution.executors import ProcessExecutor, SerialExecutor, make_executor
from diffregimes.execution.schedule import UnitFailed, run_units
from diffregimes.work import FAULT_ENV, THREADS_ENV, Unit, UnitStore, thread_budget


def power(x: int, k: int, log: str) -> int:
    """x**k, appending "x" to the file ``log`` (so a test can tell which units actually ran, and in what order)."""
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{x}\n")
    return x**k


def budget() -> int | None:
    return thread_budget()


def _units(log: Path, n: int = 4) -> list[Unit]:
    return [Unit(power, (x, 2, str(log)), label=f"square {x}", torch=False) for x in range(n)]


def _ran(log: Path) -> list[int]:
    return [int(v) for v in log.read_text().split()] if log.exists() else []


def test_units_run_once_each_and_a_rerun_reuses_the_store(tmp_path):
    log, store = tmp_path / "log", UnitStore(tmp_path / "units")
    units = _units(log)
    out = run_units(units, SerialExecutor(), store)
    assert [out[u.key] for u in units] == [0, 1, 4, 9] and sorted(_ran(log)) == [0, 1, 2, 3]
    again = run_units(units, SerialExecutor(), store)
    assert again == out and len(_ran(log)) == 4  # nothing recomputed
    # force_since after the stored files: everything is recomputed
    run_units(units, SerialExecutor(), store, force_since=time.time() + 1)
    assert len(_ran(log)) == 8


def test_a_damaged_or_foreign_store_file_counts_as_absent(tmp_path):
    log, store = tmp_path / "log", UnitStore(tmp_path / "units")
    a, b = _units(log, 2)
    run_units([a, b], SerialExecutor(), store)
    store.path(a.key).write_bytes(store.path(a.key).read_bytes()[:10])  # a write cut short
    store.path(b.key).write_bytes(b"")
    assert store.load(a.key) == (False, None) and store.load(b.key) == (False, None)
    other = Unit(power, (5, 2, str(log)), label="other", torch=False)
    run_units([other], SerialExecutor(), store)
    store.path(a.key).write_bytes(store.path(other.key).read_bytes())  # right format, wrong key
    store.digest_path(a.key).write_bytes(store.digest_path(other.key).read_bytes())  # even with its digest
    assert store.load(a.key) == (False, None)
    assert run_units([a], SerialExecutor(), store)[a.key] == 0


def test_a_changed_byte_is_recomputed_not_trusted(tmp_path):
    """8 changed bytes inside the stored array: the file still parses, but its recorded digest no longer matches."""
    store = UnitStore(tmp_path / "units")
    store.save("k", {"phi": np.linspace(0.0, 1.0, 64)})
    blob = bytearray(store.path("k").read_bytes())
    at = blob.index(np.linspace(0.0, 1.0, 64)[10:11].tobytes())
    blob[at : at + 8] = np.float64(0.9).tobytes()
    store.path("k").write_bytes(bytes(blob))
    assert store.load("k") == (False, None)


def test_the_store_cannot_run_code(tmp_path):
    """A pickle that would run code, under the old name or the new one, is never unpickled; an npz holding an
    object array (pickled inside) is refused too, even with a digest that matches it."""
    import hashlib
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    store = UnitStore(tmp_path / "units")
    store.root.mkdir()
    payload = pickle.dumps({"key": "k", "result": Evil()})
    (store.root / "k.pkl").write_bytes(payload)
    store.path("k").write_bytes(payload)
    store.digest_path("k").write_text(hashlib.sha256(payload).hexdigest())
    assert store.load("k") == (False, None)
    buf = __import__("io").BytesIO()
    np.savez(buf, __json__=np.frombuffer(b'{"key": "k", "result": {"__nd__": "a0"}}', np.uint8), a0=np.array([Evil()]))
    store.path("k").write_bytes(buf.getvalue())
    store.digest_path("k").write_text(hashlib.sha256(buf.getvalue()).hexdigest())
    assert store.load("k") == (False, None)
    assert not marker.exists()
    with pytest.raises(TypeError, match="plain data"):
        store.save("x", {"obj": Evil()})


def test_special_files_are_refused_unopened(tmp_path):
    """A FIFO (reading it would block forever), a link to /dev/zero (endless) or to a good result elsewhere."""
    store = UnitStore(tmp_path / "units")
    store.save("good", [1.0, (2, "x"), {0.5: None}])
    assert store.load("good") == (True, [1.0, (2, "x"), {0.5: None}])
    os.mkfifo(store.path("fifo"))
    store.digest_path("fifo").write_text("0" * 64)
    os.symlink("/dev/zero", store.path("zero"))
    os.symlink(store.path("good"), store.path("link"))
    os.symlink(store.digest_path("good"), store.digest_path("link"))
    for key in ("fifo", "zero", "link"):
        assert store.load(key) == (False, None)


def test_dependencies_finish_first(tmp_path):
    log = tmp_path / "log"
    first = Unit(power, (7, 1, str(log)), label="first", torch=False)
    second = Unit(power, (8, 1, str(log)), label="second", torch=False, after=(first.key,))
    # listed in the wrong order on purpose
    with ProcessExecutor(2, threads=1) as executor:
        run_units([second, first], executor, UnitStore(tmp_path / "u"))
    assert _ran(log) == [7, 8]
    with pytest.raises(ValueError, match="not part of the run"):
        run_units(
            [Unit(power, (9, 1, str(log)), label="x", after=("nope",))], SerialExecutor(), UnitStore(tmp_path / "v")
        )


@pytest.mark.parametrize("fault", ["raise", "kill"])
def test_a_unit_that_fails_once_is_retried_with_the_same_result(tmp_path, monkeypatch, fault):
    log, store = tmp_path / "log", UnitStore(tmp_path / "units")
    units = _units(log)
    monkeypatch.setenv(FAULT_ENV, f"{fault}:square 2:{tmp_path / 'marker'}")
    with ProcessExecutor(2, threads=1) as executor:
        out = run_units(units, executor, store, retries=1)
    assert (tmp_path / "marker").exists()  # the fault did happen
    assert [out[u.key] for u in units] == [0, 1, 4, 9]


def test_serial_retry_and_giving_up_after_the_retries(tmp_path, monkeypatch):
    log = tmp_path / "log"
    monkeypatch.setenv(FAULT_ENV, f"raise:square 1:{tmp_path / 'marker'}")
    out = run_units(_units(log, 2), SerialExecutor(), UnitStore(tmp_path / "a"), retries=1)
    assert sorted(out.values()) == [0, 1]
    (tmp_path / "marker").unlink()
    with pytest.raises(UnitFailed, match="square 1 failed 1 times") as info:
        run_units(_units(log, 2), SerialExecutor(), UnitStore(tmp_path / "b"), retries=0)
    assert "injected fault" in str(info.value.__cause__)


def test_process_workers_get_their_share_of_the_cores(tmp_path):
    unit = Unit(budget, (), label="budget", torch=False)
    with ProcessExecutor(2, threads=3) as executor:
        assert run_units([unit], executor, UnitStore(tmp_path))[unit.key] == 3
    assert os.environ.get(THREADS_ENV) is None  # the driver's own environment is untouched


@pytest.mark.parametrize(
    "kind, workers, address, match",
    [
        ("threads", None, None, "--executor must be one of serial, process, ray: executor='threads'"),
        ("serial", 2, None, "--workers > 1 needs --executor process or ray"),
        ("process", 0, None, r"--workers must be in \[1, 4096\]: workers=0"),
        ("process", 2, "auto", "--address needs --executor ray"),
    ],
)
def test_bad_executor_settings_name_the_flag(kind, workers, address, match):
    with pytest.raises(ValidationError, match=match):
        make_executor(kind, workers, address)


# ------------------------------------------------------------------------------------------ whole runs
#: fast experiments that still cover theory (fig2), App. C (appc) and torch units in parallel (manifold's
#: cases, exact empirical score, under each worker's thread budget)
SUBSET = ["fig2", "appc", "manifold"]


def _data_digests(out: Path) -> dict[str, str]:
    """sha256 of every data file (data.csv, data.npz, summary.json) of every run under ``out``."""
    files = [p for p in out.glob("*/*") if p.name in ("data.csv", "data.npz", "summary.json")]
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


def _run(out: Path, executor, names=SUBSET) -> dict[str, str]:
    reproduce(names, "smoke", out, show_progress=False, log=lambda _line: None, executor=executor)
    return _data_digests(out)


# equal threads per unit on both sides: torch's CPU kernels may round differently with another thread count
# (measured at smoke scale: the gate's Fréchet distance 894.48 with 2 threads, 894.72 with 1)
def test_process_executor_gives_byte_identical_data_to_serial(tmp_path):
    serial = _run(tmp_path / "serial", SerialExecutor(threads=1))
    with ProcessExecutor(2, threads=1) as executor:
        process = _run(tmp_path / "process", executor)
    assert len(serial) >= 2 * len(SUBSET) and process == serial


@pytest.mark.slow
def test_ray_executor_gives_byte_identical_data_to_serial(tmp_path, monkeypatch):
    """Local Ray gives the serial run's bytes, and writes no auth token to the home directory (Ray would otherwise
    save a generated one to ~/.ray/auth_token, outside --out)."""
    pytest.importorskip("ray")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    serial = _run(tmp_path / "serial", SerialExecutor(threads=1))
    executor = make_executor("ray", 2, threads=1)
    try:
        ray_digests = _run(tmp_path / "ray", executor)
    finally:
        executor.close()
    assert ray_digests == serial
    assert not (home / ".ray").exists()


@pytest.mark.slow
def test_no_progress_silences_the_ray_start_up_lines(tmp_path):
    """A local Ray says it started and that token authentication is on (INFO, WARNING): not under --no-progress,
    which prints the experiment's line and the report's only."""
    pytest.importorskip("ray")
    out = tmp_path / "out"
    argv = [
        "reproduce",
        "--only",
        "fig2",
        "--preset",
        "smoke",
        "--out",
        str(out),
        "--executor",
        "ray",
        "--workers",
        "2",
    ]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    proc = subprocess.run(
        [sys.executable, "-m", "diffregimes.cli", *argv, "--no-progress"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("[1/1] fig2: done (") and lines[1].startswith("report: ")


@pytest.mark.slow
def test_whole_smoke_preset_is_byte_identical_under_process(tmp_path):
    """Every experiment, MNIST model trainings included (several minutes)."""
    serial = _run(tmp_path / "serial", SerialExecutor(threads=1), None)
    with ProcessExecutor(2, threads=1) as executor:
        assert _run(tmp_path / "process", executor, None) == serial


def test_a_killed_run_resumes_and_reuses_its_finished_units(tmp_path):
    """The driver process dies inside a manifold case (fault hook "kill" under the serial executor);
    the rerun reuses the cases that finished and gives the data of an uninterrupted run."""
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "diffregimes.cli", "reproduce", "--preset", "smoke", "--only", "manifold"]
    env = {**os.environ, FAULT_ENV: f"kill:manifold speciation:{tmp_path / 'marker'}"}
    first = subprocess.run([*cmd, "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 17, first.stderr  # died at the first speciation case
    stored = list((out / "_units").glob("*.npz"))
    assert stored and not (out / "manifold" / "manifest.json").exists()
    env.pop(FAULT_ENV)
    second = subprocess.run([*cmd, "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count(": reused;") == len(stored)
    clean = _run(tmp_path / "clean", SerialExecutor(), ["manifold"])
    assert _data_digests(out) == clean


# ------------------------------------------------------------------------------- experiments sharing a unit
def _toy_assemble(p, results, ctx):
    from diffregimes.experiments.base import Result

    return Result({"x": [p["x"]], "value": [sum(results)]}, {"value": sum(results)})


def _toy_units(p, env):
    log = str(Path(env.out) / "ran.log")
    # the unit (3 ** 2) is the same for both experiments: one key, computed once, delivered to both
    return [
        Unit(power, (3, 2, log), "shared 3^2", torch=False),
        Unit(power, (p["x"], 1, log), f"own {p['x']}", torch=False),
    ]


def _toy_plot(data, summary, config):
    from diffregimes.report.style import subplots

    fig, ax = subplots(1, 1, figsize=(3, 2))
    ax.plot(data["x"], data["value"], "o")
    return fig


@pytest.fixture
def toy_pair(monkeypatch):
    import types

    from diffregimes.catalog import Entry
    from diffregimes.experiments import registry
    from diffregimes.experiments.base import Experiment
    from diffregimes.report import figures

    exps = [
        Experiment(
            n, f"toy {n}", "theory", lambda preset, x=x: {"x": x}, None, units=_toy_units, assemble=_toy_assemble
        )
        for n, x in (("toy_a", 5), ("toy_b", 7))
    ]
    monkeypatch.setitem(sys.modules, "diffregimes.experiments.toy_pair", types.SimpleNamespace(EXPERIMENTS=exps))
    monkeypatch.setitem(sys.modules, "diffregimes.report.toy_pair_plots", types.SimpleNamespace(plot=_toy_plot))
    for e in exps:
        entry = Entry(e.name, "theory", e.title, "toy_pair", "toy_pair_plots.plot")
        monkeypatch.setitem(registry.ENTRIES, e.name, entry)
        monkeypatch.setitem(figures.ENTRIES, e.name, entry)


def test_experiments_sharing_a_unit_both_get_its_result_and_it_runs_once(toy_pair, tmp_path):
    reproduce(["toy_a", "toy_b"], "smoke", tmp_path, show_progress=False, log=lambda _line: None)
    # 9 + 5 and 9 + 7: both experiments assembled the shared unit's result, computed once
    assert [json_value(tmp_path / n) for n in ("toy_a", "toy_b")] == [14, 16]
    assert sorted(_ran(tmp_path / "ran.log")) == [3, 5, 7]
    assert not list((tmp_path / "_units").glob("*.pkl"))  # finished runs stand for their units


def json_value(run: Path) -> int:
    import json

    return json.loads((run / "summary.json").read_text())["headline"]["value"]


DRIVER = """
import sys, time
from diffregimes.execution.executors import ProcessExecutor
from diffregimes.work import Unit
ex = ProcessExecutor(2, threads=1)
for i in range(2):
    ex.submit(Unit(time.sleep, (120 + i,), label=f"sleep {i}", torch=False))
while len(ex._pool._processes) < 2:
    time.sleep(0.05)
print(" ".join(str(p) for p in ex._pool._processes), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie awaiting its reaper counts as gone
        return f.read().split()[2] != "Z"


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads process states from /proc")
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_process_workers_end_with_their_driver(sig):
    """kill -9 or SIGTERM of a driver once left its spawned workers (~300 MB each) running forever; they now
    notice within a second that their parent is gone and exit."""
    import signal

    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(p) for p in driver.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        driver.send_signal(getattr(signal, sig))
        driver.wait(timeout=30)
        deadline = time.time() + 20
        while any(_alive(p) for p in workers) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers)
    finally:
        driver.kill()
