"""Measurement protocols built on the samplers (no I/O)."""

from .appc import AppCConfig, run_appc

__all__ = ["AppCConfig", "run_appc"]
