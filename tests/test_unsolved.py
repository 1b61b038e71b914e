"""The evidence decides a run's outcome: code that fails the task's tests is ``unsolved``, whatever a role said.

Issue 20: an orchestrator's "satisfied" (or a critic's approval, or a judge's choice) over code failing the
task's own example ended the run ``done``, exit 0, stored in memory as solved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from _replies import approve, code, decide, revise
from conftest import ROOT
from nbclient import NotebookClient

from memory.reflection import reflect
from memory.team import role_scopes
from pipelines import final_message
from roles._recall import memory_block
from studio.eval import EvalTask, run_task
from studio.export import to_notebook, to_script
from studio.llm import Gateway
from studio.messages import Code, Execution, Final, Reflection, Review, Task
from studio.runner import open_team_memory, resume_run, run_team, shared_store
from studio.spec import dump_spec, parse_spec

HUDDLE = str(Path(sys.executable).parent / "huddle")
SQUARE = "Write square(x) returning x squared.\nassert square(1) == 1\nassert square(2) == 4\nassert square(3) == 9"
GOOD = "def square(x):\n    return x * x"
TWO_OF_THREE = "def square(x):\n    return x * x if x < 3 else 0"
ONE_OF_THREE = "def square(x):\n    return 1"
LESSON = "check every example in the task before saying it is done"


def _orchestrated(dev_team, *, critic: bool = True):
    """The dev team (orchestrator, planner, coder and maybe critic), one sandbox attempt per step."""
    roles = [r for r in dev_team.roles if critic or r.kind != "critic"]
    edges = dev_team.flow.edges if critic else []
    return dev_team.model_copy(update={
        "roles": roles, "flow": dev_team.flow.model_copy(update={"edges": edges}),
        "sandbox": dev_team.sandbox.model_copy(update={"max_attempts": 1})})


def _duo(max_rounds: int = 6):
    """A coder and a critic routed by edges (sequential), no memory, one sandbox attempt per step."""
    return parse_spec({
        "name": "duo", "roles": [{"name": "coder", "kind": "coder"}, {"name": "critic", "kind": "critic"}],
        "flow": {"edges": [{"from": "coder", "to": "critic"}, {"from": "critic", "to": "coder"}],
                 "max_rounds": max_rounds},
        "defaults": {"retry_backoff_s": 0}, "memory": {"enabled": False}, "sandbox": {"max_attempts": 1},
    })


def _huddle(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    return subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=env, timeout=120)


def _satisfied_over(script, src: str) -> str:
    """The orchestrator sends the coder, then declares the request satisfied; the coder writes ``src``."""
    return script({"orchestrator": [decide("coder"), decide("planner", satisfied=True)], "coder": [code(src)]})


def test_the_orchestrator_declaring_success_over_failing_code_is_unsolved(dev_team, script, home):
    spec = _orchestrated(dev_team, critic=False)
    result = run_team(spec, SQUARE, model=_satisfied_over(script, ONE_OF_THREE))
    final = result.final
    assert result.status == "unsolved" and final.stop_reason == "unsolved" and not final.approved
    assert final.content.startswith("The orchestrator judged the request satisfied, but the code fails 2 of 3 "
                                    "of the task's tests.")
    assert (final.executed, final.passed, final.failed) == (True, 1, 2)
    memory = open_team_memory(spec, home)
    episodes = memory.list("episodes")
    assert episodes and not any("Outcome: solved" in h.text for h in episodes)
    [post_mortem] = [h for h in memory.list("reflections") if h.metadata.get("note") == "post_mortem"]
    assert "Outcome: not solved: The orchestrator judged the request satisfied, but the code fails 2 of 3" \
        in post_mortem.text
    notes = [m.note for m in result.messages if isinstance(m, Reflection)]
    assert notes == ["post_mortem", "episode"]
    assert resume_run(result.run_id).status == "unsolved"  # a finished run stays as it ended


def test_huddle_run_exits_4_on_an_unsolved_run_and_runs_list_says_so(dev_team, script, home, tmp_path):
    team = tmp_path / "team.yaml"
    team.write_text(dump_spec(_orchestrated(dev_team, critic=False)))
    out = _huddle("run", str(team), SQUARE, "--model", _satisfied_over(script, ONE_OF_THREE), home=home)
    assert out.returncode == 4, out.stderr
    assert "unsolved: The orchestrator judged the request satisfied, but the code fails 2 of 3" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    solved = _huddle("run", str(team), SQUARE, "--model", _satisfied_over(script, GOOD), home=home)
    assert solved.returncode == 0, solved.stderr
    rows = [json.loads(line) for line in _huddle("runs", "list", "--json", home=home).stdout.splitlines()]
    assert [r["status"] for r in rows] == ["done", "unsolved"]  # newest first
    assert "unsolved" in _huddle("runs", "list", home=home).stdout


def test_the_best_version_that_ran_is_returned_not_the_last(script):
    model = script({"coder": [code(TWO_OF_THREE), code(ONE_OF_THREE)],
                    "critic": [revise("square(3) is wrong"), revise("now square(2) is wrong too")]})
    result = run_team(_duo(max_rounds=4), SQUARE, model=model)
    final = result.final
    assert final.code == TWO_OF_THREE and (final.passed, final.failed) == (2, 1)
    assert final.parent_id == next(m.id for m in result.messages if isinstance(m, Code))  # round 1's code
    assert result.status == "unsolved" and final.stop_reason == "unsolved"
    assert final.content.startswith("Stopped after 4 rounds without approval; the code fails 1 of 3 of the task's "
                                    "tests. Its run (the best of the versions that ran): failed (2 passed, 1 failed")


def _state(src: str, execution: Execution) -> dict:
    task = Task(run_id="r", sender="user", content=SQUARE)
    written = Code(run_id="r", sender="coder", code=src)
    ran = execution.model_copy(update={"parent_id": written.id})
    review = Review(run_id="r", sender="critic", verdict="approve", parent_id=written.id)
    return {"transcript": [task, written, ran, review], "turns": 2}


def test_a_critics_approval_of_failing_code_is_unsolved_and_of_passing_code_stands():
    spec = _duo()
    failing = Execution(run_id="r", sender="coder", exit_code=1, passed=2, failed=1, tests_run=True)
    final = final_message(spec, "r", _state(TWO_OF_THREE, failing))
    assert final.stop_reason == "unsolved" and not final.approved
    assert final.content.startswith("The critic approved the code, but the code fails 1 of 3 of the task's tests.")
    # the code's own failing test is not the task's: the task's three pass, the approval stands
    own = Execution(run_id="r", sender="coder", exit_code=1, passed=3, failed=1, own_failed=1, tests_run=True)
    assert final_message(spec, "r", _state(GOOD, own)).stop_reason == "approved"
    stopped = Execution(run_id="r", sender="coder", exit_code=None, limit="timeout")
    assert "stopped by the sandbox's timeout limit" in final_message(spec, "r", _state(GOOD, stopped)).content


def test_a_passing_run_is_still_approved_done_and_exits_0(script, home, tmp_path):
    model = script({"coder": [code(GOOD)], "critic": [approve()]})
    result = run_team(_duo(), SQUARE, model=model)
    assert result.status == "done" and result.final.stop_reason == "approved" and result.final.approved
    team = tmp_path / "duo.yaml"
    team.write_text(dump_spec(_duo()))
    again = script({"coder": [code(GOOD)], "critic": [approve()]})
    assert _huddle("run", str(team), SQUARE, "--model", again, home=home).returncode == 0


def test_a_run_without_tests_keeps_the_roles_verdict(dev_team, script):
    result = run_team(_orchestrated(dev_team, critic=False), "Write square(x).",
                      model=_satisfied_over(script, ONE_OF_THREE))
    assert result.status == "done" and result.final.stop_reason == "satisfied"


def test_failed_run_lessons_are_marked_and_a_repeated_lesson_is_not_stored_again(dev_team, script, home):
    spec = _orchestrated(dev_team)
    first = script({"orchestrator": [decide("coder"), decide("critic"), decide("x", satisfied=True)],
                    "coder": [code(ONE_OF_THREE)],
                    "critic": [json.dumps({"verdict": "revise", "feedback": "fails", "lessons": [LESSON]})]})
    result = run_team(spec, SQUARE, model=first)
    assert result.status == "unsolved"
    memory = open_team_memory(spec, home)
    [lesson] = [h for h in memory.list("reflections") if h.metadata.get("note") == "lesson"]
    assert lesson.metadata["outcome"] == "failed"
    assert "(from a run that failed" in memory_block([lesson])

    gateway = Gateway()
    second = script({"orchestrator": [decide("coder"), decide("critic")], "coder": [code(GOOD)],
                     "critic": [approve("  Check every example in the task before saying it is DONE ")]})
    again = run_team(spec, SQUARE.replace("returning", "that returns"), model=second, gateway=gateway)
    assert again.status == "done" and again.final.approved
    coder_prompt = "\n".join(m["content"] for m in
                             next(c for c in gateway.script(second).calls if c.role == "coder").messages)
    assert f"[{lesson.id}] (from a run that failed" in coder_prompt
    lessons = [h for h in memory.list("reflections") if h.metadata.get("note") == "lesson"]
    assert [h.id for h in lessons] == [lesson.id]  # shown in this run, said again: not stored twice
    assert not any(m.note == "lesson" for m in again.messages if isinstance(m, Reflection))


def test_reflect_stores_lessons_of_a_solved_run_as_solved(dev_team, home):
    memory = open_team_memory(dev_team, home)
    scopes = role_scopes(dev_team, memory, "r")
    final = Final(run_id="r", sender="system", stop_reason="approved", approved=True)
    review = Review(run_id="r", sender="critic", verdict="approve", lessons=["name the edge cases in tests"])
    reflect([Task(run_id="r", sender="user", content="x"), review, final], run_id="r", memory=memory,
            scopes=scopes, status="done")
    [lesson] = [h for h in memory.list("reflections") if h.metadata.get("note") == "lesson"]
    assert lesson.metadata["outcome"] == "solved" and "(from a run that failed" not in memory_block([lesson])


def test_the_exported_script_and_notebook_show_unsolved(dev_team, script, tmp_path, monkeypatch):
    spec = _orchestrated(dev_team, critic=False)
    exported = tmp_path / "team_script.py"
    exported.write_text(to_script(spec))
    env = {**os.environ, "HUDDLE_HOME": str(tmp_path / "script-home")}
    out = subprocess.run([sys.executable, str(exported), SQUARE, "--model", _satisfied_over(script, ONE_OF_THREE)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 4, out.stderr
    assert "unsolved: The orchestrator judged the request satisfied, but the code fails 2 of 3" in out.stderr

    notebook = nbformat.from_dict(to_notebook(spec))
    [parameters] = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = f"TASK = {SQUARE!r}\nMODEL = {_satisfied_over(script, ONE_OF_THREE)!r}"
    monkeypatch.setenv("HUDDLE_HOME", str(tmp_path / "notebook-home"))
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.output_type == "stream")
    assert printed.splitlines()[-1].endswith(": unsolved")
    [run_cell] = [c for c in notebook.cells if c.source.startswith("run = team.run")]
    shown = [o["data"]["text/html"] for o in run_cell.outputs if "text/html" in o.get("data", {})]
    assert any("unsolved" in html and "fails 2 of 3" in html for html in shown)


def test_an_unsolved_runs_code_is_still_graded_on_the_hidden_tests(script, home):
    # the prompt's example (square(3) == 9) fails, the hidden tests pass for 1 and 2 only: graded, not "run failed"
    task = EvalTask(id="square", prompt="Write square(x) returning x squared.\nassert square(3) == 9",
                    entry_point="square",
                    tests=["assert square(1) == 1", "assert square(2) == 4", "assert square(4) == 16"])
    model = script({"coder": [code(TWO_OF_THREE), code(TWO_OF_THREE)],
                    "critic": [revise("square(3) is wrong"), revise("still wrong")]})
    result = run_task(_duo(max_rounds=4), task, model, home, gateway=Gateway())
    assert shared_store(home).get_run(result.run_id).status == "unsolved"
    assert not result.passed and (result.tests_passed, result.tests_total) == (2, 3)
    assert result.reason.startswith("hidden tests: 1 of 3 failed")
