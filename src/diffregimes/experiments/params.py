"""Declared types and valid ranges of experiment parameters, and the one parser of ``--set KEY=VALUE``.

Each experiment declares a :class:`Schema` next to its params function: one :class:`Param` per key
(type, range, allowed values), cross-parameter checks whose messages name the user's parameters
(e.g. "beta > |g| for every g up to g_max", not an internal eigenvalue), and an estimate of the
peak memory, so that sizes that cannot fit are refused before anything runs. :func:`resolve_params`
merges a preset with overrides and validates everything; the run layer calls it before it touches
a run directory, so a bad override never deletes earlier results.

The declarations are plain data on purpose: a typed config dataclass per experiment (the
self-describing experiment units of issue 9) can take each :class:`Param` as a field's type and
validator unchanged.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import ValidationError

_INT = re.compile(r"[+-]?\d+")
_NULL = ("none", "null")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


@dataclass(frozen=True)
class Param:
    """Type and valid range of one parameter.

    ``kind``: "int", "float", "bool", "str" (one of ``choices`` when given), "list" (of ``item``,
    length in [``min_len``, ``max_len``]) or "dict" (exactly the keys of ``fields``). Numbers lie in
    [lo, hi] (``lo_open``/``hi_open`` make an end exclusive; None: unbounded); ``nullable`` also
    allows None (written ``none`` or ``null`` on the command line).
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[Any, ...] = ()
    item: Param | None = None
    min_len: int = 0
    max_len: int | None = None
    fields: Mapping[str, Param] = field(default_factory=dict)
    nullable: bool = False

    # ------------------------------------------------------------------ description
    def describe(self) -> str:
        """The valid values in words, e.g. "an integer in [2, 100000]"."""
        text = {
            "int": "an integer",
            "float": "a finite number",
            "bool": "true or false",
            "str": "a string",
            "list": "a list",
            "dict": "an object",
        }[self.kind]
        if self.choices:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        elif self.kind in ("int", "float"):
            text += self._range()
        elif self.kind == "list":
            n = (
                f"exactly {self.min_len}"
                if self.min_len == self.max_len
                else f"{self.min_len} to {self.max_len}"
                if self.max_len is not None
                else f"at least {self.min_len}"
            )
            text = f"a list of {n} items, each {self.item.describe() if self.item else 'any value'}"
        elif self.kind == "dict":
            text = "an object with keys " + ", ".join(self.fields)
        return text + (" (or none)" if self.nullable else "")

    def _range(self) -> str:
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None and not self.lo_open and not self.hi_open:
            return f" in [{_number(lo)}, {_number(hi)}]"
        parts = []
        if lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {_number(lo)}")
        if hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {_number(hi)}")
        return (" " + " and ".join(parts)) if parts else ""

    # ------------------------------------------------------------------ checking typed values
    def check(self, value: Any) -> Any:
        """``value`` normalised (ints as int, floats as float, lists as lists); raises ``_Bad``."""
        if value is None:
            if self.nullable:
                return None
            raise _Bad
        if self.kind == "int":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise _Bad
            return self._in_range(int(value))
        if self.kind == "float":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise _Bad
            try:
                finite = math.isfinite(float(value))
            except OverflowError:  # an int beyond float range
                finite = False
            if not finite:
                raise _Bad
            return self._in_range(float(value))
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise _Bad
            return bool(value)
        if self.kind == "str":
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise _Bad
            return value
        if self.kind == "list":
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple, np.ndarray)):
                raise _Bad
            items = list(value)
            if len(items) < self.min_len or (self.max_len is not None and len(items) > self.max_len):
                raise _Bad
            return [self.item.check(v) for v in items] if self.item else items
        if self.kind == "dict":
            if not isinstance(value, Mapping) or set(value) != set(self.fields):
                raise _Bad
            return {k: self.fields[k].check(value[k]) for k in self.fields}
        raise AssertionError(f"unknown parameter kind {self.kind!r}")  # a declaration bug, not user input

    def _in_range(self, x: float) -> Any:
        if self.choices and x not in self.choices:
            raise _Bad
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            raise _Bad
        if self.hi is not None and (x > self.hi or (self.hi_open and x == self.hi)):
            raise _Bad
        return x

    # ------------------------------------------------------------------ parsing command-line text
    def parse(self, text: str) -> Any:
        """The typed value of command-line ``text`` (checked); raises ``_Bad``."""
        stripped = text.strip()
        if self.nullable and stripped.lower() in _NULL:
            return None
        if self.kind == "int":
            if not _INT.fullmatch(stripped) or len(stripped) > 30:
                raise _Bad
            return self.check(int(stripped))
        if self.kind == "float":
            try:
                number = float(stripped)
            except ValueError:
                raise _Bad from None
            return self.check(number)
        if self.kind == "bool":
            lowered = stripped.lower()
            if lowered not in ("true", "false"):
                raise _Bad
            return lowered == "true"
        if self.kind == "str":
            return self.check(_unquote(stripped))
        if (
            self.kind == "list"
            and not stripped.startswith("[")
            and self.item
            and self.item.kind not in ("list", "dict")
        ):
            # "0,0.5,1" is the short form of [0, 0.5, 1]; an empty text is the empty list
            parts = stripped.split(",") if stripped else []
            return self.check([self.item.parse(p) for p in parts])
        try:
            return self.check(json.loads(stripped))
        except (ValueError, RecursionError):  # JSONDecodeError, or an integer of > 4300 digits
            raise _Bad from None


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return str(json.loads(text))
        except json.JSONDecodeError:
            return text
    return text


