"""Pull structured replies out of model text, forgiving the usual noise.

Small models wrap JSON in prose or code fences, or add a trailing comma; these
helpers find the JSON object and the fenced code block before validation.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_OPEN_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*)\Z", re.DOTALL)
_PYTHON = ("python", "py", "")


class ParseError(ValueError):
    """The reply did not have the expected shape; the message says what was wrong."""


def _objects(text: str):
    """Yield each balanced ``{...}`` substring, outermost first."""
    start = text.find("{")
    while start != -1:
        depth, in_str, escape = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if escape:
                    escape = False
                elif ch == "\\":
                    escape = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    yield text[start : i + 1]
                    break
        start = text.find("{", start + 1)


def extract_json(text: str) -> Any:
    """Return the first JSON object in ``text``.

    Raises:
        ParseError: no JSON object could be found.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    for candidate in _objects(text):
        for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                return json.loads(attempt)
            except json.JSONDecodeError:
                continue
    raise ParseError("the reply contains no JSON object")


def parse_model(text: str, model: type[T]) -> T:
    """Validate the JSON object in ``text`` as ``model``.

    Raises:
        ParseError: naming the fields that were wrong.
    """
    data = extract_json(text)
    try:
        return model.model_validate(data)
    except ValueError as exc:
        errors: list[dict[str, Any]] = getattr(exc, "errors", lambda: [])()
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in errors) or str(exc)
        raise ParseError(f"the JSON does not match the expected shape ({detail})") from None


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    r"""Every fenced block in ``text`` as (language in lower case, body).

    Example:
        >>> fenced_blocks("see\n```python\nx = 1\n```")
        [('python', 'x = 1')]
    """
    return [(lang.lower(), body.strip("\n")) for lang, body in _FENCE.findall(text)]


def _whole_lines_that_parse(body: str) -> str:
    """The longest run of ``body``'s first lines that is valid Python with some code in it (``""``: none is)."""
    lines = body.splitlines()
    for end in range(len(lines), 0, -1):
        code = "\n".join(lines[:end]).rstrip()
        if not code.strip():
            break
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            continue
        return code if tree.body else ""
    return ""


def extract_code(text: str, language: str = "python") -> str:
    r"""Return the first fenced code block (preferring ``language``).

    A Python block that is never closed (the reply was cut at its token limit, or the model forgot the fence)
    keeps its longest run of whole lines that parses: the code the model had written, without the cut line.

    Example:
        >>> extract_code("```python\ndef f():\n    return 1\n\n# Usage:\nf(2) -> [3, 4")
        'def f():\n    return 1\n\n# Usage:'

    Raises:
        ParseError: the reply has no fenced code block (nor an unclosed Python one with code that parses).
    """
    blocks = fenced_blocks(text)
    if blocks:
        return next((body for lang, body in blocks if lang in (language, "py", "")), blocks[0][1])
    opened = _OPEN_FENCE.search(text) if language == "python" else None
    if opened is not None and opened.group(1).lower() in _PYTHON:
        code = _whole_lines_that_parse(opened.group(2))
        if code:
            return code
        raise ParseError("the reply's ```python block is not closed, and no part of it parses as Python")
    raise ParseError("the reply contains no fenced code block (```python ... ```)")
