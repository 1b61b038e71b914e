"""Durable subscribers: named consumers in a consumer group on one run, with acknowledgement.

A subscriber registered with ``Bus.subscribe`` lives and dies with its process.
A :class:`Consumer` keeps its place in the run log instead (SQLite or Redis
Streams, the same semantics on both): each message of the run goes to one
consumer of the group and stays *pending* until that consumer acknowledges it.
A consumer that starts again under the same name first gets what it read but
had not acknowledged when it stopped, then what is new; a consumer started with
``claim_idle_ms`` also takes over what other consumers of the group left
pending that long (they died). Delivery is at least once: acknowledge after
handling. A new group starts at the run's first message, so it replays the run.

Example:
    >>> from studio.bus.pubsub import Bus
    >>> from studio.messages import Task
    >>> from studio.bus.sqlite import RunLog
    >>> bus = Bus(RunLog(":memory:"))
    >>> bus.publish_many([Task(run_id="r1", sender="user", content=str(i)) for i in range(3)])
    >>> printer = bus.consumer("printer", "r1", "p1")
    >>> got = printer.read(count=2)
    >>> [d.message.content for d in got]
    ['0', '1']
    >>> printer.ack(got[0])  # then it dies before acknowledging '1'
    1
    >>> again = bus.consumer("printer", "r1", "p1")
    >>> [d.message.content for d in again.read()], [d.message.content for d in again.read()]
    (['1'], ['2'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from studio.messages import Message, message_from_json

if TYPE_CHECKING:
    from studio.bus.store import RunStore

__all__ = ["Consumer", "Delivery"]


@dataclass(frozen=True)
class Delivery:
    """A message handed to a consumer, with its place in the run (what :meth:`Consumer.ack` takes)."""

    seq: int
    """Its position in the run's log; increases with publication order."""
    message: Message


class Consumer:
    """Consumer ``name`` of ``group`` on run ``run_id``.

    Args:
        log: the run log (``RunLog`` or ``RedisRunLog``), usually ``bus.log``.
        group: the group; consumers of one group share its messages, each group gets all of them.
        run_id: the run to consume.
        name: this consumer, stable across restarts so that it gets back what it left pending.
        claim_idle_ms: also take over messages other consumers of the group have left pending this long
            (their process died); ``None`` never does.
    """

    def __init__(self, log: RunStore, group: str, run_id: str, name: str = "consumer", *,
                 claim_idle_ms: int | None = None):
        self.log, self.group, self.run_id, self.name = log, group, run_id, name
        self.claim_idle_ms = claim_idle_ms
        self._backlog: int | None = 0  # own pending messages are read from after this seq; None once done
        self._claim: int | None = 0 if claim_idle_ms is not None else None
        log.groups.create(run_id, group)

    def read(self, count: int = 100, block_ms: int = 0) -> list[Delivery]:
        """Up to ``count`` messages, in publication order.

        First come those this consumer left pending, then those claimed from dead consumers, then new ones
        (waiting up to ``block_ms`` for one when there are none).
        """
        groups = self.log.groups
        if self._backlog is not None:
            rows = groups.read(self.run_id, self.group, self.name, after=self._backlog, count=count)
            if rows:
                self._backlog = rows[-1][0]
                return _deliveries(rows)
            self._backlog = None
        while self._claim is not None and self.claim_idle_ms is not None:  # both set, or neither (__init__)
            rows, self._claim = groups.claim(self.run_id, self.group, self.name, idle_ms=self.claim_idle_ms,
                                             after=self._claim, count=count)
            if rows:
                return _deliveries(rows)
        return _deliveries(groups.read(self.run_id, self.group, self.name, count=count, block_ms=block_ms))

    def ack(self, *deliveries: Delivery | int) -> int:
        """Acknowledge handled messages (deliveries or their ``seq``); returns how many were pending."""
        seqs = [d.seq if isinstance(d, Delivery) else d for d in deliveries]
        return self.log.groups.ack(self.run_id, self.group, seqs) if seqs else 0


def _deliveries(rows: list[tuple[int, str]]) -> list[Delivery]:
    return [Delivery(seq, message_from_json(body)) for seq, body in rows]