class _Bad(Exception):
    """Internal: a value does not fit its Param (turned into a ValidationError naming the key)."""


# ----------------------------------------------------------------------------- constructors
def Int(lo: int | None = None, hi: int | None = None, nullable: bool = False) -> Param:  # noqa: N802
    return Param("int", lo=lo, hi=hi, nullable=nullable)


def Float(
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,  # noqa: N802
    nullable: bool = False,
) -> Param:
    return Param("float", lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, nullable=nullable)


def Bool() -> Param:  # noqa: N802
    return Param("bool")


def Choice(*values: Any, nullable: bool = False) -> Param:  # noqa: N802
    kind = "str" if all(isinstance(v, str) for v in values) else "float"
    return Param(kind, choices=tuple(values), nullable=nullable)


def List(item: Param, min_len: int = 1, max_len: int | None = 10_000, nullable: bool = False) -> Param:  # noqa: N802
    return Param("list", item=item, min_len=min_len, max_len=max_len, nullable=nullable)


def Dict(fields: Mapping[str, Param]) -> Param:  # noqa: N802
    return Param("dict", fields=dict(fields))


# ----------------------------------------------------------------------------- schema
Check = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class Schema:
    """Every parameter of one experiment: types and ranges, cross-parameter checks, peak memory.

    ``checks`` raise :class:`ValidationError` naming the parameters as the user writes them.
    ``memory`` estimates the peak bytes of a run from its parameters; ``size_keys`` are the
    parameters it grows with (named when a run is refused for its size).
    """

    params: Mapping[str, Param]
    checks: tuple[Check, ...] = ()
    memory: Callable[[Mapping[str, Any]], float] | None = None
    size_keys: tuple[str, ...] = ()

    def value(self, experiment: str, key: str, value: Any, shown: str | None = None) -> Any:
        """``value`` of ``key`` checked against its declaration; ``shown`` is how the user wrote it."""
        param = self._param(experiment, key)
        try:
            return param.check(value)
        except _Bad:
            raise ValidationError(_bad(experiment, key, shown or f"{key}={_short(value)}", param)) from None

    def parse(self, experiment: str, key: str, text: str, shown: str | None = None) -> Any:
        """Command-line ``text`` of ``key`` parsed by its declared type and checked."""
        param = self._param(experiment, key)
        try:
            return param.parse(text)
        except _Bad:
            raise ValidationError(_bad(experiment, key, shown or f"--set {key}={text}", param)) from None

    def _param(self, experiment: str, key: str) -> Param:
        if key not in self.params:
            raise ValidationError(
                f"unknown parameter {key!r} for {experiment}: valid are {', '.join(sorted(self.params))}"
            )
        return self.params[key]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad(experiment: str, key: str, shown: str, param: Param) -> str:
    if len(shown) > 100:
        shown = shown[:97] + "..."
    return f"{experiment}: {shown}: {key} must be {param.describe()}"


