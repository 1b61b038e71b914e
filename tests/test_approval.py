"""Human approval: runs stop at the spec's approval points (LangGraph interrupts) and go on when a person
approves, edits or rejects — from the runner, the Python API or the CLI, in this process or a later one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _replies import approve, code, plan
from conftest import ROOT, hashed

from pipelines import ApprovalDecision
from studio import Run, Team
from studio.bus.sqlite import RunLog
from studio.llm import Gateway
from studio.messages import Approval, Code, Execution, Plan
from studio.runner import RunNotWaiting, resume_run, run_team
from studio.spec import dump_spec, load_spec

HUDDLE = str(Path(sys.executable).parent / "huddle")
TEAM = ROOT / "examples" / "teams" / "approval_team.yaml"
TASK = "Write add(a, b).\nassert add(2, 3) == 5"


@pytest.fixture
def team():
    return hashed(load_spec(TEAM))


def replies(script, *, planner=1, coder=1, critic=None):
    return script({
        "planner": [plan("Write add(a, b) returning the sum")] * planner,
        "coder": [code("def add(a, b):\n    return a + b")] * coder,
        "critic": critic or [approve()],
    })


def approvals(messages):
    return [(m.point, m.status) for m in messages if isinstance(m, Approval)]


def test_the_run_stops_at_each_point_and_goes_on_when_approved(team, script, home):
    model = replies(script)
    result = run_team(team, TASK, model=model)
    assert result.status == "waiting"
    assert result.pending.point == "after_plan" and "Write add(a, b)" in result.pending.content
    assert [m.kind for m in result.messages] == ["task", "plan", "approval"]
    assert RunLog(home / "runs.db").get_run(result.run_id).status == "waiting"
    assert resume_run(result.run_id).status == "waiting"  # no decision: it stays put, nothing runs

    result = resume_run(result.run_id, decision=ApprovalDecision.approve())
    assert result.pending.point == "before_execution" and "return a + b" in result.pending.content
    assert not any(isinstance(m, Execution) for m in result.messages)  # nothing ran before the approval
    result = resume_run(result.run_id, decision=ApprovalDecision.approve())
    assert result.pending.point == "before_final"
    result = resume_run(result.run_id, decision=ApprovalDecision.approve())
    assert result.status == "done" and result.final.approved and result.final.passed == 1
    assert approvals(result.messages) == [
        ("after_plan", "requested"), ("after_plan", "approved"), ("before_execution", "requested"),
        ("before_execution", "approved"), ("before_final", "requested"), ("before_final", "approved")]
    with pytest.raises(RunNotWaiting, match="not waiting"):
        resume_run(result.run_id, decision=ApprovalDecision.approve())


def test_an_edited_code_is_what_runs_and_what_the_run_returns(team, script):
    model = replies(script)
    run_id = run_team(team, TASK, model=model).run_id
    resume_run(run_id, decision=ApprovalDecision.approve())
    result = resume_run(run_id, decision=ApprovalDecision.edit("def add(a, b):\n    return sum((a, b))"))
    edited = next(m for m in result.messages if isinstance(m, Code) and m.sender == "user")
    ran = next(m for m in result.messages if isinstance(m, Execution))
    assert ran.parent_id == edited.id and ran.ok and ran.sender == "coder"
    result = resume_run(run_id, decision=ApprovalDecision.approve())
    assert "sum((a, b))" in result.final.code and result.final.approved


def test_an_edited_plan_replaces_the_plan(team, script):
    gateway, model = Gateway(), replies(script)
    run_id = run_team(team, TASK, model=model, gateway=gateway).run_id
    edit = ApprovalDecision.edit("s1. Write add with a docstring\ns2. Test it (after s1)")
    result = resume_run(run_id, decision=edit)
    edited = [m for m in result.messages if isinstance(m, Plan)][-1]
    assert edited.sender == "user" and [(s.id, s.depends_on) for s in edited.steps] == [("s1", []), ("s2", ["s1"])]
    assert edited.steps[0].description == "Write add with a docstring"
    assert result.pending.point == "before_execution"


def test_rejections_go_back_with_the_feedback(team, script, home):
    gateway = Gateway()
    model = replies(script, planner=2, coder=2, critic=[approve(), approve()])
    run_id = run_team(team, TASK, model=model, gateway=gateway).run_id
    resume_run(run_id, decision=ApprovalDecision.reject("One step is enough, name it add"), home=home)
    planner_prompts = [c.messages[-1]["content"] for c in gateway.script(model).calls if c.role == "planner"]
    assert len(planner_prompts) == 1  # the resumed run used a gateway of its own: read the log instead
    result = resume_run(run_id, decision=ApprovalDecision.approve())
    result = resume_run(run_id, decision=ApprovalDecision.approve())  # run the code
    result = resume_run(run_id, decision=ApprovalDecision.reject("Use operator.add"))
    assert result.pending.point == "before_execution"  # the coder wrote again, and that code waits to run
    result = resume_run(run_id, decision=ApprovalDecision.approve())
    result = resume_run(run_id, decision=ApprovalDecision.approve())
    assert result.status == "done" and result.final.approved
    assert approvals(result.messages).count(("after_plan", "rejected")) == 1
    assert approvals(result.messages).count(("before_final", "rejected")) == 1
    kinds = [m.kind for m in result.messages if m.kind not in ("approval", "reflection")]
    assert kinds == ["task", "plan", "plan", "code", "execution", "review", "code", "execution", "review", "final"]


def test_the_team_reads_a_rejection(team, script, home):
    """The planner's and the coder's prompts carry the person's words (same process, one gateway)."""
    gateway = Gateway()
    model = replies(script, planner=2, coder=2, critic=[approve(), approve()])
    spec = team.model_copy(update={"approval": ["after_plan", "before_final"]})
    result = run_team(spec, TASK, model=model, gateway=gateway)
    session_gateway = gateway

    def answer(decision):
        from studio import runner

        info = runner.shared_store(home).get_run(result.run_id)
        session = runner._Session(spec, info.run_id, home, model, None, None, gateway=session_gateway)
        from langgraph.types import Command

        return session.execute(Command(resume=decision.as_resume()))

    answer(ApprovalDecision.reject("Name the step add"))
    answer(ApprovalDecision.approve())
    answer(ApprovalDecision.reject("Use operator.add"))
    done = answer(ApprovalDecision.approve())
    assert done.status == "done"
    calls = gateway.script(model).calls
    planner = [c.messages[-1]["content"] for c in calls if c.role == "planner"]
    coder = [c.messages[-1]["content"] for c in calls if c.role == "coder"]
    assert "A person rejected the plan: Name the step add" in planner[1]
    assert "A person rejected it: Use operator.add" in coder[1]


