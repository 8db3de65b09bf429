"""Registry of every experiment that ``diffregimes reproduce`` can run, in report order.

:data:`CATALOG` names each experiment, its section, title, figures and the module that defines it,
without importing that module: listing the experiments (``diffregimes list``) must not pay for
torch. :func:`get` imports the module on first use; a test checks that the catalog says what the
modules define.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError

if TYPE_CHECKING:  # the catalog is read without NumPy; the Experiment class needs it
    from .base import Experiment


@dataclass(frozen=True)
class Entry:
    """What is known about an experiment before its module is imported."""

    name: str
    section: str
    title: str
    module: str  # inside diffregimes.experiments
    figures: tuple[str, ...] = ("figure",)
    #: rough wall time in seconds at the quick preset on a quiet 2-core CPU (in all: theory 15 s, App. C 3 s,
    #: validation 2.5 min, MNIST 8.7 min); only the ratios matter: they weight the overall ETA of ``reproduce``
    quick_s: float = 1.0


CATALOG: tuple[Entry, ...] = (
    Entry("fig1", "theory", "Fig. 1 — speciation time vs symmetric coupling", "theory_figs", quick_s=3.0),
    Entry("fig2", "theory", "Fig. 2 — collapse times vs symmetric coupling", "theory_figs", quick_s=0.1),
    Entry("fig3", "theory", "Fig. 3 — anisotropic speciation, uninformative context", "theory_figs", quick_s=1.0),
    Entry("fig4", "theory", "Fig. 4 — anisotropic phase diagram t_S(g, θ)", "theory_figs", quick_s=6.0),
    Entry("fig5", "theory", "Fig. 5 — anisotropic joint and conditional collapse", "theory_figs", quick_s=1.0),
    Entry(
        "appc",
        "appc",
        "Figs 12–14 — App. C exact-score conditional generation vs θ",
        "appc",
        figures=("fig12", "fig13", "fig14"),
        quick_s=5.0,
    ),
    Entry(
        "val_speciation",
        "validation",
        "Validation — speciation by cloning at g = 0 (Biroli et al. check)",
        "validation",
        quick_s=60.0,
    ),
    Entry(
        "val_sync",
        "validation",
        "Validation — per-mode speciation and the synchronization gap (product mixture)",
        "validation",
        quick_s=40.0,
    ),
    Entry(
        "val_collapse",
        "validation",
        "Validation — collapse with the empirical score, joint and per mode",
        "validation",
        quick_s=50.0,
    ),
    Entry(
        "manifold",
        "manifold",
        "Manifold data — speciation and collapse against ψ = p/d (exact empirical score)",
        "manifold",
        figures=("figure", "regimes"),
        quick_s=900.0,
    ),
    Entry("table1", "mnist", "Table 1 — Protocol I synchronization gap Δt(τ), MAIN vs CTRL", "mnist", quick_s=250.0),
    Entry("fig6", "mnist", "Fig. 6 — cosine-to-final curves Cos_u, Cos_v (Protocol I)", "mnist", quick_s=5.0),
    Entry("fig7", "mnist", "Fig. 7 — ghosting index (Protocol I)", "mnist", quick_s=5.0),
    Entry("fig8", "mnist", "Fig. 8 — denoising trajectory strip x_A, x_B, u (Protocol I)", "mnist", quick_s=5.0),
    Entry("fig9", "mnist", "Fig. 9 — v-only intervention, RMS Δu and Δv (Protocol I)", "mnist", quick_s=20.0),
    Entry(
        "fig10",
        "mnist",
        "Fig. 10 — cloning speciation times t_spec^u, t_spec^v vs g (Protocol II)",
        "mnist",
        quick_s=230.0,
    ),
    Entry(
        "fig11",
        "mnist",
        "Fig. 11 — speciation curves φ^ex_u, φ^ex_v at g = 0 and 0.5 (Protocol II)",
        "mnist",
        quick_s=5.0,
    ),
)
ENTRIES: dict[str, Entry] = {e.name: e for e in CATALOG}
#: figure names drawn by an experiment of another name (``diffregimes fig 12`` runs ``appc``)
ALIASES: dict[str, str] = {stem: e.name for e in CATALOG for stem in e.figures if stem not in ("figure", e.name)}


class _Registry(Mapping[str, "Experiment"]):
    """name -> :class:`Experiment`, importing each experiment's module when it is first asked for."""

    def __getitem__(self, name: str) -> Experiment:
        entry = ENTRIES[name]
        module = importlib.import_module(f"{__package__}.{entry.module}")
        exp = next(exp for exp in module.EXPERIMENTS if exp.name == name)
        if exp.schema is None and entry.module == "mnist":
            # the MNIST modules are being reworked: their parameter declarations live beside them
            from .mnist_schema import with_schema

            exp = with_schema(exp)
        return exp

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
