"""Input checks shared by the public entry points of the theory layer."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ValidationError, require

__all__ = [
    "ValidationError",
    "require",
    "require_finite",
    "require_finite_array",
    "require_positive",
    "require_nonnegative",
    "require_horizon",
    "MAX_HORIZON",
]

#: the longest time horizon searched: every OU process of interest has relaxed (kappa -> 0) long before,
#: and beyond ~1e300 / ||M|| the matrix exponentials of the moments overflow
MAX_HORIZON = 1e6


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


def require_finite_array(**arrays: np.ndarray) -> None:
    """Every entry of every named array must be finite (no NaN, no inf)."""
    for name, values in arrays.items():
        values = np.asarray(values, dtype=float)
        bad = ~np.isfinite(values)
        require(
            not bad.any(),
            f"{name} must be finite: {int(bad.sum())} of {values.size} values are "
            f"{'NaN' if np.isnan(values[bad]).any() else 'infinite'}",
        )


def require_horizon(T: float) -> None:
    """A time horizon: finite, > 0 and at most :data:`MAX_HORIZON`."""
    require_positive(T=T)
    require(float(T) <= MAX_HORIZON, f"T must be a time horizon in (0, {MAX_HORIZON:g}]: T={T}")
