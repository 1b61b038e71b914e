"""Imports flow one way, with no cycle, not even through a function-level (deferred) import.

The layers, lowest first (a module may import its own layer or any lower one):

    leaves      studio (its lazy face), studio._lazy, studio._serial_ast, studio.messages, studio.redact, studio.home,
                studio.safe_input, studio.exposure, studio.kinds, studio.rundiff, studio._rundiff_outcomes,
                studio.spec.*
    services    memory, sandbox, studio.llm, studio.bus, studio.tools, studio.telemetry
    roles       roles
    pipelines   pipelines
    engine      studio.runner, studio._run_state, studio._checkpoint_serde, studio._tape, studio._taped
    features    studio.eval, studio.batch, studio.export, studio.render, studio.replay, studio.testing,
                studio.pytest_plugin, studio.optimize, studio.teamgen
    surfaces    studio.api, studio.cli, studio.ui (and they never import each other)

Every import counts: at module level, inside functions, under ``if TYPE_CHECKING``. An
import names one module (``from studio.bus import sqlite`` names ``studio.bus.sqlite``,
``from studio.bus import Bus`` names ``studio.bus``); a package's ``__init__`` is not an
implied edge of its sub-modules, so a package face may re-export its own modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("studio", "memory", "roles", "pipelines", "sandbox")
MAX_LINES = 400

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("leaves", ("studio", "studio._lazy", "studio._serial_ast", "studio.messages", "studio.redact", "studio.home",
                "studio.safe_input", "studio.exposure", "studio.kinds", "studio.rundiff",
                "studio._rundiff_outcomes", "studio.spec.*")),
    ("services", ("memory.*", "sandbox.*", "studio.llm.*", "studio.bus.*", "studio.tools.*", "studio.telemetry.*")),
    ("roles", ("roles.*",)),
    ("pipelines", ("pipelines.*",)),
    ("engine", ("studio.runner", "studio._run_state", "studio._checkpoint_serde", "studio._tape",
                "studio._taped")),
    ("features", ("studio.eval.*", "studio.batch.*", "studio.export", "studio.render", "studio.replay",
                  "studio.testing", "studio.pytest_plugin", "studio.optimize.*",
                  "studio.teamgen.*")),
    ("surfaces", ("studio.api.*", "studio.cli.*", "studio.ui.*")),
]
SURFACES = ("studio.api", "studio.cli", "studio.ui")

Graph = dict[str, set[str]]


def _matches(module: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        base = pattern[:-2]
        return module == base or module.startswith(base + ".")
    return module == pattern


def layer_of(module: str) -> int | None:
    """The index of ``module``'s layer in :data:`LAYERS`, ``None`` when no layer names it."""
    for index, (_, patterns) in enumerate(LAYERS):
        if any(_matches(module, p) for p in patterns):
            return index
    return None


def surface_of(module: str) -> str | None:
    return next((s for s in SURFACES if _matches(module, s + ".*")), None)


def _module_name(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``, by dotted name."""
    return {_module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` is or lies in (``studio.bus.Bus`` -> ``studio.bus``)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:  # relative: from the importing module's package, one level up per extra dot
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, base] if base else parts)
    return [base] + [f"{base}.{a.name}" for a in node.names if a.name != "*"]


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> Graph:
    """``{module: modules it imports}`` over every import statement in every module, functions included."""
    known = modules(root, packages)
    graph: Graph = {m: set() for m in known}
    for module, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = _imported(node, module, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):  # `from pkg import sub` names pkg.sub when it is a module
                base, *members = names
                targets = [m for m in members if m in known] or [base]
                if len(targets) < len(members):
                    targets.append(base)
            else:
                targets = names
            for target in targets:
                found = _resolve(target, known)
                if found is not None and found != module:
                    graph[module].add(found)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative, so deep graphs do not hit the recursion limit
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def violations(graph: Graph) -> list[str]:
    """Upward imports, imports between surfaces, and modules no layer names."""
    problems = [f"{m} is in no layer: add it to LAYERS" for m in sorted(graph) if layer_of(m) is None]
    for module in sorted(graph):
        own, surface = layer_of(module), surface_of(module)
        for target in sorted(graph[module]):
            other = layer_of(target)
            if own is not None and other is not None and other > own:
                problems.append(f"{module} ({LAYERS[own][0]}) imports {target} ({LAYERS[other][0]})")
            elif surface and surface_of(target) not in (None, surface):
                problems.append(f"surface {module} imports surface {target}")
    return problems


def test_no_upward_import_and_surfaces_apart():
    assert violations(import_graph(ROOT)) == []


def test_no_import_cycle_not_even_a_deferred_one():
    assert cycles(import_graph(ROOT)) == []


def test_every_layer_is_populated():
    graph = import_graph(ROOT)
    assert {LAYERS[layer_of(m)][0] for m in graph} == {name for name, _ in LAYERS}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_400_lines(package):
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (at most {MAX_LINES} lines each)"


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_check_catches_a_deferred_import_cycle(tmp_path):
    _plant(tmp_path, {
        "studio/__init__.py": "",
        "studio/bus/__init__.py": "",
        "studio/bus/a.py": "import os\n\n\ndef later():\n    from studio.bus import b  # hides the cycle\n",
        "studio/bus/b.py": "from studio.bus.a import later\n",
        "studio/bus/c.py": "from studio.bus.b import later\n",
    })
    graph = import_graph(tmp_path, ["studio"])
    assert graph["studio.bus.a"] == {"studio.bus.b"}
    assert cycles(graph) == [["studio.bus.a", "studio.bus.b"]]


def test_the_check_catches_a_cycle_through_type_checking_and_relative_imports(tmp_path):
    _plant(tmp_path, {
        "roles/__init__.py": "",
        "roles/x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .y import Y\n",
        "roles/y.py": "class Y: ...\n\n\ndef f():\n    import roles.z\n",
        "roles/z.py": "def g():\n    from roles import x\n",
    })
    assert cycles(import_graph(tmp_path, ["roles"])) == [["roles.x", "roles.y", "roles.z"]]


def test_the_check_catches_an_upward_and_a_cross_surface_import(tmp_path):
    _plant(tmp_path, {
        "roles/base.py": "def later():\n    from pipelines import build_graph\n",
        "pipelines/__init__.py": "build_graph = None\n",
        "studio/api/notebook.py": "def cmd():\n    from studio.cli.ui import streamlit_command\n",
        "studio/cli/ui.py": "",
        "studio/spec/team.py": "from studio.runner import run_team\n",
        "studio/runner.py": "",
        "studio/newthing.py": "",
    })
    assert violations(import_graph(tmp_path, ["roles", "pipelines", "studio"])) == [
        "studio.newthing is in no layer: add it to LAYERS",
        "roles.base (roles) imports pipelines (pipelines)",
        "surface studio.api.notebook imports surface studio.cli.ui",
        "studio.spec.team (leaves) imports studio.runner (engine)",
    ]
