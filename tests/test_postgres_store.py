"""The Postgres store end to end: runs and checkpoints in Postgres, any process (any home) resumes and approves
them, the CLI reads them, and a store that is down or refuses the password is a user error without the password.

A real server: the session's private cluster (``tests/_postgres_server.py``), each test in a schema of its own;
with the Redis bus as well, a real ``redis-server``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import _postgres_server
import _redis_server
import psycopg
import pytest
from _replies import approve, code, plan
from conftest import DEV_SCRIPT, ROOT, hashed

from pipelines import ApprovalDecision
from studio.bus import BusUnavailable
from studio.bus.postgres import PostgresRunLog
from studio.bus.redis import RedisRunLog
from studio.bus.sqlite import RunLog
from studio.runner import resume_run, run_team
from studio.spec import SpecError, dump_spec, load_spec, parse_spec

HUDDLE = str(Path(sys.executable).parent / "huddle")
postgres_server = _postgres_server.postgres_server  # the session's PostgreSQL server (a fixture)
pg_url = _postgres_server.pg_url  # a schema of this test's own on it (a fixture)
redis_url = _redis_server.redis_url  # the session's redis-server (a fixture)
TASK = "Write add(a, b).\nassert add(2, 3) == 5"


def _rows(url: str, table: str, run_id: str) -> int:
    column = "thread_id" if table.startswith("checkpoint") else "run_id"
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = %s", (run_id,)).fetchone()[0]


def _huddle(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([HUDDLE, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, "HUDDLE_HOME": str(home), **env})


def test_a_run_and_its_checkpoints_live_in_postgres_and_the_cli_reads_them(pg_url, dev_team, home, monkeypatch,
                                                                             tmp_path):
    monkeypatch.setenv("HUDDLE_STORE_URL", pg_url)
    seen = []
    result = run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}", on_message=seen.append)
    assert result.status == "done"
    log = PostgresRunLog(pg_url)  # another connection, as another machine has
    assert [m.id for m in log.messages(result.run_id)] == [m.id for m in seen] == [m.id for m in result.messages]
    assert log.get_run(result.run_id).status == "done"
    assert _rows(pg_url, "checkpoints", result.run_id) > 5 and _rows(pg_url, "checkpoint_writes", result.run_id) > 5
    assert not (home / "runs.db").exists() or RunLog(home / "runs.db").runs() == [], "nothing went to SQLite"

    elsewhere = tmp_path / "another-machine"
    listed = _huddle("runs", "list", "--json", home=elsewhere)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["run_id"] for line in listed.stdout.splitlines()] == [result.run_id]
    assert "s3cret" not in listed.stdout + listed.stderr

    replayed = _huddle("replay", result.run_id[:10], "--json", home=elsewhere)  # the cassette, from Postgres
    assert replayed.returncode == 0 and json.loads(replayed.stdout)["same"], replayed.stderr
    assert [r.run_id for r in log.runs()] == [result.run_id], "a replay that keeps nothing wrote no run"
    at = next(m for m in result.messages if m.kind == "code").id
    forked = _huddle("runs", "fork", result.run_id, "--at", at[:12], home=elsewhere)
    assert forked.returncode == 0 and f"forked from {result.run_id}" in forked.stdout, forked.stderr
    child = log.runs(1)[0]
    assert (child.parent_run, child.fork_at, child.status) == (result.run_id, at, "done")
    log.close()


def test_a_run_started_by_one_process_is_resumed_and_approved_by_others_with_other_homes(pg_url, script, tmp_path,
                                                                                          monkeypatch):
    spec_file = tmp_path / "team.yaml"
    spec_file.write_text(dump_spec(hashed(load_spec(ROOT / "examples" / "teams" / "approval_team.yaml"))))
    model = script({"planner": [plan("Write add(a, b) returning the sum")],
                    "coder": [code("def add(a, b):\n    return a + b")], "critic": [approve()]})
    homes = [tmp_path / f"machine{i}" for i in range(4)]
    first = _huddle("run", str(spec_file), TASK, "--model", model, home=homes[0], HUDDLE_STORE_URL=pg_url)
    assert first.returncode == 3, first.stderr  # no terminal, no answer: the run waits
    log = PostgresRunLog(pg_url)
    run_id = log.runs(1)[0].run_id
    assert log.get_run(run_id).status == "waiting"
    monkeypatch.setenv("HUDDLE_STORE_URL", pg_url)
    for home in homes[1:3]:  # the first two answers from this process, each with a home of its own
        assert resume_run(run_id, home=home, decision=ApprovalDecision.approve()).status == "waiting"
    answered = _huddle("run", "--resume", run_id, "--approve", home=homes[3], HUDDLE_STORE_URL=pg_url)
    assert answered.returncode == 0, answered.stderr  # the last from yet another process and home
    info = log.get_run(run_id)
    messages = log.messages(run_id)
    assert info.status == "done" and messages[-1].kind == "final" and messages[-1].approved
    assert [(m.point, m.status) for m in messages if m.kind == "approval"] == [
        ("after_plan", "requested"), ("after_plan", "approved"), ("before_execution", "requested"),
        ("before_execution", "approved"), ("before_final", "requested"), ("before_final", "approved")]
    ids = [m.id for m in messages]
    assert len(ids) == len(set(ids))
    assert not any((home / "runs.db").exists() and RunLog(home / "runs.db").runs() for home in homes)
    log.close()


def test_a_store_that_is_down_or_refuses_the_password_is_exit_2_naming_the_server(postgres_server, home,
                                                                                   dev_team_file):
    parts = urlsplit(postgres_server)
    wrong = postgres_server.replace(f":{parts.password}@", ":wrong-pw-hunter2@")
    down = f"postgresql://huddle:hunter2-down@127.0.0.1:{_postgres_server.free_port()}/runs"
    for url, server, reason in ((wrong, f"127.0.0.1:{parts.port}/postgres", "password authentication failed"),
                                (down, down.rsplit("@", 1)[1], "refused")):
        with pytest.raises(BusUnavailable) as caught:
            PostgresRunLog(url)
        assert server in str(caught.value) and reason in str(caught.value) and "hunter2" not in str(caught.value)
        commands = (["runs", "list"], ["run", str(dev_team_file), "x", "--model", f"scripted:{DEV_SCRIPT}"],
                    ["run", "--resume", "abc", "--approve"])
        for args in commands if url == wrong else commands[:1]:
            out = _huddle(*args, home=home, HUDDLE_STORE_URL=url)
            assert out.returncode == 2, (args, out.stderr)
            assert f"Postgres store at {server}" in out.stderr and "Traceback" not in out.stderr
            assert "hunter2" not in out.stdout + out.stderr


def test_a_teams_store_url_holds_no_password_and_sends_its_runs_to_postgres(pg_url, dev_team, monkeypatch):
    data = {"name": "t", "roles": [{"name": "coder", "kind": "coder"}],
            "defaults": {"store_url": "postgresql://huddle:hunter2-very-secret@db.internal:5432/runs"}}
    with pytest.raises(SpecError) as caught:
        parse_spec(data, "team.yaml")
    assert "defaults.store_url" in str(caught.value) and "PGPASSWORD" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(SpecError, match="postgresql://USER@HOST"):
        parse_spec({**data, "defaults": {"store_url": "mysql://db/runs"}})

    password = urlsplit(pg_url).password
    monkeypatch.setenv("PGPASSWORD", password)  # libpq's own: the team file names the server only
    team = dev_team.model_copy(update={"defaults": dev_team.defaults.model_copy(
        update={"store_url": pg_url.replace(f":{password}@", "@")})})
    result = run_team(team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    assert result.status == "done"
    assert [m.id for m in PostgresRunLog(pg_url).messages(result.run_id)] == [m.id for m in result.messages]
    assert password not in json.dumps(PostgresRunLog(pg_url).get_run(result.run_id).spec)


def test_with_a_redis_bus_redis_delivers_and_postgres_keeps_the_checkpoints(pg_url, redis_url, script, tmp_path,
                                                                            monkeypatch):
    bus = f"{redis_url}?namespace=pg-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("HUDDLE_BUS_URL", bus)
    monkeypatch.setenv("HUDDLE_STORE_URL", pg_url)
    team = hashed(load_spec(ROOT / "examples" / "teams" / "approval_team.yaml"))
    model = script({"planner": [plan("Write add(a, b) returning the sum")],
                    "coder": [code("def add(a, b):\n    return a + b")], "critic": [approve()]})
    result = run_team(team, TASK, model=model, home=tmp_path / "machine0")
    assert result.status == "waiting"
    assert _rows(pg_url, "checkpoints", result.run_id) > 0, "the checkpoints went to Postgres"
    assert PostgresRunLog(pg_url).get_run(result.run_id) is None, "the run itself lives on the bus"
    for i in (1, 2, 3):  # each answer from another home, as from another machine
        result = resume_run(result.run_id, home=tmp_path / f"machine{i}", decision=ApprovalDecision.approve())
    assert result.status == "done" and result.final.approved
    messages = RedisRunLog(bus).messages(result.run_id)
    assert [m.id for m in messages] == [m.id for m in result.messages] and messages[-1].kind == "final"
    assert not any((tmp_path / f"machine{i}" / "runs.db").exists() for i in range(4))


def test_a_dropped_connection_is_a_user_error_then_made_again(pg_url, postgres_server):
    log = PostgresRunLog(pg_url)
    log.create_run("r1", team="duo", task="hi", spec={})
    with psycopg.connect(postgres_server, autocommit=True) as admin:  # every other session ends, as in a restart
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
    with pytest.raises(BusUnavailable, match="Postgres store at 127.0.0.1:") as caught:
        log.set_status("r1", "done")
    assert "s3cret" not in str(caught.value)
    log.set_status("r1", "done")  # the next call connects again
    assert log.get_run("r1").status == "done"
    log.close()


def test_a_steps_recorded_calls_commit_with_its_messages_in_two_round_trips(pg_url):
    """A write is pipelined (its statements sent without waiting for each answer), and the cassette's records of
    a step wait for it: another process sees the step's calls and messages together, or neither."""
    from studio.messages import Task

    log, other = PostgresRunLog(pg_url), PostgresRunLog(pg_url)
    log.create_run("r1", team="duo", task="hi", spec={})
    log.record_calls("r1", [{"kind": "model", "key": "coder", "hash": "h1"}])
    assert other.calls("r1") == [] and _rows(pg_url, "calls", "r1") == 0  # not before the step commits
    first = Task(run_id="r1", sender="user", content="hi")
    assert log.append([first, first]) == [first]  # the same message twice in one write: stored once
    assert [c["hash"] for c in other.calls("r1")] == ["h1"] and [m.id for m in other.messages("r1")] == [first.id]
    assert log.append([first]) == []  # answers read after the pipeline's sync: not stored again

    with pytest.raises(OverflowError):  # an error that comes back at the sync, raised as the statement would
        log.append([Task(run_id="r1", sender="user", content="big").model_copy(
            update={"usage": first.usage.model_copy(update={"prompt_tokens": 2 ** 70})})])
    log.record_calls("r1", [{"kind": "model", "key": "coder", "hash": "h2"}])
    log.set_status("r1", "done")  # a rolled-back write left the connection usable; the status saves what waits
    assert [c["hash"] for c in other.calls("r1")] == ["h1", "h2"]
    assert [m.content for m in other.messages("r1")] == ["hi"] and other.get_run("r1").status == "done"
    log.close()
    other.close()
