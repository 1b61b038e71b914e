"""Probe inputs from a task's examples, and how candidates behave on them (agreement, as in MBR-exec).

Candidates that pass the same visible tests are not yet told apart. Each one
is run on probe inputs: the example calls of the task with their literal
arguments varied (an ``int`` becomes 0, ``n + 1``, ``-n``...; a string
reversed or empty; a list reversed, cut or doubled). Wrong programs tend to be
wrong in different ways and right ones alike, so a candidate whose results
match more of the others' is the better bet (Shi et al., 2022). Only the
task's own text is used: nothing of a hidden test is seen.

Example:
    >>> probe_calls("assert add(2, 3) == 5", limit=4)
    ['add(2, 3)', 'add(3, 2)', 'add(0, 0)', 'add(0, 3)']
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator, Sequence
from itertools import zip_longest
from typing import Any

from roles.executor import given_tests
from roles.inputs import generated_calls

__all__ = ["agreement", "behaviour", "crash_report", "distinct_agreement", "probe_calls", "runs", "shared_results"]

PROBES = 16
"""Probe calls per task, at most."""
_MARK = "@@huddle-probe@@"
_RUNNER = """
_calls = {calls!r}
_ns = {{"__name__": "solution"}}
try:
    exec(compile(open("solution.py", encoding="utf-8").read(), "solution.py", "exec"), _ns)
except BaseException:
    print({mark!r} + "None")
    raise SystemExit(0)
_out = []
_first = None
for _src in _calls:
    try:
        _out.append(repr(eval(_src, _ns))[:200])
    except BaseException as _exc:
        _out.append("!" + type(_exc).__name__)
        _first = _first or (_src + " raised " + type(_exc).__name__ + ": " + str(_exc))[:300]