def parse_set(pairs: Sequence[str]) -> dict[str, str]:
    """``--set KEY=VALUE`` arguments as {key: raw text}; a key given twice is refused (which one was meant?)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"--set expects KEY=VALUE: got {pair!r}")
        if key.strip() in out:
            raise ValidationError(f"--set {key.strip()} given twice: {key.strip()}={out[key.strip()]} and {pair}")
        out[key.strip()] = raw
    return out


def available_memory() -> int | None:
    """Bytes this machine can still give a process (MemAvailable on Linux), None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def resolve_params(
    experiment: str,
    schema: Schema,
    preset_params: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    memory_limit: int | None = None,
) -> dict[str, Any]:
    """The preset's parameters with ``overrides`` applied, every value and check validated.

    Raises :class:`ValidationError` for an unknown key, a value outside its declared range, a
    failed cross-parameter check, or an estimated peak memory above ``memory_limit`` (default:
    what the machine has available).
    """
    params = dict(preset_params)
    for key, value in (overrides or {}).items():
        params[key] = schema.value(experiment, key, value)
    missing = sorted(set(params) ^ set(schema.params))
    if missing:  # a declaration out of step with its params function: a bug, not user input
        raise AssertionError(f"{experiment}: schema and parameters differ in {missing}")
    for key in params:
        params[key] = schema.value(experiment, key, params[key])
    for check in schema.checks:
        try:
            check(params)
        except ValidationError as exc:  # say which experiment, as the per-key messages do
            raise ValidationError(f"{experiment}: {exc}") from None
    if schema.memory is not None:
        need = float(schema.memory(params))
        limit = available_memory() if memory_limit is None else memory_limit
        if limit is not None and need > limit:
            sizes = ", ".join(f"{k}={params[k]}" for k in schema.size_keys)
            raise ValidationError(
                f"{experiment}: {sizes} needs an estimated {format_bytes(need)} of memory, "
                f"more than the {format_bytes(limit)} available"
            )
    return params


# ----------------------------------------------------------------------------- shared declarations
#: variances, rates and mean norms: float64 theory is checked over this range (beyond it exp/log
#: and root finding lose the digits the figures show)
SCALE = Float(lo=1e-8, hi=1e8)
NORM = Float(lo=0.0, hi=1e8)
#: a symmetric beta: any finite value, so that a bad one is reported by the beta > |g| check
SYMMETRIC_BETA = Float(lo=-1e8, hi=1e8)
COUPLING = Float(lo=-1e8, hi=1e8)
#: OU time horizons (everything has relaxed by t ~ 50 / beta; far larger T only loses resolution)
HORIZON = Float(lo=0.0, hi=1e4, lo_open=True)
ALPHA = Float(lo=0.0, hi=100.0, lo_open=True)
GRID = Int(2, 10**7)
#: bootstrap resamples behind a 95 % percentile interval (fewer than 20 cannot place its 2.5 % tails)
BOOTSTRAP = Int(20, 10**6)


def symmetric_coupling(key: str) -> Check:
    """beta > |g| for every g of ``key``: a list of couplings, or a sweep g in [0, key] (a number)."""

    def check(p: Mapping[str, Any]) -> None:
        value = p[key]
        worst = max(abs(float(g)) for g in value) if isinstance(value, list) else abs(float(value))
        if not p["beta"] > worst:
            where = "in" if isinstance(value, list) else "up to"
            raise ValidationError(
                f"symmetric coupling needs beta > |g| for every g {where} {key}: beta={p['beta']}, {key}={value}"
            )

    return check


def ordered(lo_key: str, hi_key: str, strict: bool = True) -> Check:
    """p[lo_key] < p[hi_key] (<= when not ``strict``)."""

    def check(p: Mapping[str, Any]) -> None:
        lo, hi = p[lo_key], p[hi_key]
        if not (lo < hi if strict else lo <= hi):
            raise ValidationError(f"{lo_key} must be {'<' if strict else '<='} {hi_key}: {lo_key}={lo}, {hi_key}={hi}")

    return check


def distinct(key: str) -> Check:
    """The items of list ``key`` are pairwise different."""

    def check(p: Mapping[str, Any]) -> None:
        items = [json.dumps(v) for v in p[key]]
        if len(set(items)) != len(items):
            raise ValidationError(f"{key} must not repeat a value: {key}={p[key]}")

    return check
