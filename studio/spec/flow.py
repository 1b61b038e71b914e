"""The flow part of the team spec: which collaboration pattern the team follows, and its bounds.

Kept apart from ``studio.spec.team`` (which re-exports it) to keep each file about one thing.

Flows:
    ``sequential``: one speaker at a time, picked by the orchestrator or the edges (the default).
    ``magentic``: the Magentic-One orchestrator, with a task ledger, a progress ledger and replans on stalls.
    ``parallel_plan``: the planner's steps run at once on their own coders as soon as their dependencies
    are done (LLMCompiler); a joiner assembles the results and may replan.
    ``best_of_n``: N candidates in parallel, each run against the tests; the critic ranks them and the
    best continues (CodeTree).
    ``cross_team``: sub-teams solve the task independently; a judge compares and merges their results.

Example:
    >>> Flow(type="best_of_n", candidates=4).candidates
    4
    >>> Flow.model_validate({"max_turns": 12}).max_rounds
    12
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

__all__ = ["APPROVAL_POINTS", "FLOW_TYPES", "ApprovalPoint", "Edge", "Flow", "FlowType", "ProviderLimits",
           "SubTeam",
           "flow_problems"]

FlowType = Literal["sequential", "magentic", "parallel_plan", "best_of_n", "cross_team"]
FLOW_TYPES: tuple[str, ...] = FlowType.__args__  # type: ignore[attr-defined]
ApprovalPoint = Literal["after_plan", "before_execution", "before_final"]
APPROVAL_POINTS: tuple[str, ...] = ApprovalPoint.__args__  # type: ignore[attr-defined]
_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,39}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Edge(_Model):
    """A message route: after ``from`` speaks, ``to`` may speak next."""

    source: str = Field(alias="from")
    target: str = Field(alias="to")


class SubTeam(_Model):
    """One sub-team of a ``cross_team`` flow: some of the team's roles, working on their own."""

    name: str = Field(pattern=_NAME)
    """Short name, shown on its messages (e.g. ``red``)."""
    roles: list[str] = Field(min_length=1)
    """Names of the roles in this sub-team, in speaking order (the edges among them apply too)."""


class Flow(_Model):
    """How the roles take turns."""

    type: FlowType = "sequential"
    """The collaboration pattern: ``sequential``, ``magentic``, ``parallel_plan``, ``best_of_n`` or
    ``cross_team``."""
    entry: str | None = None
    """First worker to speak; the first non-orchestrator role when unset."""
    edges: list[Edge] = Field(default_factory=list)
    """Routes between roles; the default order when the orchestrator is absent or unsure."""
    max_rounds: int = Field(8, ge=1, le=200, validation_alias=AliasChoices("max_rounds", "max_turns"))
    """Worker turns allowed before the run stops (``max_turns`` is accepted too)."""
    max_stalls: int = Field(3, ge=1, le=20)
    """magentic: turns without progress (or in a loop) before the orchestrator reflects and replans."""
    max_replans: int = Field(2, ge=0, le=20)
    """magentic and parallel_plan: how often the plan may be rewritten before the run gives up."""
    candidates: int = Field(3, ge=1, le=16)
    """best_of_n: the most candidate solutions written (in parallel); fewer when ``agree`` settles it early."""
    agree: int = Field(3, ge=0, le=16)
    """best_of_n, adaptive N: stop writing candidates once this many agree (the same results on the inputs
    they are run on, and whatever examples the task has passed); 0 always writes all ``candidates``."""
    give_up_after: int = Field(0, ge=0, le=16)
    """best_of_n, adaptive N: once this many candidates are written and their evidence leads nowhere (none passed
    the task's examples; without examples, no two that run return the same values), write no more: the model is
    guessing, and the ranking chooses among those written. 0 never gives up."""
    candidate_temperature: float = Field(0.8, ge=0, le=2)
    """best_of_n: the least temperature of the candidates after the first (which samples at its coder's own), so
    that a real model writes different ones; the same-budget ``sample-vote`` and ``retry`` baselines sample so too."""
    tie_break: Literal["critic", "shortest"] = "critic"
    """best_of_n: who decides between candidates the evidence cannot tell apart (same tests passed, same
    agreement on probe inputs): the critic's pick, or the shortest code (for small models, whose pick is noise)."""
    max_parallel: int = Field(8, ge=1, le=64)
    """parallel flows: branches (steps, candidates, sub-teams) that run at once."""
    teams: list[SubTeam] = Field(default_factory=list)
    """cross_team: the sub-teams (two or more); every role in them belongs to exactly one."""
    judge: str | None = None
    """cross_team: the role (acting as a critic) that compares and merges the sub-teams' results; the one
    critic outside the sub-teams when unset."""


