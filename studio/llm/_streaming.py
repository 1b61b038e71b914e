"""Reading a model's streamed reply: its pieces to the caller's ``on_token``, its tool calls and usage gathered.

A call that fails part way and is tried again streams its reply again from the start: before the new attempt,
``on_token`` gets :data:`RESTART`, and a surface drops what that call said so far (:func:`add_piece` does it
for a surface that keeps the text).

Example:
    >>> pieces = []
    >>> relay = Relay(pieces.append)
    >>> relay("Hel"), relay("lo"), relay.restart(), relay("Hello"), pieces == ["Hel", "lo", RESTART, "Hello"]
    (None, None, None, None, True)
    >>> text = ""
    >>> for piece in pieces:
    ...     text = add_piece(text, piece)
    >>> text
    'Hello'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from studio.llm._tool_calls import StreamedCalls, ToolCallRequest

__all__ = ["RESTART", "Relay", "add_piece", "read_stream"]

RESTART = "\x18"
"""What ``on_token`` gets when a call that streamed some text failed and is tried again: drop what it said so far.

ASCII's CANCEL, which no reply carries (the relay takes it out of a model's pieces)."""


def add_piece(text: str, piece: str) -> str:
    """``text`` with ``piece`` added, or emptied when ``piece`` is :data:`RESTART` (the reply starts over)."""
    return "" if piece == RESTART else text + piece


class Relay:
    """A call's ``on_token``, remembering what it raised: that ends the call as it is (never retried nor wrapped).

    A surface stops a run from its ``on_token`` (the studio's Stop) by raising; the gateway re-raises
    :attr:`raised` unchanged instead of treating it as a provider's failure. Before the gateway tries a failed
    call again, :meth:`restart` tells ``on_token`` to drop what the failed attempt streamed.
    """

    def __init__(self, on_token: Callable[[str], None]):
        self.on_token = on_token
        self.raised: Exception | None = None
        self.said = False
        """Whether this attempt has passed on any text yet."""

    def __call__(self, piece: str) -> None:
        """Pass ``piece`` on (without any :data:`RESTART` in it: only :meth:`restart` sends that)."""
        clean = piece.replace(RESTART, "")
        if clean or not piece:  # "" is a sign of life; a piece that was all RESTART is nothing
            self.said = self.said or bool(clean)
            self._send(clean)

    def restart(self) -> None:
        """The attempt failed and the call is tried again: ``on_token`` gets :data:`RESTART` if it got any text."""
        if self.said:
            self.said = False
            self._send(RESTART)

    def _send(self, piece: str) -> None:
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
