"""Command-line interface: thin parsing and validation around theory, experiments and report.

The CLI owns the parsing of the ``diffregimes`` command line and the validation of the user's input: bad
input prints one line ``diffregimes: error: ...`` on stderr and exits with code 2 (the project's
:class:`~diffregimes.errors.ValidationError`, argparse's own errors, and OS errors on the user's own paths
``--out``, ``--mnist``, ...). Every value is checked before any work starts or anything is deleted; then the
CLI calls the theory, the experiments (through the execution driver) or the report, imported lazily so that
``--help`` and ``diffregimes list`` stay instant. Any other exception is a bug and keeps its traceback. The
command groups live in :mod:`.theory`, :mod:`.runs` and :mod:`.mnist` on top of the shared types of
:mod:`.args`; :mod:`.app` builds the parser and holds :func:`main`, the console-script entry point.
"""

from __future__ import annotations

from .app import build_parser, main

__all__ = ["build_parser", "main"]
