"""Typed messages: the one vocabulary every part of Huddle speaks.

Every message is a frozen pydantic model with a ``kind`` discriminator. The bus
stores them, roles produce them, the CLI prints them, and one ``TypeAdapter``
turns them into JSON and back.

Example:
    >>> msg = Task(run_id="r1", sender="user", content="Add two numbers")
    >>> dump_message(msg)["kind"]
    'task'
    >>> load_message(dump_message(msg)) == msg
    True

This module is the leaf of the import graph: it imports nothing from Huddle.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "MESSAGE_TYPES",
    "Code",
    "Decision",
    "DesignedTests",
    "Error",
    "Execution",
    "Approval",
    "Final",
    "Ledger",
    "Message",
    "Plan",
    "PlanStep",
    "Ranking",
    "Reflection",
    "Review",
    "Task",
    "ToolCall",
    "ToolResult",
    "Usage",
    "dump_message",
    "load_message",
    "message_from_json",
    "message_to_json",
    "new_id",
]


def new_id() -> str:
    """Return a fresh, globally unique message or run id."""
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Usage(BaseModel):
    """What one model call cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: int = 0
    """Tokens sent to the model."""
    completion_tokens: int = 0
    """Tokens the model produced."""
    cost_usd: float = 0.0
    """Price of the call in US dollars, as litellm knows it (0 for local models)."""
    latency_ms: float = 0.0
    """Wall time of the call, retries included."""
    model: str = ""
    """The model string that answered."""
    calls: int = 0
    """Model calls behind the message, failed attempts included (a resumed scripted run skips them)."""
    queue_ms: float = 0.0
    """Time the calls waited for a slot (the run's and the provider's concurrency and rate limits)."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            latency_ms=self.latency_ms + other.latency_ms,
            model=self.model or other.model,
            calls=self.calls + other.calls,
            queue_ms=self.queue_ms + other.queue_ms,
        )


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=new_id)
    """Unique id of this message."""
    run_id: str
    """The run this message belongs to."""
    sender: str
    """Role name that produced the message, or ``user`` / ``system``."""
    topic: str = "team"
    """Bus topic; subscribers filter on it."""
    content: str = ""
    """Human-readable text of the message (what a transcript shows)."""
    parent_id: str | None = None
    """The message this one answers, if any."""
    created_at: datetime = Field(default_factory=_now)
    """When the message was created (UTC)."""
    usage: Usage = Field(default_factory=Usage)
    """Tokens, cost and latency of the model calls behind this message."""
    memory_ids: list[str] = Field(default_factory=list)
    """Ids of the memory items that were in the prompt behind this message (or that it stored)."""
    branch: str = ""
    """The parallel branch that produced it (a plan step, a candidate or a sub-team); empty on the main line."""


class Task(_Base):
    """The request a run works on."""

    kind: Literal["task"] = "task"


class PlanStep(BaseModel):
    """One step of a plan."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    """Short step id, e.g. ``s1``."""
    description: str
    """What to do in this step."""
    depends_on: list[str] = Field(default_factory=list)
    """Ids of steps that must be done first."""


class Plan(_Base):
    """The planner's breakdown of the task."""

    kind: Literal["plan"] = "plan"
    steps: list[PlanStep] = Field(default_factory=list)
    """Ordered steps with dependencies."""


class Code(_Base):
    """Code the coder wrote; ``content`` keeps the full reply."""

    kind: Literal["code"] = "code"
    code: str = ""
    """The fenced code block, without the fences."""
    language: str = "python"
    """Language of the code block."""


class DesignedTests(_Base):
    """Tests a test designer wrote from the task's text, before any code: evidence to weigh, not a verdict.

    A small model's asserts are often wrong, so a flow trusts each one only as far as the candidates agree with
    it (:mod:`roles.vote`); they never decide a run's outcome, the task's own tests do.
    """

    kind: Literal["tests"] = "tests"
    tests: list[str] = Field(default_factory=list)
    """One ``assert`` line each, calling the task's function."""


