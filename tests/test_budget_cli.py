"""Budgets on the command line: ``--budget-*``, exit 5 and how to go on, the live meter, ``runs list``/``show``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _replies import approve, code, plan
from conftest import DEV_SCRIPT, ROOT, hashed
from typer.testing import CliRunner

import studio.cli._budget as cli_budget
from studio.bus.sqlite import RunLog
from studio.cli import app
from studio.llm.budget import spend_of, working_seconds
from studio.messages import Code, Usage
from studio.runner import shared_store
from studio.spec import Budget, dump_spec, load_spec

HUDDLE = str(Path(sys.executable).parent / "huddle")
MODEL = f"scripted:{DEV_SCRIPT}"
SUMMARY = re.compile(r"run (\w+) · (\w+) · tokens ([\d,]+)(?:/([\d,]+))? · \$([\d.]+)\S* · ([\d.]+)s\S* · "
                     r"calls (\d+)(?:/(\d+))?")


def _invoke(*args: str, **env: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **env})


def _summary(text: str) -> dict:
    """The numbers of the line ``huddle run`` ends with."""
    found = SUMMARY.search(" ".join(text.split()))
    assert found, text
    run_id, status, tokens, limit, usd, _, calls, call_limit = found.groups()
    return {"run_id": run_id, "status": status, "tokens": int(tokens.replace(",", "")), "usd": float(usd),
            "calls": int(calls), "limit": limit, "call_limit": call_limit}


def _log_sums(home: Path, run_id: str):
    return spend_of(RunLog(home / "runs.db").messages(run_id))[0]


def test_a_budget_stops_the_run_with_exit_5_and_resume_with_a_raised_one_finishes_it(home, dev_team_file):
    out = _invoke("run", str(dev_team_file), "Write fizzbuzz", "--model", MODEL, "--budget-tokens", "800")
    assert out.exit_code == 5, out.output
    line = _summary(out.stdout)
    run_id = line["run_id"]
    assert line["status"] == "budget" and line["limit"] == "800"
    assert line["tokens"] == _log_sums(home, run_id).tokens <= 800
    note = " ".join(out.stderr.split())
    assert f"run {run_id} stopped by its budget: the run's token budget (800) is reached" in note
    assert f"go on with huddle run --resume {run_id} --budget-tokens 1600" in note
    assert "Traceback" not in out.output
    assert RunLog(home / "runs.db").get_run(run_id).status == "budget"

    again = _invoke("run", "--resume", run_id)  # the same budget: it stops again, before any call
    assert again.exit_code == 5 and "stopped by its budget" in again.stderr

    done = _invoke("run", "--resume", run_id, "--budget-tokens", "5000")
    assert done.exit_code == 0, done.output
    finished = _summary(done.stdout)
    assert finished["status"] == "done" and finished["limit"] == "5,000"
    sums = _log_sums(home, run_id)
    assert (finished["tokens"], finished["calls"]) == (sums.tokens, sums.model_calls)  # the whole run, both sessions
    messages = RunLog(home / "runs.db").messages(run_id)
    assert messages[-1].kind == "final" and messages[-1].approved and "def fizzbuzz" in messages[-1].code


def test_the_console_script_exits_5_and_json_output_stays_json(home, dev_team_file):
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    out = subprocess.run([HUDDLE, "run", str(dev_team_file), "Write fizzbuzz", "--model", MODEL, "--json",
                          "--budget-calls", "3"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 5, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]  # the summary and the note go to stderr
    assert lines[-1]["kind"] == "final" and lines[-1]["stop_reason"] == "budget"
    assert sum(m["usage"]["calls"] for m in lines) == 3
    line = _summary(out.stderr)
    assert (line["status"], line["calls"], line["call_limit"]) == ("budget", 3, "3")
    assert f"huddle run --resume {line['run_id']} --budget-calls 6" in " ".join(out.stderr.split())


@pytest.mark.parametrize(("flag", "value"), [("--budget-tokens", "0"), ("--budget-usd", "-0.5"),
                                             ("--budget-seconds", "0"), ("--budget-calls", "-3")])
def test_a_limit_that_is_not_above_zero_exits_2_naming_its_flag(flag, value, home, dev_team_file):
    out = _invoke("run", str(dev_team_file), "x", "--model", MODEL, flag, value)
    assert out.exit_code == 2, out.output
    assert f"{flag} must be > 0" in out.stderr and "Traceback" not in out.output
    assert not (home / "runs.db").exists() or not RunLog(home / "runs.db").runs()  # nothing ran


def test_a_bad_budget_in_the_team_file_exits_2_naming_the_field(tmp_path, home):
    team = {"name": "t", "roles": [{"name": "coder", "kind": "coder", "budget": {"tokens": 0}}],
            "budget": {"tokenz": 500}, "memory": {"enabled": False}}
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(team))
    for args in (["run", str(path), "x", "--model", MODEL], ["teams", "validate", str(path)]):
        out = _invoke(*args)
        assert out.exit_code == 2, out.output
        assert "budget.tokenz: unknown field" in out.stderr
        assert "roles[0].budget.tokens: input should be greater than 0" in out.stderr
        assert str(path) in out.stderr and "Traceback" not in out.output


def test_a_dollar_budget_on_a_model_without_a_price_exits_2_naming_it_before_anything_is_logged(home,
                                                                                                   dev_team_file):
    # hosted_vllm passes the model check without a key; litellm has no price for a model of one's own
    out = _invoke("run", str(dev_team_file), "x", "--model", "hosted_vllm/my-own-model", "--budget-usd", "0.5")
    assert out.exit_code == 2, out.output
    assert "model hosted_vllm/my-own-model has no known price" in out.stderr and "budget.usd" in out.stderr
    assert not (home / "runs.db").exists() or not RunLog(home / "runs.db").runs()
    free = _invoke("run", str(dev_team_file), "x", "--model", MODEL, "--budget-usd", "0.5")  # scripted: free
    assert free.exit_code == 0 and "$0.0000/$0.50" in free.stdout


def test_the_live_meter_shows_the_budget_and_counts_what_the_log_holds(home, dev_team_file, monkeypatch):
    meters = []

    class Recorded(cli_budget.RunMeter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            meters.append(self)

    monkeypatch.setattr(cli_budget, "RunMeter", Recorded)
    out = _invoke("run", str(dev_team_file), "Write fizzbuzz", "--model", MODEL, "--budget-tokens", "5000",
                  "--budget-calls", "40", TTY_COMPATIBLE="1")  # a terminal: the live lines are drawn
    assert out.exit_code == 0, out.output
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.stdout)
    assert re.search(r"tokens [\d,]+/5,000 · \$0\.0000 · [\d.]+s · calls \d+/40", plain), plain[-2000:]
    run_id = _summary(plain)["run_id"]
    logged = shared_store().messages(run_id)
    (meter,) = meters
    total, per_role = meter.spent()
    assert (total, per_role) == spend_of(logged)  # tokens, dollars, model seconds and calls, per role too
    assert total.tokens > 0 and total.model_calls == 7
    assert meter.seconds >= working_seconds(logged) * 0.5
    assert meter.text().startswith(f"tokens {total.tokens:,}/5,000 · $0.0000 · ")


def test_a_role_budget_has_a_line_of_its_own_in_the_meter(dev_team):
    roles = [r.model_copy(update={"budget": Budget(model_calls=3)}) if r.name == "coder" else r
             for r in dev_team.roles]
    spec = dev_team.model_copy(update={"roles": roles})
    meter = cli_budget.RunMeter(clock=lambda: 0.0)
    meter.use(spec)
    meter.message(Code(run_id="r", sender="coder", branch="c2", usage=Usage(prompt_tokens=90, completion_tokens=10,
                                                                             latency_ms=1500, calls=1)))
    assert meter.role_texts() == ["coder: tokens 100 · $0.0000 · 1.5s · calls 1/3"]
    assert meter.text() == "tokens 100 · $0.0000 · 0.0s · calls 1"  # the run has no budget of its own


def test_auto_approve_goes_on_with_the_raised_budget(home, script, tmp_path):
    """The approval loop resumes with the command line's budget, not only with the one the run started with."""
    team = tmp_path / "team.yaml"
    team.write_text(dump_spec(hashed(load_spec(ROOT / "examples" / "teams" / "approval_team.yaml"))))
    model = script({"planner": [plan("Write add(a, b) returning the sum")],
                    "coder": [code("def add(a, b):\n    return a + b")], "critic": [approve()]})
    task = "Write add(a, b).\nassert add(2, 3) == 5"
    stopped = _invoke("run", str(team), task, "--model", model, "--auto-approve", "--budget-calls", "1")
    assert stopped.exit_code == 5, stopped.output  # the plan was approved, the coder's call refused
    run_id = _summary(stopped.stdout)["run_id"]
    done = _invoke("run", "--resume", run_id, "--auto-approve", "--budget-calls", "5")
    assert done.exit_code == 0, done.output  # two more approvals, each resumed with calls 5
    assert _summary(done.stdout)["calls"] == 3


def test_runs_list_shows_time_and_the_budget_status_in_80_columns_and_runs_show_the_spend(home, dev_team_file):
    stopped = _invoke("run", str(dev_team_file), "Write fizzbuzz", "--model", MODEL, "--budget-calls", "3")
    assert stopped.exit_code == 5
    run_id = _summary(stopped.stdout)["run_id"]
    listed = _invoke("runs", "list", COLUMNS="80")
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["run", "team", "status", "started", "msgs", "tokens", "time", "task"]
    row = lines[2].split()
    assert row[0] == run_id[:12] and row[2] == "budget" and re.fullmatch(r"\d+s", row[7])
    (data,) = [json.loads(line) for line in _invoke("runs", "list", "--json").stdout.splitlines()]
    logged = RunLog(home / "runs.db").messages(run_id)
    assert data["status"] == "budget" and data["seconds"] == round(working_seconds(logged), 3)
    shown = _invoke("runs", "show", run_id[:8])
    sums = spend_of(logged)[0]
    assert f"spent: tokens {sums.tokens:,} · $0.0000 · " in shown.stdout and "· calls 3/3" in shown.stdout
