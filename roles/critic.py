"""The critic: approves the latest code or asks for changes, noting lessons."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from roles._parse import parse_model
from roles.base import RoleContext, TeamState, ask, last, task_of
from roles.executor import execution_of, execution_report
from studio.messages import Code, Decision, Message, Review

__all__ = ["ReviewReply", "review"]


class ReviewReply(BaseModel):
    """The JSON contract of the critic's reply."""

    verdict: Literal["approve", "revise"]
    feedback: str = ""
    lessons: list[str] = Field(default_factory=list)


class _ReviewDecoding(BaseModel):
    """Bounded lengths, so constrained decoding always closes the JSON within the token budget."""

    verdict: Literal["approve", "revise"]
    feedback: str = Field(max_length=300)
    lessons: list[Annotated[str, Field(max_length=120)]] = Field(max_length=3)


def review(state: TeamState, ctx: RoleContext) -> list[Message]:
    """Review the latest code with its execution result as evidence.

    An unparseable reply counts as ``revise`` (never approve unread code), and so
    does an approval of code whose run failed: the evidence wins over the opinion.
    """
    transcript = state["transcript"]
    code, decision = last(transcript, Code), last(transcript, Decision)
    ran = execution_of(transcript, code)
    task = task_of(transcript)
    answer = ask(
        ctx,
        {"task": task, "code": code.code if code and code.code else "(no code yet)",
         "execution": execution_report(ran) if ran is not None else "",
         "instruction": decision.instruction if decision else ""},
        lambda t: parse_model(t, ReviewReply), schema=_ReviewDecoding, query=task,
    )
    reply = answer.parsed
    if reply is None:
        reply = ReviewReply(verdict="revise", feedback="The review could not be read; please check the code again.")
    if reply.verdict == "approve" and not (code and code.code):
        reply = ReviewReply(verdict="revise", feedback="There is no code to approve yet: write a ```python block.",
                            lessons=reply.lessons)
    if reply.verdict == "approve" and ran is not None and not ran.ok:
        reply = ReviewReply(verdict="revise", lessons=reply.lessons,
                            feedback=f"The code fails when it runs ({ran.content}) Fix that first.")
    content = f"{reply.verdict.upper()}: {reply.feedback}".strip()
    return [*answer.notes, Review(run_id=ctx.run_id, sender=ctx.role.name, content=content, verdict=reply.verdict,
                                  feedback=reply.feedback, lessons=reply.lessons,
                                  parent_id=code.id if code else None, usage=answer.usage,
                                  memory_ids=answer.memory_ids)]
