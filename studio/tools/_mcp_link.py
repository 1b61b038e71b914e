"""One MCP server's session for a run, held open by a task of its own; and how its answers become text.

Everything async here runs on the event loop thread of :class:`studio.tools.mcp.McpPool`.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import IO, Any

import anyio
import httpx2
import mcp_types
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from studio.spec.tools import McpServer
from studio.tools._mcp_setup import (
    McpServerError,
    child_environment,
    describe,
    leaves,
    resolve_command,
    resolve_headers,
)
from studio.tools.base import ToolOutcome

__all__ = ["Link", "result_text", "schema_check"]

_STDERR_TAIL = 5
_BROKEN = (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, httpx2.TransportError)
"""What says the connection itself is gone, not just one answer."""
CONNECT_FLOOR_S = 10.0
"""Connecting (starting the process, the handshake, listing tools) gets at least this long, however short a
server's per-call ``timeout_s``: starting a server costs more than a call (an interpreter, ``npx``)."""
_CLOSE_S = 8.0  # the SDK's own stdio shutdown is bounded by about 6 s (close stdin, SIGTERM, SIGKILL)


def result_text(result: mcp_types.CallToolResult) -> str:
    """What a model is shown of a tool's result: its text, else its structured content as JSON.

    Images, audio and binary resources become a short placeholder; a server that returns both text and
    structured content (as the SDK's own servers do, the text being the JSON) is shown its text.
    """
    texts, others = [], []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            texts.append(block.text)
        elif isinstance(block, mcp_types.EmbeddedResource) and isinstance(block.resource,
                                                                          mcp_types.TextResourceContents):
            texts.append(block.resource.text)
        elif isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
            size = len(block.data) * 3 // 4 - block.data[-2:].count("=")  # base64
            others.append(f"[{block.type} {block.mime_type}, {size} bytes, not shown]")
        elif isinstance(block, mcp_types.ResourceLink):
            others.append(f"[resource {block.uri}]")
        else:
            others.append(f"[{block.type} content, not shown]")
    if not texts and result.structured_content is not None:
        texts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(texts + others)


