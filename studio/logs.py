"""Which run log a process uses: the SQLite file in ``$HUDDLE_HOME`` or a Redis Streams server.

``$HUDDLE_BUS_URL`` picks the backend for everything in the process (runs, the
CLI's ``huddle runs``, the studio); a team's ``defaults.bus_url`` is used for
its runs when the variable is unset. Both backends have the interface of
:class:`RunStore`, so the bus, the runner and every surface work on either.

Example:
    >>> safe_url("redis://:s3cret@bus.internal:6379/0")
    'redis://:***@bus.internal:6379/0'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from studio.messages import Message
from studio.runlog import RunInfo, RunLog

__all__ = ["BUS_URL_ENV", "BusUnavailable", "GroupStore", "RunStore", "bus_url", "open_run_log", "safe_url"]

BUS_URL_ENV = "HUDDLE_BUS_URL"
"""Environment variable naming the bus: ``redis://host:6379/0``, ``rediss://…`` or ``sqlite://`` (the default)."""
_SCHEMES = ("redis", "rediss", "sqlite")


class BusUnavailable(RuntimeError):
    """The bus a URL names cannot be used (server down, refused login, unknown scheme); says what to do."""


class GroupStore(Protocol):
    """Consumer-group storage of a run log (``studio.runlog_groups``, ``studio.runlog_redis_groups``)."""

    def create(self, run_id: str, group: str) -> None: ...
    def read(self, run_id: str, group: str, consumer: str, *, after: int | None = None, count: int = 100,
             block_ms: int = 0) -> list[tuple[int, str]]: ...
    def claim(self, run_id: str, group: str, consumer: str, *, idle_ms: int, after: int = 0,
              count: int = 100) -> tuple[list[tuple[int, str]], int | None]: ...
    def ack(self, run_id: str, group: str, seqs: Iterable[int]) -> int: ...


class RunStore(Protocol):
    """What the bus, the runner and the surfaces need of a run log (:class:`RunLog`, ``RedisRunLog``)."""

    path: str
    """Where the log lives, for messages to people (a file, or a URL without its password)."""
    groups: GroupStore
    """Its consumer groups (``studio.consumer``)."""

    def create_run(self, run_id: str, *, team: str, task: str, spec: dict, model: str | None = None) -> None: ...
    def set_status(self, run_id: str, status: str, error: str | None = None) -> None: ...
    def append(self, messages: Iterable[Message]) -> list[Message]: ...
    def messages(self, run_id: str, after_seq: int = 0) -> list[Message]: ...
    def messages_with_seq(self, run_id: str, after_seq: int = 0) -> list[tuple[int, str]]: ...
    def call_counts(self, run_id: str) -> dict[str, int]: ...
    def run(self, run_id: str) -> RunInfo | None: ...
    def runs(self, limit: int = 50) -> list[RunInfo]: ...
    def close(self) -> None: ...


def bus_url(spec_url: str | None = None) -> str | None:
    """The bus to use: ``$HUDDLE_BUS_URL`` when set, else ``spec_url`` (a team's ``defaults.bus_url``)."""
    return os.environ.get(BUS_URL_ENV, "").strip() or spec_url or None


def safe_url(url: str) -> str:
    """``url`` with its password (in the address or a ``password=`` parameter) replaced by ``***``, fit to print."""
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"
        parts = parts._replace(netloc=netloc)
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(query=query))


def open_run_log(home: str | Path, url: str | None = None) -> RunStore:
    """Open the run log ``url`` names: ``redis://`` or ``rediss://`` a Redis server, else SQLite in ``home``.

    Args:
        home: the state folder; the SQLite log is ``home/runs.db``.
        url: ``None`` or ``sqlite://`` for that file, ``sqlite:///PATH`` for another one,
            ``redis://[:PASSWORD@]HOST[:PORT][/DB][?namespace=NAME]`` for Redis Streams.

    Raises:
        BusUnavailable: an unknown scheme, or a Redis server that cannot be reached or refuses the login.
    """
    scheme = urlsplit(url).scheme if url else "sqlite"
    if scheme not in _SCHEMES:
        raise BusUnavailable(f"bus URL {safe_url(url)!r}: expected redis://HOST:PORT, rediss://… or sqlite:// "
                             f"(check ${BUS_URL_ENV} or the team's defaults.bus_url)")
    if scheme == "sqlite":
        path = urlsplit(url).path if url else ""
        return RunLog(path or Path(home) / "runs.db")
    from studio.runlog_redis import RedisRunLog

    return RedisRunLog(url)
