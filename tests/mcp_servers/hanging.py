"""An MCP server that hangs on a call: ``ping`` answers, ``hang`` never returns."""

from __future__ import annotations

import os

import anyio


def ping() -> str:
    """Answer pong."""
    return "pong"


async def hang() -> str:
    """Sleep forever."""
    await anyio.sleep_forever()
    return "never"


def pid() -> int:
    """This server's process id (the tests check that it is gone after close)."""
    return os.getpid()


if __name__ == "__main__":
    from _serve import serve

    serve("hanging", [ping, hang, pid])
