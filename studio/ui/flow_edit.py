"""Edits of the team dict's flow type, sub-teams, judge and approval points: plain functions, no Streamlit.

Like ``team_edit``, every function returns a new dict and tolerates a dict
that is not (yet) a valid team.

Example:
    >>> team = {"name": "t", "roles": [{"name": "a", "kind": "coder"}, {"name": "b", "kind": "coder"},
    ...                                {"name": "j", "kind": "critic"}], "flow": {"type": "cross_team"}}
    >>> team = add_sub_team(add_sub_team(team))
    >>> team = set_sub_team_roles(set_sub_team_roles(team, 0, ["a", "b"]), 1, ["b"])
    >>> sub_teams(team), judge_of(team)
    ([{'name': 'team1', 'roles': ['a']}, {'name': 'team2', 'roles': ['b']}], 'j')
    >>> "teams" in set_flow_type(team, "magentic")["flow"]
    False
"""

from __future__ import annotations

import copy
from typing import Any

from studio.spec import APPROVAL_POINTS, FLOW_TYPES, Flow
from studio.ui.team_edit import role_kind, role_name, roles

__all__ = ["APPROVAL_HELP", "CANDIDATE_TEMPERATURE_HELP", "FLOW_CAPTIONS", "FLOW_NUMBERS", "NUMBER_FIELDS",
           "TIE_BREAK_HELP", "add_sub_team", "approval", "approved_tools", "set_approval",
           "behaviour", "flow_type", "judge_of", "number_default", "remove_sub_team", "set_flow_type",
           "set_sub_team_roles", "sub_team_of", "sub_teams"]

FLOW_CAPTIONS = {
    "sequential": "One speaker at a time, picked by the orchestrator or, without one, by the routes.",
    "magentic": "Magentic-One: the orchestrator keeps a task ledger and a progress ledger, and replans when "
                "progress stalls.",
    "parallel_plan": "The planner's steps run at once, each on its own coder, as soon as their dependencies are "
                     "done; the results are joined and the plan may be rewritten.",
    "best_of_n": "N candidate solutions are written in parallel and tested; the critic ranks them and the best "
                 "one goes on.",
    "cross_team": "Sub-teams solve the task on their own; a judge (a critic outside them) compares and merges "
                  "their results.",
}
"""One line per flow type: what it does."""
assert set(FLOW_CAPTIONS) == set(FLOW_TYPES)

NUMBER_FIELDS = {
    "max_stalls": ("Max stalls", "Turns without progress (or in a loop) before the orchestrator reflects and "
                                 "replans, 1 to 20."),
    "max_replans": ("Max replans", "How often the plan may be rewritten before the run gives up, 0 to 20."),
    "candidates": ("Candidates", "Candidate solutions written in parallel, 1 to 16."),
    "agree": ("Agree", "Adaptive N: stop writing candidates once the leading cluster of agreeing candidates leads "
                       "by this many (one more without examples); 0 writes them all, 0 to 16."),
    "give_up_after": ("Give up after", "Adaptive N: stop after this many candidates whose evidence leads nowhere "
                                       "(none passed the examples; without any, no two agree); 0 never, 0 to 16."),
    "max_parallel": ("Max parallel", "Branches (steps, candidates or sub-teams) that run at once, 1 to 64."),
}
"""Flow field to (label, help) of its number input."""

TIE_BREAK_HELP = {
    "critic": "the critic's pick (a capable model)",
    "shortest": "the shortest code (small models, whose pick is noise)",
}
"""best_of_n: what decides between candidates the evidence cannot tell apart."""

CANDIDATE_TEMPERATURE_HELP = ("The least temperature of the candidates after the first (which samples at its coder's "
                              "own), 0 to 2: hotter writes more different candidates, cooler repeats the model's "
                              "favourite answer and agrees sooner.")

FLOW_NUMBERS: dict[str, tuple[str, ...]] = {
    "sequential": (),
    "magentic": ("max_stalls", "max_replans"),
    "parallel_plan": ("max_replans", "max_parallel"),
    "best_of_n": ("candidates", "agree", "give_up_after", "max_parallel"),
    "cross_team": ("max_parallel",),
}
"""The number fields each flow type uses (the others are kept in the spec, but do nothing)."""

APPROVAL_HELP = {
    "after_plan": "approve or edit the plan before the work starts",
    "before_execution": "approve or edit the code before the sandbox runs it",
    "before_final": "approve or edit the final code before the run ends",
}
"""What a person is asked at each approval point."""
assert set(APPROVAL_HELP) == set(APPROVAL_POINTS)

_CROSS_TEAM_ONLY = ("teams", "judge")


def number_default(name: str) -> Any:
    """The spec's default for flow field ``name``."""
    return Flow.model_fields[name].default


def _flow(data: dict[str, Any]) -> dict[str, Any]:
    flow = data.get("flow")
    return flow if isinstance(flow, dict) else {}


def flow_type(data: dict[str, Any]) -> str:
    """``flow.type`` as text (``sequential`` when unset)."""
    value = _flow(data).get("type")
    return "sequential" if value is None else str(value)


def behaviour(role: Any) -> str:
    """The built-in kind a role behaves as: its ``acts_as``, else its kind."""
    acts = role.get("acts_as") if isinstance(role, dict) else None
    return str(acts) if acts else role_kind(role)


