"""``huddle eval --budget-tokens N``: the same token budget on each task for the team and every baseline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _replies import approve, code
from conftest import duo_team
from typer.testing import CliRunner

from studio.cli import app
from studio.eval import EvalTask, evaluate, run_baseline, run_task, write_outputs
from studio.eval.baselines import run_sampled
from studio.eval.harness import BASELINE_SYSTEM
from studio.eval.on_ray import eval_job
from studio.llm import CallSettings, Gateway
from studio.messages import Code, Final
from studio.runner import shared_store
from studio.spec import Budget, dump_spec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")

ADD = EvalTask(id="add", prompt="Write add(a, b) returning the sum of a and b; add(1, 2) should return 3.",
               entry_point="add", tests=["assert add(2, 3) == 5", "assert add(-1, 1) == 0"])
GOOD_ADD = "def add(a, b):\n    return a + b"
WRONG_ADD = "def add(a, b):\n    return a * b"
PROMPT = len(BASELINE_SYSTEM.split()) + len(ADD.prompt.split())
"""A baseline call's prompt tokens on the scripted model (it counts words)."""


class SpyGateway(Gateway):
    """The real gateway, noting the ``max_tokens`` each call was made with."""

    def __init__(self) -> None:
        super().__init__()
        self.max_tokens: list[int] = []

    def complete(self, model, messages, **kwargs):
        self.max_tokens.append(kwargs["settings"].max_tokens)
        return super().complete(model, messages, **kwargs)


@pytest.fixture
def duo():
    return duo_team(timeout_s=2)


def padded(src: str, tokens: int) -> str:
    """A ``code`` reply for ``src`` whose baseline sample on ``ADD`` costs exactly ``tokens``."""
    filler = tokens - PROMPT - len(code(src + "\n#").split())
    assert filler >= 0
    return code(src + "\n# " + " ".join(["w"] * filler))


def coder_only_budget(duo, script, tmp_path: Path) -> int:
    """A run budget with room for the coder's first call (prompt + max_tokens) and none for the critic's after it."""
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()]})
    result = run_task(duo, ADD, model, tmp_path / "measure", gateway=Gateway())
    first = next(m for m in result_messages(tmp_path / "measure", result.run_id) if isinstance(m, Code))
    return first.usage.prompt_tokens + duo.defaults.max_tokens


def result_messages(home: Path, run_id: str):
    return shared_store(home).messages(run_id)


def status(home: Path, run_id: str) -> str:
    run = shared_store(home).get_run(run_id)
    assert run is not None
    return run.status


# --- the team -----------------------------------------------------------------------------------------------


def test_a_team_stopped_by_the_budget_is_graded_on_its_best_code(duo, script, home, tmp_path):
    budget = coder_only_budget(duo, script, tmp_path)
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()]})
    gateway = Gateway()
    result = run_task(duo, ADD, model, home, gateway=gateway, budget=Budget(tokens=budget))
    assert [c.role for c in gateway.script(model).calls] == ["coder"]  # the critic's call would overrun
    assert status(home, result.run_id) == "budget"
    final = result_messages(home, result.run_id)[-1]
    assert isinstance(final, Final) and final.stop_reason == "budget" and final.code == GOOD_ADD
    assert result.budget_stop and result.passed and (result.tests_passed, result.tests_total) == (2, 2)
    assert 0 < result.tokens <= budget and result.reason == ""


def test_a_team_stopped_before_any_code_fails_saying_so(duo, script, home):
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()]})
    gateway = Gateway()
    result = run_task(duo, ADD, model, home, gateway=gateway, budget=Budget(tokens=50))
    assert gateway.script(model).calls == [] and result.tokens == 0
    assert result.budget_stop and not result.passed and result.reason == "no code (stopped by the budget)"


# --- the baselines --------------------------------------------------------------------------------------------


