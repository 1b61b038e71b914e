"""The checkpointer in the run log (``studio.bus.checkpoints``): LangGraph's conformance suite, one store per run,
the transcript kept as message ids, and runs whose checkpoints are still in an old ``checkpoints.db``."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import _postgres_server
import pytest
from _replies import approve, code, decide, plan
from conftest import ROOT, hashed
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.sqlite import SqliteSaver

from pipelines import ApprovalDecision
from studio._run_state import checkpointer, release
from studio.bus.checkpoints import LogSaver
from studio.bus.sqlite import RunLog
from studio.runner import resume_run, run_team
from studio.spec import load_spec

postgres_server = _postgres_server.postgres_server  # the session's private PostgreSQL server (a fixture)
TASK = "Write add(a, b).\nassert add(2, 3) == 5"


@pytest.mark.parametrize("where", [":memory:", "file"])
def test_the_saver_passes_langgraphs_conformance_suite(where, tmp_path):
    @checkpointer_test(name=f"LogSaver-{where}")
    async def saver():
        yield LogSaver(RunLog(where if where == ":memory:" else tmp_path / f"{len(list(tmp_path.iterdir()))}.db"))

    report = asyncio.run(validate(saver))
    results = report.results
    failed = {name: r.failures for name, r in results.items() if r.passed is False}
    assert failed == {}
    assert {name for name, r in results.items() if r.passed} >= {
        "put", "put_writes", "get_tuple", "list", "delete_thread", "copy_thread"}
    assert sum(r.tests_passed for r in results.values()) >= 60


class _EveryThreadRunning(set):
    """As if every thread were inside ``LogSaver.steps``: each checkpoint waits for its thread's next commit."""

    def __contains__(self, thread_id: object) -> bool:
        return True


def test_the_saver_passes_the_suite_with_each_checkpoint_waiting_for_the_next_commit(tmp_path):
    """Inside a run (``steps``) a checkpoint commits with the next writes; whatever reads the thread sees it."""
    @checkpointer_test(name="LogSaver-steps")
    async def saver():
        made = LogSaver(RunLog(tmp_path / f"{len(list(tmp_path.iterdir()))}.db"))
        made._running = _EveryThreadRunning()
        yield made

    report = asyncio.run(validate(saver))
    failed = {name: r.failures for name, r in report.results.items() if r.passed is False}
    assert failed == {}
    assert sum(r.tests_passed for r in report.results.values()) >= 60


def test_a_run_commits_once_a_step(script, home, dev_team):
    """A node's messages and writes commit together, and the step's checkpoint with the next node's writes."""
    model = script({"orchestrator": [decide("planner"), decide("coder"), decide("critic")],
                    "planner": [plan("write it")], "coder": [code("x = 42")], "critic": [approve()]})
    run_team(dev_team, "warm up", model=model)  # the store and its tables exist
    saver = checkpointer(home)
    statements: list[str] = []
    saver.log._db.set_trace_callback(statements.append)
    try:
        result = run_team(dev_team, "answer", model=script({
            "orchestrator": [decide("planner"), decide("coder"), decide("critic")],
            "planner": [plan("write it")], "coder": [code("x = 42")], "critic": [approve()]}))
    finally:
        saver.log._db.set_trace_callback(None)
    assert result.status == "done", result.error
    commits = sum(s == "BEGIN IMMEDIATE" for s in statements)
    steps = len(list(saver.list({"configurable": {"thread_id": result.run_id}})))
    writes = sum(s.startswith("INSERT OR IGNORE INTO checkpoint_writes") or
                 s.startswith("INSERT OR REPLACE INTO checkpoint_writes") for s in statements)
    assert writes and commits <= steps + 1 < steps + writes  # one a step, not one for the writes and one more


