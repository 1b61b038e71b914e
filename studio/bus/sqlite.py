"""The run log: every published message and every run, in one SQLite file.

WAL mode with ``synchronous=NORMAL``: a committed message survives the process
being killed (the OS still holds it), and readers never block the writer.
Its ``groups`` (``studio.bus.groups``) keep the state of consumer groups
(``studio.bus.consumer``) in two more tables. ``studio.bus.redis`` is the same
interface on Redis Streams.

Example:
    >>> log = RunLog(":memory:")
    >>> log.create_run("r1", team="duo", task="hi", spec={})
    >>> log.get_run("r1").status
    'running'
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from studio.bus.groups import SqliteGroups
from studio.messages import Message, message_from_json, message_to_json
from studio.redact import redact, redact_data

__all__ = ["INSERT_CALL", "RunInfo", "RunLog", "call_rows", "calls_per_sender", "stored"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    model TEXT,
    spec TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    topic TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_run ON messages (run_id, seq);
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id, seq);
"""
_FORK_COLUMNS = ("parent_run", "fork_at")
"""Columns added to ``runs`` after its first release (a fork's parent run and message): added when missing."""


_INSERT = (
    "INSERT OR IGNORE INTO messages (id, run_id, kind, sender, topic, prompt_tokens, completion_tokens, cost_usd,"
    " body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class RunInfo:
    """One row of the run index, with totals over its messages."""

    run_id: str
    team: str
    task: str
    status: str
    model: str | None
    spec: dict[str, Any]
    error: str | None
    created_at: str
    updated_at: str
    messages: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    parent_run: str | None = None
    """The run this one was forked from (``huddle runs fork``), if any."""
    fork_at: str | None = None
    """The parent's message this run was forked at: the messages up to it were replayed, the rest are live."""

    def summary(self) -> dict[str, Any]:
        """The row as a JSON-ready dict, without the spec."""
        out = dict(self.__dict__)
        out.pop("spec")
        return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class RunLog:
    """Append-only store of runs and their messages."""

    def __init__(self, path: str | Path):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA wal_autocheckpoint=8000")  # fewer checkpoint fsyncs under a burst of messages
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        for column in _FORK_COLUMNS:
            if column not in have:
                self._db.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")
        self.groups = SqliteGroups(self._db, self._lock, self.path)
        """Consumer groups over this log (``studio.bus.consumer``)."""

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def create_run(self, run_id: str, *, team: str, task: str, spec: dict[str, Any], model: str | None = None) -> None:
        """Add a run to the index with status ``running`` (its task and spec redacted)."""
        now = _now()
        with self._lock:
            self._db.execute(
                "INSERT INTO runs (run_id, team, task, status, model, spec, error, created_at, updated_at)"
                " VALUES (?, ?, ?, 'running', ?, ?, NULL, ?, ?)",
                (run_id, team, redact(task), model, json.dumps(redact_data(spec)), now, now),
            )

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        """Mark a run ``running``, ``done`` or ``failed`` (with its error, redacted)."""
        with self._lock:
            self._db.execute(
                "UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE run_id = ?",
                (status, redact(error) if error else error, _now(), run_id),
            )

    def set_spec(self, run_id: str, spec: dict[str, Any]) -> None:
        """Replace a run's spec (redacted): a resume with raised budgets keeps them for the next one."""
        with self._lock:
            self._db.execute("UPDATE runs SET spec = ?, updated_at = ? WHERE run_id = ?",
                             (json.dumps(redact_data(spec)), _now(), run_id))

    def set_parent(self, run_id: str, parent_run: str, fork_at: str) -> None:
        """Record that ``run_id`` was forked from ``parent_run`` at its message ``fork_at``."""
        with self._lock:
            self._db.execute("UPDATE runs SET parent_run = ?, fork_at = ? WHERE run_id = ?",
                             (parent_run, fork_at, run_id))

    def record_calls(self, run_id: str, records: Iterable[dict[str, Any]]) -> None:
        """Append what a run's model calls, tools, sandbox runs and memory searches gave (its cassette), redacted."""
        rows = call_rows(run_id, records)
        with self._lock:
            self._db.executemany(INSERT_CALL, rows)

    def calls(self, run_id: str) -> list[dict[str, Any]]:
        """A run's recorded calls in the order they were made."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM calls WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
        return [json.loads(body) for body, in rows]

    def append(self, messages: Iterable[Message]) -> list[Message]:
        """Store messages in one transaction; return those not stored before.

        A message whose id is already in the log is ignored, so publishing the
        same message twice (e.g. after a resume) never duplicates it. Messages are
        stored, and returned, redacted (``studio.redact``): no secret reaches the log.
        """
        messages = list(messages)
        if len(messages) == 1:  # one statement is its own transaction: no BEGIN/COMMIT round trips
            with self._lock:
                fresh = self.insert(self._db, messages)
        else:
            with self.transaction() as db:
                fresh = self.insert(db, messages)
        if fresh:
            self.groups.appended()
        return fresh

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """The connection, held by this thread, in one transaction: committed at the end, rolled back on an error.

        ``studio.bus.checkpoints`` writes a step's messages and its checkpoint writes in one of these. Call
        ``groups.appended()`` after it when messages were inserted. A ``write`` transaction takes the write lock
        at once (waiting for another process's), so reading before writing in it never fails with a busy error.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._roll_back()
                raise

    def _roll_back(self) -> None:
        """End the failed transaction :meth:`transaction` holds."""
        self._db.execute("ROLLBACK")

    @classmethod
    def insert(cls, db: sqlite3.Connection, messages: Iterable[Message]) -> list[Message]:
        """Insert messages (redacted) on ``db``, the caller holding it; return those not stored before, redacted."""
        sent = cls.send(db, messages)
        if sent and hasattr(db, "sync"):  # Postgres, pipelined: the inserts' answers come back here
            db.sync()
        return stored(sent)

    @staticmethod
    def send(db: sqlite3.Connection, messages: Iterable[Message]) -> list[tuple[Message, Any]]:
        """Insert messages (redacted) on ``db``: ``(message, cursor)`` each, for :func:`stored`.

        Which were new is known once the answers are in: at once on SQLite, on Postgres after the pipeline's sync
        or its commit.
        """
        sent = []
        for message in messages:
            m = redact_data(message)
            row = (m.id, m.run_id, m.kind, m.sender, m.topic, m.usage.prompt_tokens, m.usage.completion_tokens,
                   m.usage.cost_usd, message_to_json(m))
            sent.append((m, db.execute(_INSERT, row)))
        return sent

    def messages(self, run_id: str, after_seq: int = 0) -> list[Message]:
        """Messages of a run in publication order."""
        return [message_from_json(body) for _, body in self.messages_with_seq(run_id, after_seq)]

    def messages_with_seq(self, run_id: str, after_seq: int = 0) -> list[tuple[int, str]]:
        """``(seq, json)`` rows of a run after ``after_seq``, for tailing a live run."""
        with self._lock:
            return self._db.execute(
                "SELECT seq, body FROM messages WHERE run_id = ? AND seq > ? ORDER BY seq",
                (run_id, after_seq),
            ).fetchall()

    def call_counts(self, run_id: str) -> dict[str, int]:
        """Model calls behind the published messages of a run, per sender role."""
        return calls_per_sender(self.messages(run_id))

    _RUN_QUERY = """
        SELECT r.run_id, r.team, r.task, r.status, r.model, r.spec, r.error, r.created_at, r.updated_at,
               COUNT(m.seq), COALESCE(SUM(m.prompt_tokens), 0), COALESCE(SUM(m.completion_tokens), 0),
               COALESCE(SUM(m.cost_usd), 0), r.parent_run, r.fork_at
        FROM runs r LEFT JOIN messages m ON m.run_id = r.run_id
    """

    def get_run(self, run_id: str) -> RunInfo | None:
        """The run with this id, or with this unique id prefix; ``None`` if none or ambiguous."""
        if not run_id:
            return None
        with self._lock:
            rows = self._db.execute(self._RUN_QUERY + " WHERE r.run_id = ? GROUP BY r.run_id", (run_id,)).fetchall()
            if not rows:
                rows = self._db.execute(
                    self._RUN_QUERY + " WHERE substr(r.run_id, 1, ?) = ? GROUP BY r.run_id LIMIT 2",
                    (len(run_id), run_id),
                ).fetchall()
        return _info(rows[0]) if len(rows) == 1 else None

    def runs(self, limit: int = 50) -> list[RunInfo]:
        """Most recent runs first."""
        with self._lock:
            rows = self._db.execute(
                self._RUN_QUERY + " GROUP BY r.run_id ORDER BY r.created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_info(row) for row in rows]


INSERT_CALL = "INSERT INTO calls (run_id, body) VALUES (?, ?)"


def call_rows(run_id: str, records: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """The ``calls`` rows of a run's cassette records, redacted."""
    return [(run_id, json.dumps(redact_data(r), ensure_ascii=False)) for r in records]


def stored(sent: list[tuple[Message, Any]]) -> list[Message]:
    """Of the messages :meth:`RunLog.send` sent, those the log did not have before."""
    return [m for m, cursor in sent if cursor.rowcount]


def calls_per_sender(messages: Iterable[Message]) -> dict[str, int]:
    """Model calls behind ``messages`` (failed attempts included), per ``sender`` or ``sender.branch``.

    Keyed as the scripted model's queues are, so a resumed run skips exactly the
    replies its messages used; senders without calls (``user``) count 0.
    """
    counts: dict[str, int] = {}
    for message in messages:
        key = f"{message.sender}.{message.branch}" if message.branch else message.sender
        counts[key] = counts.get(key, 0) + message.usage.calls
    return counts


def _info(row: tuple[Any, ...]) -> RunInfo:
    spec = json.loads(row[5])
    # the SELECT lists RunInfo's fields in order; mypy cannot count a tuple's slices
    return RunInfo(*row[:5], spec, *row[6:])  # type: ignore[call-arg]
