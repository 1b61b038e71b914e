"""A stand-in for IPython's ``display``: what a notebook would show, every render and update in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fake_display() -> tuple[Callable[..., Any], list[str]]:
    """``display`` (as ``display(obj, display_id=True)``, returning a handle with ``update``) and what it showed."""
    shown: list[str] = []

    class Handle:
        def update(self, obj):
            shown.append(obj._repr_html_())

    def display(obj, display_id=True):
        shown.append(obj._repr_html_())
        return Handle()

    return display, shown
