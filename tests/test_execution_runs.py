"""Code as action inside team runs: the coder's code runs in the sandbox, and the run goes on whatever it does."""

from __future__ import annotations

import os
import sys

import pytest
from _replies import approve, code, plan, revise

from roles.executor import attempts_in_step, extract_tests
from studio.bus.sqlite import RunLog
from studio.llm import Gateway
from studio.messages import Code, Execution, Review
from studio.runner import run_team
from studio.spec import SandboxSpec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")


def _team(dev_team, **sandbox):
    """The dev team without its orchestrator (the flow's edges route), with these sandbox settings."""
    return dev_team.model_copy(update={
        "roles": [r for r in dev_team.roles if r.kind != "orchestrator"],
        "sandbox": SandboxSpec(**{"timeout_s": 3, **sandbox}),
        "flow": dev_team.flow.model_copy(update={"max_rounds": 8}),
    })


def _executions(result) -> list[Execution]:
    return [m for m in result.messages if isinstance(m, Execution)]


def test_tests_given_in_the_task_run_against_the_code(dev_team, script):
    model = script({"planner": [plan("write add")], "coder": [code("def add(a, b):\n    return a - b"),
                                                              code("def add(a, b):\n    return a + b")],
                    "critic": [approve()]})
    task = "Write add(a, b).\nassert add(2, 3) == 5\nassert add(0, 0) == 0"
    gateway = Gateway()
    result = run_team(_team(dev_team), task, model=model, gateway=gateway)
    first, second = _executions(result)
    assert first.tests_run and (first.passed, first.failed) == (1, 1)
    assert "add(2, 3) = -1" in first.failures[0]
    assert second.ok and (second.passed, second.failed) == (2, 0) and "(from the task)" in second.content
    assert result.final.approved and (result.final.passed, result.final.failed) == (2, 0)
    gateway.script(model).assert_complete()


@pytest.mark.parametrize("writes_tests", [True, False])
def test_the_coder_writes_its_own_tests_unless_its_role_says_not_to(dev_team, script, writes_tests):
    """Asked for, the coder's test_ function runs with its code, and the execution counts it apart from the
    task's tests; a wrong test of its own fails the run (the coder then fixes the code or the test)."""
    team = _team(dev_team)
    team = team.model_copy(update={"roles": [r.model_copy(update={"writes_tests": writes_tests})
                                             if r.kind == "coder" else r for r in team.roles]})
    own = "def add(a, b):\n    return a + b\n\ndef test_add():\n    assert add(2, 2) == 4\n    assert add(1, 1) == 3"
    model = script({"planner": [plan("write add")], "critic": [approve()],
                    "coder": [code(own), code(own.replace("add(1, 1) == 3", "add(1, 1) == 2"))]})
    gateway = Gateway()
    result = run_team(team, "Write add(a, b).\nassert add(2, 3) == 5", model=model, gateway=gateway)
    first, second = _executions(result)
    assert (first.passed, first.failed, first.own_passed, first.own_failed) == (1, 1, 0, 1) and not first.ok
    assert second.ok and (second.passed, second.own_passed) == (2, 1)
    system = gateway.script(model).calls[1].messages[0]["content"]
    assert gateway.script(model).calls[1].role == "coder"
    assert ("add a test_ function with asserts taken from the task's" in system) is writes_tests
    assert ("The code is run, with any test_ functions it defines." in system) is not writes_tests


def test_test_functions_given_in_the_task_are_the_tasks_tests_not_the_codes_own(dev_team, script):
    """A task's fenced ``def test_`` runs from the task's test file: it counts as the task's test, so a coder's
    own test of the same name is still told apart."""
    own = "def add(a, b):\n    return a + b\n\ndef test_add():\n    assert add(1, 1) == 2"
    model = script({"planner": [plan("write add")], "coder": [code(own)], "critic": [approve()]})
    task = "Write add(a, b).\n```python\ndef test_add():\n    assert add(2, 3) == 5\n```"
    result = run_team(_team(dev_team), task, model=model)
    (run,) = _executions(result)
    assert run.ok and (run.passed, run.failed, run.own_passed, run.own_failed) == (2, 0, 1, 0)


def test_an_infinite_loop_is_stopped_and_the_run_goes_on(dev_team, script):
    model = script({"planner": [plan("loop")], "coder": [code("while True:\n    pass"), code("print('done')")],
                    "critic": [approve()]})
    result = run_team(_team(dev_team, timeout_s=1, cpu_s=5), "Print done", model=model)
    stuck, fixed = _executions(result)
    assert stuck.limit == "timeout" and not stuck.ok and "wall-clock limit" in stuck.content
    assert fixed.ok and fixed.stdout == "done\n"
    assert result.status == "done" and result.final.approved


@pytest.mark.parametrize("attack, sign", [
    ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", "timeout"),
    ("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", "output"),
    ("import os, signal\nos.kill(PARENT, signal.SIGKILL)", "exit"),
    ("open('/etc/huddle-owned', 'w').write('x')", "exit"),
])
def test_hostile_code_is_contained_and_the_run_goes_on(dev_team, script, attack, sign):
    attack = attack.replace("PARENT", str(os.getpid()))  # this test process, which runs the team
    model = script({"planner": [plan("p")], "coder": [code(attack), code("print('fine')")], "critic": [approve()]})
    result = run_team(_team(dev_team, timeout_s=1, cpu_s=5, file_size_mb=2), "x", model=model)
    hostile, fine = _executions(result)
    assert not hostile.ok and (hostile.limit == sign if sign != "exit" else hostile.exit_code not in (0, None))
    assert fine.ok and result.status == "done" and result.final.approved


