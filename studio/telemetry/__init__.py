"""Traces out: a run's messages as OpenTelemetry spans, sent over OTLP/HTTP to the collector you already run.

Off by default. ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) in the environment,
``huddle run --otel``, ``Team.run(..., otel=True)`` or ``with tracing():`` turn it on; ``OTEL_SDK_DISABLED=true``
or ``otel=False`` turn it off. When it is off this package imports no exporter and opens no socket: the runner
gets a trace that does nothing from :func:`run_trace`.

A run is one trace (its id is the run id): a root span ``huddle.run``, a span per role turn, and under each
turn its model call (GenAI semantic conventions: provider, model, token usage, plus the cost), its tool calls
and its sandbox executions. The spans are made from the run's messages as the bus delivers them, with the
times the messages carry. Prompts and replies are not attached unless
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``; every attribute value is redacted.

Example:
    >>> tracing_wanted(None, environ={}), tracing_wanted(True, environ={})
    (False, True)
    >>> tracing_wanted(None, environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    True
    >>> traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"})
    'http://collector:4318/v1/traces'
    >>> subscribed = []
    >>> with tracing(False):
    ...     trace = run_trace(lambda pattern, callback: subscribed.append(pattern), "r1", "duo")
    >>> subscribed  # off: the bus never hears of it
    []
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Protocol, TypeVar

from studio.messages import Message
from studio.telemetry._config import (
    CONTENT_ENV,
    DEFAULT_ENDPOINT,
    capture_content,
    traces_endpoint,
    tracing_wanted,
)

__all__ = ["CONTENT_ENV", "DEFAULT_ENDPOINT", "RunTrace", "capture_content", "run_trace", "set_tracing",
           "traces_endpoint", "tracing", "tracing_wanted"]

_T = TypeVar("_T")


class RunTrace(Protocol):
    """What the runner holds for one session of a run: it sees each message, and ends as the session ends."""

    def message(self, message: Message) -> None:
        """Turn one published message into spans (never raises)."""

    def run(self, work: Callable[..., _T], *args: Any) -> _T:
        """``work(*args)`` inside the trace (``with trace: return work(*args)``)."""

    def __enter__(self) -> RunTrace: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None,
                 ) -> None:
        """End the run's spans with the status its messages gave (``failed`` on an exception) and send them."""


class _Off:
    """The trace of a run that sends none: it does nothing."""

    def message(self, message: Message) -> None:
        """Nothing to do."""

    def run(self, work: Callable[..., _T], *args: Any) -> _T:
        """Just ``work(*args)``."""
        return work(*args)

    def __enter__(self) -> _Off:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_OFF = _Off()
_wanted: ContextVar[bool | None] = ContextVar("huddle_otel", default=None)


def set_tracing(otel: bool | None) -> Token[bool | None]:
    """Turn tracing on (``True``) or off (``False``) for the runs this context starts; ``None``: the environment.

    Returns the token to undo it with (:func:`tracing` does both). The CLI's ``--otel`` sets it for its process.
    """
    return _wanted.set(otel)


@contextmanager
def tracing(otel: bool | None = True) -> Iterator[None]:
    """Runs started inside send their spans (``True``), never do (``False``), or follow the environment (``None``).

    Example:
        >>> subscribed = []
        >>> with tracing(True):  # nothing is sent before the run publishes a message
        ...     trace = run_trace(lambda pattern, callback: subscribed.append(pattern), "r1", "duo")
        >>> subscribed
        ['*']
    """
    token = set_tracing(otel)
    try:
        yield
    finally:
        _wanted.reset(token)


def run_trace(subscribe: Callable[[str, Callable[[Message], None]], object], run_id: str, team: str) -> RunTrace:
    """The trace of one session of a run, subscribed to its bus with ``subscribe``; a no-op when tracing is off.

    Tracing is on as :func:`tracing` or :func:`set_tracing` said in this context, else as the environment says
    (:func:`tracing_wanted`). Run the session's work with its ``run`` (or inside it as a context manager):
    leaving it ends the spans and sends them (waiting at most about one export timeout, even when no collector
    answers).

    Args:
        subscribe: the bus's ``subscribe(pattern, callback)``.
        run_id: the run; it is the trace id.
        team: the team's name.
    """
    if not tracing_wanted(_wanted.get()):
        return _OFF
    from studio.telemetry._spans import MessageSpans  # deferred: OpenTelemetry loads only when tracing is on

    spans = MessageSpans(run_id, team, content=capture_content())
    subscribe("*", spans.message)
    return spans
