"""A tool as every role sees it: a name, a description, a JSON schema of its arguments, and a way to run it.

Where a tool comes from (a Python function, an MCP server) is the business of
:mod:`studio.tools.function` and :mod:`studio.tools.mcp`; a role only calls
:meth:`Tool.call`, which validates the arguments first and never raises for
what the model got wrong: bad arguments, a tool that fails or hangs all come
back as a failed :class:`ToolOutcome` the model can read.

Example:
    >>> echo = Tool("echo", "Say it back.", {"type": "object", "properties": {"text": {"type": "string"}},
    ...             "required": ["text"]}, "python demo:echo", lambda args: ToolOutcome(True, args["text"]))
    >>> echo.call({"text": "hi"})
    ToolOutcome(ok=True, text='hi')
    >>> echo.call({}).text
    "echo: invalid arguments: 'text' is a required property. Call it again with arguments that match its schema."
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_RESULT_CHARS", "Tool", "ToolConfigError", "ToolOutcome", "cap"]

MAX_RESULT_CHARS = 4000
"""What of a tool's result a model is shown at most; the rest is cut, and the cut says how much."""


class ToolConfigError(ValueError):
    """A tool the team names cannot be set up: a ``python:`` path that does not import, an unknown tool name.

    The message names the role, tool or server and what to do. A user's error: exit 2.
    """


@dataclass(frozen=True)
class ToolOutcome:
    """What one call of a tool gave: ``ok`` false when it refused or failed, ``text`` what the model is shown."""

    ok: bool
    text: str


def cap(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    r"""``text`` cut to ``limit`` characters, saying how much was left out.

    Example:
        >>> cap("x" * 50, 20)
        'xxxxxxxxxxxxxxxxxxxx\n[… 30 more characters cut]'
    """
    return text if len(text) <= limit else f"{text[:limit]}\n[… {len(text) - limit} more characters cut]"


@dataclass(frozen=True)
class Tool:
    """One tool a role may call."""

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON schema of the arguments (an object)."""
    source: str
    """Where it comes from, for people: ``python package.module:function`` or ``mcp SERVER``."""
    run: Callable[[dict[str, Any]], ToolOutcome] = field(repr=False, compare=False)
    """Runs it on arguments that passed :meth:`validate`."""
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    """Validates and converts the arguments (raising ``ValueError``); the JSON schema is checked when unset."""

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the tool takes them.

        Raises:
            ValueError: they do not match the tool's schema; the message says how.
        """
        if not isinstance(arguments, dict):
            raise ValueError(f"arguments must be a JSON object, got {type(arguments).__name__}")
        if self.check is not None:
            return self.check(arguments)
        import jsonschema  # deferred: only MCP tools (schemas from a server) need it

        try:
            jsonschema.validate(arguments, self.parameters)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path)
            raise ValueError(f"{where + ': ' if where else ''}{exc.message}") from None
        except jsonschema.SchemaError as exc:
            raise ValueError(f"the tool's own schema is invalid: {exc.message}") from None
        return arguments

    def call(self, arguments: dict[str, Any]) -> ToolOutcome:
        """Validate ``arguments`` and run the tool; a failure is a failed outcome, capped like any result."""
        try:
            valid = self.validate(arguments)
        except ValueError as exc:
            return ToolOutcome(False, cap(f"{self.name}: invalid arguments: {exc}. Call it again with arguments "
                                          "that match its schema."))
        try:
            outcome = self.run(valid)
        except Exception as exc:  # the tool's own failure is the model's to read, not the run's to die of
            return ToolOutcome(False, cap(f"{self.name} failed: {type(exc).__name__}: {exc}"))
        return ToolOutcome(outcome.ok, cap(outcome.text))

    def openai_spec(self) -> dict[str, Any]:
        """The tool as OpenAI-style function calling describes it (litellm's ``tools=``)."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}
