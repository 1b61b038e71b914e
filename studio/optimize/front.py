"""The cost–accuracy front of the searched teams, and the point a user prefers on it.

A team is on the front when no other passed as many search tasks or more for fewer tokens per
task (or more for as few). ``--prefer`` picks one point of it:

- ``accuracy``: the most search tasks passed; of those, the fewest tokens.
- ``cost``: the fewest tokens per task among the teams that pass at least as many search tasks as
  the starting team (the starting team itself when none does).
- ``balanced`` (the default): the most search tasks passed, unless a team within
  :func:`tolerance` tasks of it (and at least as good as the starting team) spends at least
  :data:`SAVING` fewer tokens per task; then the cheapest such team. Giving up a task to save
  2% of the tokens is a bad trade; giving it up to save half of them is a good one.

Example:
    >>> from studio.optimize.search import Stats
    >>> a, b, c = Stats("a", 8, 16, 160_000, 1, 0), Stats("b", 7, 16, 32_000, 1, 0), Stats("c", 6, 16, 64_000, 1, 0)
    >>> [s.hash for s in front([a, b, c])]
    ['b', 'a']
    >>> choose([a, b, c], c, "accuracy").hash, choose([a, b, c], c, "cost").hash, choose([a, b, c], c, "balanced").hash
    ('a', 'b', 'b')
"""

from __future__ import annotations

from typing import Literal

from studio.optimize.search import Stats

__all__ = ["PREFER", "SAVING", "Prefer", "choose", "front", "tolerance"]

Prefer = Literal["accuracy", "cost", "balanced"]
PREFER: tuple[str, ...] = ("accuracy", "cost", "balanced")
SAVING = 0.10
"""The share of tokens per task a cheaper team must save for ``balanced`` to give up a task for it."""


def _dominates(a: Stats, b: Stats) -> bool:
    return a.passed >= b.passed and a.tokens_per_task <= b.tokens_per_task and \
        (a.passed > b.passed or a.tokens_per_task < b.tokens_per_task)


def front(points: list[Stats]) -> list[Stats]:
    """The non-dominated teams, cheapest first."""
    kept = [p for p in points if not any(_dominates(q, p) for q in points)]
    unique = {(p.passed, p.tokens_per_task): p for p in reversed(kept)}  # of equal points, the first graded
    return sorted(unique.values(), key=lambda s: (s.tokens_per_task, -s.passed))


def tolerance(tasks: int) -> int:
    """How many search tasks ``balanced`` may give up for a cheaper team: 1 per 16 tasks, at least 1."""
    return max(1, tasks // 16)


def choose(points: list[Stats], start: Stats, prefer: str = "balanced") -> Stats:
    """The team ``prefer`` picks among ``points`` (each graded on the whole search split)."""
    if prefer not in PREFER:
        raise ValueError(f"prefer: expected one of {', '.join(PREFER)}, got {prefer!r}")
    pool = front(points) or [start]
    most = min(pool, key=lambda s: (-s.passed, s.tokens_per_task))
    if prefer == "accuracy":
        return most
    good = [s for s in pool if s.passed >= start.passed]
    if prefer == "balanced":
        good = [s for s in good if s.passed >= most.passed - tolerance(start.tasks)
                and (s is most or s.tokens_per_task <= (1 - SAVING) * most.tokens_per_task)]
    return min(good, key=lambda s: (s.tokens_per_task, -s.passed)) if good else start
