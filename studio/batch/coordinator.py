"""The one actor a pool's workers share: the batch's provider limits and its scripted models.

Kept in a module of its own that imports neither litellm nor LangGraph, so its
process starts in about a second.

Example:
    >>> import asyncio
    >>> coordinator = Coordinator()
    >>> coordinator.start({}, {"scripted:s.yaml": ({"coder": ["hi"]}, "s.yaml")})
    >>> asyncio.run(coordinator.reply("scripted:s.yaml", "coder", []))
    ('ok', 'hi')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studio.batch.limits import ProviderLimiter
from studio.batch.scripts import ScriptBook
from studio.spec.flow import ProviderLimits

__all__ = ["Coordinator"]


class Coordinator(ProviderLimiter, ScriptBook):
    """Provider limits (:mod:`studio.batch.limits`) and scripted replies (:mod:`studio.batch.scripts`): one actor."""

    def __init__(self) -> None:
        ProviderLimiter.__init__(self)
        ScriptBook.__init__(self)

    def start(self, limits: Mapping[str, ProviderLimits], scripts: dict[str, tuple[dict[str, Any], str]]) -> None:
        """Start a batch: its limits, and its scripts from their first replies."""
        self.set_limits(limits)
        self.load_scripts(scripts)
