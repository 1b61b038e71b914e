"""One ``ast.parse`` at a time in this process: CPython 3.11's AST constructor is not thread-safe.

CPython keeps the AST constructor's recursion depth per interpreter, not per thread, so two threads parsing
code at once can fail with ``SystemError: AST constructor recursion depth mismatch`` (python/cpython#106905).
A run's parallel branches (best_of_n's candidates posting their evidence, the ranking's probes) and a batch
worker's concurrent runs all parse code on threads; :func:`serial_ast` makes ``ast.parse`` (and so
``ast.literal_eval``, which calls it) take turns. It is installed where that happens (a best_of_n graph is built,
a batch worker starts). A parse within a parse on one thread breaks the same count: the garbage collector,
run by an allocation in the middle of a parse, can call a finalizer whose exception goes to a hook that
formats a traceback, which parses. So the collector waits while a parse runs, and the lock is re-entrant
(a nested parse that still happens, from a signal handler, must not wait for itself).

Example:
    >>> import ast
    >>> serial_ast()
    >>> getattr(ast.parse, "huddle_serial", False), ast.literal_eval("[1, 2]")
    (True, [1, 2])
"""

from __future__ import annotations

import ast
import functools
import gc
import threading
from typing import Any

__all__ = ["serial_ast"]

_LOCK = threading.RLock()


def serial_ast() -> None:
    """Make ``ast.parse`` take turns in this process (once; later calls change nothing)."""
    with _LOCK:
        if getattr(ast.parse, "huddle_serial", False):
            return
        parse = ast.parse

        @functools.wraps(parse)
        def serial(*args: Any, **kwargs: Any) -> Any:
            with _LOCK:
                collecting = gc.isenabled()
                gc.disable()  # no finalizer runs Python code (that may parse) in the middle of this parse
                try:
                    return parse(*args, **kwargs)
                finally:
                    if collecting:
                        gc.enable()

        serial.huddle_serial = True  # type: ignore[attr-defined]  # a marker on the wrapper, read above
        ast.parse = serial
