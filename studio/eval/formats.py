"""The standard benchmark formats a task file may hold, read as they are: HumanEval and MBPP records.

Each JSONL record is recognised by its fields (:func:`detect`), so one file may mix formats:

- Huddle's own: ``id``, ``prompt``, ``entry_point``, ``tests`` (read by :mod:`studio.eval.tasks`).
- HumanEval: ``task_id``, ``prompt`` (a signature and docstring), ``entry_point`` and ``test``, which
  defines ``check(candidate)``; calling ``check`` with the team's function is one hidden test. The
  prompt's other definitions (helpers such as ``poly`` in HumanEval/32) run before the test code, as
  in HumanEval's own harness, which runs the prompt and the completion together.
- MBPP: ``task_id``, ``text``, ``test_list`` (assert lines) and ``test_setup_code``. The team sees the
  text and the name and arity of the function the first assert calls, never the asserts.

Files may be gzip-compressed (``HumanEval.jsonl.gz``); the limits of :mod:`studio.safe_input` apply to
the compressed and the unpacked bytes.

Example:
    >>> detect({"task_id": 2, "text": "Add.", "test_list": ["assert add(1, 2) == 3"]})
    'mbpp'
    >>> task, problems = mbpp_task({"task_id": 2, "text": "Add.", "test_list": ["assert add(1, 2) == 3"]})
    >>> task["entry_point"], task["prompt"].splitlines()[-1]
    ('add', 'Write it as the Python function `add`, called as `add(x1, x2)`.')
"""

from __future__ import annotations

import ast
import builtins
import gzip
import io
import keyword
import os
import stat
import zlib
from pathlib import Path
from typing import Any

from studio.safe_input import TEXT_BYTES, InputError, decode

__all__ = ["FORMATS", "detect", "humaneval_task", "is_identifier", "mbpp_task", "read_task_text", "unknown_format"]

FORMATS = {"huddle": ("id", "prompt", "entry_point", "tests"),
           "humaneval": ("task_id", "prompt", "entry_point", "test"),
           "mbpp": ("task_id", "text", "test_list")}
"""Each format and the fields it needs (MBPP's ``test_setup_code`` and ``code`` are optional here)."""
_NAMES = {"huddle": "Huddle", "humaneval": "HumanEval", "mbpp": "MBPP"}
_GZIP_MAGIC = b"\x1f\x8b"


def read_task_text(path: Path) -> str:
    """The text of a task file, unpacked first when it is gzip data, within :data:`TEXT_BYTES` both ways.

    Raises:
        OSError: the file cannot be opened or read.
        InputError: not a regular file, too large (packed or unpacked), a ``.gz`` that is not gzip data,
            broken gzip data, or not UTF-8 text.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens at once instead of waiting
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError("it is not a regular file; give a JSONL file (or .jsonl.gz)")
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(TEXT_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > TEXT_BYTES:
        raise InputError(f"the file is larger than {TEXT_BYTES // 1_000_000} MB, the most Huddle reads here")
    if data.startswith(_GZIP_MAGIC):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
                data = packed.read(TEXT_BYTES + 1)  # never more: a small bomb unpacks to gigabytes
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"broken gzip data ({exc or type(exc).__name__}); is the download complete?") from None
        if len(data) > TEXT_BYTES:
            raise InputError(f"it unpacks to more than {TEXT_BYTES // 1_000_000} MB, the most Huddle reads here")
    elif Path(path).name.endswith(".gz"):
        raise InputError("named .gz but not gzip data (it does not start with gzip's magic bytes 1f 8b); "
                         "unpack it or rename it")
    return decode(data)


def detect(data: dict[str, Any]) -> str | None:
    """Which format a record is in, from its fields: ``huddle``, ``humaneval``, ``mbpp``, or ``None``."""
    if "task_id" in data and {"text", "test_list", "test_setup_code"} & data.keys():
        return "mbpp"
    if "task_id" in data and {"prompt", "test", "canonical_solution"} & data.keys():
        return "humaneval"
    if "id" in data or "tests" in data:
        return "huddle"
    return None


def unknown_format(data: dict[str, Any]) -> str:
    """What to say about a record of no known format: the fields it has, and the formats expected."""
    fields = ", ".join(sorted(map(str, data))[:12]) or "no fields"
    expected = "; ".join(f"{_NAMES[name]} ({', '.join(need)})" for name, need in FORMATS.items())
    return f"not a task in a format Huddle reads: it has {fields}; expected one of {expected}"


def is_identifier(value: Any) -> bool:
    """Whether ``value`` can name a Python function."""
    return isinstance(value, str) and value.isidentifier() and not keyword.iskeyword(value)


def _missing(data: dict[str, Any], fmt: str) -> list[str]:
    return [f"missing field {name!r} ({_NAMES[fmt]} format)" for name in FORMATS[fmt] if name not in data]


def _task_id(data: dict[str, Any]) -> tuple[str, list[str]]:
    value = data.get("task_id")
    if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str) and value.strip():
        return str(value), []
    return "", [f"task_id: expected a non-empty string or a number, got {value!r:.60}"]


def _parse(source: str, field: str) -> tuple[ast.Module | None, list[str]]:
    try:
        return ast.parse(source), []
    except SyntaxError as exc:
        return None, [f"{field}: not valid Python ({exc.msg}, line {exc.lineno} of the field)"]
    except (ValueError, RecursionError, MemoryError) as exc:  # a NUL character; nesting the parser refuses
        return None, [f"{field}: not valid Python ({type(exc).__name__})"]


def _context(prompt: ast.Module, source: str, entry: str) -> str:
    """The prompt without the entry point's definition: its imports and helpers, for the hidden tests."""
    lines = source.splitlines()
    for node in prompt.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            del lines[start - 1: node.end_lineno]
            break
    return "\n".join(lines).strip()


