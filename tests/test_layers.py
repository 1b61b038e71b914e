"""Imports flow one way: leaves (messages, spec) <- memory <- sandbox <- roles <- pipelines <- the rest of studio."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The leaves every layer may use: plain data, nothing heavy.
LEAVES = {"studio.messages", "studio.spec", "studio.spec_memory", "studio.spec_sandbox", "studio.spec_flow",
          "studio.redact", "studio._lazy", "studio.safe_input"}
LAYERS = ["memory", "sandbox", "roles", "pipelines", "studio"]


def _layer(module: str) -> int | None:
    if module in LEAVES:
        return -1
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_no_upward_imports():
    upward = []
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            own = _layer(module)
            for imported in _imports(path):
                other = _layer(imported)
                if other is not None and own is not None and other > own:
                    upward.append(f"{module} imports {imported}")
    assert upward == []


def test_leaves_import_nothing_from_huddle():
    for leaf in LEAVES:
        path = ROOT / (leaf.replace(".", "/") + ".py")
        assert [m for m in _imports(path) if _layer(m) is not None and m not in LEAVES] == []  # leaves only


def test_the_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from pipelines import build_graph\n")
    assert _layer(_imports(bad)[0]) > _layer("roles.base")
