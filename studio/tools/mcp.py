"""The MCP servers of a run: each connected on first use, its tools listed once, all of them closed at the end.

Roles are plain threads (LangGraph runs parallel ones in a thread pool) while the ``mcp`` SDK is async: every
session of a pool lives on ONE background thread with its own event loop, started on first use, and a call
from any thread is handed to it and waited for. A call that hangs waits only for itself: other calls, to the
same server or another, go on meanwhile.

A server that crashes, hangs or answers with an error never raises into the role that called it: the call
comes back as a failed :class:`~studio.tools.base.ToolOutcome` naming the server, and after a crash every
later call fails at once with the same message (no reconnect loop within a run). A stdio server's stderr goes
to a temporary file, never to the user's terminal; its last lines are quoted when it dies.

What a stdio server gets of the environment: the variables its ``env`` names, ``PATH``, ``HOME`` and ``LANG``,
and what the SDK's ``get_default_environment()`` always adds (``HOME``, ``LOGNAME``, ``PATH``, ``SHELL``,
``TERM``, ``USER``: no secrets). An HTTP server's headers are filled in from ``${VAR}`` references; their values
never appear in a message. Connecting may take the server's ``timeout_s``, and never less than 10 s (starting
a server costs more than a call); each call may take ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import mcp_types

from studio.spec.tools import McpServer
from studio.tools._mcp_link import Link, schema_check
from studio.tools._mcp_setup import McpServerError, describe
from studio.tools.base import Tool, ToolOutcome

__all__ = ["McpPool", "McpServerError"]

_T = TypeVar("_T")
_GRACE_S = 5.0
"""How much longer than a server's ``timeout_s`` a caller waits before it gives up on the loop itself."""


class McpPool:
    """The connections to a team's MCP servers for one run.

    Args:
        servers: the team's ``mcp_servers``, by name.
        environ: where the variables that ``env`` and ``headers`` name are read (``os.environ`` when unset).

    Example:
        >>> from studio.spec import McpServer
        >>> with McpPool({"notes": McpServer(command="nosuch-notes-server")}) as pool:  # doctest: +ELLIPSIS
        ...     pool.check()
        Traceback (most recent call last):
            ...
        studio.tools.mcp.McpServerError: MCP server 'notes': command 'nosuch-notes-server' not found; install it ...
    """

    def __init__(self, servers: Mapping[str, McpServer], environ: Mapping[str, str] | None = None) -> None:
        self._servers = dict(servers)
        self._environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._links: dict[str, Link] = {}
        self._opening: dict[str, concurrent.futures.Future[list[Tool]]] = {}
        self._closed = False

    def tools(self, server: str) -> list[Tool]:
        """The tools of ``server``: connects on the first call, then the same list every time.

        Raises:
            McpServerError: the server is not in ``mcp_servers``, or cannot be started or reached; a server
                that failed once fails the same way for the rest of the run.
        """
        future = self._start(server)
        try:
            return list(future.result(timeout=self._links[server].connect_timeout_s + _GRACE_S))
        except McpServerError as exc:
            raise McpServerError(str(exc)) from None
        except concurrent.futures.TimeoutError:
            raise McpServerError(f"MCP server '{server}': no answer while connecting") from None
        except Exception as exc:  # anything else on the way still names the server, for the person to act on
            raise McpServerError(f"MCP server '{server}': {describe(exc, self._servers[server].url)}") from None

    def check(self) -> None:
        """Connect to every server at once (before a run), and list their tools.

        Raises:
            McpServerError: for the first server, in the team's order, that cannot be reached.
        """
        for server in list(self._servers):
            self._start(server)
        for server in self._servers:
            self.tools(server)

    def close(self) -> None:
        """End every session, the servers' processes with them, and the loop's thread; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread, links = self._loop, self._thread, list(self._links.values())
        if loop is None or thread is None:
            return
        ending = asyncio.run_coroutine_threadsafe(_close_all(links), loop)
        try:
            ending.result(timeout=30)
        except Exception:  # the SDK kills what does not stop; nothing a caller could do about the rest
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    def __enter__(self) -> McpPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self, server: str) -> concurrent.futures.Future[list[Tool]]:
        """The (shared) future of ``server``'s connection, started by the first caller."""
        if server not in self._servers:
            known = ", ".join(sorted(self._servers)) or "none"
            raise McpServerError(f"MCP server '{server}' is not in the team's mcp_servers (it lists: {known}); "
                                 "add it there or fix the role's tools")
        with self._lock:
            if self._closed:
                raise McpServerError(f"MCP server '{server}': the run's MCP connections are closed")
            future = self._opening.get(server)
            if future is None:
                link = self._links[server] = Link(server, self._servers[server], self._environ)
                future = self._opening[server] = self._submit(self._open(link))
        return future

    async def _open(self, link: Link) -> list[Tool]:
        listed = await link.open()
        return [self._tool(link, found) for found in listed]

    def _tool(self, link: Link, found: mcp_types.Tool) -> Tool:
        schema = dict(found.input_schema)
        return Tool(found.name, found.description or f"The tool {found.name} of the MCP server {link.name}.",
                    schema, f"mcp {link.name}", functools.partial(self._call, link, found.name), schema_check(schema))

    def _call(self, link: Link, tool: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Run one call on the loop and wait for it; a failure of any kind is a failed outcome."""
        if link.dead is not None:
            return ToolOutcome(False, link.dead)
        with self._lock:
            if self._closed:
                return ToolOutcome(False, f"{link.prefix}: the run's MCP connections are closed")
            future = self._submit(link.call(tool, arguments))
        try:
            return future.result(timeout=link.spec.timeout_s + _GRACE_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return ToolOutcome(False, f"{link.prefix}: tool '{tool}' gave no answer within "
                                      f"{link.spec.timeout_s:g} s; the call was abandoned")
        except Exception as exc:  # Link.call catches what it knows; anything else still names the server
            return ToolOutcome(False, f"{link.prefix}: {describe(exc, link.spec.url)}")

    def _submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Run ``coro`` on the pool's loop, starting the loop's thread first if needed (call under the lock)."""
        if self._loop is None:
            loop = asyncio.new_event_loop()
            started = threading.Event()
            self._thread = threading.Thread(target=_serve, args=(loop, started), name="huddle-mcp", daemon=True)
            self._thread.start()
            started.wait()
            self._loop = loop
        return asyncio.run_coroutine_threadsafe(coro, self._loop)


def _serve(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    """The loop thread: run until :meth:`McpPool.close` stops it, then cancel what is left and close."""
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    try:
        loop.run_forever()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=10))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


async def _close_all(links: list[Link]) -> None:
    await asyncio.gather(*(link.close() for link in links), return_exceptions=True)
