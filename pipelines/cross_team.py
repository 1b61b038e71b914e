"""``flow.type: cross_team``: sub-teams solve the same task on their own; a judge compares and merges.

Each sub-team (``flow.teams``) runs as its own sequential team, in its own
branch, at the same time as the others. The judge (``flow.judge``) sees every
sub-team's final code, its run and whether its reviewer approved; it names the
best and may merge the best parts, and merged code must run at least as well
as the best sub-team's to be chosen.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from pipelines._base import FINAL_NODE, RunWiring, node_update, stamped
from pipelines._branch import branch_result
from pipelines._main import MainLine
from roles import TeamState
from roles.base import last, main_line
from roles.ranker import Candidate, judge_results
from studio.messages import Final, Task
from studio.spec import Flow, SubTeam, TeamSpec

__all__ = ["build_cross_team", "sub_team_spec"]

SUBTEAM, JUDGE = "_subteam", "_judge"


def sub_team_spec(spec: TeamSpec, team: SubTeam) -> TeamSpec:
    """The sub-team as a sequential team of its own (its roles, the edges among them, no approvals)."""
    roles = [spec.role(name) for name in team.roles]
    edges = [e for e in spec.flow.edges if e.source in team.roles and e.target in team.roles]
    entry = next(r.name for r in roles if r.behaviour != "orchestrator")
    flow = Flow(entry=entry, edges=edges, max_rounds=spec.flow.max_rounds)
    return spec.model_copy(update={"name": f"{spec.name}/{team.name}", "roles": roles, "flow": flow,
                                   "approval": []})


@lru_cache(maxsize=32)
def _compiled(spec_json: str):
    from pipelines.graph import build_graph  # the sub-team is a sequential team: the same builder

    return build_graph(TeamSpec.model_validate_json(spec_json)).compile()


def build_cross_team(spec: TeamSpec, graph: StateGraph) -> None:
    """Sub-team branches, the judge, then approval (when asked) and the final node."""
    judge = spec.judge().name
    teams = {t.name: t for t in spec.flow.teams}
    main = MainLine(spec, graph, on_reject_final=JUDGE)
    main.add_shared(execute_node_too=False)

    def subteam_node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
        team = teams[state["branch"]]
        sub = sub_team_spec(spec, team)
        task = next(m for m in state["transcript"] if isinstance(m, Task))
        out = _compiled(sub.model_dump_json(by_alias=True)).invoke(
            {"transcript": [task], "turns": 0}, {"recursion_limit": 6 * sub.flow.max_rounds + 30},
            context=runtime.context.in_branch(team.name, team.roles))
        return {"transcript": stamped([m for m in out["transcript"] if m.id != task.id], team.name)}

    def judge_node(state: TeamState, runtime: Runtime[RunWiring]) -> dict[str, Any]:
        transcript, candidates = state["transcript"], []
        for name in teams:
            made, code, ran = branch_result(transcript, name)
            final = last(made, Final)
            note = "" if final is None else "approved by its reviewer" if final.approved else \
                f"ended without approval: {final.stop_reason}"
            candidates.append(Candidate(name, code, ran, note))
        messages = judge_results({**state, "transcript": main_line(transcript)}, runtime.context.contexts[judge],
                                 candidates)
        runtime.context.publish(messages)
        return node_update(spec, JUDGE, messages, state)

    graph.add_node(SUBTEAM, subteam_node)
    graph.add_node(JUDGE, judge_node)
    graph.add_edge(SUBTEAM, JUDGE)
    graph.add_conditional_edges(JUDGE, lambda state: main.to_final())
    graph.add_conditional_edges(START, lambda state: [
        Send(SUBTEAM, {"transcript": state["transcript"], "turns": 0, "branch": name}) for name in teams])
    graph.add_edge(FINAL_NODE, END)
