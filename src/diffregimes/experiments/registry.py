"""Registry of every experiment that ``diffregimes reproduce`` can run, in report order."""

from __future__ import annotations

from .base import Experiment
from .appc import ALIASES as APPC_ALIASES
from .appc import EXPERIMENTS as APPC
from .manifold import EXPERIMENTS as MANIFOLD
from .mnist import EXPERIMENTS as MNIST
from .theory_figs import EXPERIMENTS as THEORY
from .validation import EXPERIMENTS as VALIDATION

REGISTRY: dict[str, Experiment] = {exp.name: exp for exp in [*THEORY, *APPC, *VALIDATION, *MANIFOLD, *MNIST]}
#: figure names that are drawn by an experiment of another name (``diffregimes fig 12`` runs ``appc``)
ALIASES: dict[str, str] = dict(APPC_ALIASES) | {"figmanifold": "manifold"}


def names() -> list[str]:
    return list(REGISTRY)


def resolve(name: str) -> str:
    """The experiment that produces ``name`` (itself, or the owner of an aliased figure)."""
    return ALIASES.get(name, name)


def get(name: str) -> Experiment:
    name = resolve(name)
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}: valid are {', '.join(REGISTRY)}")
    return REGISTRY[name]
