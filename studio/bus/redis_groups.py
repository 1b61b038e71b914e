"""Consumer groups on the Redis run log: each run's stream's own groups.

XGROUP CREATE (at ``0``, so a new group replays the run), XREADGROUP ``>`` for
new entries and ``SEQ-0`` for a consumer's own pending ones, XAUTOCLAIM to take
over what a dead consumer left pending, XACK. ``studio.bus.consumer.Consumer`` is
the API; this is its storage, the twin of ``studio.bus.groups``.

Example:
    >>> RunKeys("huddle").run("r1", "messages")
    'huddle:run:{r1}:messages'
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import redis

from studio.bus.store import BusUnavailable

__all__ = ["RedisGroups", "RunKeys", "guarded"]

Rows = list[tuple[int, str]]


class RunKeys:
    """The key names of one namespace (see ``studio.bus.redis``)."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.runs = f"{namespace}:runs"
        self.names = f"{namespace}:run-ids"

    def run(self, run_id: str, part: str) -> str:
        """The key of one run's ``info``, ``totals``, ``ids``, ``messages`` or ``calls``."""
        return f"{self.namespace}:run:{{{run_id}}}:{part}"


def guarded(method):
    """Turn a lost connection into :class:`BusUnavailable`, as ``self._problem`` words it (never a password)."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BusUnavailable(self._problem(exc)) from None

    return call


def _rows(entries) -> Rows:
    # A pending entry whose stream entry is gone comes back without fields; the log never deletes any.
    return [(int(entry_id.split("-")[0]), fields["body"]) for entry_id, fields in entries if fields]


class RedisGroups:
    """The consumer groups of one Redis run log (its ``groups`` attribute).

    Args:
        client: the log's client (``decode_responses=True``).
        keys: the log's key names.
        problem: words a connection error for people.
    """

    def __init__(self, client: redis.Redis, keys: RunKeys, problem: Callable[[Exception], str]):
        self._redis, self._keys, self._problem = client, keys, problem

    @guarded
    def create(self, run_id: str, group: str) -> None:
        """Start ``group`` on ``run_id`` at its first message (nothing if the group exists)."""
        try:
            self._redis.xgroup_create(self._keys.run(run_id, "messages"), group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @guarded
    def read(self, run_id: str, group: str, consumer: str, *, after: int | None = None, count: int = 100,
             block_ms: int = 0) -> Rows:
        """``(seq, json)`` rows for ``consumer``: new ones (``after=None``), else its pending ones after ``after``.

        New rows stay pending for ``consumer`` until acknowledged; when there are none, wait up to ``block_ms``.
        """
        stream = self._keys.run(run_id, "messages")
        start = ">" if after is None else f"{after}-0"
        block = block_ms if after is None and block_ms > 0 else None
        reply = self._redis.xreadgroup(group, consumer, {stream: start}, count=count, block=block)
        # redis-py types this reply as RESP3's dict; over RESP2 it is a list of [stream, entries]
        return _rows(reply[0][1]) if reply else []  # type: ignore[index]

    @guarded
    def claim(self, run_id: str, group: str, consumer: str, *, idle_ms: int, after: int = 0,
              count: int = 100) -> tuple[Rows, int | None]:
        """Hand ``consumer`` the pending rows after ``after`` (any consumer's) delivered ``idle_ms`` ago or more.

        Returns the rows and the ``after`` to go on from, ``None`` once every pending row was looked at.
        """
        # Entry ids are SEQ-0, so "AFTER-1" starts just past entry AFTER.
        reply = self._redis.xautoclaim(self._keys.run(run_id, "messages"), group, consumer, idle_ms,
                                       start_id=f"{after}-1", count=count)
        cursor, entries = reply[0], reply[1]
        return _rows(entries), (None if cursor == "0-0" else int(cursor.split("-")[0]) - 1)

    @guarded
    def ack(self, run_id: str, group: str, seqs: Iterable[int]) -> int:
        """Mark rows processed, so that no consumer of ``group`` gets them again; returns how many were pending."""
        ids = [f"{seq}-0" for seq in seqs]
        return self._redis.xack(self._keys.run(run_id, "messages"), group, *ids) if ids else 0
