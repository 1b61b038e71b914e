"""Tools in the team spec: what a role may call, and the MCP servers the team connects to.

A role's ``tools`` list mixes three kinds of entry:

- ``memory_search``: search the team's memory with its own query;
- ``{python: "package.module:function"}``: a typed Python function;
- ``{mcp: SERVER, allow: [...], deny: [...]}``: the tools of one of the team's ``mcp_servers``, all of them or
  the ones ``allow`` names, less the ones ``deny`` names.

Example:
    >>> role_tools = [PythonTool(python="statistics:mean"), McpTools(mcp="notes", allow=["search"])]
    >>> [tool_label(t) for t in role_tools]
    ['python statistics:mean', 'mcp notes (search)']
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ENV_NAME", "approval_label", "McpServer", "McpTools", "PythonTool", "ToolApproval", "ToolRef", "tool_label"]

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_TOOL_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PythonTool(_Model):
    """A typed Python function as a tool: its name, docstring and annotations make the tool."""

    python: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$")
    """Where the function is: ``package.module:function`` (importable where the team runs)."""
    name: str | None = Field(None, pattern=_TOOL_NAME)
    """The tool's name as the model sees it; the function's name when unset."""


class McpTools(_Model):
    """Tools of one MCP server the team lists in ``mcp_servers``."""

    mcp: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
    """The server's name in the team's ``mcp_servers``."""
    allow: list[str] | None = None
    """Only these of its tools (unset: all of them). Models handle about 20 tools well: pick the ones needed."""
    deny: list[str] = Field(default_factory=list)
    """Never these of its tools."""


ToolRef = Literal["memory_search"] | PythonTool | McpTools
"""One entry of a role's ``tools``."""


class McpServer(_Model):
    """An MCP server the team connects to: a command over stdio, or a streamable HTTP ``url``.

    Secrets never go in the file: ``env`` names the variables the server process gets from the
    environment, and a header's value may refer to variables as ``${NAME}``.
    """

    command: str | None = None
    """stdio: the program to start (``npx``, ``uvx``, a path, …); ``python`` is the Python running Huddle."""
    args: list[str] = Field(default_factory=list)
    """stdio: its arguments."""
    env: list[str] = Field(default_factory=list)
    """stdio: names of environment variables passed on to it (nothing else of the environment is)."""
    cwd: str | None = None
    """stdio: the folder it starts in (the current one when unset)."""
    url: str | None = None
    """streamable HTTP: the server's endpoint, ``http(s)://host:port/mcp``."""
    headers: dict[str, str] = Field(default_factory=dict)
    """streamable HTTP: headers sent with each request; ``${NAME}`` in a value is replaced by that variable."""
    timeout_s: float = Field(30, gt=0, le=3600)
    """How long one tool call may take; connecting at the start may take this or 10 s, whichever is longer."""

    @model_validator(mode="after")
    def _check_transport(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a server started over stdio) or url (streamable HTTP), "
                             "not both and not neither")
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError(f"url: expected http://HOST:PORT/PATH or https://…, got {self.url!r}")
        bad = [name for name in self.env if not re.match(ENV_NAME, name)]
        if bad:
            raise ValueError(f"env: names of environment variables only (got {bad[0]!r}); the values come from the "
                             "environment the team runs in")
        return self

    def header_variables(self) -> list[str]:
        """The environment variables the headers refer to."""
        return sorted({m for value in self.headers.values() for m in _REFERENCE.findall(value)})


class ToolApproval(_Model):
    """An approval point before calls of the named tools: a person approves, edits the arguments or rejects."""

    tools: list[str] = Field(min_length=1)


def approval_label(point: str | ToolApproval) -> str:
    """A short human label for one entry of a team's ``approval``: the point, or ``before tools a, b``."""
    return point if isinstance(point, str) else f"before tools {', '.join(point.tools)}"


def tool_label(tool: ToolRef) -> str:
    """A short human label for one entry of a role's ``tools``."""
    if isinstance(tool, PythonTool):
        return f"python {tool.python}" + (f" as {tool.name}" if tool.name else "")
    if isinstance(tool, McpTools):
        picked = f" ({', '.join(tool.allow)})" if tool.allow is not None else ""
        return f"mcp {tool.mcp}{picked}" + (f" without {', '.join(tool.deny)}" if tool.deny else "")
    return str(tool)
