"""What a run log is (:class:`RunStore`) and which one a process uses (``$HUDDLE_BUS_URL``).

``$HUDDLE_BUS_URL`` picks the backend for everything in the process (runs, the
CLI's ``huddle runs``, the studio); a team's ``defaults.bus_url`` is used for
its runs when the variable is unset. ``$HUDDLE_STORE_URL`` (or a team's
``defaults.store_url``) names a Postgres database for the run log and the
checkpoints instead of SQLite in ``$HUDDLE_HOME``. The backends
(``studio.bus.sqlite``, ``studio.bus.postgres``, ``studio.bus.redis``) have the
interface of :class:`RunStore`, so the bus, the runner and every surface work on
any of them; ``studio.bus.factory`` opens one.

Example:
    >>> safe_url("redis://:s3cret@bus.internal:6379/0")
    'redis://:***@bus.internal:6379/0'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from studio.bus.sqlite import RunInfo
from studio.messages import Message

__all__ = ["BUS_URL_ENV", "STORE_URL_ENV", "BusUnavailable", "GroupStore", "RunStore", "bus_url", "is_postgres",
           "safe_url", "store_url"]

BUS_URL_ENV = "HUDDLE_BUS_URL"
"""Environment variable naming the bus: ``redis://host:6379/0``, ``rediss://…`` or ``sqlite://`` (the default)."""


STORE_URL_ENV = "HUDDLE_STORE_URL"
"""Environment variable naming where runs and checkpoints live: ``postgresql://USER@HOST:PORT/DB`` (else SQLite)."""
_PG_SCHEMES = ("postgresql", "postgres")


class BusUnavailable(RuntimeError):
    """The bus a URL names cannot be used (server down, refused login, unknown scheme); says what to do."""


class GroupStore(Protocol):
    """Consumer-group storage of a run log (``studio.bus.groups``, ``studio.bus.redis_groups``)."""

    def create(self, run_id: str, group: str) -> None:
        """Start ``group`` on ``run_id`` at its first message (nothing if the group exists)."""
        ...

    def read(self, run_id: str, group: str, consumer: str, *, after: int | None = None, count: int = 100,
             block_ms: int = 0) -> list[tuple[int, str]]:
        """``(seq, json)`` rows for ``consumer``: new ones (``after=None``), else its pending ones after ``after``.

        New rows stay pending for ``consumer`` until acknowledged; when there are none, wait up to ``block_ms``.
        """
        ...

    def claim(self, run_id: str, group: str, consumer: str, *, idle_ms: int, after: int = 0,
              count: int = 100) -> tuple[list[tuple[int, str]], int | None]:
        """Hand ``consumer`` the pending rows after ``after`` (any consumer's) delivered ``idle_ms`` ago or more.

        Returns:
            The rows, and the ``after`` to go on from (``None`` once every pending row was looked at).
        """
        ...

    def ack(self, run_id: str, group: str, seqs: Iterable[int]) -> int:
        """Mark rows processed, so that no consumer of ``group`` gets them again; returns how many were pending."""
        ...


class RunStore(Protocol):
    """What the bus, the runner and the surfaces need of a run log (``RunLog``, ``PostgresRunLog``, ``RedisRunLog``)."""

    path: str
    """Where the log lives, for messages to people (a file, or a URL without its password)."""

    @property
    def groups(self) -> GroupStore:
        """Its consumer groups (``studio.bus.consumer``)."""
        ...

    def create_run(self, run_id: str, *, team: str, task: str, spec: dict, model: str | None = None) -> None:
        """Add a run to the index with status ``running`` (its task and spec redacted)."""
        ...

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        """Mark a run ``running``, ``done`` or ``failed`` (with its error, redacted)."""
        ...

    def set_spec(self, run_id: str, spec: dict) -> None:
        """Replace a run's spec (redacted): a resume with raised budgets keeps them for the next one."""
        ...

    def set_parent(self, run_id: str, parent_run: str, fork_at: str) -> None:
        """Record that ``run_id`` was forked from ``parent_run`` at its message ``fork_at``."""
        ...

    def record_calls(self, run_id: str, records: Iterable[dict]) -> None:
        """Append what a run's model calls, tools, sandbox runs and memory searches gave (its cassette), redacted."""
        ...

    def calls(self, run_id: str) -> list[dict]:
        """A run's recorded calls in the order they were made."""
        ...

    def append(self, messages: Iterable[Message]) -> list[Message]:
        """Store messages together; return those not stored before (a known id is ignored)."""
        ...

    def messages(self, run_id: str, after_seq: int = 0) -> list[Message]:
        """Messages of a run in publication order."""
        ...

    def messages_with_seq(self, run_id: str, after_seq: int = 0) -> list[tuple[int, str]]:
        """``(seq, json)`` rows of a run after ``after_seq``, for tailing a live run."""
        ...

    def call_counts(self, run_id: str) -> dict[str, int]:
        """Model calls behind the published messages of a run, per sender role."""
        ...

    def get_run(self, run_id: str) -> RunInfo | None:
        """The run with this id, or with this unique id prefix; ``None`` if none or ambiguous."""
        ...

    def runs(self, limit: int = 50) -> list[RunInfo]:
        """Most recent runs first, at most ``limit``."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def bus_url(spec_url: str | None = None) -> str | None:
    """The bus to use: ``$HUDDLE_BUS_URL`` when set, else ``spec_url`` (a team's ``defaults.bus_url``)."""
    return os.environ.get(BUS_URL_ENV, "").strip() or spec_url or None


def store_url(spec_url: str | None = None) -> str | None:
    """Where runs live: ``$HUDDLE_STORE_URL`` when set, else ``spec_url`` (a team's ``defaults.store_url``).

    ``None`` means the SQLite run log in ``$HUDDLE_HOME``.
    """
    return os.environ.get(STORE_URL_ENV, "").strip() or spec_url or None


def is_postgres(url: str | None) -> bool:
    """Whether ``url`` names a Postgres store (``postgresql://`` or ``postgres://``)."""
    return bool(url) and urlsplit(url or "").scheme in _PG_SCHEMES


def safe_url(url: str) -> str:
    """``url`` with its password (in the address or a ``password=`` parameter) replaced by ``***``, fit to print."""
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"
        parts = parts._replace(netloc=netloc)
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(query=query))
