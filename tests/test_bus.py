"""The bus and the run log: ordered, persisted-before-delivered, deduplicated and thread safe."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from studio.bus import Bus
from studio.bus.sqlite import RunLog
from studio.messages import Code, Final, Task, Usage


@pytest.fixture
def db(tmp_path):
    return tmp_path / "runs.db"


@pytest.fixture
def log(db):
    log = RunLog(db)
    yield log
    log.close()


def _task(n: int, run_id: str = "r1", topic: str = "team", sender: str = "user") -> Task:
    return Task(run_id=run_id, sender=sender, topic=topic, content=f"m{n}")


def test_publish_order_is_kept_in_log_and_for_subscribers(log):
    bus = Bus(log)
    seen = []
    bus.subscribe("*", seen.append)
    sent = [_task(i) for i in range(20)]
    for message in sent:
        bus.publish(message)
    assert [m.id for m in seen] == [m.id for m in sent]
    assert [m.id for m in log.messages("r1")] == [m.id for m in sent]
    seqs = [seq for seq, _ in log.messages_with_seq("r1")]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20


def test_subscriber_sees_message_only_after_it_is_in_the_log(db, log):
    bus = Bus(log)
    found = []

    def check(message):
        other = RunLog(db)  # a separate connection: sees only committed data
        try:
            found.append(message.id in [m.id for m in other.messages(message.run_id)])
        finally:
            other.close()

    bus.subscribe("team", check)
    bus.publish(_task(1))
    bus.publish_many([_task(2), _task(3)])
    assert found == [True, True, True]


def test_messages_persist_across_reopening(db):
    first = RunLog(db)
    sent = [_task(0), Code(run_id="r1", sender="coder", code="print(1)"), Final(run_id="r1", sender="system")]
    Bus(first).publish_many(sent)
    first.close()
    again = RunLog(db)
    assert again.messages("r1") == sent
    assert [type(m) for m in again.messages("r1")] == [Task, Code, Final]
    again.close()


def test_wal_mode_is_on(db, log):
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_topic_filtering(log):
    bus = Bus(log)
    exact, team_any, everything = [], [], []
    bus.subscribe("team", exact.append)
    bus.subscribe("team.*", team_any.append)
    bus.subscribe("*", everything.append)
    bus.publish_many([_task(0, topic="team"), _task(1, topic="team.errors"), _task(2, topic="ui")])
    assert [m.content for m in exact] == ["m0"]
    assert [m.content for m in team_any] == ["m1"]
    assert [m.content for m in everything] == ["m0", "m1", "m2"]


def test_unsubscribe_stops_delivery(log):
    bus = Bus(log)
    kept, dropped = [], []
    bus.subscribe("*", kept.append)
    unsubscribe = bus.subscribe("*", dropped.append)
    bus.publish(_task(0))
    unsubscribe()
    unsubscribe()  # a second call is harmless
    bus.publish(_task(1))
    assert [m.content for m in kept] == ["m0", "m1"]
    assert [m.content for m in dropped] == ["m0"]


def test_same_message_is_stored_and_delivered_once(log):
    bus = Bus(log)
    seen = []
    bus.subscribe("*", seen.append)
    message = _task(0)
    bus.publish(message)
    bus.publish(message)
    bus.publish_many([message, _task(1), _task(1).model_copy(update={"id": message.id})])
    assert [m.content for m in seen] == ["m0", "m1"]
    assert [m.content for m in log.messages("r1")] == ["m0", "m1"]


def test_publish_many_stores_a_large_batch_in_order(log):
    bus = Bus(log)
    sent = [_task(i) for i in range(1000)]
    bus.publish_many(sent)
    assert [m.id for m in log.messages("r1")] == [m.id for m in sent]


def test_publish_many_is_all_or_nothing(log):
    bus = Bus(log)
    seen = []
    bus.subscribe("*", seen.append)
    unstorable = Task(run_id="r1", sender="user", usage=Usage(prompt_tokens=2**70))  # too big for SQLite
    with pytest.raises(OverflowError):
        bus.publish_many([_task(0), _task(1), unstorable])
    assert log.messages("r1") == []
    assert seen == []


def test_bus_without_log_delivers_only(log):
    bus = Bus(None)
    seen = []
    bus.subscribe("team", seen.append)
    bus.publish(_task(0))
    assert [m.content for m in seen] == ["m0"]


def test_concurrent_publishers(log):
    bus = Bus(log)
    delivered = []
    bus.subscribe("*", delivered.append)

    def publish(thread: int) -> None:
        for i in range(500):
            bus.publish(Task(run_id="r1", sender=f"t{thread}", content=str(i)))

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = log.messages("r1")
    assert len(stored) == 2000 and len({m.id for m in stored}) == 2000
    assert [m.id for m in delivered] == [m.id for m in stored]
    for thread in range(4):
        own = [int(m.content) for m in stored if m.sender == f"t{thread}"]
        assert own == list(range(500))


# --- the run index -----------------------------------------------------------


def test_create_run_and_set_status(log):
    spec = {"name": "duo", "roles": [{"name": "coder", "kind": "coder"}]}
    log.create_run("r1", team="duo", task="hi", spec=spec, model="scripted:x.yaml")
    info = log.get_run("r1")
    assert (info.run_id, info.team, info.task, info.status) == ("r1", "duo", "hi", "running")
    assert info.model == "scripted:x.yaml"
    assert info.spec == spec and info.error is None and info.messages == 0
    log.set_status("r1", "failed", "model timed out")
    info = log.get_run("r1")
    assert (info.status, info.error) == ("failed", "model timed out")
    assert info.updated_at >= info.created_at
    assert "spec" not in info.summary() and info.summary()["status"] == "failed"


def test_run_prefix_lookup(log):
    log.create_run("abc123", team="t", task="x", spec={})
    log.create_run("abd456", team="t", task="y", spec={})
    assert log.get_run("abc").run_id == "abc123"
    assert log.get_run("abd456").run_id == "abd456"
    assert log.get_run("ab") is None, "an ambiguous prefix finds nothing"
    assert log.get_run("zzz") is None
    assert log.get_run("a_c") is None, "'_' is not a LIKE wildcard here"


def test_exact_run_id_wins_over_longer_ids(log):
    log.create_run("abc", team="t", task="x", spec={})
    log.create_run("abcd", team="t", task="y", spec={})
    assert log.get_run("abc").run_id == "abc"


def test_run_id_with_underscore_is_found(log):
    log.create_run("run_1", team="t", task="x", spec={})
    assert log.get_run("run_1") is not None
