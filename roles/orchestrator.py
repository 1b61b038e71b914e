"""The orchestrator: keeps a progress ledger (as in Magentic-One) and picks the next speaker."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, create_model

from roles._parse import parse_model
from roles.base import RoleContext, TeamState, ask, task_of, transcript_text
from studio.messages import Code, Decision, Error, Message, Review

__all__ = ["LedgerReply", "default_next", "orchestrate"]


class LedgerReply(BaseModel):
    """The JSON contract of the orchestrator's reply (the progress ledger)."""

    is_request_satisfied: bool
    is_in_loop: bool = False
    is_progress_being_made: bool = True
    next_speaker: str
    instruction_or_question: str = ""


@lru_cache(maxsize=64)
def _ledger_schema(workers: tuple[str, ...]) -> type[BaseModel]:
    """The ledger with ``next_speaker`` limited to the workers, so constrained decoding picks a real role."""
    # create_model's stubs want type[Any] for a field; a Literal built at run time is a special form that
    # pydantic takes all the same.
    return create_model("Ledger", __base__=LedgerReply, next_speaker=(Literal[workers], ...),  # type: ignore[arg-type]
                        instruction_or_question=(str, Field(max_length=200)))


def _can_finish(transcript: list[Message], ctx: RoleContext) -> bool:
    """The run may end on the ledger's word only once there is code, reviewed if the team has a critic."""
    code_at = max((i for i, m in enumerate(transcript) if isinstance(m, Code) and m.code), default=-1)
    if code_at < 0:
        return False
    has_critic = any(r.behaviour == "critic" for r in ctx.team.roles)
    return not has_critic or any(isinstance(m, Review) for m in transcript[code_at:])


def default_next(state: TeamState, ctx: RoleContext) -> str:
    """The fixed order: the flow's successor of the last worker, or the entry role.

    A team without edges takes turns in the order its roles are listed (the last one ends the round).
    """
    workers = [r.name for r in ctx.team.workers()]
    speaker = next((m.sender for m in reversed(state["transcript"]) if m.sender in workers), None)
    if speaker is None:
        return ctx.team.entry()
    if not ctx.team.flow.edges:
        return workers[(workers.index(speaker) + 1) % len(workers)]
    return ctx.team.successor(speaker) or ""


def orchestrate(state: TeamState, ctx: RoleContext) -> list[Message]:
    """Update the ledger and choose who speaks next, falling back to the fixed order."""
    transcript = state["transcript"]
    workers = [r.name for r in ctx.team.workers()]
    task = task_of(transcript)
    answer = ask(
        ctx,
        {"task": task, "team": ", ".join(f"{r.name} ({r.kind})" for r in ctx.team.workers()),
         "workers": ", ".join(workers), "transcript": transcript_text(transcript)},
        lambda t: parse_model(t, LedgerReply), schema=_ledger_schema(tuple(workers)), query=task,
    )
    reply, errors = answer.parsed, list(answer.notes)
    fallback = default_next(state, ctx)
    if reply is None:
        reply = LedgerReply(is_request_satisfied=False, next_speaker=fallback)
    satisfied = reply.is_request_satisfied and _can_finish(transcript, ctx)
    speaker = reply.next_speaker
    if reply.is_request_satisfied and not satisfied:
        speaker = fallback  # "done" too early: follow the flow (e.g. to the critic for a review)
    elif not satisfied and speaker not in workers:
        errors.append(Error(run_id=ctx.run_id, sender=ctx.role.name, error_type="route",
                            content=f"orchestrator chose {speaker!r}, which is not a worker "
                                    f"({', '.join(workers)}); following the flow to {fallback or 'the end'}"))
        speaker = fallback
    content = ("request satisfied" if satisfied else f"next: {speaker or '(end)'}") + (
        f" — {reply.instruction_or_question}" if reply.instruction_or_question else "")
    return [*errors, Decision(
        run_id=ctx.run_id, sender=ctx.role.name, content=content, usage=answer.usage, memory_ids=answer.memory_ids,
        is_request_satisfied=satisfied, is_in_loop=reply.is_in_loop,
        is_progress_being_made=reply.is_progress_being_made,
        next_speaker="" if satisfied else speaker, instruction=reply.instruction_or_question,
    )]
