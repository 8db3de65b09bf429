"""Progress output: bars on a terminal, plain lines in a log, and the overall ETA of `reproduce`."""

from __future__ import annotations

import io

import pytest

from diffregimes.experiments import registry
from diffregimes.pipeline import OverallEta, reproduce
from diffregimes.progress import format_seconds, track


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


def test_overall_eta_scales_reference_costs_by_the_speed_seen():
    names = ["fig1", "fig4", "val_sync"]
    w = {n: registry.entry(n).quick_s for n in names}
    eta = OverallEta(names, "paper")
    assert eta.remaining_s() is None  # no reference speed for the paper preset before a run
    eta.finished("fig1", 2.0 * w["fig1"], reused=False)  # this machine: twice the reference time
    assert eta.remaining_s() == pytest.approx(2.0 * (w["fig4"] + w["val_sync"]))
    eta.finished("fig4", 0.01, reused=True)  # a reused run says nothing about speed
    assert eta.remaining_s() == pytest.approx(2.0 * w["val_sync"])
    assert OverallEta(names, "quick").remaining_s() == pytest.approx(sum(w.values()))


def test_reproduce_logs_k_of_n_and_eta_and_no_carriage_returns(tmp_path, capsys):
    logged: list[str] = []
    reproduce(["fig2", "fig3"], "smoke", tmp_path, log=logged.append)
    assert logged[0].startswith("[1/2] fig2: running") and "ETA" in logged[0]
    assert logged[2].startswith("[2/2] fig3: running") and "ETA" in logged[2]
    assert logged[3].startswith("[2/2] fig3: done in")
    err = capsys.readouterr().err  # captured: not a terminal, so progress comes as lines
    assert "\r" not in err and "[2/2] fig3: t_S(g): done, " in err
