"""SQLite's SQL, as the run log and its checkpoints write it, spoken to Postgres (``studio.bus.postgres``).

The run log (``studio.bus.sqlite``), its consumer groups and the checkpointer (``studio.bus.checkpoints``) are
written once, in SQLite's dialect; :class:`PgConnection` is the small piece that lets the same code run on a
psycopg connection: ``?`` becomes ``%s``, ``INSERT OR IGNORE`` and ``INSERT OR REPLACE`` become
``ON CONFLICT``, SQLite's column types Postgres's, and ``BEGIN IMMEDIATE`` (SQLite's one writer at a time) a
transaction that takes one advisory lock, so writers queue as they do on SQLite and a row's ``seq`` follows the
order of commits (a reader tailing ``seq > n`` misses nothing). Each statement is translated once and remembered,
so the SQLite path pays nothing and the Postgres path little.

Example:
    >>> pg_sql("INSERT OR IGNORE INTO groups VALUES (?, ?, 0)")
    'INSERT INTO groups VALUES (%s, %s, 0) ON CONFLICT DO NOTHING'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg

from studio.bus.store import BusUnavailable

__all__ = ["WRITE_LOCK", "PgConnection", "pg_sql"]

WRITE_LOCK = 0x48554444  # "HUDD": the advisory lock a write transaction holds, as SQLite's one writer
_KEYS = {
    "checkpoints": ("thread_id", "checkpoint_ns", "checkpoint_id"),
    "checkpoint_writes": ("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"),
    "pending": ("run_id", "grp", "seq"),
    "groups": ("run_id", "grp"),
}
"""Each table that is written with ``INSERT OR REPLACE``: its primary key."""
_COLUMNS = {"pending": ("run_id", "grp", "seq", "consumer", "delivered_at")}
"""Tables replaced without a column list: their columns, in order."""
_INSERT_OR = re.compile(r"^\s*INSERT OR (IGNORE|REPLACE) INTO (\w+)\s*(\(([^)]*)\))?", re.S)
_DDL = ((re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGSERIAL PRIMARY KEY"), (re.compile(r"\bBLOB\b"), "BYTEA"),
        (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"))
_CACHE: dict[str, str] = {}


def pg_sql(sql: str) -> str:
    """``sql`` (SQLite's dialect, as this package writes it) in Postgres's; remembered per statement."""
    done = _CACHE.get(sql)
    if done is None:
        done = _CACHE[sql] = _translate(sql)
    return done


def _translate(sql: str) -> str:
    text = sql.strip()
    if text == "BEGIN IMMEDIATE":
        return f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
    if text.upper().startswith("CREATE "):
        for pattern, replacement in _DDL:
            text = pattern.sub(replacement, text)
    text = text.replace("%", "%%").replace("?", "%s")
    match = _INSERT_OR.match(text)
    if match:
        verb, table, columns = match.group(1), match.group(2), match.group(4)
        text = text.replace(f"INSERT OR {verb} INTO", "INSERT INTO", 1)
        if verb == "IGNORE":
            text += " ON CONFLICT DO NOTHING"
        else:
            names = [c.strip() for c in columns.split(",")] if columns else list(_COLUMNS[table])
            keys = _KEYS[table]
            rest = [c for c in names if c not in keys]
            text += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
    return text


class PgConnection:
    """A psycopg connection (autocommit) with the part of ``sqlite3.Connection``'s interface the run log uses.

    A connection the server dropped (a restart, a failover) is made again on the next statement that is not in
    a transaction; a statement that fails for want of the server raises :class:`BusUnavailable` with
    ``problem``'s words (the server's name, never the password).

    Args:
        connect: opens a ``psycopg.Connection`` in autocommit mode.
        problem: what to tell the user about a connection error.
    """

    def __init__(self, connect: Callable[[], Any], problem: Callable[[BaseException], str]):
        self._connect, self._problem = connect, problem
        self.conn = connect()
        self._in_transaction = False
        self._pipe: Any = None  # the pipeline the statements go through (see pipeline), if any

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; the cursor (``fetchone``, ``fetchall``, ``rowcount``, iteration).

        In :meth:`pipeline` the statement is sent and not waited for: ``rowcount`` is known after :meth:`sync`
        (a ``fetch`` syncs by itself).
        """
        statement = pg_sql(sql)
        if ";" in statement and self._pipe is not None:  # one statement at a time in a pipeline
            return [self._run(part, partial(_send, part)) for part in statement.split(";")][-1]
        return self._run(statement, lambda conn: conn.execute(statement.encode()) if ";" in statement
                         else conn.execute(statement, params))  # BEGIN and the write lock: one round trip

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """Statements sent without waiting for each answer, until :meth:`sync` or the end of the block.

        A write transaction is then two round trips to the server instead of one a statement. A statement's
        error is raised at the sync that brings its answer, as the statement itself would raise it.
        """
        with self._errors():
            if self.conn.closed and not self._in_transaction:
                self.conn = self._connect()
            with self.conn.pipeline() as pipe:
                self._pipe = pipe
                try:
                    yield
                finally:
                    self._pipe = None

    def sync(self) -> None:
        """Wait for the answers of the statements sent so far (in a :meth:`pipeline`; else nothing to wait for)."""
        if self._pipe is not None:
            with self._errors():
                self._pipe.sync()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        """Run one statement per row; the cursor, whose ``rowcount`` sums the rows changed."""
        def many(conn: Any) -> Any:
            cursor = conn.cursor()
            cursor.executemany(pg_sql(sql), list(rows))
            return cursor

        return self._run(sql, many)

    def executescript(self, script: str) -> None:
        """Run each statement of ``script`` (no parameters)."""
        for statement in script.split(";"):
            if statement.strip():
                self.execute(statement)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """A number too big to store as sqlite3 says it; a lost server as :class:`BusUnavailable`."""
        try:
            yield
        except psycopg.errors.NumericValueOutOfRange as exc:
            raise OverflowError(str(exc)) from None
        except psycopg.OperationalError as exc:
            if not self.conn.closed:
                raise
            self._in_transaction = False  # the server ended it
            raise BusUnavailable(self._problem(exc)) from None

    def _run(self, statement: str, call: Callable[[Any], Any]) -> Any:
        head = statement.lstrip()[:8].upper()
        with self._errors():
            if self.conn.closed and not self._in_transaction:
                self.conn = self._connect()
            result = call(self.conn)
        if head.startswith("BEGIN"):
            self._in_transaction = True
        elif head.startswith(("COMMIT", "ROLLBACK")):
            self._in_transaction = False
        return result

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _send(statement: str, conn: Any) -> Any:
    return conn.execute(statement)
