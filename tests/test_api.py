"""The public surface: what ``import diffregimes`` offers, explicit ``__all__`` lists, docstrings."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import diffregimes

PACKAGES = ("theory", "sde", "data", "nets", "diffusion", "protocols", "experiments", "report")


def test_import_is_light():
    src = str(Path(diffregimes.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = "import sys, diffregimes; print([m for m in ('numpy', 'torch', 'matplotlib') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_top_level_names_are_the_subpackages_objects():
    from diffregimes import sde, theory
    from diffregimes.execution import driver

    for name in diffregimes.__all__:
        obj = getattr(diffregimes, name)
        if name == "__version__":
            assert obj == "0.1.0"
            continue
        assert inspect.getdoc(obj), name
    assert diffregimes.CoupledOU is theory.CoupledOU and diffregimes.euler_maruyama is sde.euler_maruyama
    assert diffregimes.reproduce is driver.reproduce and diffregimes.experiment_names()[0] == "fig1"
    assert isinstance(diffregimes.theory, types.ModuleType)
    with pytest.raises(AttributeError):
        diffregimes.no_such_name  # noqa: B018


def _public_members(obj):
    for name, member in vars(obj).items():
        if name.startswith("_"):
            continue
        member = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
        if inspect.isfunction(member):
            yield name, member


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_explicit_and_documented(package):
    pytest.importorskip("diffusers") if package == "nets" else None
    module = importlib.import_module(f"diffregimes.{package}")
    names = module.__all__
    assert isinstance(names, list) and len(names) == len(set(names))
    undocumented = []
    for name in names:
        obj = getattr(module, name)
        assert not isinstance(obj, types.ModuleType), f"{package}.__all__ leaks the module {name}"
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if not inspect.getdoc(obj):
            undocumented.append(name)
        if inspect.isclass(obj) and obj.__module__.startswith("diffregimes"):
            undocumented += [f"{name}.{m}" for m, f in _public_members(obj) if not f.__doc__]
    assert not undocumented, f"diffregimes.{package}: no docstring for {undocumented}"
