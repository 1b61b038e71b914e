"""Budgets: the most a run, or one role of it, may spend in tokens, dollars, seconds and model calls.

A budget is checked before each model call, with the prompt's tokens plus the call's ``max_tokens``, so no
call starts that could overrun it; a run that reaches one stops cleanly with its best work so far.

Example:
    >>> Budget(tokens=20000, usd=0.5).merged(Budget(tokens=40000))
    Budget(tokens=40000, usd=0.5, seconds=None, model_calls=None)
    >>> Budget().empty
    True
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BUDGET_FIELDS", "Budget"]

BUDGET_FIELDS = ("tokens", "usd", "seconds", "model_calls")
"""The budget's limits, in the order they are shown."""


class Budget(BaseModel):
    """Limits on what a run (``budget:``) or a role (``roles[].budget:``) may spend; unset means no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int | None = Field(None, gt=0)
    """Prompt plus completion tokens."""
    usd: float | None = Field(None, gt=0)
    """US dollars, at litellm's prices (a model without a known price cannot have a dollar budget)."""
    seconds: float | None = Field(None, gt=0)
    """For the run: wall time spent working (waits for a person's approval do not count); for a role: the time
    its model calls took."""
    model_calls: int | None = Field(None, gt=0)
    """Model calls, retries included."""

    @property
    def empty(self) -> bool:
        """Whether no limit is set."""
        return all(getattr(self, name) is None for name in BUDGET_FIELDS)

    def merged(self, other: Budget | None) -> Budget:
        """This budget with the limits ``other`` sets (a command line's ``--budget-*`` over a team file's)."""
        if other is None:
            return self
        return self.model_copy(update={k: v for k, v in other.model_dump().items() if v is not None})
