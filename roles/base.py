"""What every role shares: its context, the graph state, prompts and the ask-and-repair loop.

A role is a plain function ``(state, ctx) -> list[Message]``. Everything it
needs from outside (the model above all) comes in ``ctx``, so the same role
runs on the embedded model, a real provider or a script.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Protocol, TypedDict, TypeVar

import jinja2
import yaml

from roles._parse import ParseError
from studio.messages import Code, Decision, Error, Message, Plan, Review, Task, Usage
from studio.spec import RoleSpec, TeamSpec

__all__ = ["Completion", "ModelFn", "RoleContext", "TeamState", "ask", "render_prompt", "transcript_text"]

PROMPTS = Path(__file__).parent / "prompts"
T = TypeVar("T")


class TeamState(TypedDict):
    """Graph state: the transcript grows by appending, so branches merge cleanly."""

    transcript: Annotated[list[Message], operator.add]
    turns: int
    """Worker turns taken so far (the orchestrator's turns do not count)."""


class Completion(Protocol):
    """What a model call returns: its text and what it cost."""

    text: str
    usage: Usage


class ModelFn(Protocol):
    """Calls the role's model: chat messages in, a completion out."""

    def __call__(self, messages: list[dict[str, str]], *, schema: type | None = None) -> Completion: ...


@dataclass(frozen=True)
class RoleContext:
    """Everything a role gets from outside.

    Example:
        >>> from studio.spec import TeamSpec, RoleSpec
        >>> team = TeamSpec(name="t", roles=[RoleSpec(name="coder", kind="coder")])
        >>> ctx = RoleContext(run_id="r1", role=team.roles[0], team=team, model=None)
        >>> ctx.role.kind
        'coder'
    """

    run_id: str
    role: RoleSpec
    team: TeamSpec
    model: ModelFn


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@cache
def _templates(kind: str) -> dict[str, jinja2.Template]:
    data = yaml.safe_load((PROMPTS / f"{kind}.yaml").read_text(encoding="utf-8"))
    return {key: _ENV.from_string(text) for key, text in data.items()}


def render_prompt(kind: str, part: str, **values: Any) -> str:
    """Render ``part`` (``system``, ``user`` or ``repair``) of ``prompts/<kind>.yaml``."""
    return _templates(kind)[part].render(**values).strip()


def task_of(transcript: list[Message]) -> str:
    """The task text of the run."""
    return next((m.content for m in transcript if isinstance(m, Task)), "")


def last(transcript: list[Message], cls: type[T]) -> T | None:
    """The most recent message of class ``cls``."""
    return next((m for m in reversed(transcript) if isinstance(m, cls)), None)


def transcript_text(transcript: list[Message], limit: int = 8) -> str:
    """The last ``limit`` prompt-worthy messages as ``[sender] text`` lines."""
    shown = [m for m in transcript if isinstance(m, (Task, Plan, Code, Review, Decision))][-limit:]
    return "\n\n".join(f"[{m.sender} · {m.kind}]\n{m.content}" for m in shown)


def ask(ctx: RoleContext, values: dict[str, Any], parse: Callable[[str], T], *,
        schema: type | None = None) -> tuple[T | None, str, Usage, list[Error]]:
    """Render the role's prompt, call the model and parse its reply, with one repair attempt.

    Returns ``(parsed or None, last raw text, total usage, error messages)``;
    the caller falls back to a default when parsing failed twice.
    """
    kind = ctx.role.kind
    values = {"role": ctx.role, **values}
    messages = [{"role": "system", "content": render_prompt(kind, "system", **values)},
                {"role": "user", "content": render_prompt(kind, "user", **values)}]
    errors: list[Error] = []
    usage = Usage()
    text = ""
    for attempt in range(2):
        reply = ctx.model(messages, schema=schema)
        text, usage = reply.text, usage + reply.usage
        try:
            return parse(text), text, usage, errors
        except ParseError as exc:
            errors.append(Error(
                run_id=ctx.run_id, sender=ctx.role.name, error_type="parse",
                content=f"{ctx.role.name} ({ctx.role.kind}): reply could not be parsed "
                        f"({'after repair' if attempt else 'asking once more'}): {exc}",
            ))
            messages = [*messages, {"role": "assistant", "content": text},
                        {"role": "user", "content": render_prompt(kind, "repair", **values, error=str(exc))}]
    return None, text, usage, errors
