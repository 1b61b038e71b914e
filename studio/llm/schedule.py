"""Per-provider scheduling of model calls, shared by every branch of every run in the process.

As in AIOS (Mei et al., 2024), model calls are a shared resource: a
``parallel_plan`` run with eight branches, or two runs started from one
notebook, all draw on the same provider account and the same local GPU. A
per-run limit cannot see the other runs, so the limits live here, once per
process, keyed by provider name (``openai``, ``anthropic``, ``ollama``,
``local``, ``scripted``, ...).

Each provider has two limits, both optional:

* ``max_concurrency``: calls in flight at once. A condition-guarded counter,
  so a limit can be raised or lowered while calls are in flight (calls already
  running finish; new ones wait until the count is under the new limit).
* ``requests_per_minute``: call starts, spread evenly. Each admitted call
  reserves the next start time, ``60 / rpm`` seconds after the previous one,
  and waits for it without holding the lock.

Defaults: ``local`` (the in-process llama.cpp model, which answers one call at
a time anyway) runs one call at a time; every other provider is unlimited. The
environment variable ``HUDDLE_PROVIDER_LIMITS`` (``openai=8:500,anthropic=4``:
``PROVIDER=CONCURRENCY[:RPM]``, either number may be left empty) replaces the
defaults for the providers it names; it is read once, at the scheduler's first
use. :meth:`Scheduler.configure` (which a gateway calls with the spec's
``defaults.providers``) replaces a provider's limits again: the last
configuration wins, for the whole process.

Several processes can share limits too: :meth:`Scheduler.share` makes every
slot also wait for one of a :class:`SharedLimits` (a batch's workers on Ray
share one, :mod:`studio.batch.limits`).

Example:
    >>> scheduler = Scheduler(environ={})
    >>> scheduler.configure("openai", ProviderLimits(max_concurrency=2))
    >>> with scheduler.slot("openai") as slot:
    ...     scheduler.stats("openai").in_flight
    1
    >>> slot.waited_s < 1.0
    True
    >>> scheduler.limits("local").max_concurrency
    1
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from studio.spec.flow import ProviderLimits

__all__ = ["ENV_VAR", "SCHEDULER", "ProviderStats", "Scheduler", "SharedLimits", "Slot", "parse_limits"]

ENV_VAR = "HUDDLE_PROVIDER_LIMITS"
"""Environment variable with process-wide provider limits, e.g. ``openai=8:500,anthropic=4``."""

_BUILT_IN = {"local": ProviderLimits(max_concurrency=1)}
_FORMAT = "expected PROVIDER=CONCURRENCY[:REQUESTS_PER_MINUTE], e.g. openai=8:500,anthropic=4"


def parse_limits(text: str, source: str = ENV_VAR) -> dict[str, ProviderLimits]:
    """Parse ``openai=8:500,anthropic=4`` into limits per provider.

    ``openai=:500`` sets only a rate, ``openai=8`` only a concurrency limit.

    Args:
        text: comma-separated ``PROVIDER=CONCURRENCY[:RPM]`` entries; blank means none.
        source: what the text came from, named in errors.

    Raises:
        ValueError: an entry is malformed; the message names ``source`` and the entry.

    Example:
        >>> parse_limits("openai=8:500, anthropic=4")["openai"].requests_per_minute
        500.0
    """
    found: dict[str, ProviderLimits] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        provider, eq, numbers = (part.strip() for part in entry.partition("="))
        concurrency, _, rpm = numbers.partition(":")
        try:
            if not (provider and eq and (concurrency.strip() or rpm.strip())):
                raise ValueError
            found[provider] = ProviderLimits(
                max_concurrency=int(concurrency) if concurrency.strip() else None,
                requests_per_minute=float(rpm) if rpm.strip() else None,
            )
        except (ValueError, ValidationError):
            raise ValueError(f"{source}: bad entry {entry!r}; {_FORMAT} (concurrency 1-1024, rate above 0)") from None
    return found


@dataclass
class Slot:
    """A granted place to call a provider; ``waited_s`` is how long it took to get it."""

    provider: str
    waited_s: float = 0.0


@dataclass(frozen=True)
class ProviderStats:
    """What one provider's lane looks like right now, for the UI and the CLI."""

    provider: str
    limits: ProviderLimits
    in_flight: int
    """Calls holding a slot (including those waiting for their reserved start time)."""
    waiting: int
    """Calls waiting for a concurrency slot."""
    calls: int
    """Calls admitted since the process started."""
    wait_s: float
    """Total time those calls waited."""


class SharedLimits(Protocol):
    """Limits kept outside this process, for several processes at once."""

    def slot(self, provider: str) -> AbstractContextManager[object]:
        """Wait for room at ``provider`` and hold it for the block."""