class ProviderLimits(_Model):
    """How hard a process may call one provider; shared by every branch of every run in the process."""

    max_concurrency: int | None = Field(None, ge=1, le=1024)
    """Calls to this provider in flight at once."""
    requests_per_minute: float | None = Field(None, gt=0)
    """Calls started per minute (spread evenly)."""


def _needs(spec: Any, behaviour: str, why: str) -> list[str]:
    if any(r.behaviour == behaviour for r in spec.roles):
        return []
    return [f"roles: flow {spec.flow.type} needs a role that acts as a {behaviour} ({why})"]


def _team_problems(spec: Any) -> list[str]:
    flow, problems = spec.flow, []
    if len(flow.teams) < 2:
        problems.append("flow.teams: cross_team needs two or more sub-teams, each a list of role names")
    owner: dict[str, str] = {}
    for i, team in enumerate(flow.teams):
        for role in team.roles:
            if role not in {r.name for r in spec.roles}:
                problems.append(f"flow.teams[{i}].roles: no role named {role!r}")
            elif role in owner:
                problems.append(f"flow.teams[{i}].roles: {role!r} is already in sub-team {owner[role]!r}")
            else:
                owner[role] = team.name
        if not problems and not any(spec.role(r).behaviour == "coder" for r in team.roles):
            problems.append(f"flow.teams[{i}].roles: sub-team {team.name!r} has no coder")
    if len({t.name for t in flow.teams}) < len(flow.teams):
        problems.append("flow.teams: sub-team names must be unique")
    judge = spec.judge()
    if judge is None:
        problems.append("flow.judge: name the role (acting as a critic, outside the sub-teams) that judges")
    elif judge.name in owner or judge.behaviour != "critic":
        problems.append(f"flow.judge: {judge.name!r} must act as a critic and belong to no sub-team")
    return problems


def flow_problems(spec: Any) -> list[str]:
    """What the chosen flow type and approval points need from the roles, as ``field: what`` lines."""
    kind, problems = spec.flow.type, []
    if kind == "magentic" and spec.orchestrator() is None:
        problems.append("roles: flow magentic needs an orchestrator (it keeps the task and progress ledgers)")
    if kind == "parallel_plan":
        problems += _needs(spec, "planner", "its plan is the graph of steps")
        problems += _needs(spec, "coder", "each step runs on a coder")
    if kind == "best_of_n":
        problems += _needs(spec, "coder", "it writes the candidates")
        problems += _needs(spec, "critic", "it ranks the candidates")
        if spec.flow.give_up_after > spec.flow.candidates:
            problems.append(f"flow.give_up_after: {spec.flow.give_up_after} is more than flow.candidates "
                            f"({spec.flow.candidates}), so it never applies; lower it, or 0 to never give up")
    if kind == "cross_team":
        problems += _team_problems(spec)
    elif spec.flow.teams or spec.flow.judge:
        problems.append(f"flow.teams: sub-teams and a judge belong to flow cross_team, not {kind}")
    points = spec.approval_points()
    if "after_plan" in points:
        if kind == "cross_team":
            problems.append("approval: after_plan has no team-wide plan to approve in flow cross_team (each "
                            "sub-team plans on its own); use before_execution or before_final")
        elif not any(r.behaviour == "planner" for r in spec.roles) and kind != "magentic":
            problems.append("approval: after_plan needs a role that acts as a planner")
    if "before_execution" in points and kind == "cross_team":
        problems.append("approval: before_execution: in flow cross_team code runs inside the sub-teams and the "
                        "judge; use before_final")
    elif "before_execution" in points and not (spec.sandbox.enabled and
                                                      any(r.behaviour == "coder" for r in spec.roles)):
        problems.append("approval: before_execution needs a coder and the sandbox on (sandbox.enabled)")
    if len(set(points)) < len(points):
        problems.append("approval: each point may be listed once")
    return problems
