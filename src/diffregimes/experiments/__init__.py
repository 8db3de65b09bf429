"""One module per paper figure/table: parameters -> results on disk. The registry is ``REGISTRY``."""

from .base import PRESETS, Claim, Experiment, Result, RunContext, default_device, run_experiment
from .registry import REGISTRY, get, names

__all__ = ["PRESETS", "Claim", "Experiment", "Result", "RunContext", "default_device", "run_experiment",
           "REGISTRY", "get", "names"]