def schema_check(schema: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A check of arguments against ``schema`` compiled once (the server's schema is checked once, not per call).

    Refusals read as :meth:`studio.tools.base.Tool.validate` words them.
    """
    import jsonschema  # deferred: start-up time of runs without MCP servers

    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        broken = f"the tool's own schema is invalid: {exc.message}"

        def refuse(arguments: dict[str, Any]) -> dict[str, Any]:
            raise ValueError(broken)

        return refuse
    validator = cls(schema)

    def check(arguments: dict[str, Any]) -> dict[str, Any]:
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise ValueError(f"{where + ': ' if where else ''}{error.message}")
        return arguments

    return check


class Link:
    """One server's session, held open by a task of its own until :meth:`close`; calls may come from any task."""

    def __init__(self, name: str, spec: McpServer, environ: Mapping[str, str]) -> None:
        self.name, self.spec, self.environ = name, spec, environ
        self.dead: str | None = None
        """Set once the server stopped: every later call fails with this message, without a try."""
        self._client: Client | None = None
        self._stop = asyncio.Event()
        self._holder: asyncio.Task[None] | None = None
        self._stderr: IO[str] | None = None

    @property
    def connect_timeout_s(self) -> float:
        """How long connecting may take: the server's ``timeout_s``, and never under :data:`CONNECT_FLOOR_S`."""
        return max(self.spec.timeout_s, CONNECT_FLOOR_S)

    @property
    def prefix(self) -> str:
        """How every message about this server starts."""
        return f"MCP server '{self.name}'"

    def _transport(self) -> Any:
        """The SDK transport for the spec (a stdio child process or a streamable HTTP endpoint)."""
        if self.spec.url is not None:
            headers = resolve_headers(self.name, self.spec, self.environ)
            http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
            return _HttpTransport(http, streamable_http_client(self.spec.url, http_client=http))
        env = child_environment(self.name, self.spec, self.environ)
        command = resolve_command(self.name, self.spec, env)
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        params = StdioServerParameters(command=command, args=self.spec.args, env=env, cwd=self.spec.cwd)
        return stdio_client(params, errlog=self._stderr)

    async def open(self) -> list[mcp_types.Tool]:
        """Connect and list the server's tools (every page), within :attr:`connect_timeout_s`.

        Raises:
            McpServerError: the server cannot be started or reached, or did not answer in time.
        """
        transport = self._transport()
        ready: asyncio.Future[list[mcp_types.Tool]] = asyncio.get_running_loop().create_future()
        self._holder = asyncio.create_task(self._hold(transport, ready))
        try:
            return await asyncio.wait_for(asyncio.shield(ready), self.connect_timeout_s)
        except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
            await self.close()
            raise McpServerError(f"{self.prefix}: no answer within {self.connect_timeout_s:g} s while connecting"
                                 f"{self._last_words()}; check that it starts, or raise "
                                 f"mcp_servers.{self.name}.timeout_s") from None

    async def _hold(self, transport: Any, ready: asyncio.Future[list[mcp_types.Tool]]) -> None:
        """Enter and leave the SDK's context in this one task (anyio wants both in the same task)."""
        try:
            async with Client(transport) as client:
                tools, cursor = [], None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    if (cursor := page.next_cursor) is None:
                        break
                self._client = client
                if not ready.done():
                    ready.set_result(tools)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(McpServerError(self._why_not(exc)))
            elif not self._stop.is_set():
                self.dead = self.dead or self._stopped()
            if not isinstance(exc, Exception):
                raise

    def _why_not(self, exc: BaseException) -> str:
        closed = any(isinstance(e, MCPError) and e.code == mcp_types.CONNECTION_CLOSED for e in leaves(exc))
        if closed and self._stderr is not None:
            return f"{self.prefix}: the server exited while connecting{self._last_words()}"
        return f"{self.prefix}: {describe(exc, self.spec.url)}"

    def _stopped(self) -> str:
        return f"{self.prefix}: the server stopped{self._last_words()}; its tools are unavailable for this run"

    def _last_words(self) -> str:
        """The last lines the server wrote to stderr, if any (the file the child writes to directly)."""
        if self._stderr is None or self._stderr.closed:
            return ""
        fd = self._stderr.fileno()
        size = os.fstat(fd).st_size
        tail = os.pread(fd, 2000, max(0, size - 2000)).decode("utf-8", "replace")
        lines = [line for line in tail.splitlines() if line.strip()][-_STDERR_TAIL:]
        return f" (its last output: {' | '.join(line.strip() for line in lines)})" if lines else ""

    async def call(self, tool: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Call ``tool``; every failure is a failed outcome naming the server, never an exception."""
        if self.dead is not None:
            return ToolOutcome(False, self.dead)
        if self._client is None:
            return ToolOutcome(False, f"{self.prefix}: not connected")
        try:
            result = await self._client.call_tool(tool, arguments, read_timeout_seconds=self.spec.timeout_s)
        except MCPError as exc:
            if exc.code == mcp_types.REQUEST_TIMEOUT:
                return ToolOutcome(False, f"{self.prefix}: tool '{tool}' gave no answer within "
                                          f"{self.spec.timeout_s:g} s; the call was abandoned")
            if exc.code == mcp_types.CONNECTION_CLOSED and self._stop.is_set():
                return ToolOutcome(False, f"{self.prefix}: the connection was closed (the run is ending)")
            if exc.code == mcp_types.CONNECTION_CLOSED:
                self.dead = self.dead or self._stopped()
                return ToolOutcome(False, self.dead)
            return ToolOutcome(False, f"{self.prefix}: tool '{tool}' was refused: {exc}")
        except Exception as exc:
            if not any(isinstance(e, _BROKEN) for e in leaves(exc)):  # a malformed answer: this call failed
                return ToolOutcome(False, f"{self.prefix}: tool '{tool}' failed: {describe(exc, self.spec.url)}")
            # the transport broke under the call: the server is gone for this run
            self.dead = self.dead or f"{self.prefix}: {describe(exc, self.spec.url)}; its tools are unavailable"
            return ToolOutcome(False, self.dead)
        text = result_text(result)
        if result.is_error:
            return ToolOutcome(False, f"{tool} failed: {text}" if text else f"{self.prefix}: tool '{tool}' failed")
        return ToolOutcome(True, text)

    async def close(self) -> None:
        """End the session (the child process with it); safe to call twice."""
        self._stop.set()
        if self._holder is not None and not self._holder.done():
            try:
                await asyncio.wait_for(self._holder, _CLOSE_S)
            except Exception:  # a server that does not go quietly was killed by the SDK; nothing more to do
                pass
        if self._stderr is not None:
            self._stderr.close()


class _HttpTransport:
    """The SDK's streamable HTTP transport, closing the HTTP client it was given when it ends."""

    def __init__(self, http: httpx2.AsyncClient, manager: Any) -> None:
        self._http, self._manager = http, manager

    async def __aenter__(self) -> Any:
        await self._http.__aenter__()
        try:
            return await self._manager.__aenter__()
        except BaseException:
            await self._http.aclose()
            raise

    async def __aexit__(self, *exc: Any) -> bool | None:
        try:
            return await self._manager.__aexit__(*exc)
        finally:
            await self._http.aclose()
