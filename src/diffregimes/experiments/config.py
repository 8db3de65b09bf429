"""Typed, frozen configs of the experiments, one class per experiment, made from its declarations.

Each experiment declares its parameters once, in its module: the presets (its params function) and their
types and ranges (its :class:`~.params.Schema`). :func:`config_class` turns the two into a frozen dataclass
``<Name>Config`` whose fields are the parameters with their Python types, validated on construction (one-line
:class:`~diffregimes.errors.ValidationError` naming the parameter, the value and the valid range, and the
experiment's cross-parameter checks); the presets are named constructors::

    from diffregimes.experiments import config_class, get

    Fig2Config = config_class(get("fig2"))
    cfg = Fig2Config.preset("quick").replace(n_g=801)   # validated again
    cfg.n_g, cfg.as_params()                              # 801, the dict a run is keyed on

``produce(name, preset, out, overrides=cfg.overrides())`` runs exactly that configuration.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Optional

from ..errors import ValidationError
from .base import Experiment, check_preset
from .params import Param, Schema, resolve_params

_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict}


def _annotation(param: Param) -> Any:
    base = _TYPES[param.kind]
    return Optional[base] if param.nullable else base  # noqa: UP045 - a runtime type object, not a hint string


class ExperimentConfig:
    """Base of the generated config classes (see the module docstring)."""

    experiment: ClassVar[Experiment]
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


def config_class(exp: Experiment) -> type[ExperimentConfig]:
    """The frozen dataclass of ``exp``'s parameters: one typed field per declared parameter, in preset order."""
    if exp.schema is None:
        raise ValidationError(f"{exp.name} declares no parameter types: it has no typed config")
    order = list(exp.params(exp.presets[0]))
    fields = [(key, _annotation(exp.schema.params[key])) for key in order]
    name = "".join(part.capitalize() for part in exp.name.split("_")) + "Config"
    cls = dataclasses.make_dataclass(name, fields, bases=(ExperimentConfig,), frozen=True)
    cls.experiment, cls.schema = exp, exp.schema
    cls.__doc__ = f"Typed, frozen parameters of {exp.name} ({exp.title}); presets: {', '.join(exp.presets)}."
    cls.__module__ = __name__
    return cls
