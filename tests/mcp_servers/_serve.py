"""How every test server starts: over stdio by default, over streamable HTTP on loopback with ``--http PORT``.

The servers are built in functions, not at import: importing a script (pytest's doctest collection does)
must not configure logging or start anything.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def serve(name: str, tools: list[Callable[..., Any]]) -> None:
    """Serve ``tools`` as the MCP server ``name``, as the command line asks (``--http PORT``: streamable HTTP)."""
    from mcp.server.mcpserver import MCPServer

    parser = argparse.ArgumentParser(description=f"The test MCP server {name}.")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT/mcp")
    args = parser.parse_args()
    server = MCPServer(name, log_level="WARNING")
    for tool in tools:
        server.add_tool(tool)
    if args.http is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
