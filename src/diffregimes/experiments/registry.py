"""Registry of every experiment that ``diffregimes reproduce`` can run, in report order."""

from __future__ import annotations

from .base import Experiment
from .theory_figs import EXPERIMENTS as THEORY

REGISTRY: dict[str, Experiment] = {exp.name: exp for exp in THEORY}


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> Experiment:
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}: valid are {', '.join(REGISTRY)}")
    return REGISTRY[name]
