"""``huddle eval``: a team graded on hidden tests, next to a single model call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _procs import ctrl_c_as_in_a_terminal
from _replies import approve, code
from conftest import duo_team

from sandbox import Sandbox
from studio.eval import EvalError, EvalTask, evaluate, load_tasks, run_baseline, run_task, write_outputs
from studio.llm import Gateway
from studio.messages import Task
from studio.runner import shared_store
from studio.spec import dump_spec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")

HUDDLE = str(Path(sys.executable).parent / "huddle")

ADD = EvalTask(id="add", prompt="Write add(a, b) returning the sum of a and b.", entry_point="add",
               tests=["assert add(2, 3) == 5", "assert add(-1, 1) == 0", "assert add(0, 0) == 0"])
SUB = EvalTask(id="sub", prompt="Write sub(a, b) returning how far apart a and b are.", entry_point="sub",
               tests=["assert sub(3, 1) == 2", "assert sub(1, 3) == -2"])
SPIN = EvalTask(id="spin", prompt="Write spin(n) returning n.", entry_point="spin", tests=["assert spin(1) == 1"])

GOOD_ADD = "def add(a, b):\n    return a + b"
# Right for what the team was told ("how far apart"), wrong for the hidden tests (which want a - b).
APART_SUB = "def sub(a, b):\n    return abs(a - b)"
# Imports fine (the team's own run passes), loops forever when the hidden tests call it.
HANGING_SPIN = "def spin(n):\n    while True:\n        pass"


@pytest.fixture
def duo():
    """Coder and critic routed by edges; no memory; a 2 s sandbox so a hang is caught quickly."""
    return duo_team(timeout_s=2)


@pytest.fixture
def duo_file(tmp_path, duo) -> Path:
    path = tmp_path / "duo.yaml"
    path.write_text(dump_spec(duo))
    return path


def tasks_file(tmp_path: Path, *tasks: EvalTask, extra: str = "") -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("# hidden-test tasks\n\n" + "".join(t.model_dump_json() + "\n" for t in tasks) + extra)
    return path


def huddle(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HUDDLE_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([HUDDLE, "eval", *args], capture_output=True, text=True, env=env, timeout=240)


# --- the task file -------------------------------------------------------------------------------------------


def test_load_tasks_reads_jsonl_skipping_blanks_and_comments(tmp_path):
    assert load_tasks(tasks_file(tmp_path, ADD, SUB)) == [ADD, SUB]


BAD_LINES = "\n".join([
    ADD.model_dump_json(),                                                                    # 1: fine
    "{not json",                                                                              # 2
    json.dumps({"id": "a", "prompt": "p", "entry_point": "f"}),                              # 3: no tests
    json.dumps({"id": "b", "prompt": "p", "entry_point": "f", "tests": "assert f() == 1"}),  # 4: not a list
    json.dumps({"id": "add", "prompt": "p", "entry_point": "f", "tests": ["assert f()"]}),  # 5: duplicate id
    json.dumps({"id": "c", "prompt": "p", "entry_point": "not a name", "tests": ["assert 1"]}),  # 6
    "# a comment",                                                                            # 7: skipped
    json.dumps({"id": "d", "prompt": "p", "entry_point": "f", "tests": ["assert f(("]}),    # 8: not Python
]) + "\n"


def test_every_bad_line_is_named_with_what_is_wrong(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(BAD_LINES)
    with pytest.raises(EvalError) as caught:
        load_tasks(path)
    text = str(caught.value)
    assert str(path) in text
    assert "line 1:" not in text and "line 7:" not in text
    for expected in ("line 2: not JSON", "line 3: missing field 'tests'", "line 4: tests: expected a non-empty list "
                     "of strings", "line 5: duplicate id 'add' (first on line 1)", "line 6: entry_point: expected a "
                     "Python identifier", "line 8: tests[0]: not valid Python"):
        assert expected in text


def test_an_empty_or_missing_task_file_is_an_error(tmp_path):
    with pytest.raises(EvalError, match="holds no task"):
        load_tasks(tasks_file(tmp_path))
    with pytest.raises(EvalError, match="cannot read"):
        load_tasks(tmp_path / "nope.jsonl")


# --- grading -------------------------------------------------------------------------------------------------


def test_pass_fail_and_hang_are_graded_on_the_hidden_tests(duo, script, home):
    model = script({"coder": [code(GOOD_ADD), code(APART_SUB), code(HANGING_SPIN)],
                    "critic": [approve(), approve(), approve()]})
    gateway = Gateway()
    seen = []
    report = evaluate(duo, [ADD, SUB, SPIN], model, home=home, on_result=seen.append, gateway=gateway)
    gateway.script(model).assert_complete()
    add, sub, spin = report.results
    assert seen == report.results and [r.system for r in seen] == ["team"] * 3

    assert add.passed and (add.tests_passed, add.tests_total) == (3, 3) and add.reason == ""
    assert add.attempts == 1 and add.tokens > 0 and add.seconds > 0

    assert not sub.passed and (sub.tests_passed, sub.tests_total) == (1, 2)
    assert sub.reason.startswith("hidden tests: 1 of 2 failed: ") and "sub(1, 3) = 2" in sub.reason

    assert not spin.passed and spin.reason.startswith("timeout") and spin.tests_total == 1
    # the team's own run only imported the code (it passed), so the run itself is done
    assert shared_store(home).get_run(spin.run_id).status == "done"

    summary = report.summary()
    assert summary["summary"] is True and (summary["team_passed"], summary["total"]) == (1, 3)
    assert summary["baseline_passed"] is None and summary["ratio"] is None
    assert summary["team_tokens"] == add.tokens + sub.tokens + spin.tokens


def test_the_team_never_sees_the_hidden_tests(duo, script, home):
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()]})
    gateway = Gateway()
    result = run_task(duo, ADD, model, home, gateway=gateway)
    prompts = json.dumps([call.messages for call in gateway.script(model).calls])
    assert ADD.prompt in prompts
    assert all(test not in prompts for test in ADD.tests) and "add(2, 3)" not in prompts
    (task,) = [m for m in shared_store(home).messages(result.run_id) if isinstance(m, Task)]
    assert task.content == ADD.prompt


def test_the_coders_own_tests_do_not_decide_the_grade(duo, script, home):
    # the coder's own test passes in the team's run and fails next to the hidden tests
    own_test_fails = GOOD_ADD + "\n\ndef test_mine():\n    import os\n    assert not os.path.exists('test_hidden.py')"
    model = script({"coder": [code(own_test_fails)], "critic": [approve()]})
    result = run_task(duo, ADD, model, home, gateway=Gateway())
    assert result.passed and (result.tests_passed, result.tests_total) == (3, 3)
    # the same files as the grader's run (which keeps no report file): there, the coder's own test fails
    hidden = Sandbox(duo.sandbox, home / "check").run(
        {"solution.py": own_test_fails, "test_hidden.py": "\n".join(ADD.tests) + "\n"}, tests=["test_hidden.py"])
    assert {t.name: t.ok for t in hidden.tests}["test_mine"] is False


def test_a_missing_entry_point_says_so(duo, script, home):
    model = script({"coder": [code("def plus(a, b):\n    return a + b")], "critic": [approve()]})
    result = run_task(duo, ADD, model, home, gateway=Gateway())
    assert not result.passed and result.tests_passed == 0
    assert result.reason.startswith("add is not defined in the code") and "NameError" in result.reason


def test_a_failed_run_or_no_code_fails_the_task(duo, script, home):
    failing = script({"coder": [code(GOOD_ADD)]})  # the critic has no reply: the run fails
    result = run_task(duo, ADD, failing, home, gateway=Gateway())
    assert not result.passed and result.reason.startswith("run failed: ") and "critic" in result.reason
    assert result.attempts == 1 and shared_store(home).get_run(result.run_id).status == "failed"
    prose = script({"coder": ["I would rather not write code."] * 6, "critic": []})
    result = run_task(duo, ADD, prose, home, gateway=Gateway())
    assert not result.passed and result.attempts == 0


# --- the baseline --------------------------------------------------------------------------------------------


def test_the_baseline_is_one_plain_call_graded_the_same_way(duo, script, home):
    model = script({"coder": [code(APART_SUB), code(GOOD_ADD)], "critic": [approve(), approve()],
                    "baseline": [code("def sub(a, b):\n    return a - b"), "No code, sorry."]})
    gateway = Gateway()
    report = evaluate(duo, [SUB, ADD], model, baseline=True, home=home, gateway=gateway)
    gateway.script(model).assert_complete()
    assert [(r.task_id, r.system, r.passed) for r in report.results] == [
        ("sub", "team", False), ("sub", "single-call", True), ("add", "team", True), ("add", "single-call", False)]
    sub_base, add_base = report.results[1], report.results[3]
    assert sub_base.attempts == 1 and sub_base.tokens > 0 and add_base.reason == "no code block"
    calls = [c for c in gateway.script(model).calls if c.role == "baseline"]
    assert [m["role"] for m in calls[0].messages] == ["system", "user"]
    assert calls[0].messages[1]["content"] == SUB.prompt and "```python" in calls[0].messages[0]["content"]

    log = shared_store(home)
    run = log.get_run(sub_base.run_id)
    assert (run.team, run.status, run.task) == ("single-call baseline", "done", SUB.prompt)
    assert [m.kind for m in log.messages(run.run_id)] == ["task", "code"]
    assert log.messages(run.run_id)[1].code.startswith("def sub") and log.get_run(add_base.run_id).status == "failed"

    s = report.summary()
    assert (s["team_passed"], s["baseline_passed"], s["total"]) == (1, 1, 2) and s["ratio"] == 1.0
    assert s["baseline_tokens"] == sub_base.tokens + add_base.tokens and s["baseline_model"] == model


def test_ratio_is_none_when_the_baseline_passes_nothing(duo, script, home):
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()], "baseline": ["no"]})
    s = evaluate(duo, [ADD], model, baseline=True, home=home).summary()
    assert (s["team_passed"], s["baseline_passed"], s["ratio"]) == (1, 0, None)


def test_a_failed_baseline_call_is_a_failed_task(script, home):
    model = script({"baseline": []})
    result = run_baseline(ADD, model, home)
    assert not result.passed and result.reason.startswith("model call failed") and "baseline" in result.reason
    assert shared_store(home).get_run(result.run_id).status == "failed"


def test_write_outputs_makes_results_and_a_chart(duo, script, home, tmp_path):
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()], "baseline": [code(GOOD_ADD)]})
    report = evaluate(duo, [ADD], model, baseline=True, home=home)
    paths = write_outputs(report, tmp_path / "out")
    lines = [json.loads(line) for line in paths["results"].read_text().splitlines()]
    assert [(r.get("task"), r.get("system")) for r in lines] == [("add", "team"), ("add", "single-call"), (None, None)]
    assert lines[-1]["summary"] is True and lines[-1]["ratio"] == 1.0
    assert paths["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the command line ----------------------------------------------------------------------------------------


def test_cli_json_prints_one_object_per_task_then_the_summary(duo_file, script, home, tmp_path):
    model = script({"coder": [code(GOOD_ADD), code(APART_SUB)], "critic": [approve(), approve()],
                    "baseline": [code(GOOD_ADD), code("def sub(a, b):\n    return a - b")]})
    tasks = tasks_file(tmp_path, ADD, SUB, SPIN)
    out = huddle(str(duo_file), str(tasks), "--model", model, "--baseline", "single-call", "--limit", "2", "--json",
                 "--out", str(tmp_path / "out"), home=home)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r.get("task") for r in rows] == ["add", "sub", None]  # --limit 2: spin never ran
    assert rows[0]["team"]["passed"] and rows[0]["single-call"]["passed"]
    assert not rows[1]["team"]["passed"] and rows[1]["single-call"]["passed"]
    assert {"tests_passed", "tests_total", "attempts", "tokens", "cost_usd", "seconds", "run_id", "reason"} <= \
        set(rows[1]["team"])
    summary = rows[-1]
    assert summary["summary"] is True and summary["complete"] is True
    assert (summary["team_passed"], summary["baseline_passed"], summary["total"], summary["ratio"]) == (1, 2, 2, 0.5)
    results = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(results) == 5 and results[-1]["summary"] is True
    assert (tmp_path / "out" / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert str(tmp_path / "out" / "chart.png") in out.stderr  # the paths stay off stdout with --json


def test_cli_table_with_totals_and_ratio(duo_file, script, home, tmp_path):
    model = script({"coder": [code(GOOD_ADD), code(APART_SUB)], "critic": [approve(), approve()],
                    "baseline": [code(GOOD_ADD), "nothing"]})
    out = huddle(str(duo_file), str(tasks_file(tmp_path, ADD, SUB)), "-m", model, "--baseline", "single-call",
                 home=home)
    assert out.returncode == 0, out.stderr
    assert "attempts" in out.stdout and "total" in out.stdout and "1/2" in out.stdout
    assert "sub (team): hidden tests: 1 of 2 failed" in out.stdout and "sub (single-call): no code block" in out.stdout
    assert "single-call 1/2 (50%): team 1.00× its pass rate" in out.stdout


def test_cli_user_errors_exit_2_naming_the_problem(duo_file, script, home, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(BAD_LINES)
    out = huddle(str(duo_file), str(bad), "-m", script({}), home=home)
    assert out.returncode == 2 and "line 2: not JSON" in out.stderr and "line 6: entry_point" in out.stderr
    tasks = str(tasks_file(tmp_path, ADD))
    out = huddle(str(duo_file), tasks, "-m", script({}), "--baseline", "best-guess", home=home)
    assert out.returncode == 2 and "single-call" in out.stderr
    out = huddle(str(duo_file), tasks, "-m", script({}), "--limit", "0", home=home)
    assert out.returncode == 2 and "--limit" in out.stderr
    out = huddle(str(duo_file), tasks, "-m", "gpt-4o-mini", home=home)
    assert out.returncode == 2 and "OPENAI_API_KEY" in out.stderr
    broken_team = tmp_path / "team.yaml"
    broken_team.write_text("name: t\nroles: []\n")
    out = huddle(str(broken_team), tasks, home=home)
    assert out.returncode == 2 and "roles" in out.stderr
    assert out.stdout == ""


def test_cli_ctrl_c_says_how_far_it_got(duo_file, script, home, tmp_path):
    model = script({"coder": [code(GOOD_ADD), {"content": code(APART_SUB), "delay_s": 30}],
                    "critic": [approve(), approve()]})
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    proc = subprocess.Popen([HUDDLE, "eval", str(duo_file), str(tasks_file(tmp_path, ADD, SUB)), "-m", model,
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=ctrl_c_as_in_a_terminal)
    first = json.loads(proc.stdout.readline())  # the first task is done; the second waits on its slow reply
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and first["task"] == "add"
    summary = json.loads(rest)
    assert summary["complete"] is False and summary["total"] == 1
    assert "interrupted after 1 of 2 tasks" in err


# --- the oracle: every best_of_n candidate graded afterwards ------------------------------------------------------

def test_the_oracle_grades_every_candidate_and_the_choice(duo, script, home, tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import eval_oracle

    team = duo.model_copy(update={"flow": duo.flow.model_copy(update={"type": "best_of_n", "candidates": 3,
                                                                       "max_rounds": 1})})
    # No example in the task: every candidate runs clean and the evidence ties, so the critic's pick stands
    # (c1, wrong on the hidden tests); the oracle finds the right candidate the choice missed.
    model = script({"coder.c1": [code(APART_SUB)], "coder.c2": [code("def sub(a, b):\n    return a - b")],
                    "coder.c3": [code("def sub(a, b):\n    return 0")],
                    "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "ok", "lessons": []})]})
    report = evaluate(team, [SUB], model=model, home=home)
    assert not report.results[0].passed
    assert eval_oracle.main(["--home", str(home), str(tasks_file(tmp_path, SUB))]) == 0
    out = capsys.readouterr().out
    assert "| sub | 3 | 1 | c1 | no |" in out
    assert "1 tasks; a right candidate on 1, chosen on 0 (the selection missed 1)" in out
    assert eval_oracle.main(["--home", str(tmp_path / "empty"), str(tasks_file(tmp_path, SUB))]) == 2
    assert not (tmp_path / "empty").exists()
    assert eval_oracle.main(["--home", str(home), str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "no team runs of the tasks" in err and "missing.jsonl: cannot read it" in err
