"""The project's validation error: the one exception type that means "the caller passed a bad value".

Every public entry point checks its inputs and raises :class:`ValidationError` with a one-line
message naming the parameter as the caller wrote it, the value and the valid range. The CLI turns
exactly this type (and OS errors on the user's own paths) into one line and exit code 2; any other
exception is a bug and keeps its traceback. It subclasses ``ValueError`` so that callers that
catch ``ValueError`` keep working. This module imports nothing, so every layer may use it.
"""

from __future__ import annotations


class ValidationError(ValueError):
    """A bad input value (one-line message: parameter, value, valid range)."""


def require(condition: bool, message: str) -> None:
    """Raise ``ValidationError(message)`` unless ``condition`` holds."""
    if not condition:
        raise ValidationError(message)