class Execution(_Base):
    """The result of running code in the sandbox; ``parent_id`` is the code message it ran."""

    kind: Literal["execution"] = "execution"
    exit_code: int | None = None
    """Process exit code (negative: killed by that signal), ``None`` if it never finished."""
    stdout: str = ""
    """Standard output, its middle cut to the sandbox's output limit."""
    stderr: str = ""
    passed: int = 0
    """Tests that passed."""
    failed: int = 0
    """Tests that failed (errors included)."""
    tests_run: bool = False
    """Whether tests ran (from the task, the plan or the code), or the code only ran as a script."""
    failures: list[str] = Field(default_factory=list)
    """``name: why`` for each failed test."""
    own_passed: int = 0
    """Of ``passed``, the tests the code brought itself (its ``test_`` functions)."""
    own_failed: int = 0
    """Of ``failed``, the tests the code brought itself."""
    designed_passed: int = 0
    """A test designer's asserts that passed (run apart: they never count in ``passed``/``failed``)."""
    designed_failed: list[str] = Field(default_factory=list)
    """A test designer's asserts that failed; they may be wrong, so they do not make the run fail."""
    limit: str | None = None
    """The sandbox limit that stopped the code (``timeout``, ``cpu``, ``memory``, ``output``, …), if any."""
    duration_ms: float = 0.0
    peak_memory_mb: float = 0.0
    network: str = "open"
    """How the code was kept off the network: ``cut``, ``tcp-blocked`` or ``open``."""
    filesystem: str = "open"
    """How the filesystem was confined: ``landlock`` (reads limited, writes only in the workspace) or ``open``."""
    workspace: str = ""
    """The folder the code ran in (its files stay there)."""

    @property
    def ok(self) -> bool:
        """Exit status 0, no limit hit and no failed test."""
        return self.exit_code == 0 and self.limit is None and self.failed == 0


class Review(_Base):
    """The critic's judgement of the latest code."""

    kind: Literal["review"] = "review"
    verdict: Literal["approve", "revise"]
    """``approve`` ends the loop; ``revise`` sends the coder back to work."""
    feedback: str = ""
    lessons: list[str] = Field(default_factory=list)
    """Lessons worth remembering for later runs."""


class Decision(_Base):
    """The orchestrator's progress ledger and its choice of next speaker."""

    kind: Literal["decision"] = "decision"
    is_request_satisfied: bool = False
    is_in_loop: bool = False
    is_progress_being_made: bool = True
    next_speaker: str = ""
    """Role that speaks next, or empty when the run should end."""
    instruction: str = ""
    """What the next speaker should do."""


class Final(_Base):
    """The result of a run; a run that ends well ends with exactly one."""

    kind: Literal["final"] = "final"
    code: str = ""
    """The run's best code: of the main line's code that ran, the one that passed most of the task's tests
    (the later one on a tie); the last code written when that did not run."""
    approved: bool = False
    """Whether the critic approved the code."""
    stop_reason: Literal["approved", "satisfied", "max_rounds", "no_route", "stalled", "rejected", "chosen",
                         "unsolved", "budget"] = "approved"
    """Why the run stopped. ``unsolved``: whatever a role claimed, the code fails the task's tests (the
    evidence decides); the content says who claimed what and what the run of the code showed. ``budget``: the
    next model call could have overrun a budget; the code is the best work so far, and the run can be resumed
    with a raised budget."""
    executed: bool = False
    """Whether the final code was run in the sandbox (then ``passed``/``failed``/``exit_code`` say how it went)."""
    exit_code: int | None = None
    passed: int = 0
    """Tests of the final code that passed."""
    failed: int = 0
    """Tests of the final code that failed."""


