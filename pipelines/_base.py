"""What every flow shares: the per-run wiring, node names, state updates and the final message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph import StateGraph

from roles import RoleContext, TeamState
from roles.base import last, last_code, main_line, task_of
from roles.executor import execution_of, given_tests, task_counts
from studio.messages import Approval, Code, Decision, Execution, Final, Message, Ranking, Review, Usage
from studio.spec import TeamSpec

__all__ = ["BRANCH_NODES", "COUNTED_NODES", "EXECUTE_NODE", "FINAL_NODE", "LEDGER_NODE", "Publish", "Reflect",
           "RunWiring", "best_code", "budget_final", "coder_names", "final_message", "new_graph", "node_update",
           "stamped", "task_counts"]

FINAL_NODE = "_final"
EXECUTE_NODE = "_execute"
LEDGER_NODE = "_ledger"
BRANCH_NODES = frozenset({"_step", "_candidate", "_subteam"})
"""Nodes that run as parallel branches: they add to the transcript and nothing else."""
COUNTED_NODES = frozenset({"_join", "_rank", "_judge"})
"""Nodes besides the workers whose turn counts as a round."""
Publish = Callable[[list[Message]], None]
Reflect = Callable[[list[Message], str, "str | None"], list[Message]]


@dataclass(frozen=True)
class RunWiring:
    """The per-run part of a graph: given to ``invoke(..., context=...)``."""

    run_id: str
    contexts: dict[str, RoleContext]
    """A :class:`RoleContext` per role name (the model is injected there)."""
    publish: Publish
    """Persists and delivers a node's messages (the bus)."""
    reflect: Reflect | None = None
    """Writes what the run taught to memory, given the transcript, status and error; returns the messages to
    publish (``None`` when the team has no memory or reflection is off)."""
    boards: dict[str, Any] = field(default_factory=dict)
    """What the run's parallel branches share while a step is under way: best_of_n's evidence boards, by the
    id of the plan or task the step works from (the same dict in every branch's wiring)."""
    replayed: frozenset[str] | None = None
    """In a replay, the parallel branches the recording wrote: adaptive N writes exactly these (its timing is
    not the recording's); ``None`` otherwise."""

    def in_branch(self, branch: str, roles: list[str] | None = None) -> RunWiring:
        """The wiring of a parallel branch: its roles' model calls and messages are marked with ``branch``."""
        names = roles if roles is not None else list(self.contexts)
        contexts = {name: self.contexts[name].for_branch(branch) for name in names}
        return RunWiring(self.run_id, contexts, lambda messages: self.publish(stamped(messages, branch)),
                         boards=self.boards, replayed=self.replayed)


def new_graph() -> StateGraph:
    """An empty graph over the team state, run with a :class:`RunWiring` context (every flow starts from one)."""
    # the bare StateGraph annotation leaves langgraph's context type at None; the graphs pass it around as such
    return StateGraph(TeamState, context_schema=RunWiring)  # type: ignore[arg-type]


def coder_names(spec: TeamSpec) -> list[str]:
    """The team's coders, in spec order."""
    return [r.name for r in spec.roles if r.behaviour == "coder"]


def stamped(messages: list[Message], branch: str) -> list[Message]:
    """``messages`` marked as made in ``branch`` (kept as they are when already marked)."""
    return [m if m.branch else m.model_copy(update={"branch": branch}) for m in messages]


def node_update(spec: TeamSpec, node: str, messages: list[Message], state: TeamState) -> dict[str, Any]:
    """The state update a node makes after producing ``messages``."""
    update: dict[str, Any] = {"transcript": messages}
    if node in BRANCH_NODES:
        return update
    names = {r.name for r in spec.roles}
    if node in COUNTED_NODES or (node in names and spec.role(node).behaviour != "orchestrator"):
        update["turns"] = state.get("turns", 0) + 1
    elif node in names and spec.flow.type == "magentic":  # the progress ledger moves the stall counter
        decision = last(messages, Decision)
        stalls = state.get("stalls", 0)
        if decision is not None:
            stuck = decision.is_in_loop or not decision.is_progress_being_made
            update["stalls"] = stalls + 1 if stuck else max(0, stalls - 1)
    elif node == LEDGER_NODE:
        update["stalls"] = 0
    return update


def _reviewer(spec: TeamSpec, review: Review | None) -> str:
    """``critic`` for the critic; ``tester (tester)`` for a custom kind that reviews."""
    if review is None or review.sender not in {r.name for r in spec.roles}:
        return "critic"
    role = spec.role(review.sender)
    return role.kind if role.builtin or role.name == role.kind else f"{role.kind} {role.name}"


def _reason(spec: TeamSpec, state: TeamState, transcript: list[Message]) -> tuple[str, str]:
    review, decision, verdict = last(transcript, Review), last(transcript, Decision), last(transcript, Approval)
    ranking = last(transcript, Ranking)
    if verdict is not None and verdict.status == "rejected" and transcript[-1] is verdict:
        return "rejected", f"A person rejected the result: {verdict.feedback}"
    if review is not None and review.verdict == "approve":
        return "approved", f"The {_reviewer(spec, review)} approved the code."
    if spec.flow.type == "best_of_n" and ranking is not None and last(transcript, (Review, Ranking)) is ranking:
        return "chosen", f"The evidence chose candidate {ranking.chosen} (the critic was not asked)."
    if ranking is not None and spec.flow.type == "cross_team":
        chosen = "a merge of the sub-teams' code" if ranking.chosen == "merged" else f"sub-team {ranking.chosen}"
        return "chosen", f"The judge ({ranking.sender}) chose {chosen}."
    if decision is not None and decision.is_request_satisfied:
        return "satisfied", "The orchestrator judged the request satisfied."
    if spec.flow.type == "magentic" and state.get("stalls", 0) >= spec.flow.max_stalls:
        return "stalled", f"Stalled {spec.flow.max_stalls} times after {spec.flow.max_replans} replans."
    if state.get("turns", 0) >= spec.flow.max_rounds:
        return "max_rounds", f"Stopped after {spec.flow.max_rounds} rounds without approval."
    return "no_route", "No role was left to speak."


