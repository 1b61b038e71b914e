"""One bus conformance suite, run against every run-log backend: SQLite, Postgres and Redis Streams.

Ordering per run, persistence, replay, resubscribing after a crash, no loss, no
duplicates, and the run index the CLI and the studio read. The Redis backend
runs on a real ``redis-server`` on loopback (``tests/_redis_server.py``), the Postgres one on a private
PostgreSQL cluster (``tests/_postgres_server.py``), each test in an empty schema of its own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import _postgres_server
import _redis_server
import pytest
from _replies import decide
from conftest import DEV_SCRIPT
from streamlit.testing.v1 import AppTest

from studio.bus import Bus, BusUnavailable
from studio.bus.redis import RedisRunLog
from studio.bus.sqlite import RunLog
from studio.messages import Code, Final, Review, Task, Usage, message_from_json
from studio.runner import RunNotFound, resume_run, run_team
from studio.spec import SpecError, parse_spec

BACKENDS = ["sqlite", "postgres", "redis"]
redis_url = _redis_server.redis_url  # the session's redis-server (a fixture)
postgres_server = _postgres_server.postgres_server  # the session's PostgreSQL server (a fixture)
start_redis_server, stop = _redis_server.start_redis_server, _redis_server.stop
HUDDLE = str(Path(sys.executable).parent / "huddle")


@pytest.fixture(params=BACKENDS)
def connect(request, tmp_path):
    """Opens connections to one empty log of the backend; each call is a new connection, as a new process has."""
    opened = []
    if request.param == "sqlite":
        def make():
            opened.append(RunLog(tmp_path / "runs.db"))
            return opened[-1]
    elif request.param == "postgres":
        from studio.bus.postgres import PostgresRunLog

        where = _postgres_server.schema_url(request.getfixturevalue("postgres_server"))

        def make():
            opened.append(PostgresRunLog(where))
            return opened[-1]
    else:
        url = f"{request.getfixturevalue('redis_url')}?namespace=t-{uuid.uuid4().hex[:12]}"

        def make():
            opened.append(RedisRunLog(url))
            return opened[-1]
    yield make
    for log in opened:
        log.close()


@pytest.fixture
def log(connect):
    return connect()


def _task(n: int, run_id: str = "r1", sender: str = "user", topic: str = "team") -> Task:
    return Task(run_id=run_id, sender=sender, topic=topic, content=f"m{n}")


def _contents(deliveries) -> list[str]:
    return [d.message.content for d in deliveries]


# --- ordering ------------------------------------------------------------------------------------


def test_order_is_kept_in_the_log_and_for_subscribers(log):
    bus = Bus(log)
    seen = []
    bus.subscribe("*", seen.append)
    sent = [_task(i) for i in range(20)]
    for message in sent[:5]:
        bus.publish(message)
    bus.publish_many(sent[5:])
    assert [m.id for m in seen] == [m.id for m in sent]
    assert log.messages("r1") == sent
    seqs = [seq for seq, _ in log.messages_with_seq("r1")]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20


def test_interleaved_runs_from_several_threads_keep_each_runs_order(log):
    bus = Bus(log)
    delivered = []
    bus.subscribe("*", delivered.append)

    def publish(thread: int) -> None:
        for i in range(100):
            bus.publish(Task(run_id=f"r{i % 3}", sender=f"t{thread}", content=str(i)))

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for run in ("r0", "r1", "r2"):
        stored = log.messages(run)
        assert [m.id for m in delivered if m.run_id == run] == [m.id for m in stored]
        for thread in range(4):
            assert [int(m.content) for m in stored if m.sender == f"t{thread}"] == list(range(100))[
                int(run[1])::3]


def test_tailing_with_seq_returns_only_what_came_after(log):
    Bus(log).publish_many([_task(i) for i in range(5)])
    rows = log.messages_with_seq("r1")
    middle = rows[2][0]
    assert [m.content for m in log.messages("r1", after_seq=middle)] == ["m3", "m4"]
    late = _task(5)
    Bus(log).publish(late)
    assert [message_from_json(body) for _, body in log.messages_with_seq("r1", rows[-1][0])] == [late]


def test_a_long_run_is_read_whole(log):
    sent = [_task(i) for i in range(2500)]  # more than one page of XRANGE
    Bus(log).publish_many(sent)
    assert [m.id for m in log.messages("r1")] == [m.id for m in sent]


def test_topic_filtering(log):
    bus = Bus(log)
    exact, team_any = [], []
    bus.subscribe("team", exact.append)
    bus.subscribe("team.*", team_any.append)
    bus.publish_many([_task(0, topic="team"), _task(1, topic="team.errors"), _task(2, topic="ui")])
    assert ([m.content for m in exact], [m.content for m in team_any]) == (["m0"], ["m1"])


# --- persistence and replay ----------------------------------------------------------------------


def test_a_subscriber_sees_a_message_only_after_it_is_in_the_log(connect):
    log, other = connect(), connect()
    bus = Bus(log)
    found = []
    bus.subscribe("*", lambda m: found.append(m.id in [x.id for x in other.messages(m.run_id)]))
    bus.publish(_task(0))
    bus.publish_many([_task(1), _task(2)])
    assert found == [True, True, True]


def test_messages_and_runs_persist_across_connections(connect):
    first = connect()
    first.create_run("r1", team="duo", task="hi", spec={"name": "duo"}, model="scripted:x.yaml")
    sent = [_task(0), Code(run_id="r1", sender="coder", code="print(1)"), Final(run_id="r1", sender="system")]
    Bus(first).publish_many(sent)
    first.set_status("r1", "done")
    first.close()
    again = connect()
    assert again.messages("r1") == sent
    assert [type(m) for m in again.messages("r1")] == [Task, Code, Final]
    info = again.get_run("r1")
    assert (info.status, info.messages, info.spec, info.model) == ("done", 3, {"name": "duo"}, "scripted:x.yaml")


def test_a_finished_run_replays_from_the_start_for_a_new_group(log):
    log.create_run("r1", team="duo", task="hi", spec={})
    sent = [_task(i) for i in range(7)]
    Bus(log).publish_many(sent)
    log.set_status("r1", "done")
    replay = Bus(log).consumer("replayer", "r1", "x")
    got = replay.read(count=4) + replay.read(count=4)
    assert [d.message for d in got] == sent
    assert [d.seq for d in got] == [seq for seq, _ in log.messages_with_seq("r1")]
    assert replay.read() == []


def test_a_group_on_a_run_not_started_yet_gets_it_from_its_first_message(log):
    early = Bus(log).consumer("watcher", "later", "w")
    assert early.read() == []
    Bus(log).publish_many([_task(i, run_id="later") for i in range(3)])
    assert _contents(early.read()) == ["m0", "m1", "m2"]


# --- durable subscribers: groups, acknowledgement, crashes ---------------------------------------


def test_a_consumer_that_dies_before_acking_gets_its_messages_again(connect):
    log = connect()
    Bus(log).publish_many([_task(i) for i in range(10)])
    first = Bus(log).consumer("printer", "r1", "p1")
    got = first.read(count=5)
    assert _contents(got) == ["m0", "m1", "m2", "m3", "m4"]
    assert first.ack(*got[:3]) == 3
    log.close()  # the process dies: m3 and m4 were read but never acknowledged

    restarted = Bus(connect()).consumer("printer", "r1", "p1")
    pending = restarted.read()
    assert _contents(pending) == ["m3", "m4"]
    rest = restarted.read()
    assert _contents(rest) == ["m5", "m6", "m7", "m8", "m9"]
    assert restarted.ack(*pending, *rest) == 7
    assert restarted.ack(*rest) == 0, "acknowledging twice changes nothing"

    after_ack = Bus(connect()).consumer("printer", "r1", "p1")
    assert after_ack.read() == [], "an acknowledged message is never delivered again"


def test_another_consumer_takes_over_what_a_dead_one_left_pending(connect):
    log = connect()
    Bus(log).publish_many([_task(i) for i in range(6)])
    dead = Bus(log).consumer("printer", "r1", "p1")
    assert _contents(dead.read(count=4)) == ["m0", "m1", "m2", "m3"]
    patient = Bus(connect()).consumer("printer", "r1", "p2", claim_idle_ms=60_000)
    fresh = patient.read()
    assert _contents(fresh) == ["m4", "m5"], "pending for less than claim_idle_ms: not taken"
    patient.ack(*fresh)
    heir = Bus(connect()).consumer("printer", "r1", "p3", claim_idle_ms=0)
    claimed = heir.read(count=3) + heir.read(count=3)
    assert _contents(claimed) == ["m0", "m1", "m2", "m3"]
    assert heir.read() == []
    assert heir.ack(*claimed) == 4
    assert Bus(connect()).consumer("printer", "r1", "p1").read() == [], "what p3 acknowledged is gone for p1 too"


def test_consumers_of_one_group_share_the_messages_and_groups_each_get_all(log):
    bus = Bus(log)
    bus.publish_many([_task(i) for i in range(10)])
    a, b = bus.consumer("workers", "r1", "a"), bus.consumer("workers", "r1", "b")
    got_a, got_b = a.read(count=4), b.read(count=100)
    assert sorted(_contents(got_a) + _contents(got_b), key=lambda c: int(c[1:])) == [f"m{i}" for i in range(10)]
    assert not set(_contents(got_a)) & set(_contents(got_b))
    audit = bus.consumer("audit", "r1", "x")
    assert _contents(audit.read()) == [f"m{i}" for i in range(10)]


def test_a_blocked_read_wakes_up_when_a_message_is_published(log):
    bus = Bus(log)
    reader = bus.consumer("live", "r1", "tail")
    assert reader.read(block_ms=50) == []
    got = []
    thread = threading.Thread(target=lambda: got.extend(reader.read(block_ms=5000)))
    started = time.monotonic()
    thread.start()
    time.sleep(0.1)
    bus.publish(_task(0))
    thread.join()
    assert _contents(got) == ["m0"] and time.monotonic() - started < 2


# --- no loss, no duplicates ----------------------------------------------------------------------


def test_no_loss_and_no_duplicates_with_concurrent_publishers_and_consumers(connect):
    bus = Bus(connect())
    total, threads_n = 800, 4
    received: dict[str, list] = {"a": [], "b": []}

    def consume(name: str) -> None:
        consumer = Bus(connect()).consumer("sink", "r1", name)
        deadline = time.monotonic() + 30
        while len(received["a"]) + len(received["b"]) < total and time.monotonic() < deadline:
            got = consumer.read(count=50, block_ms=100)
            received[name].extend(got)
            consumer.ack(*got)

    def publish(thread: int) -> None:
        for i in range(total // threads_n):
            bus.publish(Task(run_id="r1", sender=f"t{thread}", content=str(i)))

    workers = [threading.Thread(target=consume, args=(n,)) for n in received]
    workers += [threading.Thread(target=publish, args=(t,)) for t in range(threads_n)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stored = bus.log.messages("r1")
    got = received["a"] + received["b"]
    assert len(stored) == total and len({m.id for m in stored}) == total
    assert sorted(d.message.id for d in got) == sorted(m.id for m in stored)
    for name in received:
        seqs = [d.seq for d in received[name]]
        assert seqs == sorted(seqs), "each consumer gets its share in publication order"


def test_the_same_message_is_stored_and_delivered_once(log):
    bus = Bus(log)
    seen = []
    bus.subscribe("*", seen.append)
    reader = bus.consumer("g", "r1", "c")
    message = _task(0)
    bus.publish(message)
    bus.publish(message)
    bus.publish_many([message, _task(1), _task(1).model_copy(update={"id": message.id})])
    assert [m.content for m in seen] == ["m0", "m1"]
    assert [m.content for m in log.messages("r1")] == ["m0", "m1"]
    got = reader.read()
    assert _contents(got) == ["m0", "m1"]
    reader.ack(*got)
    bus.publish(message)  # a resumed run publishing it again
    assert reader.read() == []


def test_publish_many_is_all_or_nothing(log):
    bus = Bus(log)
    seen = []
    bus.subscribe("*", seen.append)
    unstorable = Task(run_id="r1", sender="user", usage=Usage(prompt_tokens=2**70))
    with pytest.raises(OverflowError):
        bus.publish_many([_task(0), _task(1), unstorable])
    assert log.messages("r1") == [] and seen == []


# --- the run index -------------------------------------------------------------------------------


def test_create_run_and_set_status(log):
    spec = {"name": "duo", "roles": [{"name": "coder", "kind": "coder"}]}
    log.create_run("r1", team="duo", task="hi", spec=spec)
    info = log.get_run("r1")
    assert (info.run_id, info.team, info.task, info.status, info.model, info.error) == (
        "r1", "duo", "hi", "running", None, None)
    assert info.spec == spec and info.messages == 0
    log.set_status("r1", "failed", "model timed out")
    assert (log.get_run("r1").status, log.get_run("r1").error) == ("failed", "model timed out")
    log.set_status("r1", "running")
    info = log.get_run("r1")
    assert (info.status, info.error) == ("running", None) and info.updated_at >= info.created_at
    log.set_status("nope", "done")
    assert log.get_run("nope") is None


def test_set_spec_replaces_a_runs_spec_redacted(log):
    spec = {"name": "duo", "roles": [{"name": "coder", "kind": "coder"}]}
    log.create_run("r1", team="duo", task="hi", spec=spec)
    raised = {**spec, "budget": {"tokens": 2000}, "description": "key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"}
    log.set_spec("r1", raised)
    info = log.get_run("r1")
    assert info.spec["budget"] == {"tokens": 2000} and "sk-proj-abcdef" not in info.spec["description"]
    assert info.status == "running" and info.team == "duo"


def test_recorded_calls_come_back_in_order_per_run_and_redacted(connect):
    log = connect()
    log.create_run("r1", team="duo", task="hi", spec={})
    log.create_run("r2", team="duo", task="hi", spec={})
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    log.record_calls("r1", [{"kind": "model", "key": "coder", "request": {"messages": [{"content": f"use {key}"}]}}])
    log.record_calls("r2", [{"kind": "tool", "key": "add"}])
    log.record_calls("r1", [{"kind": "sandbox", "key": "exec"}, {"kind": "memory", "key": "q"}])
    # Another connection reads them once the recorder's next write is done (on Postgres they commit with the step
    # that made the calls, or with the run's status; SQLite and Redis write them at once).
    log.set_status("r2", "done")
    again = connect()
    assert [c["kind"] for c in again.calls("r1")] == ["model", "sandbox", "memory"]
    assert [c["kind"] for c in again.calls("r2")] == ["tool"] and again.calls("nope") == []
    assert key not in str(again.calls("r1"))


def test_a_fork_records_its_parent_run_and_message(log):
    log.create_run("parent", team="duo", task="hi", spec={})
    log.create_run("child", team="duo", task="hi", spec={})
    log.set_parent("child", "parent", "m42")
    child, parent = log.get_run("child"), log.get_run("parent")
    assert (child.parent_run, child.fork_at) == ("parent", "m42") and parent.parent_run is None
    assert {r.run_id: r.parent_run for r in log.runs()} == {"child": "parent", "parent": None}


def test_run_totals_come_from_message_usage(log):
    log.create_run("r1", team="duo", task="hi", spec={})
    log.create_run("r2", team="duo", task="other", spec={})
    Bus(log).publish_many([
        _task(0),
        Code(run_id="r1", sender="coder", usage=Usage(prompt_tokens=100, completion_tokens=20, cost_usd=0.25)),
        Review(run_id="r1", sender="critic", verdict="approve",
               usage=Usage(prompt_tokens=50, completion_tokens=5, cost_usd=0.5)),
        Code(run_id="r2", sender="coder", usage=Usage(prompt_tokens=999, completion_tokens=999, cost_usd=9)),
    ])
    info = log.get_run("r1")
    assert (info.messages, info.prompt_tokens, info.completion_tokens) == (3, 150, 25)
    assert info.cost_usd == pytest.approx(0.75)
    assert log.get_run("r2").messages == 1


def test_run_lookup_by_id_or_unique_prefix(log):
    for run_id in ("abc123", "abd456", "abc", "run_1"):
        log.create_run(run_id, team="t", task="x", spec={})
    assert log.get_run("abc1").run_id == "abc123"
    assert log.get_run("abc").run_id == "abc", "an exact id wins over longer ids"
    assert log.get_run("ab") is None, "an ambiguous prefix finds nothing"
    assert log.get_run("zzz") is None and log.get_run("") is None
    assert log.get_run("a_c") is None and log.get_run("run_1").run_id == "run_1"


def test_runs_lists_newest_first_with_limit(log):
    for i in range(3):
        log.create_run(f"run{i}", team="t", task=str(i), spec={})
        time.sleep(0.002)
    assert [r.run_id for r in log.runs()] == ["run2", "run1", "run0"]
    assert [r.run_id for r in log.runs(limit=2)] == ["run2", "run1"]


def test_call_counts_sum_calls_per_sender(log):
    Bus(log).publish_many([
        _task(0),
        Code(run_id="r1", sender="coder", usage=Usage(calls=2)),
        Review(run_id="r1", sender="critic", verdict="revise", usage=Usage(calls=1)),
        Code(run_id="r1", sender="coder", usage=Usage(calls=3)),
        Code(run_id="r2", sender="coder", usage=Usage(calls=7)),
    ])
    assert log.call_counts("r1") == {"user": 0, "coder": 5, "critic": 1}
    assert log.call_counts("nope") == {}


# --- the Redis backend end to end: runs, the CLI, the studio, errors -----------------------------


@pytest.fixture
def bus_env(redis_url, monkeypatch) -> str:
    """``$HUDDLE_BUS_URL`` set to a namespace of this test's own on the session's redis-server."""
    url = f"{redis_url}?namespace=e-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("HUDDLE_BUS_URL", url)
    return url


def huddle(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    return subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_team_run_lands_in_redis_and_huddle_runs_reads_it(bus_env, dev_team, home):
    seen = []
    result = run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}", on_message=seen.append)
    assert result.status == "done"
    log = RedisRunLog(bus_env)  # another connection, as another machine has
    assert [m.id for m in log.messages(result.run_id)] == [m.id for m in seen] == [m.id for m in result.messages]
    info = log.get_run(result.run_id)
    assert (info.status, info.team, info.messages) == ("done", "dev-team", len(result.messages))
    assert RunLog(home / "runs.db").runs() == [], "nothing went to the SQLite run log"

    listed = huddle("runs", "list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["run_id"], r["status"], r["messages"]) for r in rows] == [(result.run_id, "done", info.messages)]
    shown = huddle("runs", "show", result.run_id[:8], "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    assert [json.loads(line)["id"] for line in shown.stdout.splitlines()] == [m.id for m in result.messages]


def test_a_killed_run_resumes_from_redis(bus_env, dev_team, script):
    model = script({"orchestrator": [decide("planner")]})  # the planner has no reply: the run fails
    failed = run_team(dev_team, "Write fizzbuzz", model=model)
    assert failed.status == "failed"
    with pytest.raises(RunNotFound, match="namespace=e-"):
        resume_run("feedbeef")
    again = resume_run(failed.run_id[:10])
    assert again.run_id == failed.run_id and RedisRunLog(bus_env).get_run(failed.run_id).status == again.status


def test_the_studio_lists_and_replays_runs_from_redis(bus_env, dev_team):
    result = run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    app = AppTest.from_function(_runs_page, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value
    assert list(table["run"]) == [result.run_id[:12]] and list(table["status"]) == ["done"]
    assert list(table["messages"]) == [len(result.messages)]


def _runs_page():
    from studio.ui import runs_page

    runs_page.page()


def test_the_studio_says_what_to_do_when_redis_is_down(monkeypatch):
    monkeypatch.setenv("HUDDLE_BUS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    app = AppTest.from_function(_runs_page, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    assert "redis-server" in app.error[0].value


def test_a_teams_bus_url_sends_its_runs_to_redis_unless_the_environment_says_otherwise(redis_url, dev_team, home,
                                                                                      monkeypatch):
    url = f"{redis_url}?namespace=s-{uuid.uuid4().hex[:12]}"
    team = dev_team.model_copy(update={"defaults": dev_team.defaults.model_copy(update={"bus_url": url})})
    monkeypatch.delenv("HUDDLE_BUS_URL", raising=False)
    on_redis = run_team(team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    assert RedisRunLog(url).get_run(on_redis.run_id).status == "done"
    monkeypatch.setenv("HUDDLE_BUS_URL", "sqlite://")
    local = run_team(team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    assert [r.run_id for r in RunLog(home / "runs.db").runs()] == [local.run_id]
    assert RedisRunLog(url).get_run(local.run_id) is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_redis_is_a_user_error_that_never_shows_the_password(home, dev_team_file):
    url = f"redis://:hunter2-very-secret@127.0.0.1:{_closed_port()}/0"
    with pytest.raises(BusUnavailable) as caught:
        RedisRunLog(url)
    text = str(caught.value)
    assert "127.0.0.1" in text and "redis-server" in text and "hunter2" not in text
    env = {**os.environ, "HUDDLE_HOME": str(home), "HUDDLE_BUS_URL": url}
    for args in (["runs", "list"], ["runs", "show", "abc"],
                 ["run", str(dev_team_file), "x", "--model", f"scripted:{DEV_SCRIPT}"]):
        out = subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 2, (args, out.stderr)
        assert "redis-server" in out.stderr and "Traceback" not in out.stderr
        assert "hunter2" not in out.stdout + out.stderr


def test_an_unknown_bus_scheme_says_what_is_expected(home, monkeypatch):
    monkeypatch.setenv("HUDDLE_BUS_URL", "mysql://db/huddle")
    out = huddle("runs", "list", home=home)
    assert out.returncode == 2 and "expected redis://" in out.stderr


def test_a_password_protected_server(tmp_path, monkeypatch):
    proc, url = start_redis_server(tmp_path, "--requirepass", "correct-horse-battery")
    try:
        with pytest.raises(BusUnavailable, match="check the password"):
            RedisRunLog(url)
        with pytest.raises(BusUnavailable, match="check the password") as caught:
            RedisRunLog(url.replace("redis://", "redis://:wrong-password-here@"))
        assert "wrong-password-here" not in str(caught.value)
        monkeypatch.setenv("HUDDLE_BUS_PASSWORD", "correct-horse-battery")
        log = RedisRunLog(url)
        Bus(log).publish(_task(0))
        assert [m.content for m in log.messages("r1")] == ["m0"]
        log.close()
    finally:
        stop(proc)


def test_a_team_file_with_a_bus_password_is_rejected_without_echoing_it():
    data = {"name": "t", "roles": [{"name": "coder", "kind": "coder"}],
            "defaults": {"bus_url": "redis://:hunter2-very-secret@bus.internal:6379/0"}}
    with pytest.raises(SpecError) as caught:
        parse_spec(data, "team.yaml")
    assert "defaults.bus_url" in str(caught.value) and "hunter2" not in str(caught.value)
    assert parse_spec({**data, "defaults": {"bus_url": "redis://bus.internal:6379/0?namespace=team-a"}})
