"""The orchestrator's task ledger: Magentic-One's outer loop.

Before the team starts, and again whenever the team stalls, the orchestrator
writes down what is given, what to look up, what to derive, its guesses and a
plan over the team. On a rewrite it first reflects on what went wrong.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from roles._parse import parse_model
from roles.base import RoleContext, TeamState, ask, feedback_of, last, task_of, transcript_text
from studio.messages import Approval, Ledger, Message

__all__ = ["LedgerFacts", "ledger_text", "write_ledger"]

_Line = Annotated[str, Field(max_length=160)]


class LedgerFacts(BaseModel):
    """The JSON contract of a task ledger (bounded, so constrained decoding closes the JSON in budget)."""

    facts_given: list[_Line] = Field(default_factory=list, max_length=5)
    facts_to_look_up: list[_Line] = Field(default_factory=list, max_length=5)
    facts_to_derive: list[_Line] = Field(default_factory=list, max_length=5)
    educated_guesses: list[_Line] = Field(default_factory=list, max_length=5)
    plan: list[_Line] = Field(min_length=1, max_length=6)
    reflection: str = Field("", max_length=300)


def ledger_text(ledger: Ledger | LedgerFacts) -> str:
    """The ledger as the prompts and the transcript show it."""
    parts = [("Facts given", ledger.facts_given), ("To look up", ledger.facts_to_look_up),
             ("To derive", ledger.facts_to_derive), ("Guesses", ledger.educated_guesses)]
    lines = [f"{title}: {'; '.join(items)}" for title, items in parts if items]
    lines += ["Plan:"] + [f"{i}. {step}" for i, step in enumerate(ledger.plan, 1)]
    if ledger.reflection:
        lines.insert(0, f"What went wrong: {ledger.reflection}")
    return "\n".join(lines)


def _fallback(ctx: RoleContext, task: str) -> LedgerFacts:
    """A plan that follows the team's own order, when the reply never parsed."""
    return LedgerFacts(facts_given=[task[:160]], plan=[f"{r.name}: do your part" for r in ctx.team.workers()])


def write_ledger(state: TeamState, ctx: RoleContext) -> list[Message]:
    """Write the first task ledger, or after a stall, reflect and rewrite it."""
    transcript = state["transcript"]
    task, previous = task_of(transcript), last(transcript, Ledger)
    replan = previous.replan + 1 if previous is not None else 0
    verdict = last(transcript, Approval)
    rejected = verdict is not None and verdict.status == "rejected" and verdict.point == "after_plan"
    answer = ask(ctx, {
        "task": task, "replan": replan > 0,
        "team": ", ".join(f"{r.name} ({r.kind})" for r in ctx.team.workers()),
        "previous": ledger_text(previous) if previous is not None else "",
        "transcript": transcript_text(transcript) if replan else "",
        "feedback": feedback_of(transcript) if rejected else "",
    }, lambda t: parse_model(t, LedgerFacts), schema=LedgerFacts, query=task, prompt="ledger")
    facts = answer.parsed or _fallback(ctx, task)
    return [*answer.notes, Ledger(
        run_id=ctx.run_id, sender=ctx.role.name, content=ledger_text(facts), usage=answer.usage,
        memory_ids=answer.memory_ids, replan=replan, **facts.model_dump(),
    )]
