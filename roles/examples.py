r"""Worked examples in a task's own text, as assert lines, whichever way the task phrases them.

Three phrasings are read: ``assert`` lines (``Example: assert add(2, 3) == 5``),
doctest lines in a docstring (``>>> add(2, 3)`` with ``5`` on the next line)
and sentences (``add(2, 3) should return 5``, ``add(2, 3) returns 5``,
``add(2, 3) == 5``, ``add(2, 3) -> 5``; and what empty input gives, "an empty
list gives 0", by :mod:`roles.edge_cases`). Each becomes ``assert <call> == <value>``;
what cannot be read as a Python call and value is left out rather than guessed.

Example:
    >>> doctest_asserts(">>> add(2, 3)\n5")
    ['assert add(2, 3) == 5']
    >>> sentence_asserts("For example, add(2, 3) should return 5.")
    ['assert add(2, 3) == 5']
"""

from __future__ import annotations

import ast
import builtins
import re

from roles.edge_cases import empty_asserts

__all__ = ["bare_asserts", "doctest_asserts", "example_asserts", "sentence_asserts"]

_PROMPT = re.compile(r"^\s*>>>\s?(.*)$")
_CONTINUED = re.compile(r"^\s*\.\.\.\s?(.*)$")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\(")
_SAYS = re.compile(r"\s*(?:should\s+(?:return|give|be|yield|equal|output)|must\s+return|returns|gives|yields|"
                   r"outputs|evaluates\s+to|is|equals|==>|==|=>|->|→|=)\s*", re.IGNORECASE)
_ENDS = re.compile(r"(?:[.;,]\s|[.;]$|\s(?:and|but|while|since|because|for|when|if|as|otherwise)\s|$)")


def _expression(text: str) -> bool:
    try:
        ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return False
    return bool(text.strip())


def _literal(text: str) -> bool:
    """Whether ``text`` is a plain value (a literal, or a name such as ``True``/``None``), not more code."""
    try:
        ast.literal_eval(text.strip())
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return False
    return True


def _assert(call: str, value: str) -> str:
    value = value.strip()
    if value in ("True", "False", "None"):
        return f"assert {call.strip()} is {value}"
    return f"assert {call.strip()} == {value}"


def doctest_asserts(text: str) -> list[str]:
    r"""``>>> call`` lines whose next lines give the value, as assert lines (exceptions and prints are skipped).

    Example:
        >>> doctest_asserts(">>> f([1,\n... 2])\n[2, 1]\n>>> g()\nTraceback (most recent call last):")
        ['assert f([1, 2]) == [2, 1]']
    """
    lines, found = text.splitlines(), []
    i = 0
    while i < len(lines):
        match = _PROMPT.match(lines[i])
        i += 1
        if not match:
            continue
        source = [match.group(1)]
        while i < len(lines) and (more := _CONTINUED.match(lines[i])):
            source.append(more.group(1))
            i += 1
        output = []
        while i < len(lines) and lines[i].strip() and not _PROMPT.match(lines[i]) and '"""' not in lines[i] \
                and "'''" not in lines[i]:
            output.append(lines[i].strip())
            i += 1
        call, value = " ".join(s.strip() for s in source), " ".join(output)
        if value and _expression(call) and _CALL.search(call) and _literal(value) and \
                not value.startswith("Traceback"):
            found.append(_assert(call, value))
    return found


def _calls(text: str) -> list[tuple[int, int]]:
    """(start, end) of each balanced call ``name(...)`` in ``text`` to a function that is not a builtin."""
    spans = []
    for match in _CALL.finditer(text):
        if hasattr(builtins, match.group(1)) or match.group(1) in ("def", "print"):
            continue
        depth, end = 0, None
        for j in range(match.end() - 1, min(len(text), match.end() + 300)):
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(text[j], 0)
            if depth == 0:
                end = j + 1
                break
        if end is not None:
            spans.append((match.start(), end))
    return spans


def sentence_asserts(text: str) -> list[str]:
    """``f(x) should return y`` and its variants in prose, as assert lines (only where ``y`` is a Python value).

    Example:
        >>> sentence_asserts("is_even(4) returns True, and clamp(5, 0, 3) gives 3; count('a') is 1.")
        ['assert is_even(4) is True', 'assert clamp(5, 0, 3) == 3', "assert count('a') == 1"]
    """
    found = []
    for start, end in _calls(text):
        call = text[start:end]
        if text[max(0, start - 4):start].strip().endswith(("def", ">>>")) or not _literal_call(call):
            continue
        said = _SAYS.match(text, end)
        if said is None:
            continue
        rest = text[said.end():said.end() + 300]
        value = _value(rest)
        if value is not None:
            line = _assert(call, value)
            if line not in found:
                found.append(line)
    return found


def _literal_call(call: str) -> bool:
    """Whether ``call`` is a call with literal arguments only (``f(2, "a")``, not the signature ``f(n)``)."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return False
    if not isinstance(node, ast.Call):
        return False
    try:
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            ast.literal_eval(arg)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return False
    return True


def _value(rest: str) -> str | None:
    """The longest Python literal at the start of ``rest`` that ends where the sentence would."""
    ends = sorted({m.start() for m in _ENDS.finditer(rest)} | {len(rest)})
    for end in reversed(ends):
        candidate = rest[:end].strip().rstrip(".").strip()
        if candidate and _literal(candidate):
            return candidate
    quoted = re.match(r"\s*[\"'`](.*?)[\"'`]", rest)  # "returns `3`" in Markdown
    if quoted and _literal(quoted.group(1)):
        return quoted.group(1)
    return None


def bare_asserts(text: str) -> list[str]:
    """The ``assert`` lines of ``text``, stripped (fenced or not: callers cut the fences they skip)."""
    return [m.group(1).strip() for m in re.finditer(r"^\s*(assert\s.+)$", text, re.MULTILINE)]


def example_asserts(text: str, edge_cases: bool = True) -> list[str]:
    r"""Every worked example of ``text`` as an assert line, in order: asserts, doctest lines, sentences.

    Sentences are read outside fenced code and doctest lines only, and each line appears once. With
    ``edge_cases``, what the text says of empty input comes last (:mod:`roles.edge_cases`: "an empty list
    gives 0").

    Example:
        >>> example_asserts("Write inc(n).\nassert inc(1) == 2\nAlso inc(-1) should return 0.")
        ['assert inc(1) == 2', 'assert inc(-1) == 0']
    """
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    prose = "\n".join(line for line in prose.splitlines() if not _PROMPT.match(line) and
                      not line.strip().startswith("assert "))
    out: list[str] = []
    edges = empty_asserts(prose) if edge_cases else []
    for line in [*bare_asserts(text), *doctest_asserts(text), *sentence_asserts(prose), *edges]:
        if line not in out:
            out.append(line)
    return out
