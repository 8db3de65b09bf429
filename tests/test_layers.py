"""Layers import downward only: theory -> sde -> data/nets/diffusion -> protocols -> experiments -> report ->
execution.driver/cli, with the run store, atomic writes, progress, seeds, work units and executors below all
of them. Read from the source
(import statements, including those inside functions), so a lazy import cannot hide a violation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import diffregimes

PACKAGE = Path(diffregimes.__file__).resolve().parent
LEVEL = {
    "atomic": 0,
    "errors": 0,
    "mplcache": 0,
    "runstore": 0,
    "progress": 0,
    "seeds": 0,
    "catalog": 0,
    "execution": 0,  # units, executors, scheduler: generic machinery the experiments declare units with
    "theory": 1,
    "sde": 2,
    "data": 3,
    "nets": 3,
    "diffusion": 3,
    "protocols": 4,
    "experiments": 5,
    "report": 6,
    "execution.driver": 7,
    "cli": 7,
}
#: third-party packages a layer must not touch (theory is pure NumPy/SciPy; plots stay in the report)
FORBIDDEN = {
    "theory": {"torch", "matplotlib"},
    "sde": {"matplotlib"},
    "protocols": {"matplotlib"},
    "experiments": {"matplotlib"},
}


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    if parts == ("execution", "driver.py"):  # the reproduce driver sits on top of the experiments
        return "execution.driver"
    return parts[0].removesuffix(".py")


def _target(parts: list[str]) -> str:
    return "execution.driver" if parts[:2] == ["execution", "driver"] else parts[0]


def _imports(path: Path) -> list[tuple[str, int]]:
    """(top-level target, line) of every import: a diffregimes layer for package imports, else the library."""
    here = path.relative_to(PACKAGE).parent.parts
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name.split(".")[0], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                out.append(
                    (_target(parts[1:]) if parts[0] == "diffregimes" and len(parts) > 1 else parts[0], node.lineno)
                )
                continue
            base = list(here[: len(here) - (node.level - 1)]) if node.level > 1 else list(here)
            target = base + (node.module.split(".") if node.module else [])
            if target:
                out.append((_target(target), node.lineno))
            else:  # "from . import x" at the package root: x is the layer
                out += [(alias.name, node.lineno) for alias in node.names]
    return out


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _layer(p) in LEVEL)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_downward(path):
    layer = _layer(path)
    for target, line in _imports(path):
        if target in LEVEL:
            assert LEVEL[target] <= LEVEL[layer], f"{path.name}:{line}: {layer} imports {target}"
        assert target not in FORBIDDEN.get(layer, ()), f"{path.name}:{line}: {layer} imports {target}"


def test_every_module_is_in_a_layer():
    assert {_layer(p) for p in PACKAGE.rglob("*.py")} - set(LEVEL) == {"__init__"}
