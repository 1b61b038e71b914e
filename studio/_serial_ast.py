"""One ``ast.parse`` at a time in this process: CPython 3.11's AST constructor is not thread-safe.

CPython keeps the AST constructor's recursion depth per interpreter, not per thread, so two threads parsing
code at once can fail with ``SystemError: AST constructor recursion depth mismatch`` (python/cpython#106905).
A run's parallel branches (best_of_n's candidates posting their evidence, the ranking's probes) and a batch
worker's concurrent runs all parse code on threads; :func:`serial_ast` makes ``ast.parse`` (and so
``ast.literal_eval``, which calls it) take turns. It is installed where that happens (a best_of_n graph is built,
a batch worker starts), not by every run: installed in a process that is interrupted with Ctrl-C while a run
works, the process was seen to hang at exit on an idle thread-pool worker (not understood yet).

Example:
    >>> import ast
    >>> serial_ast()
    >>> getattr(ast.parse, "huddle_serial", False), ast.literal_eval("[1, 2]")
    (True, [1, 2])
"""

from __future__ import annotations

import ast
import functools
import threading
from typing import Any

__all__ = ["serial_ast"]

_LOCK = threading.Lock()


def serial_ast() -> None:
    """Make ``ast.parse`` take turns in this process (once; later calls change nothing)."""
    with _LOCK:
        if getattr(ast.parse, "huddle_serial", False):
            return
        parse = ast.parse

        @functools.wraps(parse)
        def serial(*args: Any, **kwargs: Any) -> Any:
            with _LOCK:
                return parse(*args, **kwargs)

        serial.huddle_serial = True  # type: ignore[attr-defined]  # a marker on the wrapper, read above
        ast.parse = serial
