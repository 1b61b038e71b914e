"""The planner: breaks the task into steps with dependencies."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from roles._parse import parse_model
from roles.base import RoleContext, TeamState, ask, last, task_of
from studio.messages import Approval, Decision, Message, Plan, PlanStep

__all__ = ["PlanDecoding", "PlanReply", "plan"]


class PlanReply(BaseModel):
    """The JSON contract of the planner's reply."""

    steps: list[PlanStep] = Field(min_length=1)


class _StepDecoding(BaseModel):
    id: str = Field(min_length=1, max_length=8)
    description: str = Field(min_length=1, max_length=160)
    depends_on: list[Annotated[str, Field(max_length=8)]] = Field(max_length=4)


class PlanDecoding(BaseModel):
    """Bounded lengths, so constrained decoding always closes the JSON within the token budget."""

    steps: list[_StepDecoding] = Field(min_length=1, max_length=5)


def plan(state: TeamState, ctx: RoleContext) -> list[Message]:
    """Ask the model for a plan; fall back to a one-step plan (the task itself)."""
    transcript = state["transcript"]
    task = task_of(transcript)
    decision, verdict = last(transcript, Decision), last(transcript, Approval)
    instruction = decision.instruction if decision else ""
    if verdict is not None and verdict.status == "rejected" and verdict.point == "after_plan":
        instruction = f"A person rejected the plan: {verdict.feedback}"
    answer = ask(ctx, {"task": task, "instruction": instruction}, lambda t: parse_model(t, PlanReply),
                 schema=PlanDecoding, query=task)
    steps = answer.parsed.steps if answer.parsed else [PlanStep(id="s1", description=task)]
    content = "\n".join(
        f"{s.id}. {s.description}" + (f" (after {', '.join(s.depends_on)})" if s.depends_on else "") for s in steps
    )
    return [*answer.notes, Plan(run_id=ctx.run_id, sender=ctx.role.name, content=content, steps=steps,
                                usage=answer.usage, memory_ids=answer.memory_ids)]
