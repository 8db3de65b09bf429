"""Progress output: bars on a terminal, plain lines in a log, and the overall ETA of `reproduce`."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from diffregimes.cli import main
from diffregimes.execution.driver import reproduce
from diffregimes.execution.schedule import Progress
from diffregimes.progress import format_seconds, track
from diffregimes.work import Unit


@pytest.mark.parametrize(
    "seconds, text", [(0.4, "0 s"), (59.6, "1 min 00 s"), (65, "1 min 05 s"), (3600 + 7 * 60 + 20, "1 h 07 min")]
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_lines_mode_passes_items_through_and_prints_one_line_per_loop():
    stream = io.StringIO()
    assert list(track(range(5), "stage", bar=False, stream=stream)) == [0, 1, 2, 3, 4]
    lines = stream.getvalue().splitlines()
    assert lines == ["stage: done, 5 steps in 0 s"] and "\r" not in stream.getvalue()


def test_lines_mode_heartbeat_gives_count_and_eta():
    stream = io.StringIO()
    list(track(iter(range(3)), "long", total=3, bar=False, stream=stream, heartbeat_s=0.0))
    lines = stream.getvalue().splitlines()
    # a heartbeat after items 1 and 2 (none after the last: the "done" line says it), then the done line
    assert [ln.split(" (")[0] for ln in lines[:2]] == ["long: 1/3", "long: 2/3"] and "ETA" in lines[0]
    assert lines[2].startswith("long: done, 3 steps")


def test_overall_progress_eta_scales_unit_costs_by_the_speed_seen(monkeypatch):
    from diffregimes.execution import schedule

    clock = [100.0]
    monkeypatch.setattr(schedule.time, "perf_counter", lambda: clock[0])
    lines: list[str] = []
    units = [Unit(format_seconds, (c,), f"u{c}", cost=c, torch=False) for c in (1.0, 2.0, 3.0)]
    progress = Progress(3, 6.0, log=lines.append, bar=False, start=clock[0])
    assert progress.eta_s() is None  # no speed seen yet
    progress.finished(units[1], reused=True)  # a reused unit says nothing about speed
    assert progress.eta_s() is None
    clock[0] += 4.0  # the cost-1 unit took 4 s: 4 s per cost unit, cost 3 left
    progress.finished(units[0], reused=False)
    assert progress.eta_s() == pytest.approx(12.0)
    assert lines[0] == "[1/3 units] u2.0: reused; 0 s elapsed, ETA unknown"
    assert lines[1] == "[2/3 units] u1.0: done; 4 s elapsed, ETA 12 s"


def test_reproduce_logs_units_and_experiments_and_no_carriage_returns(tmp_path, capsys):
    logged: list[str] = []
    reproduce(["fig2", "fig3"], "smoke", tmp_path, log=logged.append)
    assert logged[0].startswith("2 experiment(s) to compute, 2 unit(s); serial executor")
    assert logged[1].startswith("[1/2] fig2: done (") and logged[2].startswith("[2/2] fig3: done (")
    err = capsys.readouterr().err  # captured: not a terminal, so progress comes as lines
    assert "\r" not in err and "[2/2] fig3: t_S(g): done, " in err
    assert "[1/2 units] fig2: done;" in err and "[2/2 units] fig3: done;" in err and "ETA" in err


# ----------------------------------------------------------------------------- --no-progress
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _cli(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real command in a fresh interpreter (this checkout's source), its output captured."""
    full = dict(os.environ if env is None else env)
    full["PYTHONPATH"] = SRC + os.pathsep + full.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "diffregimes.cli", *argv], env=full, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_no_progress_prints_where_results_went_and_nothing_else(tmp_path):
    """A new run, a reused one: one result line each on stdout, nothing on stderr, even while matplotlib
    builds a new font cache (a fresh MPLCONFIGDIR)."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPL")} | {"MPLCONFIGDIR": str(tmp_path / "mpl")}
    argv = ["fig", "1", "--preset", "smoke", "--out", str(out), "--no-progress"]
    first, again = _cli(argv, env), _cli(argv, env)
    assert first.stdout.splitlines() == [f"fig1: done -> {out / 'fig1'}"] and first.stderr == ""
    assert again.stdout.splitlines() == [f"fig1: reused finished run -> {out / 'fig1'}"] and again.stderr == ""


def test_no_progress_reproduce_prints_results_and_warnings_only(tmp_path, capfd):
    """reproduce: one line per experiment (where it went) and the report's line on stdout; on stderr only the
    warning that a damaged run is recomputed. Without the flag, the same run prints its progress."""
    out = tmp_path / "out"
    argv = ["reproduce", "--only", "fig1,fig4", "--preset", "smoke", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    done = re.compile(rf"\[2/2\] fig4: done \(\d+ s of unit time\) -> {re.escape(str(out / 'fig4'))}")
    report = re.compile(
        rf"report: {re.escape(str(out))}/report\.md and {re.escape(str(out))}/report\.html \(total \d+ s\)"
    )
    stdout, stderr = capfd.readouterr()
    lines = stdout.splitlines()
    assert len(lines) == 3 and stderr == ""
    assert re.fullmatch(rf"\[1/2\] fig1: done \(\d+ s of unit time\) -> {re.escape(str(out / 'fig1'))}", lines[0])
    assert done.fullmatch(lines[1]) and report.fullmatch(lines[2])

    (out / "fig4" / "data.csv").write_text("damaged\n")  # the run is recomputed, with a warning
    assert main([*argv, "--no-progress", "--executor", "process", "--workers", "2"]) == 0
    stdout, stderr = capfd.readouterr()
    lines = stdout.splitlines()
    assert len(lines) == 3 and lines[0] == f"[1/2] fig1: reused finished run -> {out / 'fig1'}"
    assert done.fullmatch(lines[1]) and report.fullmatch(lines[2])
    assert stderr.splitlines() == [
        f"fig4: {out / 'fig4'} holds an unfinished or damaged run (data.csv differs from its recorded digest); "
        "recomputing"
    ]

    assert main([*argv, "--force"]) == 0  # the contrast: progress lines without the flag
    stdout, stderr = capfd.readouterr()
    assert stdout.splitlines()[0].startswith("2 experiment(s) to compute, 2 unit(s); serial executor")
    assert "[1/2 units] fig1: done;" in stderr and "[2/2] fig4: boundary: done, " in stderr
