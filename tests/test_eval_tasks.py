"""The public evaluation task set: its shape, and that every task is solvable and its tests can fail.

``benchmarks/data/eval_tasks.jsonl`` holds one task per line; ``benchmarks/data/eval_solutions.py`` a
reference solution per task. Each reference runs in Huddle's sandbox against the task's hidden tests and
its visible example, and a solution that returns ``None`` must fail at least one hidden test.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import keyword
import os
import re
from pathlib import Path

import pytest

from sandbox import Sandbox
from studio.spec.sandbox import SandboxSpec

ROOT = Path(__file__).resolve().parents[1]
TASKS_PATH = ROOT / "benchmarks" / "data" / "eval_tasks.jsonl"
SOLUTIONS_PATH = ROOT / "benchmarks" / "data" / "eval_solutions.py"
KEYS = {"id", "prompt", "entry_point", "tests"}
LINES = [line for line in TASKS_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
TASKS = [json.loads(line) for line in LINES]
IDS = [task["id"] for task in TASKS]

needs_sandbox = pytest.mark.skipif(not hasattr(os, "posix_spawn"), reason="the sandbox needs Linux or macOS")


def _solutions():
    spec = importlib.util.spec_from_file_location("eval_solutions", SOLUTIONS_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOLUTIONS = _solutions()


def _visible(task: dict) -> str:
    return task["prompt"].rstrip().splitlines()[-1].strip()


def _assert_node(line: str) -> ast.Assert:
    """The one ``assert`` statement ``line`` holds (fails the test otherwise)."""
    tree = ast.parse(line)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert), f"not a single assert: {line!r}"
    return tree.body[0]


def _calls(node: ast.AST, name: str) -> set[str]:
    """The calls to ``name`` inside ``node``, each as its AST dump (so spacing does not matter)."""
    return {ast.dump(n) for n in ast.walk(node)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name}


def test_the_set_has_enough_tasks_with_unique_ids_and_entry_points():
    assert len(TASKS) >= 30
    assert len(set(IDS)) == len(IDS), "duplicate task ids"
    entries = [task["entry_point"] for task in TASKS]
    assert len(set(entries)) == len(entries), "two tasks share an entry point (the solutions share a module)"


def test_every_line_is_a_json_object_with_exactly_the_four_keys():
    for number, line in enumerate(LINES, 1):
        task = json.loads(line)
        assert isinstance(task, dict) and set(task) == KEYS, f"line {number}: keys {sorted(task)}"
        assert all(isinstance(task[k], str) for k in ("id", "prompt", "entry_point")), f"line {number}"
        assert isinstance(task["tests"], list) and all(isinstance(t, str) for t in task["tests"]), f"line {number}"


def test_every_entry_point_has_a_reference_solution_and_nothing_else_does():
    defined = {name for name, value in vars(SOLUTIONS).items()
               if inspect.isfunction(value) and value.__module__ == "eval_solutions"}
    assert defined == {task["entry_point"] for task in TASKS}


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_task_shape(task):
    entry = task["entry_point"]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", task["id"]), task["id"]
    assert entry.isidentifier() and not keyword.iskeyword(entry)
    assert entry in task["prompt"]
    visible = _visible(task)
    assert visible.startswith("assert "), "the prompt must end with one visible assert line"
    visible_calls = _calls(_assert_node(visible), entry)
    assert visible_calls, f"the visible example does not call {entry}"

    tests = task["tests"]
    assert 3 <= len(tests) <= 6
    assert visible not in tests, "the visible example is one of the hidden tests"
    for line in tests:
        assert line.startswith("assert ") and "\n" not in line, line
        node = _assert_node(line)
        assert _calls(node, entry), f"{line!r} does not call {entry}"
        assert ast.dump(node) != ast.dump(_assert_node(visible)), f"{line!r} repeats the visible example"
        assert not _calls(node, entry) & visible_calls, f"{line!r} repeats the visible example's call"
    assert len(set(tests)) == len(tests), "a hidden test is repeated"


@needs_sandbox
@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_reference_passes_every_hidden_test_and_the_visible_example(task, tmp_path):
    source = inspect.getsource(getattr(SOLUTIONS, task["entry_point"]))
    files = {"solution.py": source, "test_hidden.py": "\n".join(task["tests"]) + "\n",
             "test_visible.py": _visible(task) + "\n"}
    result = Sandbox(SandboxSpec(), tmp_path).run(files, entry="solution.py",
                                                  tests=["test_hidden.py", "test_visible.py"])
    failures = [f"{t.name}: {t.message}" for t in result.tests or [] if not t.ok]
    assert result.ok, f"{result.summary()}\n" + "\n".join(failures) + result.stderr[-2000:]
    assert (result.passed, result.failed) == (len(task["tests"]) + 1, 0)


@needs_sandbox
@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_a_wrong_solution_fails_a_hidden_test(task, tmp_path):
    wrong = f"def {task['entry_point']}(*args, **kwargs):\n    return None\n"
    files = {"solution.py": wrong, "test_hidden.py": "\n".join(task["tests"]) + "\n"}
    result = Sandbox(SandboxSpec(), tmp_path).run(files, entry="solution.py", tests=["test_hidden.py"])
    assert not result.ok and result.failed >= 1, result.summary()
    assert result.passed + result.failed == len(task["tests"])