def test_printed_secrets_are_redacted_in_the_log(dev_team, script, home):
    leaked = "sk-" + "a1b2c3d4e5f6g7h8i9j0"
    model = script({"planner": [plan("p")], "coder": [code(f"print('key: {leaked}')")], "critic": [approve()]})
    result = run_team(_team(dev_team), "x", model=model)
    (ran,) = _executions(result)
    assert ran.stdout == "key: [redacted key]\n"


def test_the_critic_cannot_approve_code_that_fails(dev_team, script):
    model = script({"planner": [plan("p")], "coder": [code("raise SystemExit(2)")] * 2 + [code("x = 1")],
                    "critic": [approve(), approve()]})
    result = run_team(_team(dev_team, max_attempts=2), "x", model=model)
    reviews = [m for m in result.messages if isinstance(m, Review)]
    assert reviews[0].verdict == "revise" and "fails when it runs" in reviews[0].feedback
    assert reviews[1].verdict == "approve" and _executions(result)[-1].ok
    kinds = [m.kind for m in result.messages if m.kind in ("code", "execution", "review")]
    assert kinds == ["code", "execution", "code", "execution", "review", "code", "execution", "review"]


def test_attempts_per_step_are_bounded(dev_team, script):
    model = script({"planner": [plan("p")], "coder": [code("assert False")] * 3, "critic": [revise("still broken")]})
    result = run_team(_team(dev_team, max_attempts=3).model_copy(
        update={"flow": dev_team.flow.model_copy(update={"max_rounds": 5})}), "x", model=model)
    assert len(_executions(result)) == 3 and result.final.stop_reason == "max_rounds"
    assert not result.final.approved and result.final.executed and result.final.exit_code == 1


def test_execution_can_be_turned_off(dev_team, script):
    model = script({"planner": [plan("p")], "coder": [code("raise SystemExit(1)")], "critic": [approve()]})
    result = run_team(_team(dev_team, enabled=False), "x", model=model)
    assert _executions(result) == [] and result.final.approved and not result.final.executed


def test_secrets_in_the_environment_never_reach_the_run_log(dev_team, script, home, monkeypatch):
    secret = "sk-huddle-run-secret-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    model = script({"planner": [plan("p")],
                    "coder": [code("import os\nprint(os.environ.get('OPENAI_API_KEY'))\n"
                                   "print(open(f'/proc/{os.getppid()}/environ').read())")] * 3,
                    "critic": [revise("no")]})
    result = run_team(_team(dev_team).model_copy(update={"flow": dev_team.flow.model_copy(update={"max_rounds": 2})}),
                      "x", model=model)
    assert secret not in "".join(m.model_dump_json() for m in RunLog(home / "runs.db").messages(result.run_id))
    assert _executions(result)[0].stdout.startswith("None\n")


def test_workspaces_live_under_the_run(dev_team, script, home):
    model = script({"planner": [plan("p")], "coder": [code("open('out.txt', 'w').write('hi')")],
                    "critic": [approve()]})
    result = run_team(_team(dev_team), "x", model=model)
    (ran,) = _executions(result)
    assert ran.workspace.startswith(str(home / "workspaces" / result.run_id))
    assert (home / "workspaces" / result.run_id).is_dir() and ran.network == "cut" and ran.filesystem == "isolated"


def test_tests_are_found_in_fences_and_bare_lines():
    text = "Do it.\n```python\ndef test_x():\n    assert f() == 1\n```\nalso\nassert f() != 2\n```\nprint(1)\n```"
    assert extract_tests(text) == "def test_x():\n    assert f() == 1\n\nassert f() != 2"
    assert extract_tests("no tests here") == ""


def test_attempts_count_only_the_current_step():
    ex = [Code(run_id="r", sender="coder", code="x"), Execution(run_id="r", sender="coder", exit_code=1)]
    review = Review(run_id="r", sender="critic", verdict="revise")
    assert attempts_in_step([*ex, *ex], "coder") == 2
    assert attempts_in_step([*ex, review, *ex], "coder") == 1
    assert attempts_in_step([review], "coder") == 0


def test_a_relative_home_runs_code_like_an_absolute_one(dev_team, script, tmp_path, monkeypatch):
    """``home=Path("rel")`` once made the second execution fail in the sandbox (a relative workspace path)."""
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    model = script({"planner": [plan("write add")], "coder": [code("def add(a, b):\n    return a - b"),
                                                              code("def add(a, b):\n    return a + b")],
                    "critic": [approve()]})
    result = run_team(_team(dev_team), "Write add(a, b).\nassert add(2, 3) == 5", model=model,
                      home=Path("relative-home"))
    first, second = _executions(result)
    assert (first.passed, first.failed) == (0, 1) and second.ok and (second.passed, second.failed) == (1, 0)
    assert result.final.approved and (tmp_path / "relative-home" / "runs.db").exists()