def test_the_single_call_is_capped_to_fit_the_budget(script, home):
    gateway = SpyGateway()
    model = script({"baseline": [code(GOOD_ADD), code(GOOD_ADD)]})
    capped = run_baseline(ADD, model, home, gateway=gateway, budget_tokens=PROMPT + 40)
    roomy = run_baseline(ADD, model, home, gateway=gateway, budget_tokens=100_000)
    gateway.script(model).assert_complete()
    assert gateway.max_tokens == [40, CallSettings().max_tokens]  # prompt + max_tokens <= N, or its own
    assert capped.passed and not capped.budget_stop and capped.tokens <= PROMPT + 40
    assert roomy.passed and not roomy.budget_stop


def test_a_budget_smaller_than_the_prompt_makes_no_call(script, home):
    model = script({"baseline": [code(GOOD_ADD)], "baseline.retry": [code(GOOD_ADD)]})
    gateway = Gateway()
    single = run_baseline(ADD, model, home, gateway=gateway, budget_tokens=PROMPT)
    retry = run_sampled("retry", ADD, model, home, budget=PROMPT, gateway=gateway, strict=True)
    assert gateway.script(model).calls == []
    for result in (single, retry):
        assert not result.passed and result.budget_stop and result.attempts == 0 and result.tokens == 0
        assert result.reason.startswith("no call: the token budget") and f"prompt alone takes {PROMPT}" in result.reason
        assert status(home, result.run_id) == "failed"


def test_sample_vote_draws_fewer_samples_with_a_smaller_budget(script, home):
    each = PROMPT + 30
    for budget, drawn in ((2 * each + 1, 2), (4 * each + 1, 4)):
        model = script({"baseline.sample-vote": [padded(GOOD_ADD, each)] * drawn})
        gateway = SpyGateway()
        result = run_sampled("sample-vote", ADD, model, home, budget=budget, gateway=gateway, strict=True)
        gateway.script(model).assert_complete()  # exactly ``drawn`` samples: one more would not fit
        assert result.attempts == drawn and result.tokens == drawn * each <= budget and result.passed
        # each sample's max_tokens leaves room for its prompt in what is left
        assert gateway.max_tokens == [min(512, budget - i * each - PROMPT) for i in range(drawn)]
        assert not result.budget_stop  # sample-vote always samples up to its budget


def test_retry_out_of_budget_before_a_pass_is_stopped_by_it(script, home):
    each = PROMPT + 30
    model = script({"baseline.retry": [padded(WRONG_ADD, each)] * 2})
    result = run_sampled("retry", ADD, model, home, budget=2 * each + 1, gateway=Gateway(), strict=True)
    assert result.attempts == 2 and result.budget_stop and not result.passed and result.tokens <= 2 * each + 1
    model = script({"baseline.retry": [padded(GOOD_ADD, each)]})
    early = run_sampled("retry", ADD, model, home, budget=2 * each + 1, gateway=Gateway(), strict=True)
    assert early.attempts == 1 and early.passed and not early.budget_stop


# --- through evaluate, the report and the command line ------------------------------------------------------


def test_every_system_gets_the_same_budget_and_the_report_shows_it(duo, script, home, tmp_path):
    budget = coder_only_budget(duo, script, tmp_path)
    each = int(budget / 2.5)  # room for two samples of this size within the budget, not three
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()], "baseline": [code(GOOD_ADD)],
                    "baseline.sample-vote": [padded(GOOD_ADD, each)] * 2,
                    "baseline.retry": [padded(WRONG_ADD, each)] * 2})
    gateway = Gateway()
    report = evaluate(duo, [ADD], model, baseline="single-call,sample-vote,retry", home=home, gateway=gateway,
                      budget_tokens=budget)
    calls = [c.role for c in gateway.script(model).calls]
    assert calls.count("critic") == 0 and calls.count("baseline.sample-vote") == 2
    team, single, vote, retry = report.results
    assert all(r.tokens <= budget for r in report.results)
    assert (team.passed, single.passed, vote.passed, retry.passed) == (True, True, True, False)
    assert [r.budget_stop for r in report.results] == [True, False, False, True]
    s = report.summary()
    assert s["budget_tokens"] == budget
    assert {n: v["budget_stops"] for n, v in s["systems"].items()} == {
        "team": 1, "single-call": 0, "sample-vote": 0, "retry": 1}

    paths = write_outputs(report, tmp_path / "out")
    lines = [json.loads(line) for line in paths["results"].read_text().splitlines()]
    assert [r.get("budget_stop") for r in lines[:-1]] == [True, False, False, True]
    assert lines[-1]["budget_tokens"] == budget and lines[-1]["systems"]["team"]["budget_stops"] == 1
    markdown = paths["summary"].read_text()
    assert f"Token budget per task: {budget:,}, the same for every system." in markdown
    assert "| system | passed | pass rate | tokens/task | seconds/task | stopped by budget |" in markdown
    assert f"| team | 1/1 | 100% | {team.tokens:,} |" in markdown and "| retry | 0/1 | 0% |" in markdown
    assert paths["chart"].read_bytes()[:4] == b"\x89PNG"


