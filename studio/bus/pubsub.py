"""The message bus: publish/subscribe on topics, persisted before delivery.

Every message is appended to the run log first; only then do subscribers see
it, so whatever a subscriber saw can be found in the log after a crash. The
CLI printer, the notebook display and the Streamlit page are all subscribers.
The log is SQLite (``studio.bus.sqlite``) or Redis Streams (``studio.bus.redis``,
shared by several machines); ``Bus.consumer`` gives durable subscribers that
acknowledge what they handled and resume where they stopped (``studio.bus.consumer``).

Example:
    >>> from studio.messages import Task
    >>> from studio.bus.sqlite import RunLog
    >>> bus = Bus(RunLog(":memory:"))
    >>> seen = []
    >>> _ = bus.subscribe("team", seen.append)
    >>> bus.publish(Task(run_id="r1", sender="user", content="hi"))
    >>> [m.kind for m in seen]
    ['task']
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Iterable

from studio.bus.consumer import Consumer
from studio.bus.store import RunStore
from studio.messages import Message

__all__ = ["Bus", "Subscriber"]

Subscriber = Callable[[Message], None]


class Bus:
    """Topic-based publish/subscribe over a run log.

    Args:
        log: where messages are appended before delivery (``RunLog`` or ``RedisRunLog``); ``None`` for an
            in-memory bus that keeps nothing (tests of subscribers only).
    """

    def __init__(self, log: RunStore | None):
        self.log = log
        self._subs: list[tuple[str, Subscriber]] = []
        self._lock = threading.RLock()

    def subscribe(self, pattern: str, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` for each message whose topic matches ``pattern``.

        ``pattern`` is a topic or a shell-style wildcard (``*`` for all).
        Returns a function that removes the subscription.
        """
        entry = (pattern, callback)
        with self._lock:
            self._subs.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subs:
                    self._subs.remove(entry)

        return unsubscribe

    def consumer(self, group: str, run_id: str, name: str = "consumer", *,
                 claim_idle_ms: int | None = None) -> Consumer:
        """A durable subscriber to run ``run_id``: consumer ``name`` of ``group`` (see ``studio.bus.consumer``).

        Raises:
            ValueError: the bus keeps no log.
        """
        if self.log is None:
            raise ValueError("a bus without a run log has no consumer groups: give Bus a RunLog or RedisRunLog")
        return Consumer(self.log, group, run_id, name, claim_idle_ms=claim_idle_ms)

    def publish(self, message: Message) -> None:
        """Persist one message, then deliver it."""
        self.publish_many([message])

    def publish_many(self, messages: Iterable[Message]) -> None:
        """Persist messages in one transaction, then deliver them in order.

        Messages already in the log (same id) are neither stored nor delivered
        again.
        """
        with self._lock:
            self.deliver(self.log.append(messages) if self.log is not None else list(messages))

    def deliver(self, messages: Iterable[Message]) -> None:
        """Deliver messages already in the log (``studio.bus.checkpoints`` logs a step's), in order."""
        with self._lock:
            subs = list(self._subs)
            for message in messages:
                for pattern, callback in subs:
                    if pattern == "*" or pattern == message.topic or fnmatch.fnmatchcase(message.topic, pattern):
                        callback(message)
