"""Tools and MCP servers as the Python API takes them: functions, strings, spec models or dicts.

``Role.coder(tools=[...])`` and ``Team(mcp_servers={...})`` accept what is easiest
to write in a notebook; these turn each entry into what the team spec holds, and
name the role and the entry when one cannot be a tool.

Example:
    >>> import statistics
    >>> from studio.spec import tool_label
    >>> tools = role_tools("analyst", [statistics.mean, "json:dumps", "memory_search", {"mcp": "notes"}])
    >>> [tool_label(t) for t in tools]
    ['python statistics:mean', 'python json:dumps', 'memory_search', 'mcp notes']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from studio.spec import McpServer, McpTools, PythonTool, ToolApproval
from studio.tools import ToolConfigError, reference

__all__ = ["approval_entries", "role_tools", "server_specs"]

_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$")
_KINDS = ('a Python function, "package.module:function", "memory_search", PythonTool, McpTools, '
          '{"python": ...} or {"mcp": SERVER, "allow": [...], "deny": [...]}')


def _problem(exc: ValidationError) -> str:
    """Each error as ``field: what`` (what in lower case, as the team spec's errors read)."""
    lines = []
    for e in exc.errors(include_url=False):
        what = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{'.'.join(map(str, e['loc'])) or 'value'}: {what[:1].lower()}{what[1:]}")
    return "; ".join(lines)


def _tool(role: str, index: int, entry: Any) -> Any:
    where = f"role {role!r}, tools[{index}]"
    if isinstance(entry, (PythonTool, McpTools)) or entry == "memory_search":
        return entry
    if isinstance(entry, str):
        if _PATH.match(entry):
            return PythonTool(python=entry)
        raise ValueError(f"{where}: {entry!r} is not a tool; expected \"memory_search\" or a function as "
                         "\"package.module:function\"")
    if isinstance(entry, Mapping):
        model = McpTools if "mcp" in entry else PythonTool if "python" in entry else None
        if model is None:
            raise ValueError(f"{where}: {dict(entry)!r} is not a tool; expected {_KINDS}")
        try:
            return model.model_validate(dict(entry))
        except ValidationError as exc:
            raise ValueError(f"{where}: {_problem(exc)}") from None
    if callable(entry) and hasattr(entry, "__qualname__") and not isinstance(entry, type):
        try:
            return PythonTool(python=reference(entry))
        except ToolConfigError as exc:
            raise ValueError(f"{where}: {exc}") from None
    raise TypeError(f"{where}: {type(entry).__name__} {entry!r} cannot be a tool; expected {_KINDS}")


def role_tools(role: str, tools: Iterable[Any]) -> list[Any]:
    """``tools`` as a role's spec holds them (``memory_search``, :class:`PythonTool`, :class:`McpTools`).

    Raises:
        TypeError: an entry of a type that is never a tool (a number, a class), naming the role and the entry.
        ValueError: an entry that looks like a tool but is not a valid one (a bad path, a lambda, a dict with
            unknown fields), naming the role and the entry.
    """
    if isinstance(tools, (str, Mapping)) or callable(tools):
        tools = [tools]  # one tool given on its own
    return [_tool(role, i, entry) for i, entry in enumerate(tools)]


def server_specs(servers: Mapping[str, Any] | None) -> dict[str, McpServer]:
    """``servers`` (name to :class:`McpServer` or its fields as a dict) as the team spec holds them.

    Raises:
        TypeError: ``servers`` is not a mapping, or an entry is neither a McpServer nor a dict.
        ValueError: an entry's fields are invalid; the message names the server.
    """
    if servers is None:
        return {}
    if not isinstance(servers, Mapping):
        raise TypeError(f"mcp_servers: expected a dict of name to McpServer (or its fields), got "
                        f"{type(servers).__name__}")
    found: dict[str, McpServer] = {}
    for name, server in servers.items():
        if isinstance(server, McpServer):
            found[name] = server
        elif isinstance(server, Mapping):
            try:
                found[name] = McpServer.model_validate(dict(server))
            except ValidationError as exc:
                raise ValueError(f"mcp_servers.{name}: {_problem(exc)}") from None
        else:
            raise TypeError(f"mcp_servers.{name}: expected a McpServer or a dict with command or url, got "
                            f"{type(server).__name__}")
    return found


def approval_entries(approval: Iterable[Any] | Mapping[str, Any] | None) -> list[Any]:
    """``approval`` as the spec's list: points as text, tool approvals as dicts (``{"tools": [...]}``)."""
    if approval is None:
        return []
    if isinstance(approval, Mapping):
        return [dict(approval)]
    return [p.model_dump(mode="json") if isinstance(p, ToolApproval) else p for p in approval]
