"""Inputs to try candidates on when a task gives no worked example: from its signature, type hints and text.

A task that names its function (``Write count_upper(s) that ...``, or a ``def``
line with type hints, as HumanEval prompts have) says enough to call it: the
type of each parameter comes from its hint, else from its name (``n`` and
``count`` are numbers, ``s`` and ``text`` strings, ``nums`` a list of numbers)
or the words around it ("the string s", "a list of words"). Each parameter
then takes boundary values (0, 1, a negative number; the empty and the
one-element container; mixed case) and the literals the prompt itself names.
There are no expected outputs: candidates are compared by what they return
(:mod:`roles.vote`).

Example:
    >>> generated_calls("Write a Python function count_upper(s) that counts the uppercase letters.", limit=4)
    ["count_upper('')", "count_upper('a')", "count_upper('Hello World')", "count_upper('aBc DeF')"]
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from itertools import islice, zip_longest
from typing import Any

__all__ = ["generated_calls", "param_kind", "signature"]

_VALUES: dict[str, list[Any]] = {
    "int": [0, 1, 5, -3, 12, 2, 100, 7],
    "float": [0.0, 1.5, -2.25, 10.0, 3.0],
    "bool": [True, False],
    "str": ["", "a", "Hello World", "aBc DeF", "racecar", "abc123", " x ", "Zz"],
    "list[int]": [[], [3], [1, 2, 3], [5, -2, 5, 0], [9, 8, 7, 1], [2, 2]],
    "list[str]": [[], ["a"], ["apple", "Banana", "kiwi"], ["x", "y", "x"]],
    "list[float]": [[], [1.5], [2.0, -1.0, 3.5]],
    "list": [[], [1], [3, 1, 2], [1, [2, 3]], ["a", "b"]],
    "dict": [{}, {"a": 1}, {"a": 1, "b": 2}],
    "tuple": [(), (1, 2), (3, -1, 3)],
    "any": [0, 3, -1, "", "ab", [], [1, 2]],
}
_BY_NAME = (
    ("list[str]", r"words|strings|names|sentences|lines|tokens"),
    ("list[int]", r"nums|numbers|lst|arr|array|items|values|xs|ints|integers|scores|list\d*|seq|data|l\d?"),
    ("str", r"s\d?|text|word|string|sentence|name|line|char|c|ch|prefix|suffix|sub|pattern|letters|message|msg|"
            r"a_str|st"),
    ("int", r"n\d?|m|k|i|j|x|y|a|b|num|number|count|size|length|limit|start|end|stop|step|base|power|exp|"
            r"width|height|low|lo|high|hi|year|index|idx|amount|target|times|digits|value|val"),
    ("float", r"celsius|fahrenheit|temp|temperature|price|rate|ratio|weight"),
    ("dict", r"d|mapping|table|counts|dict\w*"),
)
_TYPE_WORDS = (("list[str]", r"list of (?:words|strings|names)"),
               ("list[int]", r"list of (?:\w+ )?(?:numbers|integers|ints)"),
               ("list[int]", r"list|array|sequence"), ("str", r"string|text|word|sentence|character"),
               ("float", r"float|decimal|temperature"), ("int", r"integer|number|count|digit"),
               ("dict", r"dict|dictionary|mapping"), ("bool", r"boolean|flag"))


def _hint(annotation: ast.expr | None) -> str | None:
    """``int``, ``list[int]``... from a type hint (``List[int]`` and ``Optional`` read too); ``None`` if unknown."""
    if annotation is None:
        return None
    text = ast.unparse(annotation).replace("typing.", "").replace("List", "list").replace("Dict", "dict")
    text = text.replace("Tuple", "tuple").replace(" ", "")
    text = re.sub(r"^Optional\[(.*)\]$", r"\1", text)
    if text in _VALUES:
        return text
    for kind in ("list[int]", "list[str]", "list[float]", "dict", "tuple", "list"):
        if text.startswith(kind.split("[")[0]) and (kind == text or kind in ("dict", "tuple", "list")):
            return kind
    return None


def _from_def(text: str, name: str | None) -> tuple[str, list[tuple[str, str | None]]] | None:
    for match in re.finditer(r"^[ \t]*def\s+([A-Za-z_]\w*)\s*\(", text, re.MULTILINE):
        if name and match.group(1) != name:
            continue
        header = text[match.start():].lstrip()
        end = header.find(":\n")
        for stop in ([end] if end > 0 else []) + [m.start() for m in re.finditer(r":", header)]:
            try:
                tree = ast.parse(header[:stop + 1].strip() + " pass")
            except SyntaxError:
                continue
            fn = tree.body[0]
            assert isinstance(fn, ast.FunctionDef)
            return fn.name, [(a.arg, _hint(a.annotation)) for a in fn.args.args if a.arg not in ("self", "cls")]
    return None


def signature(text: str, name: str | None = None) -> tuple[str, list[tuple[str, str | None]]] | None:
    """The task's function and its parameters with their hinted types: from a ``def`` line, else the prose.

    Example:
        >>> signature("Write a function clamp(x, lo, hi) that limits x to [lo, hi].")
        ('clamp', [('x', None), ('lo', None), ('hi', None)])
        >>> signature("def head(xs: List[int], n: int = 1) -> list:")
        ('head', [('xs', 'list[int]'), ('n', 'int')])
    """
    found = _from_def(text, name)
    if found is not None:
        return found
    for match in re.finditer(r"\b([A-Za-z_]\w*)\(([A-Za-z_][\w\s,=*]*)?\)", text):
        if name and match.group(1) != name:
            continue
        params = [p.strip().split("=")[0].strip().lstrip("*") for p in (match.group(2) or "").split(",") if p.strip()]
        if all(p.isidentifier() for p in params):
            return match.group(1), [(p, None) for p in params]
    return None


def _guess(param: str, text: str) -> str:
    """A parameter's type from the words just before it (``the string s``), else from its name."""
    before = re.search(rf"(\w+(?:\s+\w+){{0,4}})\s+[`'\"]?{re.escape(param)}\b[`'\"]?(?!\()", text)
    if before:
        phrase = f"{before.group(1)} {param}"
        for kind, words in _TYPE_WORDS:
            if re.search(rf"\b(?:{words})s?\b", phrase, re.IGNORECASE):
                return kind
    for kind, names in _BY_NAME:
        if re.fullmatch(names, param, re.IGNORECASE):
            return kind
    return "any"