def test_the_saver_on_postgres_passes_langgraphs_conformance_suite(postgres_server):
    from studio.bus.postgres import PostgresRunLog

    opened: list[PostgresRunLog] = []

    @checkpointer_test(name="LogSaver-postgres")
    async def saver():
        opened.append(PostgresRunLog(_postgres_server.schema_url(postgres_server)))  # each test: an empty schema
        yield LogSaver(opened[-1])

    try:
        report = asyncio.run(validate(saver))
    finally:
        for log in opened:
            log.close()
    failed = {name: r.failures for name, r in report.results.items() if r.passed is False}
    assert failed == {}
    assert {name for name, r in report.results.items() if r.passed} >= {
        "put", "put_writes", "get_tuple", "list", "delete_thread", "copy_thread"}
    assert sum(r.tests_passed for r in report.results.values()) >= 60


def _table_rows(path: Path, table: str) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


def test_one_store_and_the_transcript_as_ids(script, home, dev_team):
    model = script({"orchestrator": [decide("planner"), decide("coder"), decide("critic")],
                    "planner": [plan("write it")], "coder": [code("x = 42")], "critic": [approve()]})
    result = run_team(dev_team, "answer", model=model)
    assert result.status == "done"
    assert not (home / "checkpoints.db").exists()
    assert _table_rows(home / "runs.db", "checkpoints") > 5
    db = sqlite3.connect(home / "runs.db")
    try:
        refs = [r for r, in db.execute("SELECT refs FROM checkpoints WHERE refs IS NOT NULL")]
        longest = max(refs, key=len)
        biggest = db.execute("SELECT MAX(LENGTH(checkpoint)) FROM checkpoints").fetchone()[0]
    finally:
        db.close()
    ids = [m.id for m in result.messages if not m.kind == "reflection"]
    assert all(i in longest for i in ids[:-1])  # the transcript is kept as the logged messages' ids
    assert "write it" not in str(refs) and biggest < 2000  # and not encoded again in each checkpoint
    # and it reads back whole, from the log
    state = checkpointer(home).get_tuple({"configurable": {"thread_id": result.run_id}})
    assert [m.id for m in state.checkpoint["channel_values"]["transcript"]][:3] == ids[:3]


def test_a_waiting_run_from_an_old_checkpoints_db_is_approved(script, home):
    """A run that paused before the one store: its checkpoints are in checkpoints.db, and it still goes on."""
    team = hashed(load_spec(ROOT / "examples" / "teams" / "approval_team.yaml"))
    model = script({"planner": [plan("Write add(a, b) returning the sum")],
                    "coder": [code("def add(a, b):\n    return a + b")], "critic": [approve()]})
    waiting = run_team(team, TASK, model=model)
    assert waiting.status == "waiting"
    # Move its checkpoints to an old-style checkpoints.db (SqliteSaver, messages inline), as a release before did.
    saver = checkpointer(home)
    old = SqliteSaver(sqlite3.connect(home / "checkpoints.db", check_same_thread=False), serde=saver.serde)
    thread = {"configurable": {"thread_id": waiting.run_id}}
    for item in reversed(list(saver.list(thread))):
        conf = item.config["configurable"]
        parent = item.parent_config["configurable"]["checkpoint_id"] if item.parent_config else None
        saved = old.put({"configurable": {**conf, "checkpoint_id": parent}}, item.checkpoint, item.metadata, {})
        for task_id, channel, value in item.pending_writes:
            old.put_writes(saved, [(channel, value)], task_id)
    old.conn.close()
    saver.delete_thread(waiting.run_id)
    release(home)
    assert _table_rows(home / "runs.db", "checkpoints") == 0

    result = resume_run(waiting.run_id, decision=ApprovalDecision.approve())
    assert result.pending is not None and result.pending.point == "before_execution"  # it went on from the plan
    assert _table_rows(home / "runs.db", "checkpoints") > 0  # adopted into runs.db
    for _ in range(2):
        result = resume_run(waiting.run_id, decision=ApprovalDecision.approve())
    assert result.status == "done" and result.final.approved
    ids = [m.id for m in result.messages]
    assert len(ids) == len(set(ids))
