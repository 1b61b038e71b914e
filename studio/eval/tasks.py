"""The task file of an evaluation: JSONL tasks with hidden tests, checked line by line.

A task file is JSONL (or gzip-compressed JSONL): one task a line, ``{"id", "prompt", "entry_point", "tests"}``,
where ``tests`` are Python lines (each top-level ``assert`` is one hidden test;
other lines, such as imports, run first as setup). Blank lines and lines
starting with ``#`` are skipped. HumanEval and MBPP records are read as they
are, recognised by their fields (see :mod:`studio.eval.formats`).

Example:
    >>> task = EvalTask(id="add", prompt="Write add(a, b).", entry_point="add", tests=["assert add(2, 3) == 5"])
    >>> task.hidden_tests()
    1
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from studio.eval.formats import detect, humaneval_task, is_identifier, mbpp_task, read_task_text, unknown_format
from studio.safe_input import InputError, load_json

__all__ = ["EvalError", "EvalTask", "load_tasks"]


class EvalError(ValueError):
    """A task file that cannot be used; the message names the file and each bad line."""


class EvalTask(BaseModel):
    """One task: what the team is asked, and the hidden tests its code must pass.

    Example:
        >>> EvalTask(id="inc", prompt="Write inc(x).", entry_point="inc", tests=["assert inc(1) == 2"]).id
        'inc'
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1)
    """A name for the task, unique within its file."""
    prompt: str = Field(min_length=1)
    """All the team (or the baseline) sees."""
    entry_point: str
    """The function the code must define (the hidden tests call it)."""
    tests: list[str]
    """Hidden Python lines; each top-level ``assert`` counts as one test. Never shown to the team."""
    check: bool = False
    """HumanEval style: ``tests`` define ``check(candidate)``, and ``check(<entry_point>)`` is one more hidden
    test (run as the hidden file's ``test_check`` function)."""

    def hidden_file(self) -> str:
        """The hidden test file's text: the hidden lines, then for a ``check`` task the call of ``check``.

        Example:
            >>> task = EvalTask(id="t", prompt="p", entry_point="f", tests=["def check(c):", "    assert c()"],
            ...                 check=True)
            >>> task.hidden_file().splitlines()[-2:]
            ['def test_check():', '    check(f)']
        """
        text = "\n".join(self.tests) + "\n"
        return text + f"\n\ndef test_check():\n    check({self.entry_point})\n" if self.check else text

    def hidden_tests(self) -> int:
        """How many tests the hidden lines hold (top-level asserts; for a ``check`` task, test functions too)."""
        try:
            tree = ast.parse(self.hidden_file())
        except SyntaxError:
            return len(self.tests) + self.check
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")}
        return sum(isinstance(node, ast.Assert) for node in tree.body) + (len(functions) if self.check else 0)


_FIELDS = {"id": "a non-empty string", "prompt": "a non-empty string", "entry_point": "a Python identifier",
           "tests": "a list of Python assert lines"}


def _problems(data: Any, seen: dict[str, int]) -> list[str]:
    """What is wrong with one parsed line (nothing when it is a valid task)."""
    if not isinstance(data, dict):
        return [f"expected a JSON object with {', '.join(_FIELDS)}, got {type(data).__name__}"]
    found = [f"missing field {name!r} ({what})" for name, what in _FIELDS.items() if name not in data]
    for name in ("id", "prompt"):
        if name in data and not (isinstance(data[name], str) and data[name].strip()):
            found.append(f"{name}: expected a non-empty string, got {data[name]!r}")
    entry = data.get("entry_point")
    if "entry_point" in data and not is_identifier(entry):
        found.append(f"entry_point: expected a Python identifier (a function name), got {entry!r}")
    tests = data.get("tests")
    if "tests" in data:
        if not (isinstance(tests, list) and tests and all(isinstance(t, str) for t in tests)):
            found.append(f"tests: expected a non-empty list of strings (Python assert lines), got {tests!r:.80}")
        else:
            found += _test_problems(tests)
    return found + _duplicate(data.get("id"), seen)


def _duplicate(task_id: Any, seen: dict[str, int]) -> list[str]:
    if isinstance(task_id, str) and task_id in seen:
        return [f"duplicate id {task_id!r} (first on line {seen[task_id]})"]
    return []


def _read(data: Any, seen: dict[str, int]) -> tuple[dict[str, Any], list[str]]:
    """One parsed line as the fields of an :class:`EvalTask`, whatever its format, and what is wrong with it."""
    fmt = detect(data) if isinstance(data, dict) else "huddle"
    if fmt is None:
        return {}, [unknown_format(data)]
    if fmt == "huddle":  # a "check" field here is some other tool's: Huddle's own tasks are graded by their asserts
        return {k: v for k, v in data.items() if k != "check"}, _problems(data, seen)
    task, found = humaneval_task(data) if fmt == "humaneval" else mbpp_task(data)
    return task, found + _duplicate(task.get("id"), seen)


def _test_problems(tests: list[str]) -> list[str]:
    found, asserts = [], 0
    for i, test in enumerate(tests):
        try:
            asserts += sum(isinstance(node, ast.Assert) for node in ast.parse(test).body)
        except SyntaxError as exc:
            found.append(f"tests[{i}]: not valid Python ({exc.msg}): {test!r:.80}")
        except (ValueError, RecursionError, MemoryError) as exc:  # a NUL character; nesting the parser refuses
            found.append(f"tests[{i}]: not valid Python ({type(exc).__name__}: {exc}): {test!r:.80}")
    if not found and not asserts:
        found.append("tests: no assert line; each top-level assert is one hidden test")
    return found


def load_tasks(path: str | Path) -> list[EvalTask]:
    """Read a JSONL task file (``.jsonl.gz`` too): Huddle's own records, HumanEval's or MBPP's.

    Raises:
        EvalError: the file cannot be read, holds no task, or has bad lines: every bad line is
            named with its number and what is wrong with it.
    """
    path = Path(path)
    try:
        text = read_task_text(path)
    except OSError as exc:
        raise EvalError(f"task file {path}: cannot read it ({exc.strerror or exc})") from None
    except InputError as exc:
        raise EvalError(f"task file {path}: {exc}") from None
    tasks: list[EvalTask] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = load_json(line)
        except InputError as exc:  # the line number is the file's; the JSON's own "line 1" says nothing
            problem = str(exc).replace("not valid JSON: line 1, column", "not JSON at column")
            problems.append(f"line {number}: {problem}")
            continue
        task, found = _read(data, seen)
        if found:
            problems += [f"line {number}: {p}" for p in found]
            continue
        seen[task["id"]] = number
        tasks.append(EvalTask.model_validate(task))
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise EvalError(f"invalid task file {path}:\n{lines}")
    if not tasks:
        raise EvalError(f"task file {path} holds no task; expected one JSON object a line with "
                        f"{', '.join(_FIELDS)} (or a HumanEval or MBPP record)")
    return tasks
