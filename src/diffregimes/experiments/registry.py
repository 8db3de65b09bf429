"""Registry of every experiment that ``diffregimes reproduce`` can run, in report order.

The registry lines are :data:`diffregimes.catalog.CATALOG` (plain data, readable by the report layer too);
this module maps each name to its :class:`~.base.Experiment`, importing the experiment's module on first use
(:func:`get`), so that listing the experiments (``diffregimes list``) does not pay for torch. A test checks
that the catalog says what the modules define.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog import CATALOG, Entry
from ..errors import ValidationError

if TYPE_CHECKING:  # the catalog is read without NumPy; the Experiment class needs it
    from .base import Experiment


ENTRIES: dict[str, Entry] = {e.name: e for e in CATALOG}
#: figure names drawn by an experiment of another name (``diffregimes fig 12`` runs ``appc``)
ALIASES: dict[str, str] = {stem: e.name for e in CATALOG for stem in e.figures if stem not in ("figure", e.name)}


class _Registry(Mapping[str, "Experiment"]):
    """name -> :class:`Experiment`, importing each experiment's module when it is first asked for."""

    def __getitem__(self, name: str) -> Experiment:
        entry = ENTRIES[name]
        module = importlib.import_module(f"{__package__}.{entry.module}")
        return next(exp for exp in module.EXPERIMENTS if exp.name == name)

    def __contains__(self, name: object) -> bool:
        return name in ENTRIES

    def __iter__(self) -> Iterator[str]:
        return iter(ENTRIES)

    def __len__(self) -> int:
        return len(ENTRIES)


REGISTRY: Mapping[str, "Experiment"] = _Registry()


def names() -> list[str]:
    """Every registered experiment, in report order."""
    return list(ENTRIES)


def resolve(name: str) -> str:
    """The experiment that produces ``name`` (itself, or the owner of an aliased figure)."""
    return ALIASES.get(name, name)


def entry(name: str) -> Entry:
    """The catalog entry of ``name`` (or of the experiment that draws it); no module is imported."""
    resolved = resolve(name)
    if resolved not in ENTRIES:
        raise ValidationError(f"unknown experiment {name!r}: valid are {', '.join(ENTRIES)}")
    return ENTRIES[resolved]


def get(name: str) -> Experiment:
    """The :class:`Experiment` named ``name`` (or drawing the figure ``name``), its module imported on demand."""
    return REGISTRY[entry(name).name]


def for_preset(preset: str) -> list[str]:
    """The experiments that define ``preset`` (all of them, except for presets of one study)."""
    return [name for name in ENTRIES if preset in get(name).presets]


def plan_all(
    names: Sequence[str] | None,
    preset: str,
    out: Path,
    seed: int = 0,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """The experiments a reproduce runs (aliases resolved; default: every one that defines ``preset``),
    each validated with its overrides (:func:`~.base.plan_run`) before any of them runs."""
    from .base import check_preset, plan_run

    check_preset(preset)
    names = list(dict.fromkeys(get(n).name for n in names)) if names else for_preset(preset)
    for name in names:
        plan_run(get(name), preset, out, seed, (overrides or {}).get(name))
    return names
