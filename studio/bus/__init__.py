"""The message bus and the run log under it: publish/subscribe, persisted before delivery.

``pubsub`` is the :class:`Bus`; ``store`` says what a run log is (:class:`RunStore`)
and ``factory`` opens one; ``sqlite``, ``postgres`` and ``redis`` are the backends, ``groups``
and ``redis_groups`` their consumer groups, ``consumer`` the durable subscriber.

Example:
    >>> from studio.bus import Bus, RunLog
    >>> from studio.messages import Task
    >>> bus = Bus(RunLog(":memory:"))
    >>> bus.publish(Task(run_id="r1", sender="user", content="hi"))
    >>> [m.kind for m in bus.log.messages("r1")]
    ['task']
"""

from __future__ import annotations

from studio.bus.consumer import Consumer, Delivery
from studio.bus.factory import open_store
from studio.bus.pubsub import Bus, Subscriber
from studio.bus.sqlite import RunInfo, RunLog, calls_per_sender
from studio.bus.store import (
    BUS_URL_ENV,
    STORE_URL_ENV,
    BusUnavailable,
    GroupStore,
    RunStore,
    bus_url,
    is_postgres,
    safe_url,
    store_url,
)

__all__ = [
    "BUS_URL_ENV",
    "STORE_URL_ENV",
    "Bus",
    "BusUnavailable",
    "Consumer",
    "Delivery",
    "GroupStore",
    "RunInfo",
    "RunLog",
    "RunStore",
    "Subscriber",
    "bus_url",
    "calls_per_sender",
    "is_postgres",
    "open_store",
    "safe_url",
    "store_url",
]
