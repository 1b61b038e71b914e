"""The run log in Postgres: where runs live when several machines share them (``$HUDDLE_STORE_URL``).

:class:`PostgresRunLog` is :class:`~studio.bus.sqlite.RunLog` on a psycopg connection: the same tables, the same
queries (``studio.bus._pg_sql`` speaks them to Postgres), the same consumer groups, and the same checkpointer
(``studio.bus.checkpoints.LogSaver``), so a step's messages and its checkpoint commit in one Postgres
transaction. Any machine that can reach the server can then list, resume, approve, replay or fork a run.

The password never comes from a team file: put it in ``$PGPASSWORD``, ``~/.pgpass`` or the URL in
``$HUDDLE_STORE_URL``; it is never printed (:func:`~studio.bus.store.safe_url`).

Example (with a server on ``localhost:5432``)::

    log = PostgresRunLog("postgresql://huddle@localhost:5432/huddle")
    log.create_run("r1", team="duo", task="hi", spec={})
    log.get_run("r1").status  # 'running'
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite.utils import search_where

from studio.bus._pg_sql import PgConnection
from studio.bus.groups import SqliteGroups
from studio.bus.sqlite import _SCHEMA, INSERT_CALL, RunLog, call_rows
from studio.bus.store import STORE_URL_ENV, BusUnavailable, safe_url

__all__ = ["PostgresRunLog", "server_name"]

CONNECT_TIMEOUT_S = 10


def server_name(url: str) -> str:
    """``host:port/db`` of a Postgres URL, for messages (never its user's password)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}/{parts.path.lstrip('/') or parts.username or 'postgres'}"


class PostgresRunLog(RunLog):
    """Runs, messages, consumer groups and checkpoints in one Postgres database.

    Args:
        url: ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]`` (libpq's URI).

    Raises:
        BusUnavailable: the server cannot be reached, refuses the login or the database; the message names the
            server (``host:port/db``), never the password.
    """

    def __init__(self, url: str):  # noqa: D107 - documented on the class
        self.url = url
        self.path = safe_url(url)
        self._lock = threading.Lock()
        self._calls: list[tuple[str, str]] = []  # cassette records waiting for the next write (record_calls)
        self._db = PgConnection(self._open, self._problem)  # type: ignore[assignment]  # sqlite3's, on psycopg
        with self.transaction():  # two processes creating the tables at once would collide: one at a time
            self._db.executescript(_SCHEMA)
            for column in ("parent_run", "fork_at"):
                self._db.execute(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {column} TEXT")
            self.groups = SqliteGroups(self._db, self._lock, self.path)

    def _open(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise BusUnavailable(self._problem(exc)) from None

    def _problem(self, exc: BaseException) -> str:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        password = urlsplit(self.url).password
        if password:
            reason = reason.replace(password, "***")
        return (f"cannot use the Postgres store at {server_name(self.url)} ({reason}); check that the server runs "
                f"and ${STORE_URL_ENV}, and give the password in $PGPASSWORD or ~/.pgpass, not a team file")

    def append(self, messages: Any) -> list:
        """Store messages in one write transaction (so ``seq`` follows commits); return those not stored before."""
        with self.transaction() as db:
            fresh = self.insert(db, list(messages))
        if fresh:
            self.groups.appended()
        return fresh

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Any]:
        """The connection, held by this thread: a write in one transaction (see ``RunLog.transaction``).

        A read runs without one: under Postgres's ``READ COMMITTED`` each statement sees the latest commits
        either way, and ``BEGIN`` and ``COMMIT`` would be two round trips for nothing.
        """
        if not write:
            with self._lock:
                yield self._db
            return
        with self._lock:
            calls, self._calls = self._calls, []
            try:
                with self._db.pipeline():  # type: ignore[attr-defined]  # two round trips, not one a statement
                    self._db.execute("BEGIN IMMEDIATE")
                    if calls:
                        self._db.executemany(INSERT_CALL, calls)
                    yield self._db
                    self._db.execute("COMMIT")
            except BaseException:
                self._calls[:0] = calls  # they wait for the next write
                self._roll_back()
                raise

    def record_calls(self, run_id: str, records: Iterable[dict[str, Any]]) -> None:
        """Keep a run's cassette records (redacted) for the next write: one round trip less a call.

        That write commits the step that made the calls (or the run's status): a run killed before it has
        neither the step's messages nor their records.
        """
        rows = call_rows(run_id, records)
        with self._lock:
            self._calls += rows

    def calls(self, run_id: str) -> list[dict[str, Any]]:
        """A run's recorded calls in the order they were made (those waiting saved first)."""
        self._save_calls()
        return super().calls(run_id)

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        """See ``RunLog.set_status``; the cassette's records that wait are saved first."""
        self._save_calls()
        super().set_status(run_id, status, error)

    def close(self) -> None:
        """Save the cassette's records that wait; close the connection."""
        self._save_calls()
        super().close()

    def _save_calls(self) -> None:
        if self._calls:
            with self.transaction():
                pass

    def _roll_back(self) -> None:
        """End the failed transaction, unless the server already dropped the connection (and so ended it)."""
        if not self._db.conn.closed:  # type: ignore[attr-defined]
            self._db.execute("ROLLBACK")

    @staticmethod
    def search_where(config: RunnableConfig | None, filter: dict[str, Any] | None,
                     before: RunnableConfig | None = None) -> tuple[str, list[Any]]:
        """``WHERE`` clause over checkpoints (LangGraph's, with the metadata filter as JSON containment)."""
        where, params = search_where(config, None, before)
        if filter:
            clause = "convert_from(metadata, 'UTF8')::jsonb @> ?::jsonb"
            where = f"{where} AND {clause}" if where else f"WHERE {clause}"
            params = [*params, json.dumps(filter)]
        return where, list(params)

