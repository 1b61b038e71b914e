"""Same-budget baselines in ``huddle eval``: sample-vote and retry next to the single call."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _replies import approve, code
from conftest import duo_team
from typer.testing import CliRunner

from roles.vote import choose
from sandbox import Sandbox
from studio.cli import app
from studio.eval import EvalTask, evaluate, run_task
from studio.eval.baselines import run_sampled
from studio.eval.harness import BASELINE_SYSTEM, BASELINE_TEAMS
from studio.llm import Gateway
from studio.messages import Code, Error
from studio.runner import shared_store
from studio.spec import SandboxSpec, dump_spec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")

# The prompt gives an example ("should return"): the vote and retry run it; the hidden tests are others.
ADD = EvalTask(id="add", prompt="Write add(a, b) returning the sum of a and b; add(1, 2) should return 3.",
               entry_point="add", tests=["assert add(2, 3) == 5", "assert add(-1, 1) == 0"])
PLAIN = EvalTask(id="neg", prompt="Write neg(x) returning minus x.", entry_point="neg", tests=["assert neg(2) == -2"])

GOOD_ADD = "def add(a, b):\n    return a + b"
GOOD_ADD_TOO = "def add(a, b):\n    return b + a"
WRONG_ADD = "def add(a, b):\n    return a * b"
CRASHING_ADD = "def add(a, b):\n    raise ValueError('not today')"


@pytest.fixture
def duo():
    return duo_team(timeout_s=2)


def sample_tokens(task: EvalTask, reply: str) -> int:
    """What one baseline sample costs on the scripted model (it counts words)."""
    return len(BASELINE_SYSTEM.split()) + len(task.prompt.split()) + len(reply.split())


def padded(src: str, task: EvalTask, tokens: int) -> str:
    """A ``code`` reply for ``src`` whose sample costs about ``tokens`` (a comment of filler words)."""
    filler = max(tokens - sample_tokens(task, code(src + "\n#")), 0)
    reply = code(src + "\n# " + " ".join(["w"] * filler))
    assert abs(sample_tokens(task, reply) - tokens) <= 1
    return reply


def team_tokens(duo, script, tmp_path: Path, task: EvalTask, src: str) -> int:
    """The team's tokens on ``task`` when its coder writes ``src`` and the critic approves (deterministic)."""
    model = script({"coder": [code(src)], "critic": [approve()]})
    return run_task(duo, task, model, tmp_path / "measure", gateway=Gateway()).tokens


def logged(home: Path, run_id: str):
    """(the run's info, its messages) from the run log."""
    log = shared_store(home)
    run = log.get_run(run_id)
    assert run is not None
    return run, log.messages(run_id)


# --- sample-vote -----------------------------------------------------------------------------------------------


def test_sample_vote_keeps_the_code_the_vote_picks_and_grades_it(script, home):
    replies = [code(CRASHING_ADD), code(GOOD_ADD), code(GOOD_ADD_TOO)]
    model = script({"baseline.sample-vote": replies})
    gateway = Gateway()
    # budget 0 (a model that reports no usage): the flow's candidates, here 3
    result = run_sampled("sample-vote", ADD, model, home, budget=0, fallback=3, gateway=gateway)
    gateway.script(model).assert_complete()
    assert result.system == "sample-vote" and result.attempts == 3
    assert result.passed and (result.tests_passed, result.tests_total) == (2, 2) and result.reason == ""

    box = SandboxSpec().model_copy(update={"enabled": True})
    expected = choose(ADD.prompt, [CRASHING_ADD, GOOD_ADD, GOOD_ADD_TOO], Sandbox(box, home / "check"))
    assert expected in (1, 2)  # the crashing one is never the pick
    run, messages = logged(home, result.run_id)
    assert (run.team, run.status) == ("sample-vote baseline", "done")
    codes = [m for m in messages if isinstance(m, Code)]
    assert [m.kind for m in messages] == ["task", "code", "code", "code"] and len(codes) == 3
    chosen = [i for i, m in enumerate(codes) if ": chosen, the vote's pick of 3" in m.content]
    assert chosen == [expected] and codes[expected].code == [CRASHING_ADD, GOOD_ADD, GOOD_ADD_TOO][expected]
    assert all(m.sender == "baseline" and m.usage.calls == 1 for m in codes)
    assert result.tokens == sum(m.usage.prompt_tokens + m.usage.completion_tokens for m in codes)


def test_the_samples_after_the_first_run_as_hot_as_the_teams_later_candidates(duo, script, home):
    hot = duo.model_copy(update={"flow": duo.flow.model_copy(update={"candidate_temperature": 0.5})})
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()],
                    "baseline.sample-vote": [code(GOOD_ADD), code(GOOD_ADD_TOO)] * 32})
    report = evaluate(hot, [ADD], model, baseline=["sample-vote"], home=home, gateway=Gateway(), budget_tokens=1_000)
    samples = [m.content for m in logged(home, report.results[1].run_id)[1] if isinstance(m, Code)]
    assert len(samples) >= 2 and "(temperature 0.2)" in samples[0].splitlines()[0]
    assert all("(temperature 0.5)" in s.splitlines()[0] for s in samples[1:])