def test_without_a_budget_the_report_says_none(duo, script, home, tmp_path):
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()], "baseline": [code(GOOD_ADD)]})
    report = evaluate(duo, [ADD], model, baseline=True, home=home)
    s = report.summary()
    assert s["budget_tokens"] is None and s["systems"]["team"]["budget_stops"] == 0
    assert not any(r.budget_stop for r in report.results)
    assert "Token budget per task: none set" in write_outputs(report, tmp_path / "out")["summary"].read_text()
    with pytest.raises(ValueError, match="budget_tokens: expected a number of tokens of at least 1, got 0"):
        evaluate(duo, [ADD], model, home=home, budget_tokens=0)


def test_a_ray_job_carries_the_budget(duo, script, home, tmp_path):
    budget = coder_only_budget(duo, script, tmp_path)
    model = script({"coder": [code(GOOD_ADD)], "critic": [approve()], "baseline.retry": [code(GOOD_ADD)]})
    results, _ = eval_job(duo, (ADD, model, model, CallSettings(), ("retry",), budget), home=home, gateway=Gateway())
    assert [(r.system, r.passed, r.budget_stop) for r in results] == [("team", True, True), ("retry", True, False)]
    assert all(r.tokens <= budget for r in results)


def test_cli_budget_tokens_in_the_json_the_table_and_the_files(duo, script, home, tmp_path, monkeypatch):
    monkeypatch.setenv("HUDDLE_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "240")
    budget = coder_only_budget(duo, script, tmp_path)
    team_file = tmp_path / "duo.yaml"
    team_file.write_text(dump_spec(duo))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(ADD.model_dump_json() + "\n")
    replies = {"coder": [code(GOOD_ADD)], "critic": [approve()], "baseline": [code(GOOD_ADD)]}
    args = ["eval", str(team_file), str(tasks), "-m", script(replies), "--baseline", "single-call",
            "--budget-tokens", str(budget)]
    out = CliRunner().invoke(app, [*args, "--json", "--out", str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    row, summary = [json.loads(line) for line in out.stdout.splitlines()]
    assert row["team"]["budget_stop"] is True and row["single-call"]["budget_stop"] is False
    assert summary["budget_tokens"] == budget and summary["complete"]
    assert f"Token budget per task: {budget:,}" in (tmp_path / "out" / "summary.md").read_text()

    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "stopped" in table.stdout and "budget" in table.stdout
    assert f"budget {budget:,} tokens per task (stopped by it: team 1, single-call 0)" in table.stdout


@pytest.mark.parametrize("value", ["0", "-5"])
def test_cli_budget_tokens_below_1_exits_2_naming_the_option(duo, script, home, tmp_path, monkeypatch, value):
    monkeypatch.setenv("HUDDLE_HOME", str(home))
    team_file = tmp_path / "duo.yaml"
    team_file.write_text(dump_spec(duo))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(ADD.model_dump_json() + "\n")
    out = CliRunner().invoke(app, ["eval", str(team_file), str(tasks), "-m", script({}), "--budget-tokens", value])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert f"--budget-tokens: expected a number of tokens per task of at least 1, got {value}" in out.stderr
