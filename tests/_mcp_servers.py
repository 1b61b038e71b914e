"""Real MCP servers (tests/mcp_servers/*.py, written with the SDK) as subprocesses, for the tools tests.

Over stdio the client starts them itself: :func:`stdio_spec` is the ``McpServer`` entry. Over streamable HTTP
:func:`start_http_server` starts one on a free loopback port and waits until it accepts connections.

Fixtures: ``mcp_stdio_server`` (the well-behaved server over stdio) and ``mcp_http_server`` (the same over
HTTP, one process for the session). Its tools: ``add(a, b)``, ``echo(text)``, ``big()`` (~50 KB),
``inject()`` (a prompt injection), ``boom()`` (fails), ``env_has(name)``, ``header_seen(name)``, ``pid()``,
``record(text)`` and ``calls()``. ``crashing.py`` has ``ping`` and ``crash`` (exits), ``hanging.py`` has
``ping`` and ``hang`` (never returns); both have ``pid`` too.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _procs import free_port, stop

from studio.spec import McpServer

SERVERS = Path(__file__).resolve().parent / "mcp_servers"


def stdio_spec(script: str = "notes_like.py", **fields: Any) -> McpServer:
    """The ``mcp_servers`` entry that starts ``tests/mcp_servers/SCRIPT`` over stdio with this Python."""
    return McpServer(command=sys.executable, args=[str(SERVERS / script)], **fields)


def start_http_server(folder: Path, script: str = "notes_like.py") -> tuple[subprocess.Popen, str]:
    """Start ``tests/mcp_servers/SCRIPT`` over streamable HTTP on a free loopback port; (process, URL)."""
    port = free_port()
    log_path = folder / f"{script}-{port}.log"
    log = open(log_path, "w")  # noqa: SIM115 - the server writes to it until it stops
    proc = subprocess.Popen([sys.executable, str(SERVERS / script), "--http", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"{script} --http exited with {proc.returncode}: {log_path.read_text()}")
        if time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"{script} --http did not accept connections within 30 s: {log_path.read_text()}")
        time.sleep(0.05)


@contextlib.contextmanager
def http_server(folder: Path, script: str = "notes_like.py", **fields: Any) -> Iterator[McpServer]:
    """A server over HTTP for one test: its ``McpServer`` entry (``fields`` added), stopped at the end."""
    proc, url = start_http_server(folder, script)
    try:
        yield McpServer(url=url, **fields)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def mcp_stdio_server() -> McpServer:
    """The well-behaved test server over stdio (each pool that uses it starts its own process)."""
    return stdio_spec("notes_like.py")


@pytest.fixture(scope="session")
def mcp_http_server(tmp_path_factory) -> Iterator[McpServer]:
    """The well-behaved test server over streamable HTTP on loopback, one process for the session."""
    proc, url = start_http_server(tmp_path_factory.mktemp("mcp-http"))
    yield McpServer(url=url)
    stop(proc)