class Ledger(_Base):
    """The orchestrator's task ledger (Magentic-One's outer loop): what is known, what is not, and the plan."""

    kind: Literal["ledger"] = "ledger"
    facts_given: list[str] = Field(default_factory=list)
    """Facts stated in the task."""
    facts_to_look_up: list[str] = Field(default_factory=list)
    facts_to_derive: list[str] = Field(default_factory=list)
    """Facts to work out by reasoning or by running code."""
    educated_guesses: list[str] = Field(default_factory=list)
    plan: list[str] = Field(default_factory=list)
    """The plan over the team, one line per step (``coder: write ...``)."""
    replan: int = 0
    """0 for the first ledger, then 1, 2, … for each rewrite after a stall."""
    reflection: str = ""
    """On a rewrite: what went wrong."""


class Ranking(_Base):
    """A comparison of parallel results (best_of_n's candidates, cross_team's sub-teams), best first."""

    kind: Literal["ranking"] = "ranking"
    order: list[str] = Field(default_factory=list)
    """Branch names, best first."""
    chosen: str = ""
    """The branch whose result continues (``merged`` when the judge merged results)."""
    reason: str = ""


class Approval(_Base):
    """A person's say at an approval point.

    It is asked for (``requested``), then ``approved``, ``edited`` or ``rejected``.
    """

    kind: Literal["approval"] = "approval"
    point: Literal["after_plan", "before_execution", "before_final", "before_tool"]
    """Where the run stopped; ``before_tool``: before a call of a tool the team listed under ``approval``
    (``content`` shows the call, an edit gives new arguments as a JSON object)."""
    status: Literal["requested", "approved", "edited", "rejected"] = "requested"
    feedback: str = ""
    """Why it was rejected (the team reads it), or a note with an edit."""


class ToolCall(_Base):
    """A role asked to use a tool (e.g. ``memory_search`` with its own query)."""

    kind: Literal["tool_call"] = "tool_call"
    tool: str
    """Name of the tool."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """The arguments the role gave."""


class ToolResult(_Base):
    """What a tool returned to the role that called it; ``content`` is what the role was shown."""

    kind: Literal["tool_result"] = "tool_result"
    tool: str
    ok: bool = True
    """False when the tool refused or failed (``content`` says why)."""
    untrusted: bool = False
    """True for what a Python function or an MCP server returned: shown to models fenced as data, and a lesson
    written after seeing it is stored as untrusted until a person approves it."""


class Reflection(_Base):
    """Something written to the shared memory when a run ended: a lesson, a post-mortem or an episode."""

    kind: Literal["reflection"] = "reflection"
    collection: Literal["reflections", "episodes"] = "reflections"
    """Where it was stored."""
    note: Literal["lesson", "post_mortem", "episode"] = "lesson"
    """What it is."""


class Error(_Base):
    """Something went wrong; the run may go on (a repaired reply) or stop."""

    kind: Literal["error"] = "error"
    error_type: str = ""
    """Short class of the error, e.g. ``parse``, ``provider``, ``script``."""
    fatal: bool = False
    """Whether the run stopped because of it."""


MESSAGE_TYPES = (Task, Plan, Code, DesignedTests, Execution, Review, Decision, Final, ToolCall, ToolResult,
                 Reflection, Error, Ledger, Ranking, Approval)
"""Every message class, in the order of the union."""

Message = Annotated[
    Task | Plan | Code | DesignedTests | Execution | Review | Decision | Final | ToolCall | ToolResult | Reflection
    | Error | Ledger | Ranking | Approval,
    Field(discriminator="kind"),
]
"""Any message, discriminated by ``kind``."""

# mypy reads a union of fifteen members as a UnionType value here rather than a type form (fourteen passed)
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Message)  # type: ignore[arg-type, unused-ignore]


def dump_message(message: Message) -> dict[str, Any]:
    """Return a JSON-ready dict of ``message``."""
    return message.model_dump(mode="json")


def load_message(data: dict[str, Any]) -> Message:
    """Build the right message class from a dict made by :func:`dump_message`."""
    return _ADAPTER.validate_python(data)


def message_to_json(message: Message) -> str:
    """Serialise ``message`` as one line of JSON."""
    return message.model_dump_json()


def message_from_json(text: str | bytes) -> Message:
    """Parse one line of JSON made by :func:`message_to_json`."""
    return _ADAPTER.validate_json(text)
