"""Fork a run at a message: the prefix kept as it was (served from the cassette), the rest live with a change."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from studio import Run, Team
from studio.bus.sqlite import RunLog
from studio.messages import message_to_json
from studio.replay import CassetteError, fork_run, replay
from studio.runner import run_team
from studio.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
HUDDLE = str(Path(sys.executable).parent / "huddle")
DEV = ROOT / "examples" / "teams" / "dev_team.yaml"
SCRIPT = f"scripted:{ROOT / 'examples' / 'scripts' / 'dev_team.yaml'}"


def _bodies(messages) -> list[dict]:
    """The messages as the log stores them, without what differs from run to run by design."""
    out = []
    for m in messages:
        data = json.loads(message_to_json(m))
        for volatile in ("id", "run_id", "parent_id", "created_at"):
            data.pop(volatile, None)
        data["usage"].pop("latency_ms"), data["usage"].pop("queue_ms")
        out.append(data)
    return out


@pytest.fixture
def parent(tmp_path):
    home = tmp_path / "home"
    spec = load_spec(DEV).model_copy(update={"memory": load_spec(DEV).memory.model_copy(update={"enabled": False})})
    result = run_team(spec, "Write fizzbuzz(n)", model=SCRIPT, home=home)
    assert result.status == "done"
    return home, spec, result


def test_a_fork_keeps_the_prefix_identical_and_goes_on_live_with_the_change(parent):
    home, spec, result = parent
    at = next(i for i, m in enumerate(result.messages) if m.kind == "code")  # fork at the coder's first code
    changed = spec.model_copy(update={"roles": [r.model_copy(update={"instructions": "Be brief."})
                                                if r.name == "coder" else r for r in spec.roles]})
    fork = fork_run(result.run_id, result.messages[at].id, spec=changed, home=home)
    assert fork.status == "done" and fork.run_id != result.run_id
    assert _bodies(fork.messages[: at + 1]) == _bodies(result.messages[: at + 1])  # the prefix, as it was
    info = RunLog(home / "runs.db").get_run(fork.run_id)
    assert (info.parent_run, info.fork_at) == (result.run_id, result.messages[at].id)
    # the rest was live: the coder's next call asked with the changed instructions, and it was recorded so
    asked = [c for c in RunLog(home / "runs.db").calls(fork.run_id) if c["kind"] == "model" and c["key"] == "coder"]
    assert asked[0]["served"] and not asked[-1]["served"]  # the prefix's call served, the last one made
    assert all("Be brief." in c["request"]["messages"][0]["content"] for c in asked)


def test_a_message_that_is_not_in_the_run_is_refused(parent):
    home, _, result = parent
    with pytest.raises(CassetteError, match="is not a message of run"):
        fork_run(result.run_id, "nope", home=home)


def test_fork_and_replay_from_python(parent):
    home, spec, result = parent
    run = Run.load(result.run_id, home=home)
    assert run.replay().same
    at = result.messages[2].id
    forked = run.fork(at, changes={"roles.critic.instructions": "Be strict."}, display=None)
    assert forked.status == "done" and _bodies(forked.messages[:3]) == _bodies(result.messages[:3])
    assert forked.diff(run).first_divergence is None or forked.diff(run).first_divergence >= 3


def _huddle(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([HUDDLE, *args], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**__import__("os").environ, "HUDDLE_HOME": str(home)})


def test_the_command_line_replays_exports_and_forks(tmp_path):
    home = tmp_path / "home"
    team = Team.load(DEV, home=home)
    run = team.run("Write fizzbuzz(n)", model=SCRIPT, display=None)
    out = _huddle("replay", run.run_id[:10], home=home)
    assert out.returncode == 0 and "same" in out.stdout and "no model call" in out.stdout, out.stderr
    shown = [json.loads(line) for line in _huddle("runs", "show", run.run_id, "--calls", "--json",
                                                   home=home).stdout.splitlines()]
    assert {c["kind"] for c in shown} >= {"model", "sandbox", "memory"}
    assert all(len(c["hash"]) == 16 for c in shown if c["kind"] != "reflect")
    assert "request hash" in _huddle("runs", "show", run.run_id, "--calls", home=home).stdout
    cassette = tmp_path / "run.jsonl"
    out = _huddle("runs", "export-cassette", run.run_id, "-o", str(cassette), home=home)
    assert out.returncode == 0 and cassette.is_file(), out.stderr
    report = json.loads(_huddle("replay", str(cassette), "--json", home=tmp_path / "elsewhere").stdout)
    assert report["same"] and report["served"] == len(cassette.read_text().splitlines()) - len(run.messages) - 2
    code = next(m for m in run.messages if m.kind == "code")
    out = _huddle("runs", "fork", run.run_id, "--at", code.id[:12], "--set", "roles.coder.instructions=Be brief.",
                  home=home)
    assert out.returncode == 0 and f"forked from {run.run_id}" in out.stdout, out.stderr
    assert f"huddle runs diff {run.run_id}" in out.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["runs", "fork", "RUN", "--at", "nope"], "is not a message of run"),
    (["runs", "fork", "RUN", "--at", "AT", "--set", "roles.nobody.instructions=x"], "no role named 'nobody'"),
    (["runs", "fork", "RUN", "--at", "AT", "--set", "flow.max_rounds=-3"], "max_rounds"),
    (["runs", "fork", "nosuchrun", "--at", "x"], "no run 'nosuchrun'"),
    (["runs", "export-cassette", "nosuchrun", "-o", "x.jsonl"], "no run 'nosuchrun'"),
    (["replay", "RUN", "--live-from-divergence"], "needs --model"),
])
def test_bad_input_exits_2_with_the_reason(parent, args, expected):
    home, _, result = parent
    args = [a.replace("RUN", result.run_id).replace("AT", result.messages[1].id) for a in args]
    out = _huddle(*args, home=home)
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_a_run_log_from_before_forks_gains_the_columns(tmp_path):
    path = tmp_path / "runs.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, team TEXT NOT NULL, task TEXT NOT NULL, status TEXT "
               "NOT NULL, model TEXT, spec TEXT NOT NULL, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT "
               "NULL)")
    db.execute("INSERT INTO runs VALUES ('old', 'duo', 'hi', 'done', NULL, '{}', NULL, '2026-01-01', '2026-01-01')")
    db.commit()
    db.close()
    log = RunLog(path)
    assert log.get_run("old").parent_run is None and log.calls("old") == []
    log.create_run("new", team="duo", task="hi", spec={})
    log.set_parent("new", "old", "m1")
    assert log.get_run("new").fork_at == "m1"


def test_replay_of_a_run_that_reads_memory_serves_its_searches(tmp_path, monkeypatch):
    home = tmp_path / "home"
    result = run_team(load_spec(DEV), "Write fizzbuzz(n)", model=SCRIPT, home=home)  # memory on: real chromadb
    searched = [c for c in RunLog(home / "runs.db").calls(result.run_id) if c["kind"] == "memory"]
    assert searched, "the dev team's roles search the memory"
    import memory.store

    def no_memory(*args, **kwargs):
        raise AssertionError("a replay opened the team memory")

    monkeypatch.setattr(memory.store.VectorMemory, "__init__", no_memory)
    outcome = replay(result.run_id, home=home)
    assert outcome.same and outcome.served >= len(searched)


def test_a_replay_goes_on_live_from_where_a_changed_team_diverges(parent):
    home, spec, result = parent
    changed = spec.model_copy(update={"roles": [r.model_copy(update={"instructions": "Be strict."})
                                                if r.name == "critic" else r for r in spec.roles]})
    outcome = replay(result.run_id, spec=changed, live_model=SCRIPT, home=home)
    assert outcome.diverged is not None and outcome.diverged.key == "critic" and outcome.diverged.index == 0
    went_on = outcome.result
    assert went_on.status == "done" and RunLog(home / "runs.db").get_run(went_on.run_id) is not None  # kept
    review = next(i for i, m in enumerate(result.messages) if m.kind == "review")
    assert _bodies(went_on.messages[:review]) == _bodies(result.messages[:review])  # served up to the critic
    made = [c for c in RunLog(home / "runs.db").calls(went_on.run_id) if c["kind"] == "model" and not c["served"]]
    assert made and made[0]["key"] == "critic"  # from the critic on, the model was called
