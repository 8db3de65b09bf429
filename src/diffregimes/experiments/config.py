"""Typed, frozen configs of the experiments, one class per experiment, made from its declarations, and the
presets they are named after.

Each experiment declares its parameters once, in its module: the presets (its params function) and their
types and ranges (its :class:`~.params.Schema`). :func:`config_class` turns the two into a frozen dataclass
``<Name>Config`` whose fields are the parameters with their Python types, validated on construction (one-line
:class:`~diffregimes.errors.ValidationError` naming the parameter, the value and the valid range, and the
experiment's cross-parameter checks); the presets are named constructors::

    from diffregimes.experiments import config_class, get

    Fig2Config = config_class(get("fig2"))
    cfg = Fig2Config.preset("quick").replace(n_g=801)   # validated again
    cfg.n_g, cfg.as_params()                              # 801, the dict a run is keyed on

``produce(name, preset, out, overrides=cfg.overrides())`` runs exactly that configuration. An experiment's
``run``, ``units`` and ``assemble`` receive this typed config (``cfg.n_g``), never a dict. The class is made
once, when the :class:`~.base.Experiment` is declared, and is an attribute of the module that declares the
experiment, so that configs travel to process and Ray workers by reference (pickle).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, ClassVar, Optional

from ..errors import ValidationError
from .params import Param, Schema, resolve_params

PRESETS = ("smoke", "quick", "evidence", "paper", "robustness")
#: the presets of every experiment; "evidence" sizes the MNIST study and "robustness" its robustness study only
#: (the experiments that have them list them)
COMMON_PRESETS = ("smoke", "quick", "paper")


def check_preset(preset: str, exp: Any = None) -> str:
    """``preset`` if it is one of :data:`PRESETS` (and of the experiment ``exp``'s presets when given), else a
    :class:`ValidationError` naming the valid ones."""
    if preset not in PRESETS:
        raise ValidationError(f"unknown preset {preset!r}: valid are {', '.join(PRESETS)}")
    if exp is not None and preset not in exp.presets:
        raise ValidationError(f"{exp.name} has no preset {preset!r}: valid are {', '.join(exp.presets)}")
    return preset


_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict}


def _annotation(param: Param) -> Any:
    base = _TYPES[param.kind]
    return Optional[base] if param.nullable else base  # noqa: UP045 - a runtime type object, not a hint string


class ExperimentConfig:
    """Base of the generated config classes (see the module docstring)."""

    experiment: ClassVar[Any]  # the Experiment (of .base, which imports this module)
    schema: ClassVar[Schema]

    def __post_init__(self) -> None:
        # validation on construction; the memory estimate is checked when a run is planned
        resolve_params(self.experiment.name, self.schema, self.as_params(), memory_limit=2**63)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ExperimentConfig:
        """The configuration of preset ``name`` with ``overrides`` (keyword per parameter), validated."""
        check_preset(name, cls.experiment)
        return cls(**resolve_params(cls.experiment.name, cls.schema, cls.experiment.params(name), overrides, 2**63))

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A copy with ``changes`` applied (validated again)."""
        unknown = sorted(set(changes) - set(self.schema.params))
        if unknown:
            raise ValidationError(
                f"unknown parameter {unknown[0]!r} for {self.experiment.name}: valid are {', '.join(self.schema.params)}"
            )
        return dataclasses.replace(self, **changes)

    def as_params(self) -> dict[str, Any]:
        """The parameters as the experiment's run receives them (and its cache key is computed from)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def overrides(self, preset: str = "quick") -> dict[str, Any]:
        """The parameters that differ from ``preset``: what ``produce(..., overrides=...)`` takes."""
        base = self.experiment.params(preset)
        return {k: v for k, v in self.as_params().items() if base.get(k) != v}


def config_class(exp: Any) -> type[ExperimentConfig]:
    """The frozen dataclass of the experiment ``exp``'s parameters (made when it was declared)."""
    if exp.schema is None:
        raise ValidationError(f"{exp.name} declares no parameter types: it has no typed config")
    return exp.config


def make_config_class(exp: Any) -> type[ExperimentConfig]:
    """A frozen dataclass of ``exp``'s parameters: one typed field per declared parameter, in preset order,
    set as ``<Name>Config`` on the module that defines ``exp.run`` (so that pickle finds it by reference)."""
    order = list(exp.params(exp.presets[0]))
    fields = [(key, _annotation(exp.schema.params[key])) for key in order]
    name = "".join(part.capitalize() for part in exp.name.split("_")) + "Config"
    cls = dataclasses.make_dataclass(name, fields, bases=(ExperimentConfig,), frozen=True)
    cls.experiment, cls.schema = exp, exp.schema
    cls.__doc__ = f"Typed, frozen parameters of {exp.name} ({exp.title}); presets: {', '.join(exp.presets)}."
    cls.__module__ = exp.run.__module__
    cls.__qualname__ = name
    module = sys.modules.get(cls.__module__)
    if module is not None:
        setattr(module, name, cls)
    return cls


def typed(exp: Any, params: dict[str, Any]) -> Any:
    """The parameters as ``exp``'s run receives them: its typed config (an experiment that declares no
    parameter types receives the dict)."""
    if exp.schema is None:
        return dict(params)
    return exp.config(**params)