def humaneval_task(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A HumanEval record as a Huddle task (``check`` style), and what is wrong with it.

    The hidden lines are the prompt's other definitions, then ``test``; the harness calls
    ``check(<entry_point>)`` after them (one hidden test). ``canonical_solution`` is not used.
    """
    problems = _missing(data, "humaneval")
    task_id, bad = _task_id(data)
    problems += bad if "task_id" in data else []
    prompt, test, entry = data.get("prompt"), data.get("test"), data.get("entry_point")
    for name, value in (("prompt", prompt), ("test", test)):
        if name in data and not (isinstance(value, str) and value.strip()):
            problems.append(f"{name}: expected a non-empty string, got {value!r:.60}")
    if "entry_point" in data and not is_identifier(entry):
        problems.append(f"entry_point: expected a Python identifier (a function name), got {entry!r:.60}")
    if problems:
        return {}, problems
    prompt, test, entry = data["prompt"], data["test"], data["entry_point"]  # all strings now
    tree, problems = _parse(test, "test")
    if tree is not None:
        check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
        if check is None or not check.args.args:
            problems.append("test: defines no check(candidate) function (HumanEval's tests are one check function)")
        elif not any(isinstance(n, ast.Assert) for n in ast.walk(check)):
            problems.append("test: check(candidate) has no assert, so no code could fail it")
    module, bad = _parse(prompt, "prompt")
    context = _context(module, prompt, entry) if module is not None else ""
    problems += bad
    tests = [context, test] if context else [test]
    return {"id": task_id, "prompt": prompt, "entry_point": entry, "tests": tests, "check": True}, problems


def _calls(node: ast.AST) -> list[tuple[str, ast.Call]]:
    """The calls of plain names in ``node`` that are not builtins, with the names, in the order they are written."""
    found = [(n.func.id, n) for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id not in dir(builtins)]
    return sorted(found, key=lambda pair: (pair[1].lineno, pair[1].col_offset))


def _defined(source: Any) -> set[str]:
    """The functions ``source`` (MBPP's reference code) defines at the top level; none when it cannot tell."""
    try:
        tree = ast.parse(source) if isinstance(source, str) else None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = None
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))} if tree else set()


def _signature(name: str, call: ast.Call) -> str:
    """How the test calls ``name``, with the values left out: ``f(x1, x2, key=…)``."""
    args = ["*args" if isinstance(a, ast.Starred) else f"x{i}" for i, a in enumerate(call.args, 1)]
    args += [f"{k.arg}=…" if k.arg else "**kwargs" for k in call.keywords]
    return f"{name}({', '.join(args)})"


def mbpp_task(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An MBPP record as a Huddle task, and what is wrong with it.

    The entry point is the function the first assert calls (one the reference ``code`` defines, when
    it is given; else the first call that is not a builtin). The prompt is ``text`` and that call's
    shape with the values left out; the hidden lines are ``test_setup_code`` then ``test_list``.
    ``challenge_test_list`` is not used, as in MBPP's own evaluation.
    """
    problems = _missing(data, "mbpp")
    task_id, bad = _task_id(data)
    problems += bad if "task_id" in data else []
    text, setup, asserts = data.get("text"), data.get("test_setup_code", ""), data.get("test_list")
    if "text" in data and not (isinstance(text, str) and text.strip()):
        problems.append(f"text: expected a non-empty string, got {text!r:.60}")
    if not isinstance(setup, str):
        problems.append(f"test_setup_code: expected a string (Python lines), got {setup!r:.60}")
    if "test_list" in data and not (isinstance(asserts, list) and all(isinstance(t, str) for t in asserts)):
        problems.append(f"test_list: expected a list of strings (Python assert lines), got {asserts!r:.80}")
    if problems:
        return {}, problems
    text, asserts = data["text"], data["test_list"]  # a string and a list of strings now
    first: ast.Assert | None = None
    for i, line in enumerate(asserts):
        tree, bad = _parse(line, f"test_list[{i}]")
        problems += bad
        if first is None and tree is not None:
            first = next((n for n in tree.body if isinstance(n, ast.Assert)), None)
    problems += _parse(setup, "test_setup_code")[1]
    if first is None:
        return {}, problems + ["test_list: no assert line; MBPP's tests are assert lines that call the function"]
    calls, reference = _calls(first.test), _defined(data.get("code"))
    name, call = next((c for c in calls if c[0] in reference), calls[0] if calls else ("", None))
    entry = data.get("entry_point", name or None)
    if not is_identifier(entry):
        problems.append(f"entry_point: expected a Python identifier (a function name), got {entry!r:.60}"
                        if "entry_point" in data else "test_list: the first assert calls no function to test")
        return {}, problems
    shape = _signature(name, call) if call is not None and name == entry else f"{entry}(…)"
    prompt = f"{text.strip()}\n\nWrite it as the Python function `{entry}`, called as `{shape}`."
    tests = ([setup] if setup.strip() else []) + asserts
    return {"id": task_id, "prompt": prompt, "entry_point": entry, "tests": tests}, problems
