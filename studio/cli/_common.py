"""What every command shares: exit codes, the user-error exit, the run log."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

__all__ = ["EXIT_BUDGET", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "EXIT_UNSOLVED", "EXIT_USER", "fail", "open_log",
           "sigterm_as_ctrl_c", "user_errors"]

EXIT_USER = 2
"""Exit code of a command given bad input (a file, a field, a flag); the message names it."""
EXIT_UNSOLVED = 4
"""Exit code of ``huddle run`` when the run ended, but its code fails the task's tests (status ``unsolved``)."""
EXIT_BUDGET = 5
"""Exit code of ``huddle run`` when a budget stopped the run (status ``budget``); it goes on with a raised one."""
EXIT_INTERRUPTED = 130
"""Exit code of a command stopped with Ctrl-C (128 + SIGINT, as shells report it)."""
EXIT_TERMINATED = 128 + signal.SIGTERM
"""Exit code of a command stopped with SIGTERM (``kill``) that treats it as Ctrl-C (:func:`sigterm_as_ctrl_c`)."""


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[list[int]]:
    """Within it, SIGTERM (``kill``, a scheduler ending the job) raises ``KeyboardInterrupt`` as Ctrl-C does.

    A command left running in the background (``nohup``, ``&``) ignores Ctrl-C; this is how it is stopped cleanly.
    The list it yields gets the signal's number when one came, so the caller can tell the two apart.
    """
    received: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, before)


def fail(message: str, code: int = EXIT_USER) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the user's input or setup is wrong (exit 2 with their message)."""
    from memory.embedder import EmbedderError
    from memory.items import MemoryStoreError
    from sandbox import SandboxError
    from studio.bus import BusUnavailable
    from studio.llm import ModelConfigError
    from studio.llm.scripted import ScriptError
    from studio.runner import RunNotFound, RunNotWaiting
    from studio.spec import SpecError
    from studio.tools import ToolConfigError

    return (SpecError, ModelConfigError, RunNotFound, RunNotWaiting, ScriptError, EmbedderError, MemoryStoreError,
            SandboxError, BusUnavailable, ToolConfigError)


def open_log() -> Any:
    """The run log: the bus ``$HUDDLE_BUS_URL`` names (Redis), else the store ``$HUDDLE_STORE_URL``, else runs.db."""
    from studio.bus import BusUnavailable, bus_url, open_store, store_url
    from studio.home import huddle_home

    try:
        return open_store(huddle_home(), bus_url() or store_url())
    except BusUnavailable as exc:
        fail(str(exc))