def param_kind(param: str, hint: str | None, text: str) -> str:
    """A parameter's type (``int``, ``str``, ``list[int]``...): its hint, else from the words around it and its name.

    Example:
        >>> param_kind("s", None, "the string s"), param_kind("xs", "list[str]", ""), param_kind("q", None, "")
        ('str', 'list[str]', 'any')
    """
    return hint or _guess(param, text)


def _named_values(text: str, kind: str) -> list[Any]:
    """Literals of ``kind``'s type that the prompt itself names (quoted words, numbers)."""
    values: list[Any] = []
    if kind == "str":
        values = [m.group(2) for m in re.finditer(r"([\"'])([^\"'\n]{1,30})\1", text)]
    elif kind == "int":
        values = [int(m.group()) for m in re.finditer(r"(?<![\w.])-?\d{1,6}(?![\w.])", text)]
    return values[:4]


def _values(kind: str, text: str, non_empty: bool) -> list[Any]:
    named = [v for v in _named_values(text, kind) if v not in _VALUES.get(kind, [])]
    base = list(_VALUES.get(kind, _VALUES["any"]))
    if non_empty:
        base = [v for v in base if not (hasattr(v, "__len__") and len(v) == 0)] or base
    return base[:2] + named + base[2:]


def generated_calls(text: str, name: str | None = None, limit: int = 16) -> list[str]:
    """Calls of the task's function on generated inputs, boundary values first; ``[]`` when it names none.

    Each parameter takes its values in turn while the others keep a typical one, then all vary together,
    so every parameter is varied within the first few calls.
    """
    found = signature(text, name)
    if found is None or not found[1]:
        return [f"{found[0]}()"] if found else []
    function, params = found
    non_empty = bool(re.search(r"non-?empty|at least one", text, re.IGNORECASE))
    columns = [_values(param_kind(p, hint, text), text, non_empty) for p, hint in params]
    typical = [col[min(2, len(col) - 1)] for col in columns]
    calls: list[str] = []

    def add(args: list[Any]) -> None:
        call = f"{function}({', '.join(repr(a) for a in args)})"
        if call not in calls and len(call) <= 300:
            calls.append(call)

    for together in islice(zip_longest(*columns), 3):  # all parameters at their edges at once
        add([v if v is not None else typical[i] for i, v in enumerate(together)])
    for round_ in _one_at_a_time(columns, typical):
        add(round_)
    for together in islice(zip_longest(*columns), 3, None):
        add([v if v is not None else typical[i] for i, v in enumerate(together)])
    return calls[:limit]


def _one_at_a_time(columns: list[list[Any]], typical: list[Any]) -> Iterator[list[Any]]:
    for depth in range(max(len(c) for c in columns)):
        for i, column in enumerate(columns):
            if depth < len(column):
                yield [*typical[:i], column[depth], *typical[i + 1:]]
