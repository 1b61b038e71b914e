"""How a team's MCP server is reached: the environment a stdio server gets, its command, an HTTP server's headers.

What a stdio server gets of the environment: the variables its ``env`` names, plus ``PATH``, ``HOME`` and
``LANG`` of the run's environment, plus what the SDK's ``get_default_environment()`` always passes
(``HOME``, ``LOGNAME``, ``PATH``, ``SHELL``, ``TERM``, ``USER`` of this process, none of them secrets). Nothing
else: an API key the team runs with never reaches a server unless its ``env`` names it.

Header values are read from the environment as late as possible and never appear in a message or a log.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx2
from mcp.client.stdio import get_default_environment

from studio.spec.tools import McpServer
from studio.tools.base import ToolConfigError

__all__ = ["PASSED_ON", "McpServerError", "child_environment", "describe", "leaves", "resolve_command",
           "resolve_headers"]

PASSED_ON = ("PATH", "HOME", "LANG")
"""Variables of the run's environment every stdio server gets besides the ones its ``env`` names."""
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}")


class McpServerError(ToolConfigError):
    """An MCP server of the team cannot be started or reached; the message names it and says what to do."""

    __module__ = "studio.tools.mcp"  # where users import it from (and how tracebacks name it)


def child_environment(name: str, spec: McpServer, environ: Mapping[str, str]) -> dict[str, str]:
    """What a stdio server's process gets of ``environ`` (the SDK adds its safe defaults to it).

    Raises:
        McpServerError: a variable ``env`` names is not set.
    """
    missing = [var for var in spec.env if var not in environ]
    if missing:
        raise McpServerError(f"MCP server '{name}': environment variable {missing[0]} is not set "
                             f"(mcp_servers.{name}.env names it); set it where the team runs or remove it from env")
    return {var: environ[var] for var in (*PASSED_ON, *spec.env) if var in environ}


def resolve_command(name: str, spec: McpServer, env: Mapping[str, str]) -> str:
    """The program a stdio server runs, found on the ``PATH`` it gets (or relative to its ``cwd``).

    A bare ``python`` or ``python3`` is the Python running Huddle: a server written with the MCP SDK finds
    the SDK there, whether or not the virtual environment is activated.

    Raises:
        McpServerError: the program or the folder does not exist.
    """
    command = spec.command or ""
    if command in ("python", "python3") and sys.executable:
        return sys.executable
    folder = Path(spec.cwd) if spec.cwd else Path.cwd()
    if not folder.is_dir():
        raise McpServerError(f"MCP server '{name}': folder '{spec.cwd}' does not exist; "
                             f"fix mcp_servers.{name}.cwd")
    if "/" in command or os.sep in command:
        path = folder / command
        found = str(path.absolute()) if path.is_file() and os.access(path, os.X_OK) else None
    else:
        found = shutil.which(command, path=(get_default_environment() | dict(env)).get("PATH"))
    if found is None:
        raise McpServerError(f"MCP server '{name}': command '{command}' not found; "
                             f"install it or fix mcp_servers.{name}.command")
    return found


def resolve_headers(name: str, spec: McpServer, environ: Mapping[str, str]) -> dict[str, str]:
    """An HTTP server's headers with each ``${VAR}`` replaced; the values are never shown anywhere.

    Raises:
        McpServerError: a header refers to a variable that is not set (the message names both, not the value).
    """
    headers = {}
    for header, value in spec.headers.items():
        for var in _VARIABLE.findall(value):
            if var not in environ:
                raise McpServerError(f"MCP server '{name}': header '{header}' refers to ${{{var}}}, which is not "
                                     "set; set it where the team runs (never write the value in the team file)")
        headers[header] = _VARIABLE.sub(lambda found: environ[found[1]], value)
    return headers


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside ``exc``'s groups, and the causes behind them."""
    grouped = getattr(exc, "exceptions", None)  # an ExceptionGroup (a builtin from Python 3.11 only)
    if isinstance(grouped, tuple | list):
        return [leaf for inner in grouped for leaf in leaves(inner)]
    chain, seen = [exc], {id(exc)}
    while (exc := exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:  # type: ignore[assignment]
        chain.append(exc)
        seen.add(id(exc))
    return chain


def describe(exc: BaseException, url: str | None = None) -> str:
    """A short reason for people, never a header value: what went wrong on the way to the server."""
    found = leaves(exc)
    if url is not None and any(isinstance(e, httpx2.ConnectError | ConnectionError) for e in found):
        refused = any(isinstance(e, ConnectionRefusedError) or "refused" in str(e).lower()
                      or "all connection attempts failed" in str(e).lower() for e in found)
        return f"cannot connect to {url} ({'connection refused' if refused else found[0]}); is it running?"
    status = next((e for e in found if isinstance(e, httpx2.HTTPStatusError)), None)
    if status is not None:
        return f"{url or 'the server'} answered HTTP {status.response.status_code}; check the url and headers"
    leaf = found[0]
    return f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__
