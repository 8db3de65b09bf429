"""Hostile values for every CLI flag and every declared experiment parameter, generated from their own
declarations (issue 18): the test walks the CLI's argument parser (every command, every flag that takes a value)
and each experiment's :class:`~diffregimes.experiments.params.Schema`, so a flag or parameter added later is
fuzzed without anyone writing a case for it.

Every case must end in exit 2 with one line on stderr and no traceback, or be accepted (a theory command prints
a finite answer as strict JSON; a run passes all its checks and reaches the executor, where the test stops it:
nothing is computed), with no warning, within a time bound, and with nothing written outside ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import warnings
from pathlib import Path

import pytest

from diffregimes.cli import build_parser, main

CASE_TIMEOUT_S = 60
NUMBERS = ["", "nan", "-nan", "inf", "-inf", "0", "-0", "1e300", "-1e300", "1e-300", str(2**70), "-1", "1.5", "abc"]
WORDS = ["", "bogus", "NaN", "-1", "ä", "x" * 300]


class WouldRun(BaseException):
    """A run that passed every check and asked for its executor: accepted; the test stops it there."""


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """Hostile paths: missing, a directory, a FIFO, /dev/zero, a read-only place, another file format."""
    root = tmp_path_factory.mktemp("fuzz_paths")
    os.mkfifo(root / "fifo")
    (root / "dir").mkdir()
    (root / "text.npz").write_text("not an archive\n")
    return [
        str(root / "missing"),
        str(root / "dir"),
        str(root / "fifo"),
        "/dev/zero",
        "/proc/nope",
        str(root / "text.npz"),
    ]


def _subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command path, its parser) for every leaf command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _subcommands(sub, (*prefix, name))


#: the smallest valid invocation of each command (OUT: the case's output directory)
BASE = {
    ("theory", "speciation"): ["--json"],
    ("theory", "collapse"): ["--json"],
    ("theory", "manifold"): ["--psi", "0.5", "--alpha", "0.1", "--d", "64", "--json"],
    ("fig",): ["2", "--preset", "smoke", "--out", "OUT", "--no-progress"],
    ("table",): ["1", "--preset", "smoke", "--out", "OUT", "--no-progress"],
    ("reproduce",): ["--only", "fig2", "--preset", "smoke", "--out", "OUT", "--no-progress"],
    ("list",): [],
    ("mnist", "sample"): ["--model", "MODEL", "--n", "1", "--out", "OUT/x.npz"],
}
PATH_FLAGS = {"--out", "--mnist", "--models", "--model", "--publish"}


def _flag_cases(paths: list[str]) -> list[tuple[tuple[str, ...], str, list[str]]]:
    """(command, flag, argv) for every flag that takes a value, times the hostile values of its kind."""
    cases = []
    for command, parser in _subcommands(build_parser()):
        assert command in BASE, f"new command {command}: give it a base invocation in BASE"
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0 or action.dest in ("help", "version"):
                continue
            flag = max(action.option_strings, key=len)
            if flag in PATH_FLAGS:
                values = paths
            elif action.choices:
                values = WORDS
            else:
                values = NUMBERS
            base = list(BASE[command])
            if flag in base:  # replace the base's own value of this flag
                i = base.index(flag)
                del base[i : i + 2]
            cases += [(command, flag, [*command, *base, flag, v]) for v in values]
    return cases


def _set_cases() -> list[tuple[str, str, list[str]]]:
    """(experiment, parameter, argv) for every declared parameter: hostile values through ``--set``."""
    from diffregimes.experiments import registry

    values = [*NUMBERS, "[", "{", "[]", "[nan]", "null", "true", '"x"', "[1e300]", '{"a": 1}']
    cases = []
    for name in registry.names():
        exp = registry.get(name)
        kind = "table" if name == "table1" else "fig"
        token = "1" if name == "table1" else name.removeprefix("fig")
        for key in exp.schema.params:
            for v in values:
                argv = [kind, token, "--preset", "smoke", "--out", "OUT", "--no-progress", "--set", f"{key}={v}"]
                cases.append((name, key, argv))
    return cases


@contextlib.contextmanager
def _deadline(seconds: int):
    def expire(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _reject_constant(text: str):
    raise ValueError(f"non-standard JSON constant {text}")


def _check(argv: list[str], tmp: Path, capsys, model: str) -> str:
    """Run one case; returns "refused", "answered" or "accepted" after checking the rules of the module doc."""
    out = tmp / "out"
    argv = [a.replace("OUT", str(out)).replace("MODEL", model) for a in argv]
    outcome = "accepted"
    with warnings.catch_warnings(), _deadline(CASE_TIMEOUT_S):
        warnings.simplefilter("error")
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse refuses a value itself
            code = exc.code
        except WouldRun:
            code = None
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, (argv, captured.err)
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, (argv, captured.err)
        outcome = "refused"
    elif code == 0 and argv[0] == "theory":
        json.loads(captured.out, parse_constant=_reject_constant)  # a finite answer, strict JSON
        outcome = "answered"
    else:
        assert code in (None, 0), (argv, code, captured.err)
    return outcome


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working directory and HOME of the test's own (to see anything written outside --out), and runs that
    stop where their executor would start."""
    from diffregimes.execution import executors

    def would_run(*args, **kwargs):
        raise WouldRun

    monkeypatch.setattr(executors, "make_executor", would_run)
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    yield tmp_path
    assert not any(cwd.iterdir()) and not any(home.iterdir()), "a case wrote outside --out"


MODEL = str(
    Path(__file__).resolve().parents[1] / "docs" / "results" / "evidence" / "models" / "main_g0_seed0_T200.safetensors"
)


def test_every_flag_gets_hostile_values(sandbox, paths, capsys):
    cases = _flag_cases(paths)
    tally: dict[str, int] = {}
    for i, (*_, argv) in enumerate(cases):
        case_dir = sandbox / f"case{i}"
        case_dir.mkdir()
        outcome = _check(argv, case_dir, capsys, MODEL)
        tally[outcome] = tally.get(outcome, 0) + 1
    flags = {(c, f) for c, f, _ in cases}
    with capsys.disabled():
        print(f"\nfuzzed {len(cases)} flag x value cases over {len(flags)} flags: {tally}")
    assert len(flags) >= 40 and tally.get("refused", 0) > len(cases) // 2


def test_every_declared_parameter_gets_hostile_values(sandbox, capsys):
    cases = _set_cases()
    tally: dict[str, int] = {}
    for i, (*_, argv) in enumerate(cases):
        case_dir = sandbox / f"case{i}"
        case_dir.mkdir()
        outcome = _check(argv, case_dir, capsys, MODEL)
        tally[outcome] = tally.get(outcome, 0) + 1
    params = {(n, k) for n, k, _ in cases}
    with capsys.disabled():
        print(f"\nfuzzed {len(cases)} parameter x value cases over {len(params)} declared parameters: {tally}")
    assert len(params) >= 100 and tally.get("refused", 0) > len(cases) // 2
