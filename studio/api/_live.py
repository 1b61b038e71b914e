"""Drive one run with the notebook's live view: shared by ``Team.run`` and ``Run.approve``/``Run.reject``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.api.notebook import live_view
from studio.llm._streaming import RESTART
from studio.messages import Message
from studio.spec import Budget, TeamSpec

__all__ = ["drive"]


def drive(spec: TeamSpec, start: Callable[..., Any], display: Any, on_message: Callable[[Message], None] | None,
          on_token: Callable[[str, str], None] | None = None, budget: Budget | None = None) -> Any:
    """Run ``start(on_message, on_turn, on_token)`` while the live view shows it; returns what ``start`` returned.

    The live view (when there is one) and the caller's ``on_message`` and ``on_token`` all get what the run
    publishes and streams (``on_token`` gets ``RESTART`` too, where a call that failed part way starts over; the
    view drops that call's text). The view's meter measures against the team's budget with ``budget`` (the run's own
    limits) set over it.
    """
    view = live_view(spec, display, budget)

    def published(message: Message) -> None:
        if view is not None:
            view.message(message)
        if on_message is not None:
            on_message(message)

    def streamed(key: str, piece: str) -> None:
        if view is not None:
            if piece == RESTART:  # the call failed part way and is tried again: what it said so far goes
                view.said[key] = ""
            view.token(key, "" if piece == RESTART else piece)
        if on_token is not None:
            on_token(key, piece)

    result = start(published, view.turn if view is not None else None,
                   streamed if view is not None or on_token is not None else None)
    if view is not None:
        view.close(result.status)
    return result
