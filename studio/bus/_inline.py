"""A :class:`~studio.bus.checkpoints.LogSaver`'s saves run on the thread that asks for them, not on a pool thread.

LangGraph's sync loop hands every ``put_writes`` and every checkpoint ``put`` to its thread pool, and with
``durability="sync"`` the step then waits for the checkpoint: two thread hand-offs a step, each a wake-up and
a trip through the GIL, on a busy two-core machine a millisecond a turn for a few short SQLite transactions.
:func:`inline_saves` wraps the pool LangGraph's background executor uses: a save whose saver is a ``LogSaver``
runs at once, in the caller's thread, and comes back as a finished future (its result or its exception, which
LangGraph reads as before). Saves happen in the order they are asked for, each done before the loop goes on,
which ``durability="sync"`` waited for anyway; a node's own work and other savers' saves still go to the pool.

Example:
    >>> inline_saves()
    >>> from langgraph.pregel import _executor
    >>> getattr(_executor.get_executor_for_config, "huddle_inline", False)
    True
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import _executor
from langgraph.pregel._loop import SyncPregelLoop

__all__ = ["inline_saves"]

_LOCK = threading.Lock()
_PUT_AFTER_PREVIOUS = SyncPregelLoop._checkpointer_put_after_previous


def _is_log_saver(saver: object) -> bool:
    return getattr(type(saver), "huddle_inline_saves", False) is True


def _inline(fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    """Whether ``executor.submit(fn, *args)`` is a LogSaver's save (LangGraph submits ``Context.run, save, ...``)."""
    if not args or getattr(fn, "__name__", "") != "run":
        return False
    save = args[0]
    owner = getattr(save, "__self__", None)
    if getattr(save, "__func__", None) is _PUT_AFTER_PREVIOUS:  # the step's checkpoint, after the one before
        return _is_log_saver(getattr(owner, "checkpointer", None))
    return _is_log_saver(owner)  # its put_writes (LangGraph submits no other method of a saver)


class _InlineSaves(Executor):
    """The pool, except for a LogSaver's saves, which run in the submitting thread."""

    def __init__(self, pool: Executor):
        self._pool = pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if not _inline(fn, args):
            return self._pool.submit(fn, *args, **kwargs)
        done: Future = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as exc:
            done.set_exception(exc)
        except BaseException as exc:  # Ctrl-C: finish the future (LangGraph waits for its futures), then stop
            done.set_exception(exc)
            raise
        return done

    def map(self, fn: Callable[..., Any], *iterables: Any, timeout: float | None = None, chunksize: int = 1):
        return self._pool.map(fn, *iterables, timeout=timeout, chunksize=chunksize)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def inline_saves() -> None:
    """Make LangGraph's sync loop run a LogSaver's saves inline, in this process (once; later calls do nothing)."""
    with _LOCK:
        make = _executor.get_executor_for_config
        if getattr(make, "huddle_inline", False):
            return

        @contextmanager
        def executor_for_config(config: RunnableConfig | None) -> Iterator[Executor]:
            with make(config) as pool:
                yield _InlineSaves(pool)

        executor_for_config.huddle_inline = True  # type: ignore[attr-defined]  # a marker, read above
        _executor.get_executor_for_config = executor_for_config