class _Lane:
    """One provider's counters; every field is guarded by the scheduler's lock."""

    def __init__(self, limits: ProviderLimits, lock: threading.Lock):
        self.limits = limits
        self.room = threading.Condition(lock)  # one per lane: a freed openai slot wakes no anthropic waiter
        self.in_flight = 0
        self.waiting = 0
        self.calls = 0
        self.wait_s = 0.0
        self.next_start = 0.0  # monotonic time the next call may start at, under a rate limit


class Scheduler:
    """Process-wide concurrency and rate limits per provider.

    Args:
        environ: where to read ``HUDDLE_PROVIDER_LIMITS`` from (``os.environ`` when ``None``);
            pass ``{}`` for a scheduler that ignores the environment.

    Example:
        >>> scheduler = Scheduler(environ={"HUDDLE_PROVIDER_LIMITS": "anthropic=4"})
        >>> scheduler.limits("anthropic").max_concurrency
        4
        >>> scheduler.limits("openai").max_concurrency is None
        True
    """

    def __init__(self, environ: Mapping[str, str] | None = None):
        self._environ = environ
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._defaults: dict[str, ProviderLimits] | None = None  # built-ins + env, read at first use
        self._shared: SharedLimits | None = None

    def share(self, shared: SharedLimits | None) -> None:
        """Make every slot also wait for one of ``shared`` (after this process's own); ``None`` stops."""
        self._shared = shared

    def _lane(self, provider: str) -> _Lane:
        """The provider's lane, created on first use; call with the lock held."""
        if self._defaults is None:
            environ = os.environ if self._environ is None else self._environ
            # parse before assigning: a malformed variable fails every use, not only the first
            self._defaults = {**_BUILT_IN, **parse_limits(environ.get(ENV_VAR, ""))}
        lane = self._lanes.get(provider)
        if lane is None:
            lane = self._lanes[provider] = _Lane(self._defaults.get(provider, ProviderLimits()), self._lock)
        return lane

    def configure(self, provider: str, limits: ProviderLimits) -> None:
        """Set ``provider``'s limits for the whole process; the last configuration wins.

        Calls already in flight keep their slots; waiting calls see the new
        concurrency limit at once. A new rate applies from the next reservation.

        Raises:
            ValueError: ``HUDDLE_PROVIDER_LIMITS`` is malformed.
        """
        with self._lock:
            lane = self._lane(provider)
            lane.limits = limits
            if limits.requests_per_minute is None:
                lane.next_start = 0.0
            lane.room.notify_all()

    def update(self, limits: Mapping[str, ProviderLimits]) -> None:
        """:meth:`configure` several providers; reads the environment now even when ``limits`` is empty.

        Raises:
            ValueError: ``HUDDLE_PROVIDER_LIMITS`` is malformed (so a gateway fails when it is made,
                not in the middle of a run).
        """
        with self._lock:
            self._lane("local")
        for provider, each in limits.items():
            self.configure(provider, each)

    def limits(self, provider: str) -> ProviderLimits:
        """The limits ``provider`` runs under now."""
        with self._lock:
            return self._lane(provider).limits

    def stats(self, provider: str) -> ProviderStats:
        """A snapshot of ``provider``'s lane."""
        with self._lock:
            lane = self._lane(provider)
            return ProviderStats(provider, lane.limits, lane.in_flight, lane.waiting, lane.calls, lane.wait_s)

    def providers(self) -> list[str]:
        """Providers that were configured or called so far, sorted."""
        with self._lock:
            return sorted(self._lanes)

    @contextmanager
    def slot(self, provider: str) -> Iterator[Slot]:
        """Wait until ``provider`` has room (concurrency, then rate) and hold a slot for the block.

        Yields:
            a :class:`Slot` whose ``waited_s`` is the time spent waiting.
        """
        started = time.monotonic()
        with self._lock:
            lane = self._lane(provider)
            lane.waiting += 1
            try:
                while lane.limits.max_concurrency is not None and lane.in_flight >= lane.limits.max_concurrency:
                    lane.room.wait()
            finally:
                lane.waiting -= 1
            lane.in_flight += 1
            lane.calls += 1
            # concurrency first, then the rate: reservations are made in start order, so starts stay
            # 60/rpm apart even when many calls are admitted at once
            start_at = started
            rpm = lane.limits.requests_per_minute
            if rpm is not None:
                start_at = max(time.monotonic(), lane.next_start)
                lane.next_start = start_at + 60.0 / rpm
        try:
            delay = start_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # no lock held: other providers and other calls go on
            shared = self._shared
            with shared.slot(provider) if shared is not None else nullcontext():
                slot = Slot(provider, time.monotonic() - started)
                with self._lock:
                    lane.wait_s += slot.waited_s
                yield slot
        finally:
            with self._lock:
                lane.in_flight -= 1
                lane.room.notify_all()


SCHEDULER = Scheduler()
"""The process-wide scheduler every :class:`~studio.llm.gateway.Gateway` uses unless given another."""
