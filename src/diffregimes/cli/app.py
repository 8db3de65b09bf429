"""The top of the ``diffregimes`` command: the parser, the error guard and :func:`main`.

This module owns :func:`build_parser`, which assembles the command groups (:mod:`.theory`, :mod:`.runs`,
:mod:`.mnist`) under one parser whose usage errors are one line with exit code 2, and :func:`main`, which
runs the chosen command and turns the user's mistakes into one line ``diffregimes: error: ...`` with exit
code 2: a :class:`~diffregimes.errors.ValidationError`, or an OS error on a path the user named. Any other
exception is a bug and keeps its traceback; an interrupt exits with 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..errors import ValidationError
from .mnist import add_mnist_parser
from .runs import add_run_parsers
from .theory import add_theory_parser

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit code 2) instead of the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `diffregimes` command (every subcommand has --help)."""
    parser = _Parser(
        prog="diffregimes",
        description="Dynamical regimes of coupled (multimodal) diffusion models: "
        "theory values, paper figures and the reproduction report.",
    )
    parser.add_argument("--version", action="version", version=f"diffregimes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    add_theory_parser(sub)
    add_run_parsers(sub)
    add_mnist_parser(sub)
    return parser


def _user_paths(args: argparse.Namespace) -> list[Path]:
    """The paths the user named (--out, --mnist, --models, --model, --publish): OS errors on these are the
    user's, not bugs."""
    paths = []
    for attr in ("out", "mnist", "models", "model", "publish"):
        value = getattr(args, attr, None)
        if value:
            paths.append(Path(value).absolute())
    return paths


def _on_user_path(err: OSError, args: argparse.Namespace) -> bool:
    for name in (err.filename, err.filename2):
        if not name:
            continue
        path = Path(os.fsdecode(name)).absolute()
        if any(path == p or p in path.parents for p in _user_paths(args)):
            return True
    return False


def _one_line(message: str) -> str:
    return message.splitlines()[0] if message else message


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `diffregimes` command; returns the exit code (2: bad input, 130: interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except ValidationError as err:
        print(f"diffregimes: error: {_one_line(str(err)) or type(err).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        if not _on_user_path(err, args):
            raise  # not about the user's paths: a bug, keep the traceback
        what = err.strerror or type(err).__name__
        print(f"diffregimes: error: {what}: {os.fsdecode(err.filename)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("diffregimes: interrupted; finished experiments are kept and reused next time", file=sys.stderr)
        return 130
    return 0