_CLAIMS = frozenset({"approved", "satisfied", "chosen"})
"""Stop reasons that claim success: the evidence can contradict them."""


def best_code(transcript: list[Message]) -> tuple[Code | None, Execution | None]:
    """The code the run returns, with its execution: of the code that ran, the one passing most task tests.

    Ties go to the later version; when the last code did not run (a person's edit after the last run), there
    is no evidence to weigh, and the last code is returned as it is.
    """
    code = last_code(transcript)
    ran = execution_of(transcript, code)
    if ran is None:
        return code, None
    best: tuple[int, Code, Execution] | None = None
    for message in transcript:
        if not isinstance(message, Code) or not message.code:
            continue
        run = execution_of(transcript, message)
        if run is not None and (best is None or task_counts(run)[0] >= best[0]):
            best = (task_counts(run)[0], message, run)
    assert best is not None  # the last code ran
    return best[1], best[2]


def _evidence(transcript: list[Message], ran: Execution) -> str | None:
    """What the run of the code shows against it (``None``: nothing, or the task gave no tests to check)."""
    passed, failed = task_counts(ran)
    if failed > 0:
        return f"the code fails {failed} of {passed + failed} of the task's tests"
    if not (passed or given_tests(task_of(transcript))):
        return None  # no tests from the task: nothing to hold a claim against
    if ran.limit is not None:
        return f"the code's test run was stopped by the sandbox's {ran.limit} limit"
    if ran.exit_code != 0 and ran.own_failed == 0:  # a failing test of the code's own is not the task's
        return f"the code's test run exited with {ran.exit_code}"
    return None


def _ran_summary(code: Code | None, ran: Execution | None, transcript: list[Message]) -> str:
    if ran is None:
        return ""
    tests = f"{ran.passed} passed, {ran.failed} failed" if ran.tests_run else "no tests"
    which = "Last run" if code is last_code(transcript) else "Its run (the best of the versions that ran)"
    return f" {which}: {'ok' if ran.ok else 'failed'} ({tests}, exit {ran.exit_code})."


def budget_final(run_id: str, messages: list[Message], why: str, usage: Usage | None = None) -> Final:
    """The final of a run stopped by a budget: the best work so far, and how to go on.

    The best work is the main line's best code (a ranked candidate continues there); when the main line has
    none yet, the best of every branch's code (most task tests passed, the later one on a tie).

    Args:
        run_id: the run.
        messages: everything the run logged, branches included.
        why: which budget, and what was spent (``BudgetReached``'s text).
        usage: what the calls of the interrupted turn spent (it published nothing), so the log's sums stay whole.
    """
    transcript = main_line(messages)
    code, ran = best_code(transcript)
    if code is None or not code.code:
        transcript = [m for m in messages if not isinstance(m, Final)]
        code, ran = best_code(transcript)
    has_code = code is not None and bool(code.code)
    summary = (f"Stopped before the next model call: {why}. Resume with a raised budget: huddle run --resume "
               f"{run_id} --budget-... (or resume_run(..., budget=Budget(...))).")
    summary += _ran_summary(code, ran, transcript) if has_code else ""
    body = f"{summary}\n\nThe best work so far:\n\n```python\n{code.code}\n```" if code and has_code \
        else f"{summary} No code was written yet."
    return Final(run_id=run_id, sender="system", content=body, code=code.code if code else "", approved=False,
                 stop_reason="budget", parent_id=code.id if code and has_code else None, executed=ran is not None,
                 exit_code=ran.exit_code if ran else None, passed=ran.passed if ran else 0,
                 failed=ran.failed if ran else 0, usage=usage or Usage())


def final_message(spec: TeamSpec, run_id: str, state: TeamState) -> Final:
    """The run's result: the main line's best code, whether it was approved, and why the run stopped.

    When the task's tests fail on that code the run is ``unsolved``, whatever a role claimed.
    """
    transcript = main_line(state["transcript"])
    code, ran = best_code(transcript)
    reason, summary = _reason(spec, state, transcript)
    evidence = _evidence(transcript, ran) if ran is not None and reason != "rejected" else None
    if evidence is not None:
        joint = ", but" if reason in _CLAIMS else ";"
        reason, summary = "unsolved", f"{summary.rstrip('.')}{joint} {evidence}."
    summary += _ran_summary(code, ran, transcript)
    body = f"{summary}\n\n```python\n{code.code}\n```" if code else f"{summary} No code was written."
    return Final(run_id=run_id, sender="system", content=body, code=code.code if code else "",
                 approved=reason == "approved", stop_reason=reason, parent_id=code.id if code else None,
                 executed=ran is not None, exit_code=ran.exit_code if ran else None,
                 passed=ran.passed if ran else 0, failed=ran.failed if ran else 0)
