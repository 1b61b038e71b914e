"""Leaving the process after Ctrl-C, without waiting on worker threads."""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

__all__ = ["leave_interrupted"]


def leave_interrupted(code: int) -> NoReturn:
    """Exit with ``code`` now, without waiting for worker threads.

    A Ctrl-C can land in the main thread while a library (LangGraph's executor)
    starts a pool thread, after the thread runs and before the pool registers it
    for shutdown; Python's exit would then wait on that idle thread forever. And a
    candidate still generating on a pool thread would hold the exit for minutes.
    Whatever a run published is committed already, so the exit handlers run
    (Ray's shutdown among them), the output is flushed, and the process ends.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
