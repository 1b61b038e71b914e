"""Drive one run with the notebook's live view: shared by ``Team.run`` and ``Run.approve``/``Run.reject``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.api.notebook import live_view
from studio.messages import Message
from studio.spec import TeamSpec

__all__ = ["drive"]


def drive(spec: TeamSpec, start: Callable[..., Any], display: Any,
          on_message: Callable[[Message], None] | None) -> Any:
    """Run ``start(on_message, on_turn)`` while the live view shows it; returns what ``start`` returned."""
    view = live_view(spec, display)

    def published(message: Message) -> None:
        if view is not None:
            view.message(message)
        if on_message is not None:
            on_message(message)

    result = start(published, view.turn if view is not None else None)
    if view is not None:
        view.close(result.status)
    return result
