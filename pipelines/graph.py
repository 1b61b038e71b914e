"""Compile a team spec into a LangGraph ``StateGraph``.

One node per role, an execute node that runs the coder's code in the sandbox (when the team
has execution on), and a final node, which also has the run reflect into memory. What belongs to one run (the role
contexts with their model, and the bus to publish on) comes in LangGraph's
runtime context, so one compiled graph serves every run of a team. The orchestrator (when the team has one)
picks each next speaker; otherwise the flow's edges do. New code is executed
first; a failing run goes straight back to its coder, up to ``sandbox.max_attempts``
tries per step. The critic's approve ends the loop, and ``flow.max_rounds`` bounds it. Each node publishes its
messages in one transaction when it finishes, then returns them as its state
update, so the run log and the checkpoint never disagree by more than the
last node (which :func:`node_update` lets the runner replay on resume).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from roles import ROLE_FUNCTIONS, RoleContext, TeamState
from roles.base import last
from roles.executor import attempts_in_step, execute, execution_of
from studio.messages import Code, Decision, Execution, Final, Message, Review
from studio.spec import TeamSpec

__all__ = ["EXECUTE_NODE", "FINAL_NODE", "RunWiring", "build_graph", "final_message", "node_update"]

FINAL_NODE = "_final"
EXECUTE_NODE = "_execute"
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


def node_update(spec: TeamSpec, node: str, messages: list[Message], state: TeamState) -> dict[str, Any]:
    """The state update a node makes after producing ``messages``."""
    update: dict[str, Any] = {"transcript": messages}
    if node not in (FINAL_NODE, EXECUTE_NODE) and spec.role(node).behaviour != "orchestrator":
        update["turns"] = state.get("turns", 0) + 1
    return update


def _reviewer(spec: TeamSpec, review: Review | None) -> str:
    """``critic`` for the critic; ``tester (tester)`` for a custom kind that reviews."""
    if review is None or review.sender not in {r.name for r in spec.roles}:
        return "critic"
    role = spec.role(review.sender)
    return role.kind if role.builtin or role.name == role.kind else f"{role.kind} {role.name}"


def final_message(spec: TeamSpec, run_id: str, state: TeamState) -> Final:
    """The run's result: last code, whether it was approved, and why the run stopped."""
    transcript = state["transcript"]
    code = next((m for m in reversed(transcript) if isinstance(m, Code) and m.code), None)
    review, decision = last(transcript, Review), last(transcript, Decision)
    approved = review is not None and review.verdict == "approve"
    if approved:
        reason = "approved"
    elif decision is not None and decision.is_request_satisfied:
        reason = "satisfied"
    elif state.get("turns", 0) >= spec.flow.max_rounds:
        reason = "max_rounds"
    else:
        reason = "no_route"
    summary = {
        "approved": f"The {_reviewer(spec, review)} approved the code.",
        "satisfied": "The orchestrator judged the request satisfied.",
        "max_rounds": f"Stopped after {spec.flow.max_rounds} rounds without approval.",
        "no_route": "No role was left to speak.",
    }[reason]
    ran = execution_of(transcript, code)
    if ran is not None:
        tests = f"{ran.passed} passed, {ran.failed} failed" if ran.tests_run else "no tests"
        summary += f" Last run: {'ok' if ran.ok else 'failed'} ({tests}, exit {ran.exit_code})."
    body = f"{summary}\n\n```python\n{code.code}\n```" if code else f"{summary} No code was written."
    return Final(run_id=run_id, sender="system", content=body, code=code.code if code else "",
                 approved=approved, stop_reason=reason, parent_id=code.id if code else None,
                 executed=ran is not None, exit_code=ran.exit_code if ran else None,
                 passed=ran.passed if ran else 0, failed=ran.failed if ran else 0)


def build_graph(spec: TeamSpec) -> StateGraph:
    """Wire the roles of ``spec`` into a graph (uncompiled); run it with a :class:`RunWiring` context."""
    graph = StateGraph(TeamState, context_schema=RunWiring)
    orchestrator = spec.orchestrator()
    workers = [r.name for r in spec.workers()]

    def make_node(name: str) -> Callable[[TeamState, Runtime[RunWiring]], dict[str, Any]]:
        role_fn = ROLE_FUNCTIONS[spec.role(name).behaviour]

        def node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
            messages = role_fn(state, runtime.context.contexts[name])
            runtime.context.publish(messages)
            return node_update(spec, name, messages, state)

        return node

    def final_node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
        wiring = runtime.context
        final = final_message(spec, wiring.run_id, state)
        notes = wiring.reflect([*state["transcript"], final], "done", None) if wiring.reflect else []
        messages: list[Message] = [*notes, final]
        wiring.publish(messages)
        return node_update(spec, FINAL_NODE, messages, state)

    def execute_node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
        code = last(state["transcript"], Code)
        messages = execute(state, runtime.context.contexts[code.sender])
        runtime.context.publish(messages)
        return node_update(spec, EXECUTE_NODE, messages, state)

    def after_worker(state: TeamState) -> str:
        latest = state["transcript"][-1]
        if executing and isinstance(latest, Code) and latest.code:
            return EXECUTE_NODE
        if isinstance(latest, Review) and latest.verdict == "approve":
            return FINAL_NODE
        if state["turns"] >= spec.flow.max_rounds:
            return FINAL_NODE
        if orchestrator is not None:
            return orchestrator.name
        return spec.successor(latest.sender) or FINAL_NODE

    def after_execute(state: TeamState) -> str:
        ran = last(state["transcript"], Execution)
        retry = ran is not None and not ran.ok and state["turns"] < spec.flow.max_rounds
        if retry and attempts_in_step(state["transcript"], ran.sender) < spec.sandbox.max_attempts:
            return ran.sender  # code as action: the coder reads the result and tries again
        return after_worker(state)

    def after_orchestrator(state: TeamState) -> str:
        decision = last(state["transcript"], Decision)
        return decision.next_speaker if decision and decision.next_speaker in workers else FINAL_NODE

    executing = spec.sandbox.enabled and any(r.behaviour == "coder" for r in spec.roles)
    for role in spec.roles:
        graph.add_node(role.name, make_node(role.name))
    graph.add_node(FINAL_NODE, final_node)
    worker_targets = [*workers, FINAL_NODE] + ([orchestrator.name] if orchestrator else [])
    if executing:
        graph.add_node(EXECUTE_NODE, execute_node)
        graph.add_conditional_edges(EXECUTE_NODE, after_execute, worker_targets)
        worker_targets.append(EXECUTE_NODE)
    for name in workers:
        graph.add_conditional_edges(name, after_worker, worker_targets)
    if orchestrator is not None:
        graph.add_edge(START, orchestrator.name)
        graph.add_conditional_edges(orchestrator.name, after_orchestrator, [*workers, FINAL_NODE])
    else:
        graph.add_edge(START, spec.entry())
    graph.add_edge(FINAL_NODE, END)
    return graph
