"""The public evaluation task sets: their shape, and that every task is solvable and its tests can fail.

``benchmarks/data/eval_tasks.jsonl`` holds one task per line, each prompt ending with a visible
``assert`` example. ``benchmarks/data/eval_tasks_plain.jsonl`` holds the same kind of tasks phrased as
users phrase them: plain sentences with no example at all, then docstring tasks (a typed signature and
a docstring with ``>>>`` examples). ``benchmarks/data/eval_solutions.py`` has a reference solution per
task of both files. Each reference runs in Huddle's sandbox against the task's hidden tests and its
visible examples, and a solution that returns ``None`` must fail at least one hidden test.
"""

from __future__ import annotations

import ast
import doctest
import importlib.util
import inspect
import json
import keyword
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from sandbox import Sandbox
from studio.eval import load_tasks
from studio.spec.sandbox import SandboxSpec

ROOT = Path(__file__).resolve().parents[1]
TASKS_PATH = ROOT / "benchmarks" / "data" / "eval_tasks.jsonl"
PLAIN_PATH = ROOT / "benchmarks" / "data" / "eval_tasks_plain.jsonl"
SOLUTIONS_PATH = ROOT / "benchmarks" / "data" / "eval_solutions.py"
KEYS = {"id", "prompt", "entry_point", "tests"}


def _lines(path: Path) -> list[str]:
    """The task lines of a file (the loader skips blank lines and ``#`` comments)."""
    return [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


TASKS = [json.loads(line) for line in _lines(TASKS_PATH)]
PLAIN = [json.loads(line) for line in _lines(PLAIN_PATH)]
SENTENCES = [task for task in PLAIN if not task["prompt"].startswith("def ")]
DOCSTRING = [task for task in PLAIN if task["prompt"].startswith("def ")]
ALL = TASKS + PLAIN
IDS = [task["id"] for task in TASKS]
ALL_IDS = [task["id"] for task in ALL]

needs_sandbox = pytest.mark.skipif(not hasattr(os, "posix_spawn"), reason="the sandbox needs Linux or macOS")


def _solutions():
    spec = importlib.util.spec_from_file_location("eval_solutions", SOLUTIONS_PATH)
    assert spec is not None and spec.loader is not None, SOLUTIONS_PATH
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOLUTIONS = _solutions()


def _doctests(task: dict) -> list[doctest.Example]:
    """The ``>>>`` examples of a docstring task's docstring (the prompt's closing quotes are no output)."""
    func = ast.parse(task["prompt"]).body[0]
    assert isinstance(func, ast.FunctionDef), task["id"]
    return doctest.DocTestParser().get_examples(ast.get_docstring(func) or "")


def _visible(task: dict) -> list[str]:
    """The examples the prompt shows, as assert lines: none for a plain sentence."""
    if task in TASKS:
        return [task["prompt"].rstrip().splitlines()[-1].strip()]
    if task in DOCSTRING:
        return [f"assert {ex.source.strip()} == {ex.want.strip()}" for ex in _doctests(task)]
    return []


def _assert_node(line: str) -> ast.Assert:
    """The one ``assert`` statement ``line`` holds (fails the test otherwise)."""
    tree = ast.parse(line)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert), f"not a single assert: {line!r}"
    return tree.body[0]


def _calls(node: ast.AST, name: str) -> set[str]:
    """The calls to ``name`` inside ``node``, each as its AST dump (so spacing does not matter)."""
    return {ast.dump(n) for n in ast.walk(node)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name}


def _params(task: dict) -> list[str]:
    """The parameter names of the task's reference solution."""
    return list(inspect.signature(getattr(SOLUTIONS, task["entry_point"])).parameters)


def _check_hidden_tests(task: dict, most: int) -> None:
    """3 to ``most`` distinct single-assert lines, each calling the entry point, none repeating an example."""
    entry, tests, visible = task["entry_point"], task["tests"], _visible(task)
    visible_calls = set().union(*(_calls(_assert_node(v), entry) for v in visible))
    assert 3 <= len(tests) <= most
    assert len(set(tests)) == len(tests), "a hidden test is repeated"
    for line in tests:
        assert line.startswith("assert ") and "\n" not in line, line
        node = _assert_node(line)
        assert _calls(node, entry), f"{line!r} does not call {entry}"
        assert line not in visible, f"{line!r} is a visible example"
        assert not _calls(node, entry) & visible_calls, f"{line!r} repeats a visible example's call"


def test_the_sets_have_enough_tasks_with_unique_ids_and_entry_points():
    assert len(TASKS) >= 30
    assert (len(SENTENCES), len(DOCSTRING)) == (16, 4)
    assert PLAIN == SENTENCES + DOCSTRING, "the plain file lists its sentence tasks first, then the docstring ones"
    assert len(set(ALL_IDS)) == len(ALL_IDS), "duplicate task ids"
    entries = [task["entry_point"] for task in ALL]
    assert len(set(entries)) == len(entries), "two tasks share an entry point (the solutions share a module)"


