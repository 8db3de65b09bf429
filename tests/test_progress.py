"""Progress output: bars on a terminal, plain lines in a log, and the overall ETA of `reproduce`."""

from __future__ import annotations

import io

import pytest

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