def test_sample_vote_with_no_code_at_all_fails_saying_so(script, home):
    model = script({"baseline": ["I cannot.", "Nor can I."]})  # the shared queue answers baseline.sample-vote
    result = run_sampled("sample-vote", ADD, model, home, budget=0, fallback=2, gateway=Gateway())
    assert not result.passed and result.reason == "no code block" and result.attempts == 2
    run, messages = logged(home, result.run_id)
    assert run.status == "failed" and [m.kind for m in messages] == ["task", "error", "error"]


# --- retry -----------------------------------------------------------------------------------------------------


def test_retry_stops_at_the_first_sample_that_passes_the_example(script, home):
    model = script({"baseline.retry": [code(WRONG_ADD), "no code here", code(GOOD_ADD), code(GOOD_ADD_TOO)]})
    gateway = Gateway()
    result = run_sampled("retry", ADD, model, home, budget=10_000, gateway=gateway)
    calls = gateway.script(model).calls
    assert len(calls) == 3 and result.attempts == 3  # the fourth reply is never asked for
    assert [c.role for c in calls] == ["baseline.retry"] * 3
    assert [m["role"] for m in calls[0].messages] == ["system", "user"]
    assert calls[0].messages[1]["content"] == ADD.prompt
    assert result.passed and result.system == "retry"
    run, messages = logged(home, result.run_id)
    assert (run.team, run.status) == ("retry baseline", "done")
    assert [m.kind for m in messages] == ["task", "code", "error", "code"]
    assert "chosen, the first to pass the task's example" in messages[3].content
    assert "chosen" not in messages[1].content and messages[3].code == GOOD_ADD


def test_retry_without_an_example_stops_at_code_that_runs_and_defines_the_entry_point(script, home):
    model = script({"baseline": [code("def negate(x):\n    return -x"), code("def neg(x):\n    return -x"),
                                 code("def neg(x):\n    return 0 - x")]})
    gateway = Gateway()
    result = run_sampled("retry", PLAIN, model, home, budget=10_000, gateway=gateway)
    assert result.attempts == 2 and result.passed and len(gateway.script(model).calls) == 2
    _, messages = logged(home, result.run_id)
    assert "chosen, the first to run clean and define the entry point" in messages[2].content


def test_retry_that_never_passes_keeps_the_last_sample_within_the_budget(script, home):
    reply = code(WRONG_ADD)
    each = sample_tokens(ADD, reply)
    model = script({"baseline": [reply] * 3})
    gateway = Gateway()
    # room for three: after two, 2 + 1 samples fit; after three, a fourth would not
    result = run_sampled("retry", ADD, model, home, budget=3 * each + 1, gateway=gateway)
    gateway.script(model).assert_complete()
    assert result.attempts == 3 and not result.passed and result.tokens == 3 * each
    _, messages = logged(home, result.run_id)
    assert "chosen, the last with code (none passed the example)" in messages[-1].content


def test_a_model_that_stops_answering_keeps_the_samples_drawn(script, home):
    model = script({"baseline": [code(WRONG_ADD)]})  # then the script runs out
    result = run_sampled("retry", ADD, model, home, budget=10_000, gateway=Gateway())
    assert result.attempts == 1 and not result.passed and result.reason.startswith("hidden tests")
    run, messages = logged(home, result.run_id)
    assert run.status == "done" and isinstance(messages[-1], Error) and not messages[-1].fatal
    nothing = run_sampled("retry", ADD, script({"baseline": []}), home, budget=10_000, gateway=Gateway())
    assert nothing.reason.startswith("model call failed") and logged(home, nothing.run_id)[0].status == "failed"


# --- the same budget, through evaluate --------------------------------------------------------------------------


