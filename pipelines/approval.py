"""Human approval as LangGraph interrupts: a gate node per approval point.

A gate pauses the run with :func:`langgraph.types.interrupt`; the checkpoint
holds the pause, so the run can be approved from another process, days later.
The runner answers with an :class:`ApprovalDecision` (``Command(resume=...)``).
A gate does nothing before the interrupt but read the state: LangGraph runs the
node again from the top on resume.

Example:
    >>> ApprovalDecision.reject("Use a loop, not recursion").as_resume()
    {'action': 'reject', 'text': '', 'feedback': 'Use a loop, not recursion'}
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from langgraph.types import interrupt

from roles.base import TeamState, last
from studio.messages import Approval, Code, Ledger, Message, Plan, PlanStep

__all__ = ["TOOL_POINT", "ApprovalDecision", "approval_subject", "gate_messages", "pending_approval", "plan_steps",
           "tool_arguments", "tool_call_parts"]

TOOL_POINT = "before_tool"
"""The approval point before a tool call; its request's content is ``name(arguments as JSON)``."""


@dataclass(frozen=True)
class ApprovalDecision:
    """What a person said at an approval point."""

    action: Literal["approve", "edit", "reject"]
    text: str = ""
    """``edit``: the replacement (plan lines or code)."""
    feedback: str = ""
    """``reject``: why, and what to do instead (the team reads it)."""

    @classmethod
    def approve(cls) -> ApprovalDecision:
        """Go on as it is."""
        return cls("approve")

    @classmethod
    def edit(cls, text: str, feedback: str = "") -> ApprovalDecision:
        """Go on with ``text`` in place of the plan or code."""
        return cls("edit", text, feedback)

    @classmethod
    def reject(cls, feedback: str) -> ApprovalDecision:
        """Send it back, with what to do instead."""
        return cls("reject", "", feedback)

    def as_resume(self) -> dict[str, Any]:
        """The value given to ``Command(resume=...)`` (plain data, so it checkpoints)."""
        return asdict(self)

    @classmethod
    def from_resume(cls, value: Any) -> ApprovalDecision:
        """The decision in a ``Command(resume=...)`` value (or the decision itself)."""
        if isinstance(value, ApprovalDecision):
            return value
        if isinstance(value, dict) and value.get("action") in ("approve", "edit", "reject"):
            return cls(value["action"], str(value.get("text") or ""), str(value.get("feedback") or ""))
        raise ValueError(f"an approval decision is approve, edit or reject, got {value!r}")


def approval_subject(point: str, transcript: list[Message]) -> Message | None:
    """The message a person approves at ``point``: the plan (or task ledger), or the latest code."""
    if point == "after_plan":
        return last(transcript, (Plan, Ledger))
    return last(transcript, Code)


def pending_approval(messages: list[Message]) -> Approval | None:
    """The approval a run is waiting for: its last ``requested`` approval with no answer after it."""
    for message in reversed(messages):
        if isinstance(message, Approval):
            return message if message.status == "requested" else None
    return None


def tool_call_parts(content: str) -> tuple[str, str]:
    """(the tool's name, its arguments as JSON text) of a ``before_tool`` request's content ``name({...})``.

    Example:
        >>> tool_call_parts('search({"query": "x"})')
        ('search', '{"query": "x"}')
    """
    name, _, rest = content.partition("(")
    return name.strip(), (rest[:-1] if rest.endswith(")") else rest).strip() or "{}"


def tool_arguments(text: str) -> dict[str, Any]:
    """The arguments a person gave a tool call: ``text`` must be a JSON object.

    Raises:
        ValueError: it is not JSON, or not a JSON object; the message says where and what to write.

    Example:
        >>> tool_arguments('[1, 2]')
        Traceback (most recent call last):
            ...
        ValueError: the arguments must be a JSON object ({"name": value, ...}), got a list
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the arguments are not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                         'write a JSON object such as {"query": "text"}') from None
    if not isinstance(value, dict):
        kind = {list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(type(value), "a number")
        raise ValueError(f'the arguments must be a JSON object ({{"name": value, ...}}), got {kind}')
    return value


_STEP_LINE = re.compile(r"^(?:(?P<id>[A-Za-z0-9_-]{1,8})[.):]\s+)?(?P<text>.*?)(?:\s+\(after (?P<deps>[^)]*)\))?$")


def plan_steps(text: str) -> list[PlanStep]:
    r"""Steps from a plan as people edit it: one per line, as ``s2. what (after s1)`` or plain text.

    Example:
        >>> [(s.id, s.description, s.depends_on) for s in plan_steps("s1. Parse\ns2. Sum (after s1)")]
        [('s1', 'Parse', []), ('s2', 'Sum', ['s1'])]
    """
    steps = []
    for i, line in enumerate((ln.strip() for ln in text.splitlines() if ln.strip()), 1):
        found = _STEP_LINE.match(line)
        # the pattern matches every line (all its parts are optional)
        deps = [d.strip() for d in (found["deps"] or "").split(",") if d.strip()]  # type: ignore[index]
        steps.append(PlanStep(id=found["id"] or f"s{i}",  # type: ignore[index]
                              description=found["text"] or line, depends_on=deps))  # type: ignore[index]
    return steps


def _edited(point: str, subject: Message, decision: ApprovalDecision, run_id: str) -> Message:
    if point == "after_plan":
        steps = plan_steps(decision.text)
        return Plan(run_id=run_id, sender="user", content=decision.text.strip(), steps=steps, parent_id=subject.id)
    return Code(run_id=run_id, sender="user", content="Edited by a person.", code=decision.text.strip("\n"),
                parent_id=subject.id)


def gate_messages(point: str, state: TeamState, run_id: str) -> list[Message]:
    """Pause for a person at ``point``, then record what they said (and their edit) as messages."""
    subject = approval_subject(point, state["transcript"])
    shown = (subject.code if isinstance(subject, Code) else subject.content) if subject is not None else ""
    decision = ApprovalDecision.from_resume(interrupt({"point": point, "text": shown,
                                                       "subject_id": subject.id if subject else None}))
    status = {"approve": "approved", "edit": "edited", "reject": "rejected"}[decision.action]
    if decision.action == "edit" and (subject is None or not decision.text.strip()):
        status = "approved"  # nothing to edit, or an empty edit: treat as a plain approval
    record = Approval(run_id=run_id, sender="user", point=point, status=status, feedback=decision.feedback,
                      content=f"{point.replace('_', ' ')}: {status}" + (f" — {decision.feedback}"
                                                                         if decision.feedback else ""),
                      parent_id=subject.id if subject else None)
    if status == "edited":
        return [record, _edited(point, subject, decision, run_id)]  # type: ignore[arg-type]  # "edited" needs one
    return [record]
