"""The house: layers import downward only, no module imports itself back through others, no module is huge.

Layers, from the ground up: atomic/errors/mplcache/runstore/progress/seeds/catalog and the unit contract
(:mod:`diffregimes.work`) -> theory -> sde -> data/nets/diffusion -> protocols -> experiments -> report ->
execution (executors, scheduler, driver) and cli. Read from the source (import statements, including those
inside functions), so a lazy import cannot hide a violation or a loop. ``docs/developers.md`` draws this
map; :func:`test_developers_map_matches` keeps the two in step.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import diffregimes

PACKAGE = Path(diffregimes.__file__).resolve().parent
ROOT = PACKAGE.parents[1]
LEVEL = {
    "atomic": 0,
    "errors": 0,
    "mplcache": 0,
    "runstore": 0,
    "progress": 0,
    "seeds": 0,
    "catalog": 0,
    "work": 0,  # the unit contract: Unit, UnitEnv, UnitStore, thread budget, core count
    "theory": 1,
    "sde": 2,
    "data": 3,
    "nets": 3,
    "diffusion": 3,
    "protocols": 4,
    "experiments": 5,
    "report": 6,
    "execution": 7,  # executors, scheduler and driver: they run the experiments' units
    "cli": 7,
}
#: third-party packages a layer must not touch (theory is pure NumPy/SciPy; plots stay in the report)
FORBIDDEN = {
    "theory": {"torch", "matplotlib"},
    "sde": {"matplotlib"},
    "protocols": {"matplotlib"},
    "experiments": {"matplotlib"},
    "work": {"matplotlib"},
}
#: the largest module we accept (issue 17: "no module over ≈ 600 lines")
MAX_LINES = 620


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["diffregimes", *parts])


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The diffregimes modules a relative or absolute ``from`` import reads (a module, or the names' modules)."""
    if node.level:
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    if not target.startswith("diffregimes"):
        return []
    found = []
    for alias in node.names:  # "from .pkg import mod" reads the module pkg.mod when there is one
        sub = f"{target}.{alias.name}"
        found.append(sub if sub in MODULES else target)
    return found


def _imports(module: str) -> list[tuple[str, int]]:
    """(imported module or third-party top-level name, line) of every import in ``module``."""
    path = MODULES[module]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [
                (alias.name if alias.name.startswith("diffregimes") else alias.name.split(".")[0], node.lineno)
                for alias in node.names
            ]
        elif isinstance(node, ast.ImportFrom):
            targets = _resolve(module, path.name == "__init__.py", node)
            out += (
                [(t, node.lineno) for t in targets]
                if targets or node.level
                else [((node.module or "").split(".")[0], node.lineno)]
            )
    return out


def _graph() -> dict[str, set[str]]:
    """module -> the diffregimes modules it imports (a package's face, its __init__, counts as a module)."""
    return {m: {t for t, _ in _imports(m) if t in MODULES and t != m} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), i.e. the import loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


# packages whose __init__ only hands names on lazily (module __getattr__) are not edges of a loop: a
# package face that imports its own submodules on demand is the usual Python idiom
def _faces() -> set[str]:
    return {m for m, p in MODULES.items() if p.name == "__init__.py"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) != "__init__"))
def test_imports_go_downward(module):
    layer = _layer(module)
    for target, line in _imports(module):
        other = _layer(target) if target.startswith("diffregimes") else None
        if other in LEVEL:
            assert LEVEL[other] <= LEVEL[layer], f"{module}:{line}: {layer} imports {target} (a higher layer)"
        assert target not in FORBIDDEN.get(layer, ()), f"{module}:{line}: {layer} imports {target}"


def test_every_module_is_in_a_layer():
    assert {_layer(m) for m in MODULES} - set(LEVEL) == {"__init__"}


def test_no_import_loops():
    faces = _faces()
    graph = {m: {t for t in ts if t not in faces} for m, ts in _graph().items() if m not in faces}
    assert _cycles(graph) == []


def test_loop_finder_finds_a_loop():
    # the detector itself: a constructed three-module loop and a tail that is not part of it
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_huge():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_every_module_says_what_it_owns():
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree)
        assert doc and len(doc) > 40, f"{module} has no docstring saying what it owns"


def test_developers_map_matches():
    # every top-level layer and every experiments subpackage is named in the developers' map
    text = (ROOT / "docs" / "developers.md").read_text(encoding="utf-8")
    for layer in LEVEL:
        assert re.search(rf"`{layer}[/`.]", text), f"docs/developers.md does not place the layer {layer!r}"
    for m, p in MODULES.items():
        if p.name == "__init__.py" and m.startswith("diffregimes.experiments."):
            sub = m.removeprefix("diffregimes.")
            assert f"`{sub.replace('.', '/')}/`" in text, f"docs/developers.md does not name {sub}"
