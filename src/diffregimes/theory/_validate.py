"""Input checks shared by the public entry points of the theory layer."""

from __future__ import annotations

import math


def require(condition: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(message)


def require_finite(**values: float) -> None:
    """Every named value must be a finite real number."""
    for name, value in values.items():
        try:
            ok = math.isfinite(float(value))
        except (TypeError, ValueError):
            ok = False
        require(ok, f"{name} must be a finite number: {name}={value!r}")


def require_positive(**values: float) -> None:
    """Every named value must be finite and > 0."""
    require_finite(**values)
    for name, value in values.items():
        require(float(value) > 0, f"{name} must be > 0: {name}={value}")


def require_nonnegative(**values: float) -> None:
    """Every named value must be finite and >= 0."""
    require_finite(**values)
    for name, value in values.items():
        require(float(value) >= 0, f"{name} must be >= 0: {name}={value}")
