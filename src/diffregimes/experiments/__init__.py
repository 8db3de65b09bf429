"""One module per paper figure/table: parameters -> results on disk. The registry is ``REGISTRY``.

Names are loaded on first use, so that reading the catalog (``diffregimes list``) imports neither
NumPy nor torch.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "PRESETS": "base",
    "Claim": "base",
    "Experiment": "base",
    "Result": "base",
    "RunContext": "base",
    "default_device": "base",
    "run_experiment": "base",
    "REGISTRY": "registry",
    "ExperimentConfig": "config",
    "config_class": "config",
    "get": "registry",
    "names": "registry",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
