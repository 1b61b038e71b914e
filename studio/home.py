"""Where Huddle keeps its state (``$HUDDLE_HOME``, ``~/.huddle`` by default), and for how long a run's files stay."""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["DEFAULT_RETENTION_DAYS", "RETENTION_ENV", "RetentionError", "huddle_home", "retention_days"]

RETENTION_ENV = "HUDDLE_RETENTION_DAYS"
"""Days a finished run's workspace is kept before ``huddle gc`` removes it."""
DEFAULT_RETENTION_DAYS = 7.0


class RetentionError(ValueError):
    """``$HUDDLE_RETENTION_DAYS`` is not a number of days."""


def huddle_home(home: str | Path | None = None) -> Path:
    """Where runs, checkpoints and memory live: ``home``, ``$HUDDLE_HOME`` or ``~/.huddle``, as an absolute path.

    Absolute, so a relative home means the same folder to the sandbox, which runs code from another directory.
    """
    return Path(home or os.environ.get("HUDDLE_HOME") or "~/.huddle").expanduser().absolute()


def retention_days() -> float:
    """How many days ``huddle gc`` keeps a finished run's workspace: ``$HUDDLE_RETENTION_DAYS``, else 7.

    Raises:
        RetentionError: the variable is set to something other than a number of days (0 or more).
    """
    raw = os.environ.get(RETENTION_ENV, "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = float(raw)
    except ValueError:
        days = -1.0
    if not math.isfinite(days) or days < 0:
        raise RetentionError(f"${RETENTION_ENV}={raw!r}: expected a number of days, 0 or more (e.g. 7 or 0.5)")
    return days
