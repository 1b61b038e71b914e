"""``flow.type: sequential``: one speaker at a time, picked by the orchestrator (when the team has one) or
by the flow's edges."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from pipelines._base import FINAL_NODE
from pipelines._main import MainLine
from roles import TeamState
from roles.base import last
from studio.messages import Decision
from studio.spec import TeamSpec

__all__ = ["build_sequential"]


def build_sequential(spec: TeamSpec, graph: StateGraph) -> None:
    """Wire the roles of ``spec`` into ``graph``: workers route by the edges or back to the orchestrator."""
    main = MainLine(spec, graph)
    main.add_roles()
    main.add_shared()
    for name in main.workers:
        graph.add_conditional_edges(name, main.after_worker)
    orchestrator = main.orchestrator
    if orchestrator is not None:
        def after_orchestrator(state: TeamState) -> str:
            decision = last(state["transcript"], Decision)
            return decision.next_speaker if decision and decision.next_speaker in main.workers else main.to_final()

        graph.add_edge(START, orchestrator.name)
        graph.add_conditional_edges(orchestrator.name, after_orchestrator)
    else:
        graph.add_edge(START, spec.entry())
    graph.add_edge(FINAL_NODE, END)
