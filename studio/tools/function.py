"""Typed Python functions as tools: the signature and docstring make the schema, pydantic checks the arguments.

A function is named in a team file as ``package.module:function``; in Python it
can be given as itself (``Role.coder(tools=[lookup])``), and :func:`reference`
remembers it under that name for this process, so a function defined in a
notebook works too.

Example:
    >>> def area(width: float, height: float = 1.0) -> float:
    ...     '''Area of a rectangle.
    ...
    ...     Args:
    ...         width: in metres.
    ...         height: in metres.
    ...     '''
    ...     return width * height
    >>> tool = function_tool(area)
    >>> tool.parameters["properties"]["width"]
    {'description': 'in metres.', 'title': 'Width', 'type': 'number'}
    >>> tool.call({"width": "2", "height": 3})
    ToolOutcome(ok=True, text='6.0')
    >>> tool.call({"width": "wide"}).ok
    False
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import re
from collections.abc import Callable
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from studio.tools.base import Tool, ToolConfigError, ToolOutcome

__all__ = ["function_tool", "import_function", "reference"]

_REGISTERED: dict[str, Callable[..., Any]] = {}
_ARG_LINE = re.compile(r"^\s{2,}(\*{0,2}\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def reference(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of ``fn``, remembered for this process so :func:`import_function` finds it again.

    Raises:
        ToolConfigError: ``fn`` is not a plain function (a lambda or a local function cannot be named).
    """
    if not callable(fn) or not hasattr(fn, "__qualname__"):
        raise ToolConfigError(f"a tool must be a Python function, got {type(fn).__name__}")
    if "<" in fn.__qualname__:
        raise ToolConfigError(f"tool {fn.__qualname__}: a lambda or a function defined inside another cannot be "
                              "named in a team file; define it at the top level of a module or notebook")
    ref = f"{fn.__module__}:{fn.__qualname__}"
    _REGISTERED[ref] = fn
    return ref


def import_function(ref: str) -> Callable[..., Any]:
    """The function ``package.module:function`` names.

    Raises:
        ToolConfigError: the module does not import, or has no such callable; the message says which.
    """
    if ref in _REGISTERED:
        return _REGISTERED[ref]
    module_name, _, attr = ref.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # any error while importing the user's module is theirs to fix
        raise ToolConfigError(f"python tool {ref}: cannot import {module_name!r} ({type(exc).__name__}: {exc}); "
                              "check the module path and that it is importable where the team runs") from None
    for part in attr.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ToolConfigError(f"python tool {ref}: module {module_name!r} has no {attr!r}")
    if not callable(found):
        raise ToolConfigError(f"python tool {ref}: {attr!r} is not a function")
    return found


def _doc(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The docstring's text before its sections, and each ``Args:`` entry's description."""
    doc = inspect.getdoc(fn) or ""
    summary, args, section = [], {}, ""
    for line in doc.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"[A-Z][A-Za-z ]*:", stripped) and not line.startswith(" "):
            section = stripped[:-1].lower()
            continue
        if not section:
            summary.append(line)
        elif section in ("args", "arguments", "parameters") and (found := _ARG_LINE.match(line)):
            args[found[1].lstrip("*")] = found[2].strip()
    return "\n".join(summary).strip(), args


def _arguments_model(fn: Callable[..., Any], name: str, described: dict[str, str]) -> type[BaseModel]:
    try:
        hints = get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: take it as Any rather than refuse the tool
        hints = {}
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any), Field(default, description=described.get(param.name)))
    return create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def function_tool(fn: Callable[..., Any], name: str | None = None, source: str | None = None) -> Tool:
    """``fn`` as a tool: arguments from its signature and annotations, described by its docstring.

    An ``async`` function is run to completion; what it returns is shown to the model as text (JSON for
    data). An exception it raises is a failed call the model reads.
    """
    name = name or fn.__name__
    summary, described = _doc(fn)
    model = _arguments_model(fn, name, described)
    schema = model.model_json_schema()
    schema.pop("title", None)

    def check(arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            parsed = model.model_validate(arguments)
        except ValidationError as exc:
            raise ValueError("; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                                       for e in exc.errors(include_url=False))) from None
        return {key: getattr(parsed, key) for key in type(parsed).model_fields}

    def run(arguments: dict[str, Any]) -> ToolOutcome:
        value = fn(**arguments)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
        return ToolOutcome(True, _text(value))

    return Tool(name, summary or f"The Python function {name}.", schema,
                source or f"python {fn.__module__}:{fn.__qualname__}", run, check)


async def _awaited(value: Any) -> Any:
    return await value
