"""The README as a user reads it: every code block runs as written, and its numbers are the committed ones.

Python blocks run each on its own (a fresh namespace: a block may not lean on an earlier one). Command
lines are parsed by the real parser (so every subcommand and flag exists); the instant ones (``theory``,
``list``) also run. The install and test commands are the ones CI runs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from diffregimes.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def command_lines(program: str) -> list[list[str]]:
    lines = [line.split(" #")[0].strip() for block in code_blocks("bash") for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(program + " ")]


PYTHON_BLOCKS = code_blocks("python")


def test_readme_has_the_blocks_this_test_expects():
    assert len(PYTHON_BLOCKS) == 2 and len(command_lines("diffregimes")) >= 10


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_block_runs_on_its_own(index):
    namespace: dict = {"__name__": "readme"}
    exec(compile(PYTHON_BLOCKS[index], f"README.md, python block {index + 1}", "exec"), namespace)
    if index == 0:  # the value the block's comment states
        assert round(namespace["speciation_time"](namespace["model"]), 5) == 0.75263


def test_command_lines_parse_and_the_instant_ones_run(capsys):
    parser = build_parser()
    for argv in command_lines("diffregimes"):
        parser.parse_args(argv[1:])  # exits (SystemExit) on an unknown subcommand or flag
        if argv[1] in ("theory", "list"):
            assert main(argv[1:]) == 0, argv
    capsys.readouterr()


def test_install_and_test_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    install, test = (line.split(" && ", 1)[1] for block in code_blocks("bash")[:2] for line in block.splitlines())
    assert test in ci and "pip install --quiet torch==2.13.0" in ci
    assert install == 'pip install -e ".[mnist]" && diffregimes reproduce --preset quick'


def test_benchmark_scripts_exist():
    for argv in command_lines("python"):
        assert (ROOT / argv[1]).is_file(), argv
