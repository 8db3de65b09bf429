"""Registry of every experiment that ``diffregimes reproduce`` can run, in report order."""

from __future__ import annotations

from ..errors import ValidationError
from .base import Experiment
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
