"""Registry of every experiment that ``diffregimes reproduce`` can run, in report order."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ValidationError
from .base import Experiment, check_preset, plan_run
from .appc import ALIASES as APPC_ALIASES
from .appc import EXPERIMENTS as APPC
from .mnist import EXPERIMENTS as MNIST
from .mnist_schema import with_schema
from .theory_figs import EXPERIMENTS as THEORY
from .validation import EXPERIMENTS as VALIDATION

REGISTRY: dict[str, Experiment] = {exp.name: exp for exp in
                                   [*THEORY, *APPC, *VALIDATION, *(with_schema(e) for e in MNIST)]}
#: figure names that are drawn by an experiment of another name (``diffregimes fig 12`` runs ``appc``)
ALIASES: dict[str, str] = dict(APPC_ALIASES)


def names() -> list[str]:
    return list(REGISTRY)


def resolve(name: str) -> str:
    """The experiment that produces ``name`` (itself, or the owner of an aliased figure)."""
    return ALIASES.get(name, name)


def for_preset(preset: str) -> list[str]:
    """The experiments that have ``preset`` (all of them, except for presets of one study)."""
    return [name for name, exp in REGISTRY.items() if preset in exp.presets]


def get(name: str) -> Experiment:
    name = resolve(name)
    if name not in REGISTRY:
        raise ValidationError(f"unknown experiment {name!r}: valid are {', '.join(REGISTRY)}")
    return REGISTRY[name]


def plan_all(names: Sequence[str] | None, preset: str, out: Path, seed: int = 0,
             overrides: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """The experiments a reproduce runs (aliases resolved; default: every one that has ``preset``),
    each validated with its overrides (:func:`plan_run`) before any of them runs."""
    check_preset(preset)
    if names:
        names = list(dict.fromkeys(get(n).name for n in names))
    else:
        names = for_preset(preset)
    for name in names:
        plan_run(get(name), preset, out, seed, (overrides or {}).get(name))
    return names
