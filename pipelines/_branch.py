"""A coder working alone in a parallel branch: it writes, runs its code, and fixes it from the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pipelines._base import RunWiring, stamped
from roles import RoleContext, TeamState, write_code
from roles.base import last, last_code, main_line, task_of
from roles.board import CandidateSkipped
from roles.executor import execute, execution_of
from roles.probe import crash_report
from studio.messages import Code, Execution, Message

__all__ = ["branch_messages", "branch_result", "crashed_everywhere", "run_coder_branch"]


def branch_messages(transcript: list[Message], branch: str, since: Message | None = None) -> list[Message]:
    """What ``branch`` produced, after ``since`` (the plan or task it worked from) when given."""
    start = next((i for i, m in enumerate(transcript) if m.id == since.id), -1) if since is not None else -1
    return [m for m in transcript[start + 1:] if m.branch == branch]


def branch_result(transcript: list[Message], branch: str,
                  since: Message | None = None) -> tuple[list[Message], Code | None, Execution | None]:
    """What ``branch`` made (after ``since``), its last code (the last with a code block, if any) and the run of it."""
    made = branch_messages(transcript, branch, since=since)
    code = last_code(made) or last(made, Code)
    return made, code, execution_of(made, code)


def crashed_everywhere(ran: Message, code: str, task: str, sandbox: Any) -> Message:
    """``ran``, failed when the task gave no test and the code crashes on every input tried (so it gets fixed).

    Without a test a run only says the code imports; code that raises on each call to the task's
    function (generated from its signature and text) has failed all the same, and the traceback is
    what its coder fixes it from.
    """
    if not isinstance(ran, Execution) or not ran.ok or ran.passed > ran.own_passed:
        return ran
    why = crash_report(code, task, sandbox, name="probe-crash")
    if not why:
        return ran
    return ran.model_copy(update={"content": f"FAILED: the code crashes on every input tried: {why}.",
                                  "failed": ran.failed + 1, "failures": [*ran.failures, f"probe inputs: {why}"]})


def _checked(ctx: RoleContext, before_call: Callable[[], None]) -> RoleContext:
    """``ctx`` with ``before_call`` run before each model call, after the model's own hook (a budget's).

    A model without the hook (a test's stand-in that is not a ``RoleModel``) is kept as it is.
    """
    if not hasattr(ctx.model, "before_call"):
        return ctx
    earlier: Callable[[], None] | None = ctx.model.before_call

    def hook() -> None:
        if earlier is not None:
            earlier()
        before_call()

    return replace(ctx, model=replace(ctx.model, before_call=hook))  # type: ignore[type-var]


def run_coder_branch(state: TeamState, wiring: RunWiring, coder: str, branch: str, head: list[Message], *,
                     task_tests: bool = True, prelude: str = "", before_call: Callable[[], None] | None = None,
                     repairs: int = 1, **call_options: Any) -> list[Message]:
    """``coder`` in ``branch`` works from the main line plus ``head`` (its instruction).

    It has up to ``sandbox.max_attempts`` tries when its code runs; every message is published as it is made.
    ``before_call`` runs before each of the coder's model calls: when it raises :class:`CandidateSkipped`
    (adaptive N), the branch stops there with what it made so far. ``repairs``: how often a reply without
    usable code is asked for again (:attr:`roles.RoleContext.repairs`).
    """
    ctx = replace(wiring.contexts[coder].for_branch(branch, **call_options), repairs=repairs)
    if before_call is not None:
        ctx = _checked(ctx, before_call)
    made = stamped(head, branch)
    wiring.publish(made)
    local = [*main_line(state["transcript"]), *made]
    box = ctx.team.sandbox
    running = box.enabled and ctx.sandbox is not None
    for _ in range(box.max_attempts if running else 1):
        try:
            written = stamped(write_code({**state, "transcript": local}, ctx), branch)
        except CandidateSkipped:
            break
        wiring.publish(written)
        made, local = made + written, local + written
        code = last(written, Code)
        if not running or code is None or not code.code:
            continue
        ran = stamped(execute({**state, "transcript": local}, ctx, task_tests=task_tests, prelude=prelude), branch)
        if task_tests and not prelude:
            ran = [crashed_everywhere(m, code.code, task_of(local), ctx.sandbox) for m in ran]
        wiring.publish(ran)
        made, local = made + ran, local + ran
        if ran and ran[0].ok:  # type: ignore[union-attr]  # execute() makes Execution messages only
            break
    return made
