"""A role's model as the roles see it: one callable that goes through the gateway with the role's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from studio.llm.gateway import CallSettings, Completion, Gateway

__all__ = ["RoleModel"]


@dataclass(frozen=True)
class RoleModel:
    """Calls ``model`` for role ``role`` (or ``role.branch`` in a parallel branch) with the role's settings.

    Example:
        >>> RoleModel(Gateway(), "scripted:x.yaml", "coder", CallSettings()).for_branch("c2").key
        'coder.c2'
    """

    gateway: Gateway
    model: str
    role: str
    settings: CallSettings
    on_turn: Callable[[str], None] | None = None
    branch: str = ""

    @property
    def key(self) -> str:
        """Who is calling: the role, or ``role.branch`` (a scripted model may give a branch its own replies)."""
        return f"{self.role}.{self.branch}" if self.branch else self.role

    def for_branch(self, branch: str, *, temperature: float | None = None) -> RoleModel:
        """The same role working in ``branch``, optionally sampling at another temperature."""
        settings = self.settings if temperature is None else replace(self.settings, temperature=temperature)
        return replace(self, branch=branch, settings=settings)

    def __call__(self, messages: list[dict[str, Any]], *, schema: type[BaseModel] | None = None) -> Completion:
        """Call the gateway with this role's model and settings (``schema``: a JSON reply of that model)."""
        if self.on_turn is not None:
            self.on_turn(self.key)
        return self.gateway.complete(self.model, messages, role=self.key, settings=self.settings, schema=schema)
