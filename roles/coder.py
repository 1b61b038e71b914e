"""The coder: writes one Python code block for the task, revising on test results and feedback."""

from __future__ import annotations

from roles._parse import extract_code
from roles.base import RoleContext, TeamState, ask, feedback_of, last, task_of
from roles.executor import execution_of, execution_report
from studio.messages import Code, Decision, Ledger, Message, Plan, Review

__all__ = ["write_code"]


def write_code(state: TeamState, ctx: RoleContext) -> list[Message]:
    """Ask the model for code; on a reply without a code block, keep the text and no code."""
    transcript = state["transcript"]
    plan, review, previous = last(transcript, (Plan, Ledger)), last(transcript, Review), last(transcript, Code)
    decision = last(transcript, Decision)
    ran = execution_of(transcript, previous)
    values = {
        "task": task_of(transcript),
        "plan": plan.content if plan else "",
        "previous_code": previous.code if previous else "",
        "execution": execution_report(ran) if ran is not None and not ran.ok else "",
        "feedback": feedback_of(transcript),
        "instruction": decision.instruction if decision else "",
    }
    # The current step: the task, and on a revision what to fix. Not the plan, a restatement of the task (and
    # long: it pushed the feedback out of the embedder's 256 tokens); the task's vector is the run's, at hand.
    query = "\n".join(v for v in (values["task"], values["feedback"]) if v)
    answer = ask(ctx, values, extract_code, query=query)
    parent = ran.id if ran is not None else review.id if review else (plan.id if plan else None)
    return [*answer.notes, Code(run_id=ctx.run_id, sender=ctx.role.name, content=answer.text,
                                code=answer.parsed or "", parent_id=parent, usage=answer.usage,
                                memory_ids=answer.memory_ids)]
