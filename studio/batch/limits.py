"""Provider limits for a whole batch on Ray: one limiter actor that every worker's model calls go through.

A worker process has its own :data:`~studio.llm.schedule.SCHEDULER`, which cannot
see the other workers: eight workers with ``openai: {max_concurrency: 4}``
would otherwise make 32 calls at once. So a batch keeps one
:class:`ProviderLimiter` holding the driver's limits (built-ins, ``HUDDLE_PROVIDER_LIMITS``, the spec's
``defaults.providers``), and each worker's scheduler also takes every slot from
it (:meth:`studio.llm.schedule.Scheduler.share`). The limiter (a part of the
batch's coordinator actor) counts calls in flight and spaces call starts per
provider exactly as the scheduler does.

``local`` is left to each process: the embedded model runs in every worker on
that worker's own CPU or GPU, so one call at a time per process is its limit,
not one per batch.

Example:
    >>> limits = effective_limits({"openai": ProviderLimits(max_concurrency=4)}, {ENV_VAR: "local=2,scripted=1"})
    >>> sorted(limits), limits["openai"].max_concurrency
    (['openai', 'scripted'], 4)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from studio.llm.schedule import ENV_VAR, parse_limits
from studio.spec.flow import ProviderLimits

__all__ = ["PER_PROCESS", "ProviderLimiter", "SharedLimits", "effective_limits"]

PER_PROCESS = frozenset({"local"})
"""Providers limited per process, never batch-wide (the embedded model runs in each worker)."""


def effective_limits(spec_limits: Mapping[str, ProviderLimits],
                     environ: Mapping[str, str]) -> dict[str, ProviderLimits]:
    """The limits a batch shares: ``HUDDLE_PROVIDER_LIMITS``, then the spec's, for providers that have any.

    As on the driver, the spec's entry replaces the environment's for a provider both name.

    Raises:
        ValueError: ``HUDDLE_PROVIDER_LIMITS`` is malformed.
    """
    merged = {**parse_limits(environ.get(ENV_VAR, "")), **spec_limits}
    return {p: lim for p, lim in merged.items() if p not in PER_PROCESS
            and (lim.max_concurrency is not None or lim.requests_per_minute is not None)}


class _Lane:
    def __init__(self, limits: ProviderLimits):
        self.limits = limits
        self.in_flight = 0
        self.next_start = 0.0
        self.room: asyncio.Condition | None = None  # made on the actor's event loop, at first use


class ProviderLimiter:
    """The batch's limits, in an async actor (a waiting call holds no thread, so releases always run)."""

    def __init__(self) -> None:
        self.set_limits({})

    def set_limits(self, limits: Mapping[str, ProviderLimits]) -> None:
        """Start a batch: provider -> limits (providers not named are unlimited), counters at zero."""
        self._lanes = {p: _Lane(lim) for p, lim in limits.items()}
        self.calls = 0
        self.peak: dict[str, int] = {}

    def limited(self) -> list[str]:
        """The providers this limiter counts."""
        return sorted(self._lanes)

    async def acquire(self, provider: str) -> float:
        """Wait for room (concurrency, then the rate); returns the seconds waited."""
        started = time.monotonic()
        lane = self._lanes[provider]
        lane.room = lane.room or asyncio.Condition()
        limit = lane.limits.max_concurrency
        async with lane.room:
            await lane.room.wait_for(lambda: limit is None or lane.in_flight < limit)
            lane.in_flight += 1
            self.calls += 1
            self.peak[provider] = max(self.peak.get(provider, 0), lane.in_flight)
            start_at = started
            if lane.limits.requests_per_minute is not None:
                start_at = max(time.monotonic(), lane.next_start)
                lane.next_start = start_at + 60.0 / lane.limits.requests_per_minute
        delay = start_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        return time.monotonic() - started

    async def release(self, provider: str) -> None:
        """Give a slot back."""
        lane = self._lanes[provider]
        room = lane.room
        assert room is not None  # made by acquire(), which came first
        async with room:
            lane.in_flight -= 1
            room.notify_all()

    def stats(self) -> dict[str, Any]:
        """Calls admitted, and the most calls in flight at once per provider."""
        return {"calls": self.calls, "peak": dict(self.peak)}


class SharedLimits:
    """A worker's side of the limiter: what :meth:`studio.llm.schedule.Scheduler.share` takes.

    Args:
        limiter: the :class:`ProviderLimiter` actor's handle.
        limited: the providers it counts (calls to any other provider skip the round trip).
    """

    def __init__(self, limiter: Any, limited: Iterable[str]):
        self._limiter = limiter
        self._limited = frozenset(limited)

    @contextmanager
    def slot(self, provider: str) -> Iterator[None]:
        """Hold one of the batch's slots for ``provider`` for the block."""
        if provider not in self._limited:
            yield
            return
        import ray

        ray.get(self._limiter.acquire.remote(provider))
        try:
            yield
        finally:
            ray.get(self._limiter.release.remote(provider))