print({mark!r} + "E" + repr(_first))
print({mark!r} + repr(_out))
"""
"""The probe, run in the sandbox. It imports nothing (``json`` and the ``re`` it pulls in cost ~15 ms of every
probe): the calls come in as a list literal, the results go out as ``repr`` lines that :func:`ast.literal_eval`
reads back (a literal only: printed text cannot run code here)."""


def _variants(value: Any) -> Iterator[Any]:
    """Values like ``value``: edge cases first, then neighbours."""
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield from (0, 1, value + 1, value - 1, -value, value * 2, 7, 12)
    elif isinstance(value, float):
        yield from (0.0, value + 1.5, -value, value * 2)
    elif isinstance(value, str):
        yield from ("", value[::-1], value[:1], value * 2, value.upper(), value + " xy z")
    elif isinstance(value, (list, tuple)):
        kind = type(value)
        yield from (kind(), kind(value[::-1]), kind(value[:1]), kind(value[1:]), kind(list(value) * 2))
        for i, item in enumerate(value[:2]):
            for other in list(_variants(item))[:2]:
                yield kind([*value[:i], other, *value[i + 1:]])
    elif isinstance(value, dict):
        yield {}
        keys = list(value)
        if keys:
            yield {k: value[k] for k in keys[1:]}


def _example_calls(tests: str) -> Iterator[tuple[str, list[Any]]]:
    """``(function, literal arguments)`` of each call in ``tests`` to a function that is not a builtin."""
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)) or node.keywords:
            continue
        if hasattr(builtins, node.func.id):
            continue
        try:
            args = [ast.literal_eval(arg) for arg in node.args]
        except (ValueError, TypeError, SyntaxError, RecursionError):
            continue
        yield node.func.id, args


def probe_calls(task: str, limit: int = PROBES) -> list[str]:
    """Calls to try every candidate on: the task's example calls, then one argument at a time varied.

    A task without examples (or with few) gets calls on inputs generated from its signature and text
    (:func:`roles.inputs.generated_calls`) after those.
    """
    calls: list[str] = []
    examples = list(_example_calls(given_tests(task, edge_cases=False) or task))  # empty input: generated anyway

    def add(name: str, args: Sequence[Any]) -> None:
        call = f"{name}({', '.join(repr(a) for a in args)})"
        if call not in calls and len(call) <= 300:
            calls.append(call)

    for name, args in examples:
        add(name, args)
    for name, args in examples:  # the same values in another order, and all of them varied at once
        if len(args) > 1:
            add(name, args[::-1])
            add(name, [*args[1:], args[0]])
        firsts = [next(iter(_variants(a)), a) for a in args]
        add(name, firsts)
    for name, args in examples:  # one argument varied at a time, taking turns, so every argument is varied
        varied = [[[*args[:i], other, *args[i + 1:]] for other in _variants(value)] for i, value in enumerate(args)]
        for round_ in zip_longest(*varied):
            for call_args in round_:
                if call_args is not None:
                    add(name, call_args)
    function = examples[0][0] if examples else None
    for call in generated_calls(task, function, limit) if len(calls) < limit else []:
        if call not in calls:
            calls.append(call)
    return calls[:limit]


def behaviour(code: str, calls: Sequence[str], sandbox: Any, name: str = "probe") -> tuple[str, ...] | None:
    """What ``code`` returns (``repr``, or ``!Error``) for each call; ``None`` when it could not be run."""
    return _probe(code, calls, sandbox, name)[0]


def _probe(code: str, calls: Sequence[str], sandbox: Any, name: str) -> tuple[tuple[str, ...] | None, str]:
    """(the behaviour, the first error as ``call raised Error: message``, or "")."""
    if not calls or not code.strip():
        return None, ""
    runner = _RUNNER.format(calls=list(calls), mark=_MARK)
    result = sandbox.run({"solution.py": code, "probe.py": runner}, entry="probe.py", name=name)
    lines = [ln[len(_MARK):] for ln in result.stdout.splitlines() if ln.startswith(_MARK)]
    first: object = None
    try:
        out, first = ast.literal_eval(lines[-1]), ast.literal_eval(lines[-2][1:]) if len(lines) > 1 else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, IndexError):
        return None, ""
    seen = tuple(out) if isinstance(out, list) and len(out) == len(calls) and all(isinstance(r, str) for r in out) \
        else None
    return seen, first if isinstance(first, str) else ""


def crash_report(code: str, task: str, sandbox: Any, name: str = "probe") -> str:
    """Why ``code`` crashes on every probe call of ``task`` (the first call's error); "" when it runs on any.

    Code that returns nothing but errors on every input it can be given has failed without a test, so a coder
    can fix it from this, as from a failed test.
    """
    calls = probe_calls(task, limit=6)
    seen, first = _probe(code, calls, sandbox, name)
    return first if seen is not None and not runs(seen) and first else ""


def agreement(behaviours: Sequence[tuple[str, ...] | None]) -> list[int]:
    """For each behaviour, how many of the others are the same (0 for one that could not be run or crashed on all).

    Candidates that crash alike are not a cluster: a majority that crashes loses to a minority that runs.

    Example:
        >>> agreement([("1",), ("1",), ("2",), None, ("!TypeError",), ("!TypeError",)])
        [1, 1, 0, 0, 0, 0]
    """
    return [0 if not runs(b) else sum(1 for j, other in enumerate(behaviours) if j != i and other == b)
            for i, b in enumerate(behaviours)]


def distinct_agreement(behaviours: Sequence[tuple[str, ...] | None], codes: Sequence[str]) -> list[int]:
    """For each behaviour, how many other programs (code other than its own) are the same; as :func:`agreement`.

    A small model writes one program many times: its copies agree because they are one program, not because
    they found the same answer. Between clusters of one size, the one that more different programs reach is
    the better evidence.

    Example:
        >>> distinct_agreement([("1",), ("1",), ("1",), ("2",), ("2",), ("2",)], ["a", "a", "a", "b", "c", "d"])
        [0, 0, 0, 2, 2, 2]
    """
    return [0 if not runs(b) else len({codes[j] for j, other in enumerate(behaviours)
                                       if other == b and codes[j] != codes[i]})
            for i, b in enumerate(behaviours)]


def runs(behaviour: tuple[str, ...] | None) -> bool:
    """Whether a candidate ran and returned something on at least one call (a crash on every call is no vote).

    Example:
        >>> runs(("!TypeError", "3")), runs(("!TypeError", "!TypeError")), runs(None)
        (True, False, False)
    """
    return behaviour is not None and any(not r.startswith("!") for r in behaviour)


def shared_results(behaviours: Sequence[tuple[str, ...] | None]) -> list[int]:
    """For each behaviour, how many results it shares with the others.

    That is, over every other candidate and every probe call, the calls where both returned the same value
    (a shared error counts nothing; 0 for one not run).

    Partly right candidates share results with the right ones, so this separates groups of equal size.

    Example:
        >>> shared_results([("1", "2"), ("1", "3"), ("1", "2"), ("!TypeError", "2"), None])
        [4, 2, 4, 2, 0]
    """
    def shared(a: tuple[str, ...], b: tuple[str, ...]) -> int:
        return sum(1 for x, y in zip(a, b, strict=False) if x == y and not x.startswith("!"))

    return [0 if b is None else sum(shared(b, other) for j, other in enumerate(behaviours) if j != i and other)
            for i, b in enumerate(behaviours)]
