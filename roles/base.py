"""What every role shares: its context, the graph state, prompts and the ask-and-repair loop.

A role is a plain function ``(state, ctx) -> list[Message]``. Everything it
needs from outside (the model above all) comes in ``ctx``, so the same role
runs on the embedded model, a real provider or a script.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Generic, Protocol, TypedDict, TypeVar, overload

import jinja2
import yaml
from pydantic import BaseModel, RootModel

from memory.scoped import ScopedMemory
from roles._parse import ParseError
from roles._recall import MemorySearchCall, fence_tag, memory_block, parse_tool_call, recall, run_memory_search
from sandbox import Sandbox
from studio.messages import (
    Approval,
    Code,
    Decision,
    Error,
    Execution,
    Ledger,
    Message,
    Plan,
    Review,
    Task,
    ToolCall,
    ToolResult,
    Usage,
)
from studio.spec import RoleSpec, TeamSpec

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # Python 3.10 (requires-python): typing has no NotRequired yet
    from typing_extensions import NotRequired

__all__ = ["Answer", "Completion", "ModelFn", "RoleContext", "TeamState", "ask", "feedback_of", "last_code",
           "main_line", "render_prompt", "transcript_text"]

MAX_TOOL_CALLS = 2
"""Tool calls a role may make before it must answer."""

PROMPTS = Path(__file__).parent / "prompts"
T = TypeVar("T")
U = TypeVar("U")


class TeamState(TypedDict):
    """Graph state: the transcript grows by appending, so branches merge cleanly."""

    transcript: Annotated[list[Message], operator.add]
    turns: int
    """Worker turns taken so far (the orchestrator's turns do not count)."""
    stalls: NotRequired[int]
    """magentic: the stall counter (turns without progress, or in a loop)."""
    branch: NotRequired[str]
    """Set only in the input of a parallel branch (a plan step, a candidate, a sub-team): which one."""


class Completion(Protocol):
    """What a model call returns: its text and what it cost (read-only, so a frozen dataclass is one)."""

    @property
    def text(self) -> str:
        """The reply's text."""
        ...

    @property
    def usage(self) -> Usage:
        """Tokens, seconds and money the call took."""
        ...


class ModelFn(Protocol):
    """Calls the role's model: chat messages in, a completion out."""

    def __call__(self, messages: list[dict[str, Any]], *, schema: type[BaseModel] | None = None) -> Completion:
        """Answer ``messages``; with ``schema``, the reply is JSON of that pydantic model."""
        ...


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
    memory: ScopedMemory | None = None
    """The role's view of the team memory (``None`` when the team has memory off)."""
    sandbox: Sandbox | None = None
    """Where the role's code runs (``None`` when the team has execution off)."""
    branch: str = ""
    """The parallel branch this context works in (empty on the main line)."""

    def for_branch(self, branch: str, **call_options: Any) -> RoleContext:
        """This role working in ``branch``.

        Its model calls are keyed ``name.branch`` (a scripted model can give each branch its own replies) and
        may take other options (a candidate's temperature).
        """
        scoped = getattr(self.model, "for_branch", None)
        model = scoped(branch, **call_options) if scoped is not None else self.model
        return replace(self, branch=branch, model=model)


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


@overload
def last(transcript: list[Message], cls: type[T]) -> T | None: ...
@overload
def last(transcript: list[Message], cls: tuple[type[T], type[U]]) -> T | U | None: ...
def last(transcript: list[Message], cls: Any) -> Any:
    """The most recent message of class ``cls`` (or of either class of a pair)."""
    return next((m for m in reversed(transcript) if isinstance(m, cls)), None)


def last_code(transcript: list[Message]) -> Code | None:
    """The most recent code message that holds code (a reply without a code block is skipped)."""
    return next((m for m in reversed(transcript) if isinstance(m, Code) and m.code), None)


def main_line(transcript: list[Message]) -> list[Message]:
    """The messages outside parallel branches (what the whole team shares)."""
    return [m for m in transcript if not m.branch]


def feedback_of(transcript: list[Message]) -> str:
    """What the coder is asked to address: the critic's ``revise`` or a person's rejection, whichever is later."""
    for message in reversed(transcript):
        if isinstance(message, Review):
            return message.feedback if message.verdict == "revise" else ""
        if isinstance(message, Approval) and message.status != "requested":
            return f"A person rejected it: {message.feedback}" if message.status == "rejected" else ""
    return ""


def transcript_text(transcript: list[Message], limit: int = 8) -> str:
    """The last ``limit`` prompt-worthy messages as ``[sender] text`` lines."""
    kinds = (Task, Plan, Ledger, Code, Execution, Review, Decision, Approval)
    shown = [m for m in transcript if isinstance(m, kinds)][-limit:]
    return "\n\n".join(f"[{m.sender}{f' · {m.branch}' if m.branch else ''} · {m.kind}]\n{m.content}"
                        for m in shown)


@dataclass
class Answer(Generic[T]):
    """What :func:`ask` got: the parsed reply (``None`` if it never parsed) and everything around it."""

    parsed: T | None
    text: str
    """The last raw reply."""
    usage: Usage
    """Total usage of every call (repairs and tool rounds included)."""
    notes: list[Message] = field(default_factory=list)
    """Messages to publish before the role's own: parse errors, tool calls and results, in order."""
    memory_ids: list[str] = field(default_factory=list)
    """Memory items that were in the prompt (retrieved or returned by a tool)."""


def _tools_allowed(ctx: RoleContext) -> bool:
    return "memory_search" in ctx.role.tools and ctx.memory is not None


@cache
def _with_tool(schema: type[BaseModel]) -> type[BaseModel]:
    """``schema`` or a memory_search call, for constrained decoding while the role may still use the tool."""
    return RootModel[MemorySearchCall | schema]  # type: ignore[valid-type]


def ask(ctx: RoleContext, values: dict[str, Any], parse: Callable[[str], T], *,
        schema: type[BaseModel] | None = None, query: str = "", prompt: str | None = None) -> Answer[T]:
    """Render the role's prompt with what memory recalls for ``query``, call the model and parse its reply.

    A role granted the ``memory_search`` tool may first reply with a search
    (at most :data:`MAX_TOOL_CALLS` times); the results are added to the
    conversation. A reply that does not parse gets one repair attempt; the
    caller falls back to a default when ``parsed`` is ``None``. ``prompt`` names another prompt file than
    the role's behaviour (the critic ranking candidates uses ``rank``).
    """
    kind = prompt or ctx.role.behaviour  # a custom kind uses its behaviour's prompt, with its own instructions
    hits = recall(ctx, query)
    values = {"role": ctx.role, "memory": memory_block(hits, ctx.team.memory.max_chars, tag=fence_tag(ctx.run_id)),
              **values}
    system = render_prompt(kind, "system", **values)
    if _tools_allowed(ctx):
        system += "\n\n" + render_prompt("tools", "memory_search")
    messages = [{"role": "system", "content": system},
                *(_shown_examples(ctx, kind, values) if kind == ctx.role.behaviour else []),
                {"role": "user", "content": render_prompt(kind, "user", **values)}]
    answer: Answer[T] = Answer(None, "", Usage(), memory_ids=[h.id for h in hits])
    tools_left = MAX_TOOL_CALLS if _tools_allowed(ctx) else 0
    repairs = 0
    while True:
        wanted = _with_tool(schema) if tools_left and schema is not None else schema
        reply = ctx.model(messages, schema=wanted)
        answer.text, answer.usage = reply.text, answer.usage + reply.usage
        call = parse_tool_call(reply.text) if tools_left else None
        if call is not None:
            tools_left -= 1
            shown = _use_tool(ctx, call, answer)
            messages = [*messages, {"role": "assistant", "content": reply.text},
                        {"role": "user", "content": render_prompt("tools", "result", query=call.query, results=shown)}]
            continue
        try:
            answer.parsed = parse(reply.text)
            return answer
        except ParseError as exc:
            answer.notes.append(Error(
                run_id=ctx.run_id, sender=ctx.role.name, error_type="parse",
                content=f"{ctx.role.name} ({ctx.role.kind}): reply could not be parsed "
                        f"({'after repair' if repairs else 'asking once more'}): {exc}",
            ))
            if repairs:
                return answer
            repairs += 1
            messages = [*messages, {"role": "assistant", "content": reply.text},
                        {"role": "user", "content": render_prompt(kind, "repair", **values, error=str(exc))}]


def _shown_examples(ctx: RoleContext, kind: str, values: dict[str, Any]) -> list[dict[str, str]]:
    """The role's worked examples as earlier turns: each task in the role's own user prompt, then its reply."""
    blank = {k: type(v)() if isinstance(v, (str, list, dict)) else v for k, v in values.items()}
    turns: list[dict[str, str]] = []
    for example in ctx.role.examples:
        turns += [{"role": "user", "content": render_prompt(kind, "user", **{**blank, "task": example.task})},
                  {"role": "assistant", "content": example.reply}]
    return turns


def _use_tool(ctx: RoleContext, call: MemorySearchCall, answer: Answer) -> str:
    """Run a memory search for the role, record it as tool_call/tool_result messages, return what it sees."""
    request = ToolCall(run_id=ctx.run_id, sender=ctx.role.name, tool=call.tool, content=f"memory_search: {call.query}",
                       arguments={"query": call.query})
    shown, hits, ok = run_memory_search(ctx, call)
    ids = [h.id for h in hits]
    answer.notes += [request, ToolResult(run_id=ctx.run_id, sender=ctx.role.name, tool=call.tool, ok=ok,
                                         content=shown, parent_id=request.id, memory_ids=ids)]
    answer.memory_ids += [i for i in ids if i not in answer.memory_ids]
    return shown
