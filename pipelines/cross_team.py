"""``flow.type: cross_team``: sub-teams solve the same task on their own; a judge compares and merges.

Each sub-team (``flow.teams``) runs as its own sequential team, in its own
branch, at the same time as the others. The judge (``flow.judge``) sees every
sub-team's final code, its run and whether its reviewer approved; it names the
best and may merge the best parts, and merged code must run at least as well
as the best sub-team's to be chosen.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from pipelines._base import FINAL_NODE, RunWiring, new_graph, stamped
from pipelines._branch import branch_result
from pipelines._main import MainLine
from pipelines.ranking import rank_node
from pipelines.sequential import build_sequential
from roles import TeamState
from roles.base import last
from roles.ranker import Candidate, judge_results
from studio.messages import Final, Task
from studio.spec import Flow, SubTeam, TeamSpec

__all__ = ["build_cross_team", "fan_out", "judges", "sub_team_results", "sub_team_spec", "subteam_node"]

SUBTEAM, JUDGE = "_subteam", "_judge"


def sub_team_spec(spec: TeamSpec, team: SubTeam) -> TeamSpec:
    """The sub-team as a sequential team of its own (its roles, the edges among them, no approvals)."""
    roles = [spec.role(name) for name in team.roles]
    edges = [e for e in spec.flow.edges if e.source in team.roles and e.target in team.roles]
    entry = next(r.name for r in roles if r.behaviour != "orchestrator")
    flow = Flow(entry=entry, edges=edges, max_rounds=spec.flow.max_rounds)
    return spec.model_copy(update={"name": f"{spec.name}/{team.name}", "roles": roles, "flow": flow,
                                   "approval": []})


def judges(spec: TeamSpec) -> set[str]:
    """The judge: it runs merged code in its sandbox."""
    judge = spec.judge()
    return {judge.name} if judge is not None else set()


@lru_cache(maxsize=32)
def _compiled(spec_json: str):
    """The sub-team's graph: a sequential team, so its builder is the sequential one."""
    graph = new_graph()
    build_sequential(TeamSpec.model_validate_json(spec_json), graph)
    return graph.compile()


def fan_out(state: TeamState, *, spec: TeamSpec) -> list[Send]:
    """A branch per sub-team, each from the task alone."""
    return [Send(SUBTEAM, {"transcript": state["transcript"], "turns": 0, "branch": t.name}) for t in spec.flow.teams]


def subteam_node(state: TeamState, runtime: Runtime[RunWiring], *, spec: TeamSpec) -> dict[str, Any]:
    """Sub-team ``state["branch"]`` solves the task as a team of its own; its messages are marked with its name."""
    team = next(t for t in spec.flow.teams if t.name == state["branch"])
    sub = sub_team_spec(spec, team)
    task = next(m for m in state["transcript"] if isinstance(m, Task))
    out = _compiled(sub.model_dump_json(by_alias=True)).invoke(
        {"transcript": [task], "turns": 0}, {"recursion_limit": 6 * sub.flow.max_rounds + 30},
        context=runtime.context.in_branch(team.name, team.roles))
    return {"transcript": stamped([m for m in out["transcript"] if m.id != task.id], team.name)}


def sub_team_results(state: TeamState, spec: TeamSpec) -> list[Candidate]:
    """Each sub-team's last code, its run, and whether its reviewer approved it."""
    found = []
    for team in spec.flow.teams:
        made, code, ran = branch_result(state["transcript"], team.name)
        final = last(made, Final)
        note = "" if final is None else "approved by its reviewer" if final.approved else \
            f"ended without approval: {final.stop_reason}"
        found.append(Candidate(team.name, code, ran, note))
    return found


def build_cross_team(spec: TeamSpec, graph: StateGraph) -> None:
    """Sub-team branches, the judge, then approval (when asked) and the final node."""
    main = MainLine(spec, graph, on_reject_final=JUDGE)
    main.add_shared(execute_node_too=False)
    graph.add_node(SUBTEAM, partial(subteam_node, spec=spec))
    graph.add_node(JUDGE, partial(rank_node, spec=spec, node=JUDGE, ranker=spec.judge().name,  # type: ignore[union-attr]
                                  collect=sub_team_results, compare=judge_results))
    graph.add_edge(SUBTEAM, JUDGE)
    graph.add_conditional_edges(JUDGE, lambda state: main.to_final())
    graph.add_conditional_edges(START, partial(fan_out, spec=spec))
    graph.add_edge(FINAL_NODE, END)
