"""Consumer groups on the SQLite run log, with the semantics of Redis Streams' groups.

Per run and group the log keeps the last message handed out (``groups``) and
the messages delivered but not yet acknowledged, with their consumer and when
they were delivered (``pending``). Each read is one write transaction, so two
consumers of a group, in this process or another, never get the same new
message. ``studio.bus.consumer.Consumer`` is the API; this is its storage.

Example:
    >>> from studio.messages import Task
    >>> from studio.bus.sqlite import RunLog
    >>> log = RunLog(":memory:")
    >>> _ = log.append([Task(run_id="r1", sender="user", content="hi")])
    >>> [seq for seq, _ in log.groups.read("r1", "printer", "p1")]
    [1]
    >>> log.groups.read("r1", "printer", "p1")  # nothing new: message 1 is pending until acknowledged
    []
    >>> log.groups.ack("r1", "printer", [1])
    1
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["POLL_S", "SCHEMA", "SqliteGroups"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    run_id TEXT NOT NULL,
    grp TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (run_id, grp)
);
CREATE TABLE IF NOT EXISTS pending (
    run_id TEXT NOT NULL,
    grp TEXT NOT NULL,
    seq INTEGER NOT NULL,
    consumer TEXT NOT NULL,
    delivered_at REAL NOT NULL,
    PRIMARY KEY (run_id, grp, seq)
);
"""
POLL_S = 0.05
"""How often a blocked read looks for messages another process appended (an append in this process wakes it)."""
Rows = list[tuple[int, str]]


class _Signal:
    """Wakes the reads blocked on one database file when this process appends to it."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.generation = 0

    def notify(self) -> None:
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self.cond:
            if self.generation == seen:
                self.cond.wait(timeout)


_SIGNALS: dict[str, _Signal] = {}
_SIGNALS_LOCK = threading.Lock()


def _signal(path: str) -> _Signal:
    if path == ":memory:":  # a database of its own
        return _Signal()
    with _SIGNALS_LOCK:
        return _SIGNALS.setdefault(str(Path(path).resolve()), _Signal())


class SqliteGroups:
    """The consumer groups of one SQLite run log (its ``groups`` attribute).

    Args:
        db: the log's connection (autocommit mode).
        lock: the lock that guards it.
        path: the database file, so that appends wake reads of every connection to it in this process.
    """

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, path: str):
        self._db, self._lock = db, lock
        self._signal = _signal(path)
        db.executescript(SCHEMA)

    def appended(self) -> None:
        """Called by the log after it stored new messages."""
        self._signal.notify()

    def create(self, run_id: str, group: str) -> None:
        """Start ``group`` on ``run_id`` at its first message (nothing if the group exists)."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO groups VALUES (?, ?, 0)", (run_id, group))

    def read(self, run_id: str, group: str, consumer: str, *, after: int | None = None, count: int = 100,
             block_ms: int = 0) -> Rows:
        """``(seq, json)`` rows for ``consumer``: new ones (``after=None``), else its pending ones after ``after``.

        New rows stay pending for ``consumer`` until acknowledged; when there are none, wait up to ``block_ms``.
        """
        if after is not None:
            return self._transaction(lambda: self._redeliver(run_id, group, consumer, self._db.execute(
                "SELECT p.seq, m.body FROM pending p JOIN messages m ON m.seq = p.seq WHERE p.run_id = ?"
                " AND p.grp = ? AND p.consumer = ? AND p.seq > ? ORDER BY p.seq LIMIT ?",
                (run_id, group, consumer, after, count)).fetchall()))
        deadline = time.monotonic() + block_ms / 1000
        while True:
            seen = self._signal.generation
            rows = self._transaction(lambda: self._new(run_id, group, consumer, count))
            left = deadline - time.monotonic()
            if rows or left <= 0:
                return rows
            self._signal.wait(seen, min(left, POLL_S))

    def claim(self, run_id: str, group: str, consumer: str, *, idle_ms: int, after: int = 0,
              count: int = 100) -> tuple[Rows, int | None]:
        """Hand ``consumer`` the pending rows after ``after`` (any consumer's) delivered ``idle_ms`` ago or more.

        Returns the rows and the ``after`` to go on from, ``None`` once every pending row was looked at.
        """
        rows = self._transaction(lambda: self._redeliver(run_id, group, consumer, self._db.execute(
            "SELECT p.seq, m.body FROM pending p JOIN messages m ON m.seq = p.seq WHERE p.run_id = ? AND p.grp = ?"
            " AND p.seq > ? AND p.delivered_at <= ? ORDER BY p.seq LIMIT ?",
            (run_id, group, after, time.time() - idle_ms / 1000, count)).fetchall()))
        return rows, (rows[-1][0] if len(rows) == count else None)

    def ack(self, run_id: str, group: str, seqs: Iterable[int]) -> int:
        """Mark rows processed, so that no consumer of ``group`` gets them again; returns how many were pending."""
        with self._lock:
            return self._db.executemany("DELETE FROM pending WHERE run_id = ? AND grp = ? AND seq = ?",
                                        [(run_id, group, seq) for seq in seqs]).rowcount

    def _transaction(self, read: Callable[[], Rows]) -> Rows:
        """Run ``read`` in one write transaction: two processes never hand out the same row."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = read()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return rows

    def _new(self, run_id: str, group: str, consumer: str, count: int) -> Rows:
        self._db.execute("INSERT OR IGNORE INTO groups VALUES (?, ?, 0)", (run_id, group))
        (last,) = self._db.execute("SELECT last_seq FROM groups WHERE run_id = ? AND grp = ?",
                                   (run_id, group)).fetchone()
        rows = self._db.execute("SELECT seq, body FROM messages WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                                (run_id, last, count)).fetchall()
        if rows:
            now = time.time()
            self._db.executemany("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?, ?)",
                                 [(run_id, group, seq, consumer, now) for seq, _ in rows])
            self._db.execute("UPDATE groups SET last_seq = ? WHERE run_id = ? AND grp = ?",
                             (rows[-1][0], run_id, group))
        return rows

    def _redeliver(self, run_id: str, group: str, consumer: str, rows: Rows) -> Rows:
        """Pending rows handed out again: now ``consumer``'s, idle from now on (as Redis counts it)."""
        now = time.time()
        self._db.executemany(
            "UPDATE pending SET consumer = ?, delivered_at = ? WHERE run_id = ? AND grp = ? AND seq = ?",
            [(consumer, now, run_id, group, seq) for seq, _ in rows])
        return rows
