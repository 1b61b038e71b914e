"""The tools each role of a team gets for a run: its Python functions and the MCP tools it may use.

``memory_search`` is not here: it comes with the role's memory (see :mod:`roles.act`).

Example:
    >>> from studio.spec import TeamSpec
    >>> team = TeamSpec(name="t", roles=[{"name": "r", "kind": "coder", "tools": [{"python": "statistics:mean"}]}])
    >>> kit = team_tools(team, pool=None)
    >>> [t.name for t in kit.tools["r"]], kit.problems
    (['mean'], [])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from studio.spec import McpTools, PythonTool, RoleSpec, TeamSpec
from studio.tools.base import Tool, ToolConfigError
from studio.tools.function import function_tool, import_function

if TYPE_CHECKING:
    from studio.tools.mcp import McpPool

__all__ = ["TeamTools", "team_tools"]


@dataclass
class TeamTools:
    """Each role's tools, and the servers that could not be reached (the run goes on without them)."""

    tools: dict[str, tuple[Tool, ...]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """One line per MCP server that could not be reached, naming it and why."""


def team_tools(spec: TeamSpec, pool: McpPool | None, *, strict: bool = False) -> TeamTools:
    """Resolve every role's ``tools`` into :class:`Tool` objects.

    Args:
        spec: the team.
        pool: the run's MCP connections (``None`` when the team lists no server).
        strict: an MCP server that cannot be reached raises instead of being left out with a problem line.

    Raises:
        ToolConfigError: a ``python:`` path that does not import, a tool name a server does not have, two tools
            of one role with the same name, or an ``approval`` that names a tool no role has; with ``strict``,
            a server that cannot be reached (:class:`~studio.tools.mcp.McpServerError`).
    """
    out = TeamTools()
    unreachable: dict[str, str] = {}
    for role in spec.roles:
        out.tools[role.name] = tuple(_role_tools(role, pool, unreachable, strict))
    out.problems = list(unreachable.values())
    named = {t.name for tools in out.tools.values() for t in tools} | {"memory_search"}
    if not unreachable:
        missing = sorted(spec.approved_tools() - named)
        if missing:
            raise ToolConfigError(f"approval: no role has a tool named {', '.join(map(repr, missing))}; the roles' "
                                  f"tools are: {', '.join(sorted(named))}")
    return out


def _role_tools(role: RoleSpec, pool: McpPool | None, unreachable: dict[str, str], strict: bool) -> list[Tool]:
    tools: list[Tool] = []
    for entry in role.tools:
        if isinstance(entry, PythonTool):
            try:
                fn = import_function(entry.python)
            except ToolConfigError as exc:
                raise ToolConfigError(f"role {role.name}: {exc}") from None
            tools.append(function_tool(fn, name=entry.name, source=f"python {entry.python}"))
        elif isinstance(entry, McpTools):
            tools += _mcp_tools(role, entry, pool, unreachable, strict)
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen or tool.name == "memory_search":
            raise ToolConfigError(f"role {role.name}: two tools are named {tool.name!r}; give a python tool another "
                                  "name (name: ...) or leave one out with allow/deny")
        seen.add(tool.name)
    return tools


def _mcp_tools(role: RoleSpec, entry: McpTools, pool: McpPool | None, unreachable: dict[str, str],
               strict: bool) -> list[Tool]:
    from studio.tools.mcp import McpServerError  # deferred: the SDK loads only for teams with servers

    if entry.mcp in unreachable:
        return []
    if pool is None:
        raise ToolConfigError(f"role {role.name}: MCP server {entry.mcp!r} is not open for this run")
    try:
        listed = pool.tools(entry.mcp)
    except McpServerError as exc:
        if strict:
            raise
        unreachable[entry.mcp] = f"{exc} The run goes on without its tools."
        return []
    names = [t.name for t in listed]
    for kind, wanted in (("allow", entry.allow or []), ("deny", entry.deny)):
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ToolConfigError(f"role {role.name}: MCP server {entry.mcp!r} has no tool named {unknown[0]!r} "
                                  f"(in {kind}); it has: {', '.join(names) or 'no tools'}")
    return [t for t in listed if (entry.allow is None or t.name in entry.allow) and t.name not in entry.deny]
