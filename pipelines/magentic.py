"""``flow.type: magentic``: the Magentic-One orchestrator.

Outer loop: the orchestrator writes a task ledger (facts given, to look up, to
derive, guesses, and a plan over the team). Inner loop: each turn it writes a
progress ledger and picks the next speaker. Turns without progress, or in a
loop, raise a stall counter (progress lowers it); at ``flow.max_stalls`` the
orchestrator reflects on what went wrong and rewrites the ledger, up to
``flow.max_replans`` times. ``flow.max_rounds`` (``max_turns``) bounds the
worker turns; the final node gives the answer.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from pipelines._base import FINAL_NODE, LEDGER_NODE, RunWiring, node_update
from pipelines._main import MainLine
from pipelines.nodes import gate_node
from roles import TeamState
from roles.base import last, main_line
from roles.ledger import write_ledger
from studio.messages import Decision, Ledger
from studio.spec import TeamSpec

__all__ = ["after_progress", "build_magentic", "ledger_node", "replans"]


def replans(state: TeamState) -> int:
    """How often the task ledger was rewritten."""
    return max(0, sum(isinstance(m, Ledger) for m in main_line(state["transcript"])) - 1)


def ledger_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec) -> dict[str, Any]:
    """The orchestrator writes the task ledger (again, with a reflection, after a stall)."""
    messages = write_ledger({**state, "transcript": main_line(state["transcript"])},
                            runtime.context.contexts[spec.orchestrator().name])  # type: ignore[union-attr]
    runtime.context.publish(messages)
    return node_update(spec, LEDGER_NODE, messages, state)


def after_progress(state: TeamState, *, main: MainLine) -> str:
    """After the progress ledger: the end when satisfied, a new task ledger when stalled, else the next speaker."""
    spec = main.spec
    decision = last(main_line(state["transcript"]), Decision)
    if decision is not None and decision.is_request_satisfied:
        return main.to_final()
    if state.get("stalls", 0) >= spec.flow.max_stalls:
        return LEDGER_NODE if replans(state) < spec.flow.max_replans else main.to_final()
    return decision.next_speaker if decision and decision.next_speaker in main.workers else main.to_final()


def build_magentic(spec: TeamSpec, graph: StateGraph) -> None:
    """The ledger node, then the orchestrator and its workers on the main line."""
    orchestrator = spec.orchestrator().name  # type: ignore[union-attr]  # the spec requires one for magentic
    main = MainLine(spec, graph, plan_node=LEDGER_NODE, after_plan=lambda state: orchestrator)
    main.add_roles()
    main.add_shared()
    graph.add_node(LEDGER_NODE, partial(ledger_node, spec=spec))
    graph.add_edge(START, LEDGER_NODE)
    graph.add_conditional_edges(LEDGER_NODE, lambda state: gate_node("after_plan") if "after_plan" in main.gates
                                else orchestrator)
    graph.add_conditional_edges(orchestrator, partial(after_progress, main=main))
    for name in main.workers:
        graph.add_conditional_edges(name, main.after_worker)
    graph.add_edge(FINAL_NODE, END)
