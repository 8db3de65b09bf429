"""Run directories that can never give a wrong answer, and file hygiene.

Damaged caches are recomputed (one-line notice) and come back byte-identical; overrides get their own
run directory and never touch the preset's results; two different runs cannot write one directory
at once; --force recomputes; files are created with the usual permissions; data files are
byte-for-byte comparable between runs; matplotlib's cache never fails or spams a run.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import diffregimes
from diffregimes.cli import main
from diffregimes.execution.driver import produce, reproduce
from diffregimes.experiments import get
from diffregimes.experiments.base import RunContext, plan_run, run_experiment
from diffregimes.experiments.registry import for_preset
from diffregimes.runstore import RunDir, read_csv

SRC = str(Path(diffregimes.__file__).resolve().parents[1])
DATA_FILES = ("config.json", "data.csv", "summary.json")


def _bytes(run: RunDir, names=DATA_FILES) -> dict[str, bytes]:
    return {n: run.file(n).read_bytes() for n in names if run.file(n).exists()}


def _produce(name: str, out: Path, notices: list[str] | None = None, **kw):
    return produce(
        name, "smoke", out, show_progress=False, log=(notices.append if notices is not None else print), **kw
    )


# ----------------------------------------------------------------------------- damaged caches
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE = {
    "truncated summary": ("fig2", "summary.json", _truncate),
    "empty summary": ("fig2", "summary.json", lambda p: p.write_bytes(b"")),
    "summary of another run": (
        "fig2",
        "summary.json",
        lambda p: p.write_text(p.read_text().replace("Fig. 2", "Fig. 3")),
    ),
    "truncated csv": ("fig2", "data.csv", _truncate),
    "one changed csv digit": ("fig2", "data.csv", lambda p: p.write_text(p.read_text().replace("0.1", "0.2", 1))),
    "deleted csv": ("fig2", "data.csv", lambda p: p.unlink()),
    "truncated npz": ("fig4", "data.npz", _truncate),
    "empty npz": ("fig4", "data.npz", lambda p: p.write_bytes(b"")),
    "garbage manifest": ("fig2", "manifest.json", lambda p: p.write_text("{not json")),
    "manifest of an older layout": ("fig2", "manifest.json", lambda p: p.write_text('{"cache_key": 3}')),
    "no manifest (an older run)": ("fig2", "manifest.json", lambda p: p.unlink()),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_run_is_recomputed_with_a_notice_and_comes_back_identical(case, tmp_path):
    name, filename, damage = DAMAGE[case]
    run, reused = _produce(name, tmp_path)
    assert not reused
    before = _bytes(run, (*DATA_FILES, "data.npz"))
    damage(run.file(filename))
    notices: list[str] = []
    again, reused = _produce(name, tmp_path, notices)
    assert not reused, "a damaged run was reused"
    assert len(notices) == 1 and str(run.path) in notices[0] and "recomputing" in notices[0]
    assert _bytes(again, (*DATA_FILES, "data.npz")) == before
    assert _produce(name, tmp_path)[1]  # and now it is a finished run again


def test_damaged_figure_is_redrawn_without_recomputing(tmp_path):
    run, _ = _produce("fig2", tmp_path)
    png = run.file("figure.png").read_bytes()
    run.file("figure.png").write_bytes(png[:100])
    _, reused = _produce("fig2", tmp_path)
    assert reused and run.file("figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(run.file("figure.png").read_bytes()) > 1000


def test_interrupted_run_leaves_no_finished_marker(tmp_path):
    exp = get("fig2")

    def crash(params, ctx):
        raise KeyboardInterrupt

    broken = type(exp)(exp.name, exp.title, exp.section, exp.params, crash, schema=exp.schema)
    _produce("fig2", tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(broken, "smoke", tmp_path, force=True, show_progress=False)
    assert RunDir(tmp_path, "fig2").problem(plan_run(exp, "smoke", tmp_path).key) == "absent"


# ----------------------------------------------------------------------------- overrides
def test_overrides_get_their_own_directory_and_the_report_names_them(tmp_path):
    base, _ = _produce("fig2", tmp_path)
    before = _bytes(base)
    md, _ = reproduce(
        ["fig2"], "smoke", tmp_path, show_progress=False, log=lambda s: None, overrides={"fig2": {"n_g": 11}}
    )
    tagged = [p.name for p in tmp_path.iterdir() if p.name.startswith("fig2-")]
    assert len(tagged) == 1 and len(tagged[0]) == len("fig2-") + 8
    assert len(read_csv(tmp_path / tagged[0] / "data.csv")["g"]) == 11
    assert _bytes(base) == before  # the preset's results are untouched
    text = md.read_text()
    assert "*Overrides:* n_g = 11 (preset smoke: 41)" in text and f"{tagged[0]}/figure.png" in text
    config = json.loads((tmp_path / tagged[0] / "config.json").read_text())
    assert config["overrides"] == {"n_g": {"value": 11, "preset": 41}}


def test_override_equal_to_the_preset_is_the_preset_run(tmp_path):
    _produce("fig2", tmp_path)
    run, reused = _produce("fig2", tmp_path, overrides={"n_g": 41})
    assert reused and run.dirname == "fig2"


def test_failing_override_keeps_the_previous_results(tmp_path, capsys):
    base, _ = _produce("fig2", tmp_path)
    before = _bytes(base, (*DATA_FILES, "manifest.json", "figure.png"))
    assert main(["fig", "2", "--preset", "smoke", "--out", str(tmp_path), "--set", "beta=-1"]) == 2
    assert "beta > |g|" in capsys.readouterr().err
    assert _bytes(base, (*DATA_FILES, "manifest.json", "figure.png")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig2"]
    assert _produce("fig2", tmp_path)[1]


# ----------------------------------------------------------------------------- locks
_HOLD = """
import sys, time
from pathlib import Path
from diffregimes.runstore import RunDir
with RunDir(Path(sys.argv[1]), "fig2").lock(sys.argv[2]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _hold_lock(out: Path, key: str, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out), key, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_different_run_writing_the_same_directory_fails_fast(tmp_path, capsys):
    holder = _hold_lock(tmp_path, "another-configuration", 60)
    try:
        start = time.monotonic()
        code = main(["fig", "2", "--preset", "smoke", "--out", str(tmp_path), "--no-progress"])
        waited = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"pid {holder.pid}" in err[0] and "being written by another run" in err[0]
    assert waited < 30  # failed fast instead of waiting for the 60 s holder
    assert not RunDir(tmp_path, "fig2").file("summary.json").exists()


def test_an_identical_run_waits_for_the_lock_instead_of_failing(tmp_path):
    key = plan_run(get("fig2"), "smoke", tmp_path).key
    holder = _hold_lock(tmp_path, key, 1.0)
    try:
        run, reused = _produce("fig2", tmp_path)
    finally:
        holder.wait()
    assert holder.returncode == 0 and not reused and run.is_finished(key)


# ----------------------------------------------------------------------------- --force
def test_force_recomputes_and_force_since_marks_stale_caches(tmp_path, capsys):
    run, _ = _produce("fig2", tmp_path)
    first = run.file("run.json").read_text()
    time.sleep(0.05)
    assert main(["fig", "2", "--preset", "smoke", "--out", str(tmp_path), "--no-progress", "--force"]) == 0
    assert "fig2: done" in capsys.readouterr().out
    assert run.file("run.json").read_text() != first  # run again (new creation time / wall clock)
    cached = tmp_path / "model.pt"
    cached.write_bytes(b"x")
    old = time.time() - 100
    os.utime(cached, (old, old))
    ctx = RunContext(run, 0, "cpu", False, force_since=time.time() - 1)
    assert not ctx.may_reuse(cached)  # older than the forced command: recompute
    cached.write_bytes(b"y")
    assert ctx.may_reuse(cached)  # written during the forced command: shared, reuse
    assert RunContext(run, 0, "cpu", False).may_reuse(cached) and not ctx.may_reuse(tmp_path / "missing")


# ----------------------------------------------------------------------------- hygiene
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_outputs_get_the_usual_permissions(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        run, _ = _produce("fig4", tmp_path)
    finally:
        os.umask(old)
    files = [p for p in run.path.iterdir() if p.name != ".lock"]
    assert {"data.npz", "figure.png", "manifest.json", "run.json"} <= {p.name for p in files}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name


def test_results_are_byte_for_byte_comparable(tmp_path):
    a, _ = _produce("fig4", tmp_path / "a")
    time.sleep(2.1)  # zip timestamps have 2 s resolution: a clock in the data would differ now
    b, _ = _produce("fig4", tmp_path / "b")
    names = (*DATA_FILES, "data.npz")
    assert _bytes(a, names) == _bytes(b, names) and len(_bytes(a, names)) == 4
    with zipfile.ZipFile(a.file("data.npz")) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    summary = json.loads(a.file("summary.json").read_text())
    assert "wall_s" not in summary and "created" not in json.loads(a.file("config.json").read_text())
    assert json.loads(a.file("run.json").read_text())["wall_s"] > 0


def test_unwritable_matplotlib_home_neither_fails_nor_warns(tmp_path):
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MPL"))}
    env.update(HOME=str(home), PYTHONPATH=SRC)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "diffregimes.cli", "fig", "2", "--preset", "smoke", "--out", str(out), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    # neither matplotlib's complaints about an unwritable cache ("temporary cache directory", "not a writable
    # directory", "mkdir -p failed") nor, under --no-progress, its notice that it builds a new font cache
    assert proc.stderr == "" and proc.stdout == f"fig2: done -> {out / 'fig2'}\n"
    assert (out / "fig2" / "figure.png").stat().st_size > 1000
    assert (out / ".matplotlib").is_dir()  # the cache went inside --out, nowhere else


def test_writable_matplotlib_dirs_are_left_alone(tmp_path, monkeypatch):
    from diffregimes import mplcache

    monkeypatch.delenv("MPLCONFIGDIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    assert mplcache.ensure_writable_cache(tmp_path / "fallback") is None
    assert not (tmp_path / "fallback").exists() and "MPLCONFIGDIR" not in os.environ
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "config" / "matplotlib" / "x"))
    (tmp_path / "config" / "matplotlib" / "x").write_text("a file where the cache directory would go")
    assert mplcache.ensure_writable_cache(tmp_path / "fallback") == (tmp_path / "fallback").resolve()
    assert os.environ["MPLCONFIGDIR"] == str((tmp_path / "fallback").resolve())


# ----------------------------------------------------------------------------- claims and presets
def test_a_claim_never_holds_on_empty_data(tmp_path):
    # m_x^2 = m_y^2 = 0: no class signal, kappa = 0 everywhere, so t_S is NaN at every g and the
    # "t_S falls monotonically" claim has nothing to compare (np.all of nothing would say it holds)
    run, _ = _produce("fig3", tmp_path, overrides={"mx2": 0.0, "my2": 0.0})
    summary = json.loads(run.file("summary.json").read_text())
    assert summary["claims"][0]["holds"] is None and summary["headline"]["monotone_decreasing"] is None


def test_evidence_preset_belongs_to_the_mnist_experiments():
    assert for_preset("evidence") == ["table1", "fig6", "fig7", "fig8", "fig9", "fig10", "fig11"]
    from diffregimes.experiments import registry

    assert set(for_preset("smoke")) == set(registry.names())  # every experiment has a smoke preset


def test_a_fifo_in_place_of_a_finished_runs_data_is_replaced_not_read(tmp_path):
    """Reading a FIFO blocks forever: the run check refuses it unopened and the run is computed again."""
    out = tmp_path / "runs"
    run, _ = produce("fig2", "smoke", out, show_progress=False)
    before = run.file("data.csv").read_bytes()
    run.file("data.csv").unlink()
    os.mkfifo(run.file("data.csv"))
    again, reused = produce("fig2", "smoke", out, show_progress=False)
    assert not reused and stat.S_ISREG(os.lstat(again.file("data.csv")).st_mode)
    assert again.file("data.csv").read_bytes() == before


def test_ctrl_c_is_one_line_even_with_process_workers(tmp_path):
    """Ctrl-C reaches the driver and its spawned workers (one process group): the workers ignore it and the
    driver prints one line (exit 130) instead of one KeyboardInterrupt traceback per process."""
    import signal

    cmd = [
        sys.executable,
        "-m",
        "diffregimes.cli",
        "reproduce",
        "--preset",
        "smoke",
        "--only",
        "robustness",
        "--executor",
        "process",
        "--workers",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(10)  # the pool is up and units are running (or the run is still starting: one line either way)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip(f"the run finished before the interrupt arrived: {out[-300:]} {err[-300:]}")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.count("interrupted") == 1