def test_a_waiting_run_survives_a_restart_and_the_cli_answers_it(script, home, tmp_path):
    spec_file = tmp_path / "team.yaml"
    spec_file.write_text(dump_spec(hashed(load_spec(TEAM))))
    model = replies(script)
    env = {**os.environ, "HUDDLE_HOME": str(home)}

    def huddle(*args):
        return subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=env, timeout=120,
                              stdin=subprocess.DEVNULL)

    first = huddle("run", str(spec_file), TASK, "--model", model)
    assert first.returncode == 3, first.stderr  # no terminal, no answer: the run waits
    run_id = RunLog(home / "runs.db").runs(1)[0].run_id
    assert f"huddle run --resume {run_id} --approve" in first.stderr
    for expected in (3, 3, 0):  # each answer comes from a new process: the pause lives in the checkpoint
        answered = huddle("run", "--resume", run_id, "--approve")
        assert answered.returncode == expected, answered.stderr
    info = RunLog(home / "runs.db").get_run(run_id)
    assert info.status == "done"
    messages = RunLog(home / "runs.db").messages(run_id)
    assert messages[-1].kind == "final" and messages[-1].approved
    ids = [m.id for m in messages]
    assert len(ids) == len(set(ids))
    again = huddle("run", "--resume", run_id, "--reject", "too late")
    assert again.returncode == 2 and "not waiting for approval" in again.stderr


def test_cli_auto_approve_and_bad_answers(script, home, tmp_path):
    spec_file = tmp_path / "team.yaml"
    spec_file.write_text(dump_spec(hashed(load_spec(TEAM))))
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    done = subprocess.run([HUDDLE, "run", str(spec_file), TASK, "--model", replies(script), "--auto-approve"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert RunLog(home / "runs.db").runs(1)[0].status == "done"
    bad = subprocess.run([HUDDLE, "run", str(spec_file), TASK, "--approve"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert bad.returncode == 2 and "add --resume RUN_ID" in bad.stderr
    both = subprocess.run([HUDDLE, "run", "--resume", "x", "--approve", "--reject", "no"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert both.returncode == 2 and "not --approve and --reject" in both.stderr


def test_python_api_approve_and_reject(team, script, home):
    model = replies(script, coder=2, critic=[approve(), approve()])
    t = Team.from_spec(team, home=home)
    run = t.run(TASK, model, display=None)
    assert run.status == "waiting" and run.pending.point == "after_plan"
    run = run.approve(display=None)
    assert run.pending.point == "before_execution"
    later = Run.load(run.run_id, home=home)  # a new session picks it up from the log
    assert later.pending.point == "before_execution"
    run = later.approve(display=None).reject("Add a docstring", display=None)
    assert run.pending.point == "before_execution"
    with pytest.raises(ValueError, match="say why"):
        run.reject("  ")
    run = run.approve(display=None).approve(display=None)
    assert run.status == "done" and run.final.approved
    assert Team.from_spec(team, home=home).run(TASK, replies(script), display=None, auto_approve=True).status == "done"
