"""A role's model as the roles see it: one callable that goes through the gateway with the role's settings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from studio.llm.budget import Meter, count_prompt_tokens
from studio.llm.gateway import CallSettings, Completion, Gateway, supports_native_tools

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
    on_token: Callable[[str, str], None] | None = None
    """Called as ``on_token(key, piece)`` with the reply's text as it streams in (``""`` once for a reply that
    cannot be streamed: see :meth:`Gateway.complete`), from the thread making the call."""
    meter: Meter | None = None
    """The run's meter: each call is reserved against the run's and the role's budgets before it is made."""
    before_call: Callable[[], None] | None = None
    """Called just before each call reaches the provider (its slots held); raises ``CallRefused`` to skip it
    (adaptive best-of-N: a candidate that is no longer needed)."""

    @property
    def key(self) -> str:
        """Who is calling: the role, or ``role.branch`` (a scripted model may give a branch its own replies)."""
        return f"{self.role}.{self.branch}" if self.branch else self.role

    def for_branch(self, branch: str, *, temperature: float | None = None) -> RoleModel:
        """The same role working in ``branch``, optionally sampling at another temperature."""
        settings = self.settings if temperature is None else replace(self.settings, temperature=temperature)
        return replace(self, branch=branch, settings=settings)

    @property
    def native_tools(self) -> bool:
        """Whether this model takes tools as native function calls (else the caller constrains JSON).

        Never for ``local/...`` and ``scripted:`` models; otherwise the team's ``defaults.native_tools``
        when set, else what litellm knows of the model.

        Example:
            >>> RoleModel(Gateway(), "local/smollm2", "coder", CallSettings(native_tools=True)).native_tools
            False
        """
        return supports_native_tools(self.model, self.settings.native_tools)

    def __call__(self, messages: list[dict[str, Any]], *, schema: type[BaseModel] | None = None,
                 tools: list[dict[str, Any]] | None = None, tool_choice: str | dict[str, Any] = "auto") -> Completion:
        """Call the gateway with this role's model and settings.

        Args:
            messages: chat messages; ``assistant`` turns with ``tool_calls`` and ``tool`` turns pass unchanged.
            schema: a pydantic model the reply should match (JSON, constrained where the provider can).
            tools: functions in OpenAI's format, for a model with :attr:`native_tools`; the calls come back
                in ``Completion.tool_calls``.
            tool_choice: with ``tools``: ``"auto"``, ``"required"`` (a call, not a reply) or a forced function.
        """
        if self.on_turn is not None:
            self.on_turn(self.key)
        on_token = functools.partial(self.on_token, self.key) if self.on_token is not None else None
        settings, ticket = self.settings, None
        if self.meter is not None and self.meter.limited:  # raises BudgetReached: the call is not made
            prompt = count_prompt_tokens(self.model, messages, tools)
            ticket = self.meter.reserve(self.role, self.model, prompt_tokens=prompt, max_tokens=settings.max_tokens)
            left = self.meter.remaining_seconds()
            if left is not None:  # a call may not outlast the run's time budget
                settings = replace(settings, timeout_s=max(1.0, min(settings.timeout_s, left)))
        try:
            reply = self.gateway.complete(self.model, messages, role=self.key, settings=settings, schema=schema,
                                          tools=tools, tool_choice=tool_choice, on_token=on_token,
                                          before_call=self.before_call)
        except BaseException:
            if ticket is not None and self.meter is not None:
                self.meter.release(ticket)
            raise
        if self.meter is not None:
            self.meter.settle(ticket, reply.usage) if ticket is not None else self.meter.record(self.role, reply.usage)
        return reply
