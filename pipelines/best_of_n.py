"""``flow.type: best_of_n``: a small tree search, as in CodeTree.

After the designed tests (when the team has a test designer) and the plan (when it has
a planner), ``flow.candidates`` coders write a solution each, in parallel branches; each
runs against the task's tests and fixes its code from the result. The critic ranks the
candidates with that evidence (the task's examples, agreement on probe inputs, the
designed tests weighed by how many candidates pass them: :mod:`roles.vote`) and reviews
the best one, which continues on the main line: approved, it is the result; otherwise the
coder revises it there, as in the sequential flow. Candidates after the first sample at a
higher temperature, so a real model gives different ones.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from pipelines._base import FINAL_NODE, RunWiring, coder_names
from pipelines._branch import branch_result, run_coder_branch
from pipelines._main import MainLine
from pipelines.nodes import gate_node
from pipelines.ranking import rank_node
from roles import TeamState
from roles.base import last, main_line
from roles.ranker import Candidate, rank_candidates
from studio.messages import Message, Plan, Task
from studio.spec import TeamSpec

__all__ = ["CANDIDATE_TEMPERATURE", "build_best_of_n", "candidate_names", "candidate_node", "candidates", "fan_out",
           "rankers"]

CANDIDATE, RANK = "_candidate", "_rank"
CANDIDATE_TEMPERATURE = 0.8
"""The least temperature of the candidates after the first."""


def candidate_names(spec: TeamSpec) -> list[str]:
    """The candidate branches: ``c1`` … ``cN``."""
    return [f"c{i}" for i in range(1, spec.flow.candidates + 1)]


def rankers(spec: TeamSpec) -> set[str]:
    """The critics: the ranking runs the candidates on probe inputs in their sandbox."""
    return {r.name for r in spec.roles if r.behaviour == "critic"}


def fan_out(state: TeamState, *, spec: TeamSpec) -> list[Send]:
    """A branch per candidate, each from the main line so far."""
    return [Send(CANDIDATE, {"transcript": state["transcript"], "turns": state.get("turns", 0), "branch": b})
            for b in candidate_names(spec)]


def origin(state: TeamState) -> Message | None:
    """What the candidates worked from: the latest plan, or the task."""
    return last(main_line(state["transcript"]), (Plan, Task))


def candidate_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec) -> dict[str, Any]:
    """Candidate ``state["branch"]``: a coder writes and runs its solution (after the first, hotter)."""
    coders, index = coder_names(spec), candidate_names(spec).index(state["branch"])
    coder = coders[index % len(coders)]
    temperature = spec.role(coder).limits.temperature
    base = spec.defaults.temperature if temperature is None else temperature
    options: dict[str, Any] = {"temperature": max(base, CANDIDATE_TEMPERATURE)} if index else {}
    return {"transcript": run_coder_branch(state, runtime.context, coder, state["branch"], [], **options)}


def candidates(state: TeamState, spec: TeamSpec) -> list[Candidate]:
    """Each candidate branch's last code and the run of it (since the plan or task they worked from)."""
    transcript, since = state["transcript"], origin(state)
    return [Candidate(name, *branch_result(transcript, name, since)[1:]) for name in candidate_names(spec)]


def build_best_of_n(spec: TeamSpec, graph: StateGraph) -> None:
    """Optional planner, N candidate branches, the ranking critic, then the main line."""
    planner = next((r.name for r in spec.roles if r.behaviour == "planner"), None)
    designer = next((r.name for r in spec.roles if r.behaviour == "test_designer"), None)
    critic = next(r.name for r in spec.roles if r.behaviour == "critic")
    start = partial(fan_out, spec=spec)
    main = MainLine(spec, graph, after_plan=start)
    main.add_roles()
    main.add_shared()
    graph.add_node(CANDIDATE, partial(candidate_node, spec=spec))
    graph.add_node(RANK, partial(rank_node, spec=spec, node=RANK, ranker=critic, collect=candidates,
                                 compare=rank_candidates))
    graph.add_edge(CANDIDATE, RANK)
    graph.add_conditional_edges(RANK, main.after_worker)
    first = designer or planner
    if designer is not None:  # the tests come from the task alone, before any plan or code
        graph.add_edge(designer, planner) if planner is not None else graph.add_conditional_edges(designer, start)
    if planner is not None:
        graph.add_conditional_edges(planner, lambda state: gate_node("after_plan") if "after_plan" in main.gates
                                    else start(state))
    if first is not None:
        graph.add_edge(START, first)
    else:
        graph.add_conditional_edges(START, start)
    for name in main.workers:
        if name not in (planner, designer):
            graph.add_conditional_edges(name, main.after_worker)
    graph.add_edge(FINAL_NODE, END)
