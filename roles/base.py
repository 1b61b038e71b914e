"""What every role shares: its context, the graph state, prompts and the ask-and-repair loop.

A role is a plain function ``(state, ctx) -> list[Message]``. Everything it
needs from outside (the model above all) comes in ``ctx``, so the same role
runs on the embedded model, a real provider or a script.
"""

from __future__ import annotations

import json
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
from roles.act import (
    REPEATED,
    ActStep,
    Journal,
    call_schema,
    describe_tools,
    parse_call,
    remembered,
    repeated_call,
    request_key,
    run_tool,
    tool_result_text,
)
from sandbox import Sandbox
from studio.llm.schemas import json_schema
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
from studio.tools import Tool

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # Python 3.10 (requires-python): typing has no NotRequired yet
    from typing_extensions import NotRequired

__all__ = ["Answer", "Completion", "ModelFn", "RoleContext", "TeamState", "ask", "feedback_of", "last_code",
           "main_line", "render_prompt", "transcript_text"]

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

    def __call__(self, messages: list[dict[str, Any]], *, schema: type[BaseModel] | None = None,
                 tools: list[dict[str, Any]] | None = None, tool_choice: str = "auto") -> Completion:
        """Answer ``messages``; with ``schema``, the reply is JSON of that pydantic model.

        ``tools`` (OpenAI-style function specs) and ``tool_choice`` (``auto`` or ``required``) go only to a
        model with native function calling.
        """
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
    tools: tuple[Tool, ...] = ()
    """The Python functions' and MCP servers' tools the role may call (``memory_search`` comes with memory)."""
    journal: Journal | None = None
    """Model replies and tool results by request, kept when the team approves tool calls (a paused turn resumes
    with the same replies)."""
    repairs: int = 1
    """How often a reply that does not parse is asked for again with the repair prompt (0: never; best_of_n's
    candidates, for whom a fresh candidate costs less than a repair that re-reads the whole conversation)."""

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

    A role with tools (``memory_search``, Python functions, MCP servers' tools) may first call them, up to its
    ``max_tool_calls`` (see :mod:`roles.act`); the results are added to the conversation. A reply that does not
    parse gets ``ctx.repairs`` repair attempts (one by default); the caller falls back to a default when ``parsed``
    is ``None``. ``prompt`` names another prompt file than the role's behaviour (the critic ranking candidates uses
    ``rank``).
    """
    kind = prompt or ctx.role.behaviour  # a custom kind uses its behaviour's prompt, with its own instructions
    hits = recall(ctx, query)
    values = {"role": ctx.role, "memory": memory_block(hits, ctx.team.memory.max_chars, tag=fence_tag(ctx.run_id)),
              **values}
    tools = {t.name: t for t in ctx.tools}
    native = bool(tools) and bool(getattr(ctx.model, "native_tools", False))
    system = render_prompt(kind, "system", **values)
    if _tools_allowed(ctx):
        system += "\n\n" + render_prompt("tools", "memory_search")
    if tools and not native:
        system += "\n\n" + describe_tools(tools)
    messages = [{"role": "system", "content": system},
                *(_shown_examples(ctx, kind, values) if kind == ctx.role.behaviour else []),
                {"role": "user", "content": render_prompt(kind, "user", **values)}]
    answer: Answer[T] = Answer(None, "", Usage(), memory_ids=[h.id for h in hits])
    calls_left = ctx.role.max_tool_calls if _tools_allowed(ctx) or tools else 0
    required = ctx.role.tool_choice == "required" and bool(tools)
    repairs = 0
    done: set[str] = set()  # the turn's tool calls, by name and arguments
    while True:
        step = _complete(ctx, messages, schema, tools, calls_left, native, required)
        answer.text, answer.usage = step.text, answer.usage + step.usage
        if calls_left and step.tool_calls:  # native function calling
            calls_left, messages = _run_native(ctx, step, tools, calls_left, messages, answer, done)
            required = False
            continue
        search = parse_tool_call(step.text) if calls_left and _tools_allowed(ctx) else None
        call = parse_call(step.text, tools) if calls_left and tools and search is None else None
        if search is not None or call is not None:
            calls_left -= 1
            required = False
            if search is not None:
                shown = _use_tool(ctx, search, answer)
                result = render_prompt("tools", "result", query=search.query, results=shown)
            else:
                assert call is not None  # one of the two is set (the branch's condition)
                again = repeated_call(ctx, call[0], call[1], done)
                if again is not None:  # the same call again: not run, and the next reply must be the answer
                    answer.notes += again
                    calls_left, result = 0, REPEATED
                else:
                    notes, outcome, _ = run_tool(ctx, call[0], call[1], tools, ctx.journal)
                    answer.notes += notes
                    result = tool_result_text(ctx.run_id, call[0], outcome)
            messages = [*messages, {"role": "assistant", "content": step.text}, {"role": "user", "content": result}]
            continue
        try:
            answer.parsed = parse(step.text)
            return answer
        except ParseError as exc:
            then = "after repair" if repairs else "asking once more" if ctx.repairs else "not asked again"
            answer.notes.append(Error(
                run_id=ctx.run_id, sender=ctx.role.name, error_type="parse",
                content=f"{ctx.role.name} ({ctx.role.kind}): reply could not be parsed ({then}): {exc}",
            ))
            if repairs >= ctx.repairs:
                return answer
            repairs += 1
            messages = [*messages, {"role": "assistant", "content": step.text},
                        {"role": "user", "content": render_prompt(kind, "repair", **values, error=str(exc))}]


def _complete(ctx: RoleContext, messages: list[dict[str, Any]], schema: type[BaseModel] | None,
              tools: dict[str, Tool], calls_left: int, native: bool, required: bool) -> ActStep:
    """One model call of the act loop (served from the journal when a paused turn resumes)."""
    if native and calls_left:
        specs = [t.openai_spec() for t in tools.values()]
        key = "model:" + request_key(ctx.role.name, ctx.branch, messages, schema and schema.__qualname__, specs)
        choice = "required" if required else "auto"
        return _step(remembered(ctx.journal, key, lambda: _plain_step(ctx.model(messages, schema=schema, tools=specs,
                                                                                tool_choice=choice))))
    wanted = schema
    if calls_left and tools:
        wanted = call_schema(tools, schema, required=required, searching=_tools_allowed(ctx))
    elif calls_left and schema is not None:  # memory_search only
        wanted = _with_tool(schema)
    key = "model:" + request_key(ctx.role.name, ctx.branch, messages, wanted and json_schema(wanted))
    return _step(remembered(ctx.journal, key, lambda: _plain_step(ctx.model(messages, schema=wanted))))


def _plain_step(reply: Completion) -> dict[str, Any]:
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in getattr(reply, "tool_calls", ())]
    return {"text": reply.text, "usage": reply.usage.model_dump(), "tool_calls": calls}


def _step(data: dict[str, Any]) -> ActStep:
    return ActStep(data["text"], Usage(**data["usage"]), tuple(data.get("tool_calls") or ()))


def _run_native(ctx: RoleContext, step: ActStep, tools: dict[str, Tool], calls_left: int,
                messages: list[dict[str, Any]], answer: Answer, done: set[str]) -> tuple[int, list[dict[str, Any]]]:
    """Run a native reply's tool calls (those over the role's limit are answered with a refusal)."""
    asked = [{"id": c["id"], "type": "function",
              "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], default=str)}}
             for c in step.tool_calls]
    # an empty string, not None: some OpenAI-compatible servers (llama.cpp's) refuse a null content
    messages = [*messages, {"role": "assistant", "content": step.text or "", "tool_calls": asked}]
    for call in step.tool_calls:
        again = repeated_call(ctx, call["name"], call["arguments"], done) if calls_left else None
        if again is not None:
            answer.notes += again
            calls_left, shown = 0, REPEATED
        elif calls_left:
            calls_left -= 1
            notes, outcome, _ = run_tool(ctx, call["name"], call["arguments"], tools, ctx.journal)
            answer.notes += notes
            shown = tool_result_text(ctx.run_id, call["name"], outcome)
        else:
            shown = f"Not run: the role may call at most {ctx.role.max_tool_calls} tools in a turn. Answer now."
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": shown})
    return calls_left, messages


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