def set_flow_type(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """A copy of ``data`` with flow type ``kind``; leaving ``cross_team`` drops its sub-teams and judge.

    The spec rejects sub-teams in any other flow, and a dropped field is one
    problem fewer for someone who was only looking at the types.
    """
    out = copy.deepcopy(data)
    if not isinstance(out.get("flow"), dict):
        out["flow"] = {}
    out["flow"]["type"] = kind
    if kind != "cross_team":
        for name in _CROSS_TEAM_ONLY:
            out["flow"].pop(name, None)
    return out


def sub_teams(data: dict[str, Any]) -> list[Any]:
    """The ``flow.teams`` list, or ``[]``."""
    found = _flow(data).get("teams")
    return found if isinstance(found, list) else []


def _members(team: Any) -> list[str]:
    found = team.get("roles") if isinstance(team, dict) else None
    return [str(r) for r in found] if isinstance(found, list) else []


def add_sub_team(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with a new, empty sub-team (``team1``, ``team2``, …) at the end."""
    out = copy.deepcopy(data)
    if not isinstance(out.get("flow"), dict):
        out["flow"] = {}
    if not isinstance(out["flow"].get("teams"), list):
        out["flow"]["teams"] = []
    taken = {t.get("name") for t in out["flow"]["teams"] if isinstance(t, dict)}
    n = 1
    while f"team{n}" in taken:
        n += 1
    out["flow"]["teams"].append({"name": f"team{n}", "roles": []})
    return out


def remove_sub_team(data: dict[str, Any], index: int) -> dict[str, Any]:
    """A copy of ``data`` without sub-team ``index`` (``flow.teams`` goes when it empties)."""
    out = copy.deepcopy(data)
    del out["flow"]["teams"][index]
    if not out["flow"]["teams"]:
        del out["flow"]["teams"]
    return out


def set_sub_team_roles(data: dict[str, Any], index: int, chosen: list[str]) -> dict[str, Any]:
    """A copy of ``data`` where sub-team ``index`` holds ``chosen``, moved out of any other sub-team.

    A role belongs to one sub-team only, so picking it here takes it from the
    one it was in (instead of leaving a problem to fix there).
    """
    out = copy.deepcopy(data)
    teams = sub_teams(out)
    if not 0 <= index < len(teams) or not isinstance(teams[index], dict):
        return out
    for j, team in enumerate(teams):
        if j != index and isinstance(team, dict) and isinstance(team.get("roles"), list):
            team["roles"] = [r for r in team["roles"] if r not in chosen]
    teams[index]["roles"] = list(chosen)
    return out


def sub_team_of(data: dict[str, Any]) -> dict[str, str]:
    """Role name to the name of its sub-team, in a ``cross_team`` flow (``{}`` in any other)."""
    if flow_type(data) != "cross_team":
        return {}
    out: dict[str, str] = {}
    for team in sub_teams(data):
        for member in _members(team):
            out.setdefault(member, str(team.get("name") or "?"))
    return out


def judge_of(data: dict[str, Any]) -> str | None:
    """The role that judges a ``cross_team`` flow: ``flow.judge``, else the one critic outside the sub-teams."""
    if flow_type(data) != "cross_team":
        return None
    named = _flow(data).get("judge")
    if named is not None:
        return str(named)
    members = sub_team_of(data)
    critics = [role_name(r) for r in roles(data) if behaviour(r) == "critic" and role_name(r) not in members]
    return critics[0] if len(critics) == 1 else None


def _approval_list(data: dict[str, Any]) -> list[Any]:
    """The team's ``approval`` as a list (the mapping form ``{tools: [...]}`` as the one entry it stands for)."""
    found = data.get("approval")
    if isinstance(found, dict):
        rest = {k: v for k, v in found.items() if k != "points"}
        points = found.get("points")
        return [*(points if isinstance(points, list) else []), *([rest] if rest else [])]
    return list(found) if isinstance(found, list) else []


def approval(data: dict[str, Any]) -> list[str]:
    """The team's approval points, as text (``[]`` when unset or not a list); tool approvals are left out."""
    return [str(p) for p in _approval_list(data) if not isinstance(p, dict)]


def approved_tools(data: dict[str, Any]) -> list[str]:
    """Names of the tools whose calls wait for approval (from every ``{tools: [...]}`` entry)."""
    return [str(name) for p in _approval_list(data) if isinstance(p, dict) and isinstance(p.get("tools"), list)
            for name in p["tools"]]


def set_approval(data: dict[str, Any], points: list[str] | None = None,
                 tools: list[str] | None = None) -> dict[str, Any]:
    """A copy of ``data`` with new approval points and/or tools (``None``: keep those as they are).

    Example:
        >>> set_approval({"approval": ["after_plan", {"tools": ["a"]}]}, tools=["b"])
        {'approval': ['after_plan', {'tools': ['b']}]}
        >>> set_approval({"approval": {"tools": ["a"]}}, tools=[])
        {}
    """
    points = approval(data) if points is None else list(points)
    tools = approved_tools(data) if tools is None else list(tools)
    others = [p for p in _approval_list(data) if isinstance(p, dict) and not isinstance(p.get("tools"), list)]
    value = [*points, *([{"tools": tools}] if tools else []), *others]
    out = {k: v for k, v in data.items() if k != "approval"}
    return {**out, "approval": value} if value else out
