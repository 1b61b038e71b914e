"""The run log on Redis Streams: the interface of ``studio.bus.sqlite.RunLog``, shared by several machines.

Keys, under a namespace (``huddle`` unless the URL says ``?namespace=NAME``);
``{RUN}`` is a cluster hash tag, so that one run's keys live together:

=========================  =====================================================================
``NS:runs``                sorted set: run ids by creation time (``runs()``)
``NS:run-ids``             sorted set, every score 0: run ids in byte order (lookup by prefix)
``NS:run:{RUN}:info``      hash: the run's index row (team, task, status, model, spec, error, times)
``NS:run:{RUN}:totals``    hash: ``seq`` (messages stored), tokens and cost over its messages
``NS:run:{RUN}:ids``       set: ids of the messages stored, so that publishing twice stores once
``NS:run:{RUN}:messages``  stream: the messages in publication order, entry ids ``1-0``, ``2-0``, …
=========================  =====================================================================

Appending is one Lua script: atomic, idempotent by message id, and numbering
each run's messages 1, 2, … so that ``messages_with_seq`` keeps integer
positions. Consumer groups are the stream's own (XREADGROUP, XACK, XAUTOCLAIM;
see ``studio.bus.redis_groups``). A password comes from the URL or
``$HUDDLE_BUS_PASSWORD`` and is never printed.

Example (with ``redis-server --port 6379`` running)::

    log = RedisRunLog("redis://127.0.0.1:6379/0?namespace=demo")
    log.create_run("r1", team="duo", task="hi", spec={})
    log.get_run("r1").status  # 'running'
    Bus(log).consumer("printer", "r1", "p1").read()  # durable: acknowledge what you handled
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import redis

from studio.bus.redis_groups import RedisGroups, RunKeys, guarded
from studio.bus.sqlite import RunInfo, calls_per_sender
from studio.bus.store import BUS_URL_ENV, BusUnavailable, safe_url
from studio.messages import Message, message_from_json, message_to_json
from studio.redact import redact, redact_data

__all__ = ["PASSWORD_ENV", "RedisRunLog"]

PASSWORD_ENV = "HUDDLE_BUS_PASSWORD"
"""The Redis password when the URL has none (keeps it out of team files and shell history)."""

_APPEND = """
local fresh = {}
for i = 1, #ARGV / 5 do
  local ids, totals, stream, a = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], 5 * (i - 1)
  if redis.call('SADD', ids, ARGV[a + 1]) == 1 then
    local seq = redis.call('HINCRBY', totals, 'seq', 1)
    redis.call('XADD', stream, seq .. '-0', 'body', ARGV[a + 2])
    redis.call('HINCRBY', totals, 'prompt_tokens', ARGV[a + 3])
    redis.call('HINCRBY', totals, 'completion_tokens', ARGV[a + 4])
    redis.call('HINCRBYFLOAT', totals, 'cost_usd', ARGV[a + 5])
    fresh[#fresh + 1] = i
  end
end
return fresh
"""
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
return 1
"""
_STATUS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_at', ARGV[2])
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'error', ARGV[4]) else redis.call('HDEL', KEYS[1], 'error') end
return 1
"""
_INT64 = 2**63
_PAGE = 1000  # stream entries per XRANGE: long runs never block the server with one huge reply


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class RedisRunLog:
    """Runs and their messages in Redis: one stream per run, consumer groups for durable subscribers.

    Args:
        url: ``redis://[:PASSWORD@]HOST[:PORT][/DB][?namespace=NAME]`` (``rediss://`` for TLS).

    Raises:
        BusUnavailable: the server cannot be reached, or refuses the login.
    """

    def __init__(self, url: str):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.namespace = query.pop("namespace", ["huddle"])[0]
        self.url = url
        self.path = safe_url(url)
        password = None if parts.password else os.environ.get(PASSWORD_ENV)
        plain = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
        # Any: redis-py types its replies as RESP3 and bytes or str; this client gets RESP2 replies as str
        self._redis: Any = redis.Redis.from_url(plain, decode_responses=True, socket_connect_timeout=5,
                                                password=password)
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise BusUnavailable(self._problem(exc)) from None
        self.keys = RunKeys(self.namespace)
        self._append = self._redis.register_script(_APPEND)
        self._create = self._redis.register_script(_CREATE)
        self._status = self._redis.register_script(_STATUS)
        self.groups = RedisGroups(self._redis, self.keys, self._problem)
        """Consumer groups over this log (``studio.bus.consumer``)."""

    def _problem(self, exc: Exception) -> str:
        reason = redact(str(exc)).rstrip(".")
        parts = urlsplit(self.url)
        for secret in (parts.password, *parse_qs(parts.query).get("password", [])):
            reason = reason.replace(secret, "***") if secret else reason
        if isinstance(exc, redis.AuthenticationError):
            todo = f"check the password (in the URL or ${PASSWORD_ENV})"
        else:
            todo = "is redis-server running there? Start one with `redis-server --port 6379`"
        return (f"cannot use the Redis bus at {self.path}: {reason}; {todo}, or unset ${BUS_URL_ENV} (and the "
                f"team's defaults.bus_url) to keep runs in the SQLite run log")

    def close(self) -> None:
        """Close the connections."""
        self._redis.close()

    @guarded
    def create_run(self, run_id: str, *, team: str, task: str, spec: dict[str, Any], model: str | None = None) -> None:
        """Add a run to the index with status ``running``.

        Raises:
            ValueError: a run with this id exists.
        """
        now = _now()
        fields = {"team": team, "task": redact(task), "status": "running", "spec": json.dumps(redact_data(spec)),
                  "created_at": now, "updated_at": now, **({"model": model} if model is not None else {})}
        flat = [item for pair in fields.items() for item in pair]
        keys = [self.keys.run(run_id, "info"), self.keys.runs, self.keys.names]
        if not self._create(keys=keys, args=[repr(time.time()), run_id, *flat]):
            raise ValueError(f"run {run_id!r} is already in the run log at {self.path}")

    @guarded
    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        """Mark a run ``running``, ``waiting``, ``done`` or ``failed`` (with its error)."""
        self._status(keys=[self.keys.run(run_id, "info")],
                     args=[status, _now(), "0" if error is None else "1", redact(error or "")])

    @guarded
    def set_spec(self, run_id: str, spec: dict[str, Any]) -> None:
        """Replace a run's spec (redacted): a resume with raised budgets keeps them for the next one."""
        self._redis.hset(self.keys.run(run_id, "info"), mapping={"spec": json.dumps(redact_data(spec)),
                                                                "updated_at": _now()})

    @guarded
    def set_parent(self, run_id: str, parent_run: str, fork_at: str) -> None:
        """Record that ``run_id`` was forked from ``parent_run`` at its message ``fork_at``."""
        self._redis.hset(self.keys.run(run_id, "info"), mapping={"parent_run": parent_run, "fork_at": fork_at})

    @guarded
    def record_calls(self, run_id: str, records: Iterable[dict[str, Any]]) -> None:
        """Append what a run's model calls, tools, sandbox runs and memory searches gave (its cassette), redacted."""
        bodies = [json.dumps(redact_data(r), ensure_ascii=False) for r in records]
        if bodies:
            self._redis.rpush(self.keys.run(run_id, "calls"), *bodies)

    @guarded
    def calls(self, run_id: str) -> list[dict[str, Any]]:
        """A run's recorded calls in the order they were made."""
        return [json.loads(body) for body in self._redis.lrange(self.keys.run(run_id, "calls"), 0, -1)]

    @guarded
    def append(self, messages: Iterable[Message]) -> list[Message]:
        """Store messages atomically, redacted; return those not stored before (same id, same run: stored once)."""
        messages = [redact_data(m) for m in messages]
        if not messages:
            return []
        keys: list[str] = []
        args: list[str] = []
        for m in messages:
            tokens = (m.usage.prompt_tokens, m.usage.completion_tokens)
            if not all(-_INT64 <= t < _INT64 for t in tokens):
                raise OverflowError(f"message {m.id}: a token count does not fit in 64 bits")
            keys += [self.keys.run(m.run_id, "ids"), self.keys.run(m.run_id, "totals"),
                     self.keys.run(m.run_id, "messages")]
            args += [m.id, message_to_json(m), str(tokens[0]), str(tokens[1]), repr(float(m.usage.cost_usd))]
        return [messages[i - 1] for i in self._append(keys=keys, args=args)]

    def messages(self, run_id: str, after_seq: int = 0) -> list[Message]:
        """Messages of a run in publication order."""
        return [message_from_json(body) for _, body in self.messages_with_seq(run_id, after_seq)]

    @guarded
    def messages_with_seq(self, run_id: str, after_seq: int = 0) -> list[tuple[int, str]]:
        """``(seq, json)`` rows of a run after ``after_seq``, for tailing a live run."""
        stream, rows = self.keys.run(run_id, "messages"), []
        while True:
            page = self._redis.xrange(stream, min=f"{after_seq + 1}-0", max="+", count=_PAGE)
            rows += [(int(entry_id.split("-")[0]), fields["body"]) for entry_id, fields in page]
            if len(page) < _PAGE:
                return rows
            after_seq = rows[-1][0]

    def call_counts(self, run_id: str) -> dict[str, int]:
        """Model calls behind the published messages of a run, per sender role."""
        return calls_per_sender(self.messages(run_id))

    @guarded
    def get_run(self, run_id: str) -> RunInfo | None:
        """The run with this id, or with this unique id prefix; ``None`` if none or ambiguous."""
        if not run_id:
            return None
        if self._redis.exists(self.keys.run(run_id, "info")):
            return self._infos([run_id])[0]
        low = b"[" + run_id.encode()
        found = self._redis.zrangebylex(self.keys.names, low, low + b"\xff", start=0, num=2)
        return self._infos(found)[0] if len(found) == 1 else None

    @guarded
    def runs(self, limit: int = 50) -> list[RunInfo]:
        """Most recent runs first."""
        return self._infos(self._redis.zrevrange(self.keys.runs, 0, limit - 1))

    def _infos(self, run_ids: list[str]) -> list[RunInfo]:
        pipe = self._redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hgetall(self.keys.run(run_id, "info"))
            pipe.hgetall(self.keys.run(run_id, "totals"))
        replies = pipe.execute()
        infos = []
        for run_id, row, totals in zip(run_ids, replies[::2], replies[1::2], strict=True):
            if row:
                infos.append(RunInfo(
                    run_id, row["team"], row["task"], row["status"], row.get("model"), json.loads(row["spec"]),
                    row.get("error"), row["created_at"], row["updated_at"], int(totals.get("seq", 0)),
                    int(totals.get("prompt_tokens", 0)), int(totals.get("completion_tokens", 0)),
                    float(totals.get("cost_usd", 0.0)), row.get("parent_run"), row.get("fork_at"),
                ))
        return infos
