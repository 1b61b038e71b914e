"""``flow.type: best_of_n``: a small tree search, as in CodeTree.

After the plan (when the team has a planner), ``flow.candidates`` coders write
a solution each, in parallel branches; each runs against the task's tests and
fixes its code from the result. The critic ranks the candidates with that
evidence and reviews the best one, which continues on the main line: approved,
it is the result; otherwise the coder revises it there, as in the sequential flow.
Candidates after the first sample at a higher temperature, so a real model gives
different ones.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from pipelines._base import FINAL_NODE, RunWiring, node_update
from pipelines._branch import branch_result, run_coder_branch
from pipelines._main import MainLine, gate_node
from roles import TeamState
from roles.base import last, main_line
from roles.ranker import Candidate, rank_candidates
from studio.messages import Plan, Task
from studio.spec import TeamSpec

__all__ = ["CANDIDATE_TEMPERATURE", "build_best_of_n"]

CANDIDATE, RANK = "_candidate", "_rank"
CANDIDATE_TEMPERATURE = 0.8
"""The least temperature of the candidates after the first."""


def build_best_of_n(spec: TeamSpec, graph: StateGraph) -> None:
    """Optional planner, N candidate branches, the ranking critic, then the main line."""
    planner = next((r.name for r in spec.roles if r.behaviour == "planner"), None)
    critic = next(r.name for r in spec.roles if r.behaviour == "critic")
    coders = [r.name for r in spec.roles if r.behaviour == "coder"]
    names = [f"c{i}" for i in range(1, spec.flow.candidates + 1)]

    def fan_out(state: TeamState) -> list[Send]:
        return [Send(CANDIDATE, {"transcript": state["transcript"], "turns": state.get("turns", 0), "branch": b})
                for b in names]

    def origin(state: TeamState):
        """What the candidates worked from: the latest plan, or the task."""
        return last(main_line(state["transcript"]), (Plan, Task))

    main = MainLine(spec, graph, after_plan=fan_out)
    main.add_roles()
    main.add_shared()

    def candidate_node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
        index = names.index(state["branch"])
        temperature = spec.role(coders[index % len(coders)]).limits.temperature
        base = spec.defaults.temperature if temperature is None else temperature
        options = {"temperature": max(base, CANDIDATE_TEMPERATURE)} if index else {}
        return {"transcript": run_coder_branch(state, runtime.context, coders[index % len(coders)],
                                               state["branch"], [], **options)}

    def rank_node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
        transcript, since = state["transcript"], origin(state)
        candidates = [Candidate(name, *branch_result(transcript, name, since)[1:]) for name in names]
        messages = rank_candidates({**state, "transcript": main_line(transcript)}, runtime.context.contexts[critic],
                                   candidates)
        runtime.context.publish(messages)
        return node_update(spec, RANK, messages, state)

    graph.add_node(CANDIDATE, candidate_node)
    graph.add_node(RANK, rank_node)
    graph.add_edge(CANDIDATE, RANK)
    graph.add_conditional_edges(RANK, main.after_worker)
    if planner is not None:
        graph.add_edge(START, planner)
        graph.add_conditional_edges(planner, lambda state: gate_node("after_plan") if "after_plan" in main.gates
                                    else fan_out(state))
    else:
        graph.add_conditional_edges(START, fan_out)
    for name in main.workers:
        if name != planner:
            graph.add_conditional_edges(name, main.after_worker)
    graph.add_edge(FINAL_NODE, END)