def test_each_baseline_spends_no_more_tokens_than_the_team(duo, script, home, tmp_path):
    budget = team_tokens(duo, script, tmp_path, ADD, GOOD_ADD)
    each = int(budget / 3.5)  # three samples fit (3 * each <= budget), a fourth would not (4 * each > budget)
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()], "baseline": [code(WRONG_ADD)],
                    "baseline.sample-vote": [padded(src, ADD, each) for src in (CRASHING_ADD, GOOD_ADD, GOOD_ADD)],
                    "baseline.retry": [padded(WRONG_ADD, ADD, each)] * 3})
    gateway = Gateway()
    report = evaluate(duo, [ADD], model, baseline=["single-call", "sample-vote,retry"], home=home, gateway=gateway)
    gateway.script(model).assert_complete()  # exactly three samples each
    team, single, vote, retry = report.results
    assert [r.system for r in report.results] == ["team", "single-call", "sample-vote", "retry"]
    assert team.tokens == budget
    assert (vote.attempts, retry.attempts, single.attempts) == (3, 3, 1)
    assert all(0 < r.tokens <= team.tokens for r in (single, vote, retry))
    assert (team.passed, single.passed, vote.passed, retry.passed) == (True, False, True, False)
    teams = {logged(home, r.run_id)[0].team for r in (single, vote, retry)}
    assert teams == BASELINE_TEAMS == {"single-call baseline", "sample-vote baseline", "retry baseline"}
    s = report.summary()
    assert s["baselines"] == ["single-call", "sample-vote", "retry"]
    assert {n: (v["passed"], v["pass_rate"]) for n, v in s["systems"].items()} == {
        "team": (1, 1.0), "single-call": (0, 0.0), "sample-vote": (1, 1.0), "retry": (0, 0.0)}
    assert s["systems"]["sample-vote"]["ratio"] == 1.0 and s["systems"]["retry"]["ratio"] is None
    assert s["systems"]["retry"]["tokens"] == retry.tokens and s["ratio"] is None and s["baseline_passed"] == 0


# --- the command line -------------------------------------------------------------------------------------------


def test_cli_runs_several_baselines_with_per_system_numbers_and_a_chart(duo, script, home, tmp_path, monkeypatch):
    monkeypatch.setenv("HUDDLE_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "240")
    team_file = tmp_path / "duo.yaml"
    team_file.write_text(dump_spec(duo))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(ADD.model_dump_json() + "\n")
    each = int(team_tokens(duo, script, tmp_path, ADD, GOOD_ADD) / 3.5)
    replies = {"coder": [code(GOOD_ADD)], "critic": [approve()], "baseline": [code(GOOD_ADD)],
               "baseline.sample-vote": [padded(GOOD_ADD, ADD, each)] * 3,
               "baseline.retry": [padded(WRONG_ADD, ADD, each), padded(GOOD_ADD, ADD, each)]}
    args = ["eval", str(team_file), str(tasks), "-m", script(replies), "--baseline", "single-call",
            "--baseline", "sample-vote,retry"]
    out = CliRunner().invoke(app, [*args, "--json", "--out", str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    row, summary = [json.loads(line) for line in out.stdout.splitlines()]
    assert set(row) == {"task", "team", "single-call", "sample-vote", "retry"}
    assert (row["sample-vote"]["attempts"], row["retry"]["attempts"]) == (3, 2)
    assert summary["complete"] and set(summary["systems"]) == {"team", "single-call", "sample-vote", "retry"}
    for name, stats in summary["systems"].items():
        assert set(stats) >= {"passed", "pass_rate", "tokens", "cost_usd", "seconds"}, name
        assert stats["passed"] == 1 and stats["tokens"] <= summary["systems"]["team"]["tokens"], name
        assert name == "team" or stats["ratio"] == 1.0
    written = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line).get("system") for line in written] == ["team", "single-call", "sample-vote", "retry",
                                                                    None]
    assert (tmp_path / "out" / "chart.png").read_bytes()[:4] == b"\x89PNG"

    table = CliRunner().invoke(app, args)  # the same replies again, from a fresh read of the script
    assert table.exit_code == 0, table.output
    for expected in ("sample-vote", "retry", "total", "team 1/1 (100%)", "single-call 1/1 (100%): team 1.00×",
                     "retry 1/1 (100%): team 1.00× its pass rate"):
        assert expected in table.stdout, expected


def test_cli_bad_baseline_exits_2_naming_the_allowed_values(duo, script, home, tmp_path, monkeypatch):
    monkeypatch.setenv("HUDDLE_HOME", str(home))
    team_file = tmp_path / "duo.yaml"
    team_file.write_text(dump_spec(duo))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(ADD.model_dump_json() + "\n")
    out = CliRunner().invoke(app, ["eval", str(team_file), str(tasks), "-m", script({}), "--baseline",
                                   "single-call,best-of-3"])
    assert out.exit_code == 2
    assert "--baseline: expected single-call, sample-vote, retry" in out.stderr and "'best-of-3'" in out.stderr
    assert "Traceback" not in out.output


def test_a_ray_job_runs_the_baselines_it_is_given(duo, script, home):
    from studio.eval.on_ray import eval_job
    from studio.llm import CallSettings

    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()], "baseline.retry": [code(GOOD_ADD)]})
    results, run_ids = eval_job(duo, (ADD, model, model, CallSettings(), ("retry",)), home=home, gateway=Gateway())
    assert [(r.system, r.passed, r.attempts) for r in results] == [("team", True, 1), ("retry", True, 1)]
    assert run_ids == [r.run_id for r in results] and results[1].tokens <= results[0].tokens