@pytest.mark.parametrize("path", [TASKS_PATH, PLAIN_PATH], ids=lambda p: p.name)
def test_every_line_is_a_json_object_with_exactly_the_four_keys(path):
    for number, line in enumerate(_lines(path), 1):
        task = json.loads(line)
        assert isinstance(task, dict) and set(task) == KEYS, f"{path.name} task {number}: keys {sorted(task)}"
        assert all(isinstance(task[k], str) for k in ("id", "prompt", "entry_point")), f"task {number}"
        assert isinstance(task["tests"], list) and all(isinstance(t, str) for t in task["tests"]), f"task {number}"


def test_the_plain_file_opens_with_a_comment_that_the_loader_skips():
    assert PLAIN_PATH.read_text(encoding="utf-8").startswith("# ")
    loaded = load_tasks(PLAIN_PATH)
    assert [(t.id, t.prompt, t.entry_point, t.tests) for t in loaded] == [
        (t["id"], t["prompt"], t["entry_point"], t["tests"]) for t in PLAIN]


def test_every_entry_point_has_a_reference_solution_and_nothing_else_does():
    defined = {name for name, value in vars(SOLUTIONS).items()
               if inspect.isfunction(value) and value.__module__ == "eval_solutions"}
    assert defined == {task["entry_point"] for task in ALL}


@pytest.mark.parametrize("task", ALL, ids=ALL_IDS)
def test_task_ids_and_entry_points_are_well_formed(task):
    entry = task["entry_point"]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", task["id"]), task["id"]
    assert entry.isidentifier() and not keyword.iskeyword(entry)
    assert entry in task["prompt"]


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_an_example_task_ends_with_one_visible_assert(task):
    [visible] = _visible(task)
    assert visible.startswith("assert "), "the prompt must end with one visible assert line"
    assert _calls(_assert_node(visible), task["entry_point"]), "the visible example does not call the function"
    _check_hidden_tests(task, most=6)


@pytest.mark.parametrize("task", SENTENCES, ids=[t["id"] for t in SENTENCES])
def test_a_plain_sentence_names_the_function_and_leaks_no_example(task):
    prompt = task["prompt"]
    signature = f"{task['entry_point']}({', '.join(_params(task))})"
    assert signature in prompt, f"the sentence must name the function and its parameters: {signature}"
    for leak in ("assert", ">>>", "example", "=="):
        assert leak not in prompt.lower(), f"the prompt shows an example ({leak!r})"
    assert len(prompt) <= 400, "a sentence or two, not a specification"
    _check_hidden_tests(task, most=5)


def test_the_plain_sentences_vary_their_wording():
    openings = Counter(task["prompt"].split()[0] for task in SENTENCES)
    assert openings.most_common(1)[0][1] <= len(SENTENCES) // 4, openings
    assert sum("Write a Python function" in task["prompt"] for task in SENTENCES) <= 1


@pytest.mark.parametrize("task", DOCSTRING, ids=[t["id"] for t in DOCSTRING])
def test_a_docstring_task_is_a_typed_signature_with_one_or_two_examples(task):
    tree = ast.parse(task["prompt"])
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef), "one function definition"
    func = tree.body[0]
    assert func.name == task["entry_point"]
    assert [a.arg for a in func.args.args] == _params(task)
    assert all(a.annotation is not None for a in func.args.args) and func.returns is not None, "type hints"
    assert len(func.body) == 1 and ast.get_docstring(func), "the body is the docstring alone"
    assert 1 <= len(_doctests(task)) <= 2
    assert "assert" not in task["prompt"]
    _check_hidden_tests(task, most=5)


def test_no_hidden_test_line_appears_in_any_prompt():
    prompts = [task["prompt"] for task in ALL]
    leaks = [(task["id"], line) for task in ALL for line in task["tests"] if any(line in p for p in prompts)]
    assert not leaks, leaks


@needs_sandbox
@pytest.mark.parametrize("task", ALL, ids=ALL_IDS)
def test_reference_passes_every_hidden_test_and_the_visible_examples(task, tmp_path):
    source = inspect.getsource(getattr(SOLUTIONS, task["entry_point"]))
    visible = _visible(task)
    files = {"solution.py": source, "test_hidden.py": "\n".join(task["tests"]) + "\n"}
    if visible:
        files["test_visible.py"] = "\n".join(visible) + "\n"
    tests = sorted(set(files) - {"solution.py"})
    result = Sandbox(SandboxSpec(), tmp_path).run(files, entry="solution.py", tests=tests)
    failures = [f"{t.name}: {t.message}" for t in result.tests or [] if not t.ok]
    assert result.ok, f"{result.summary()}\n" + "\n".join(failures) + result.stderr[-2000:]
    assert (result.passed, result.failed) == (len(task["tests"]) + len(visible), 0)


@needs_sandbox
@pytest.mark.parametrize("task", ALL, ids=ALL_IDS)
def test_a_wrong_solution_fails_a_hidden_test(task, tmp_path):
    wrong = f"def {task['entry_point']}(*args, **kwargs):\n    return None\n"
    files = {"solution.py": wrong, "test_hidden.py": "\n".join(task["tests"]) + "\n"}
    result = Sandbox(SandboxSpec(), tmp_path).run(files, entry="solution.py", tests=["test_hidden.py"])
    assert not result.ok and result.failed >= 1, result.summary()
    assert result.passed + result.failed == len(task["tests"])
