"""Reading a model's streamed reply: its pieces to the caller's ``on_token``, its tool calls and usage gathered.

Example:
    >>> pieces = []
    >>> relay = Relay(pieces.append)
    >>> relay("Hel"), relay("lo"), pieces
    (None, None, ['Hel', 'lo'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from studio.llm._tool_calls import StreamedCalls, ToolCallRequest

__all__ = ["Relay", "read_stream"]


class Relay:
    """A call's ``on_token``, remembering what it raised: that ends the call as it is (never retried nor wrapped).

    A surface stops a run from its ``on_token`` (the studio's Stop) by raising; the gateway re-raises
    :attr:`raised` unchanged instead of treating it as a provider's failure.
    """

    def __init__(self, on_token: Callable[[str], None]):
        self.on_token = on_token
        self.raised: Exception | None = None

    def __call__(self, piece: str) -> None:
        """Pass ``piece`` on."""
        try:
            self.on_token(piece)
        except Exception as exc:
            self.raised = exc
            raise


def read_stream(stream: Iterable[Any], on_token: Callable[[str], None]) -> tuple[str, tuple[ToolCallRequest, ...], Any]:
    """Read litellm's chunks: each piece of text to ``on_token``; returns ``(text, tool calls, usage)``.

    The stream is closed however this ends, so a stream left early (``on_token`` raised) does not keep the
    embedded model locked (its provider's generator holds the lock until it is closed).
    """
    pieces: list[str] = []
    streamed = StreamedCalls()
    usage = None
    try:
        for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            piece = delta.content if delta is not None else None
            if piece:
                pieces.append(piece)
                on_token(piece)
            if delta is not None:
                streamed.add(getattr(delta, "tool_calls", None))
            usage = getattr(chunk, "usage", None) or usage
    finally:
        for part in (getattr(stream, "completion_stream", None), stream):
            close = getattr(part, "close", None)
            if callable(close):
                close()
    return "".join(pieces), streamed.result(), usage
