"""Where Huddle keeps its state: ``$HUDDLE_HOME`` (``~/.huddle`` by default)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["huddle_home"]


def huddle_home(home: str | Path | None = None) -> Path:
    """Where runs, checkpoints and memory live: ``home``, ``$HUDDLE_HOME`` or ``~/.huddle``."""
    return Path(home or os.environ.get("HUDDLE_HOME") or "~/.huddle").expanduser()
