"""Flow types, sub-teams, approval points and provider limits in the spec: what each needs, said clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from studio.spec import FLOW_TYPES, SpecError, TeamSpec, dump_spec, parse_spec

HUDDLE = str(Path(sys.executable).parent / "huddle")


def team(*roles: tuple[str, str], **extra) -> dict:
    return {"name": "t", "roles": [{"name": n, "kind": k} for n, k in roles], **extra}


CODER, CRITIC, PLANNER, ORCH = ("coder", "coder"), ("critic", "critic"), ("planner", "planner"), \
    ("orchestrator", "orchestrator")


def problems(data: dict) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(data, "team.yaml")
    return str(info.value)


def test_the_default_flow_is_sequential_and_every_type_round_trips():
    assert parse_spec(team(CODER)).flow.type == "sequential"
    assert FLOW_TYPES == ("sequential", "magentic", "parallel_plan", "best_of_n", "cross_team")
    spec = parse_spec(team(ORCH, CODER, CRITIC, flow={"type": "magentic", "max_turns": 12, "max_stalls": 2},
                           approval=["after_plan", "before_final"],
                           defaults={"providers": {"openai": {"max_concurrency": 4, "requests_per_minute": 60}}}))
    assert spec.flow.max_rounds == 12 and spec.flow.max_stalls == 2
    assert spec.defaults.providers["openai"].requests_per_minute == 60
    import yaml

    assert TeamSpec.model_validate(yaml.safe_load(dump_spec(spec))) == spec


@pytest.mark.parametrize(("data", "expected"), [
    (team(CODER, CRITIC, flow={"type": "magentic"}), "roles: flow magentic needs an orchestrator"),
    (team(CODER, CRITIC, flow={"type": "parallel_plan"}), "needs a role that acts as a planner"),
    (team(PLANNER, CRITIC, flow={"type": "parallel_plan"}), "needs a role that acts as a coder"),
    (team(CODER, flow={"type": "best_of_n"}), "needs a role that acts as a critic (it ranks the candidates)"),
    (team(CODER, CRITIC, flow={"type": "best_of_n", "candidates": 0}), "flow.candidates"),
    (team(CODER, CRITIC, flow={"type": "best_of_n", "candidate_temperature": -0.1}), "flow.candidate_temperature"),
    (team(CODER, CRITIC, flow={"type": "sideways"}), "flow.type: expected 'sequential', 'magentic'"),
    (team(CODER, CRITIC, flow={"teams": [{"name": "a", "roles": ["coder"]}]}),
     "flow.teams: sub-teams and a judge belong to flow cross_team, not sequential"),
    (team(CODER, CRITIC, approval=["after_plan"]), "approval: after_plan needs a role that acts as a planner"),
    (team(CODER, CRITIC, approval=["before_execution"], sandbox={"enabled": False}),
     "approval: before_execution needs a coder and the sandbox on"),
    (team(CODER, CRITIC, approval=["whenever"]), "approval[0]: expected 'after_plan', 'before_execution'"),
    (team(CODER, CRITIC, approval=["before_final", "before_final"]), "approval: each point may be listed once"),
    (team(CODER, defaults={"providers": {"openai": {"max_concurrency": 0}}}),
     "defaults.providers.openai.max_concurrency"),
])
def test_what_a_flow_needs_is_named(data, expected):
    assert expected in problems(data)


def cross(**flow) -> dict:
    roles = [("a_coder", "coder"), ("a_critic", "critic"), ("b_coder", "coder"), ("judge", "critic")]
    base = {"type": "cross_team", "teams": [{"name": "a", "roles": ["a_coder", "a_critic"]},
                                            {"name": "b", "roles": ["b_coder"]}]}
    return team(*roles, flow={**base, **flow})


def test_cross_team_finds_its_judge_and_checks_its_sub_teams():
    spec = parse_spec(cross())
    assert spec.judge().name == "judge"  # the one critic outside the sub-teams
    assert "flow.teams: cross_team needs two or more sub-teams" in problems(cross(teams=[
        {"name": "a", "roles": ["a_coder"]}]))
    assert "flow.teams[1].roles: 'a_coder' is already in sub-team 'a'" in problems(cross(teams=[
        {"name": "a", "roles": ["a_coder"]}, {"name": "b", "roles": ["a_coder", "b_coder"]}]))
    assert "flow.teams[1].roles: no role named 'nobody'" in problems(cross(teams=[
        {"name": "a", "roles": ["a_coder"]}, {"name": "b", "roles": ["nobody"]}]))
    assert "sub-team 'b' has no coder" in problems(cross(teams=[
        {"name": "a", "roles": ["a_coder"]}, {"name": "b", "roles": ["judge"]}], judge="a_critic"))
    assert "flow.judge: 'a_critic' must act as a critic and belong to no sub-team" in problems(cross(judge="a_critic"))
    assert "approval: after_plan has no team-wide plan" in problems({**cross(), "approval": ["after_plan"]})
    assert "approval: before_execution: in flow cross_team" in problems({**cross(), "approval": ["before_execution"]})


def test_teams_validate_names_the_file_and_the_field(tmp_path):
    bad = tmp_path / "team.yaml"
    bad.write_text("name: t\nroles:\n  - {name: coder, kind: coder}\nflow: {type: magentic}\n")
    result = subprocess.run([HUDDLE, "teams", "validate", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "flow magentic needs an orchestrator" in result.stderr
