"""An MCP server that dies on a call: ``ping`` answers, ``crash`` writes to stderr and exits the process."""

from __future__ import annotations

import os
import sys


def ping() -> str:
    """Answer pong."""
    return "pong"


def crash() -> str:
    """Exit the server process at once, saying why on stderr."""
    print("fatal: the notes database vanished", file=sys.stderr, flush=True)
    os._exit(3)


def pid() -> int:
    """This server's process id."""
    return os.getpid()


if __name__ == "__main__":
    from _serve import serve

    serve("crashing", [ping, crash, pid])
