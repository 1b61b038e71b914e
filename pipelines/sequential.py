"""``flow.type: sequential``: one speaker at a time.

The orchestrator picks the speaker when the team has one; otherwise the flow's edges do.
"""

from __future__ import annotations

from functools import partial

from langgraph.graph import END, START, StateGraph

from pipelines._base import FINAL_NODE
from pipelines._main import MainLine
from roles import TeamState
from roles.base import last
from studio.messages import Decision
from studio.spec import TeamSpec

__all__ = ["after_orchestrator", "build_sequential"]


def after_orchestrator(state: TeamState, *, main: MainLine) -> str:
    """The worker the orchestrator picked, or the end when it picked none of them."""
    decision = last(state["transcript"], Decision)
    return decision.next_speaker if decision and decision.next_speaker in main.workers else main.to_final()


def build_sequential(spec: TeamSpec, graph: StateGraph) -> None:
    """Wire the roles of ``spec`` into ``graph``: workers route by the edges or back to the orchestrator."""
    main = MainLine(spec, graph)
    main.add_roles()
    main.add_shared()
    for name in main.workers:
        graph.add_conditional_edges(name, main.after_worker)
    orchestrator = main.orchestrator
    if orchestrator is not None:
        graph.add_edge(START, orchestrator.name)
        graph.add_conditional_edges(orchestrator.name, partial(after_orchestrator, main=main))
    else:
        graph.add_edge(START, spec.entry())
    graph.add_edge(FINAL_NODE, END)
