"""Two runs side by side: their transcripts aligned, where they first part, what each role spent, which tests flipped.

The alignment is an edit distance over the two message sequences (Levenshtein,
Needleman–Wunsch style), not a position-by-position comparison: a message of A
pairs with one of B only when both have the same sender and kind; the pair is
``same`` when their content matches and ``changed`` when it does not, and
every other message is ``only_a`` (left out of B) or ``only_b`` (inserted in
B). A pair costs 0 when the same and 1 when changed, a message on one side
only costs 1, and the alignment of least cost wins (on a tie, a message
pairs with the later of its candidates, so a retry inserted in B leaves the
last attempts paired; and what is only in A comes before what is only in B).
Content means what a person reads in a message (its
text, code, verdict, next speaker, test counts, …), never its id, run id,
timestamps, parent id, memory ids, usage or sandbox facts that differ from run
to run (workspace, duration, peak memory).

Cost: the messages both runs share at the start and at the end are set aside
first, so two runs that part once cost little however long they are; the rest
is a full table of up to :data:`FULL_CELLS` cells (1,000 × 1,000 messages:
half a second's work, about); beyond that the table is banded around its
diagonal (:attr:`RunDiff.method` says ``banded``, with the same number of
cells), which finds the best alignment whenever it stays within the band and
a good one otherwise.

Positions of messages (``Pair.a``, ``Pair.b``) count from 0, as in the lists
given; the studio and the CLI show them as ``#1``, ``#2``, … as the transcript
numbers them.

Example:
    >>> from studio.messages import Task, Code
    >>> a = [Task(run_id="a", sender="user", content="Add"), Code(run_id="a", sender="coder", code="x = 1")]
    >>> b = [Task(run_id="b", sender="user", content="Add"), Code(run_id="b", sender="coder", code="x = 2")]
    >>> d = diff_runs(a, b)
    >>> [p.status for p in d.pairs], d.first_divergence, d.pairs[1].fields
    (['same', 'changed'], 1, ('code',))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from studio._rundiff_outcomes import Flip, RoleDelta, Spend, flips_between, role_deltas
from studio.messages import Message

__all__ = ["FULL_CELLS", "IGNORED_FIELDS", "Flip", "Pair", "RoleDelta", "RunDiff", "Spend", "content_of",
           "diff_runs"]

FULL_CELLS = 1_000_000
"""Largest alignment table (messages of A × messages of B, after the shared start and end) worked out in full."""
IGNORED_FIELDS = frozenset({"id", "run_id", "created_at", "parent_id", "usage", "memory_ids", "workspace",
                            "duration_ms", "peak_memory_mb"})
"""Fields that never count as content: they differ between any two runs, even identical ones."""

Status = Literal["same", "changed", "only_a", "only_b"]
_DIAG, _UP, _LEFT = 0, 1, 2  # moves in the table: pair a[i] with b[j], a[i] alone, b[j] alone


def content_of(message: Message) -> dict[str, Any]:
    """What a person reads in ``message``: its fields as JSON, less :data:`IGNORED_FIELDS`.

    The run's own id inside text (a workspace path, an episode note) reads as ``<run>``, so that two runs
    saying the same thing of themselves match (ids of 8 characters or more: a shorter one could be any word).

    Example:
        >>> from studio.messages import Task
        >>> content_of(Task(run_id="run-0001", sender="user", content="see run-0001's files"))["content"]
        "see <run>'s files"
    """
    data = message.model_dump(mode="json", exclude=set(IGNORED_FIELDS))
    return _unrun(data, message.run_id) if len(message.run_id) >= 8 else data


def _unrun(value: Any, run_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(run_id, "<run>")
    if isinstance(value, list):
        return [_unrun(v, run_id) for v in value]
    if isinstance(value, dict):
        return {k: _unrun(v, run_id) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Pair:
    """One row of the alignment: a message of A, of B, or one of each with the same sender and kind.

    Example:
        >>> Pair("only_b", None, 4, "coder", "code").as_dict()["b"]
        4
    """

    status: Status
    """``same``, ``changed`` (same sender and kind, other content), ``only_a`` or ``only_b``."""
    a: int | None
    """Position of A's message (from 0), ``None`` for ``only_b``."""
    b: int | None
    """Position of B's message (from 0), ``None`` for ``only_a``."""
    sender: str
    kind: str
    fields: tuple[str, ...] = ()
    """For ``changed``: the content fields that differ (``content``, ``code``, ``next_speaker``, …)."""

    def as_dict(self) -> dict[str, Any]:
        """The pair as a JSON-ready dict."""
        return {"status": self.status, "a": self.a, "b": self.b, "sender": self.sender, "kind": self.kind,
                "fields": list(self.fields)}


@dataclass(frozen=True)
class RunDiff:
    """Two transcripts aligned (see the module's docs), with spend per role and test flips.

    Example:
        >>> diff_runs([], []).identical
        True
    """

    run_a: str
    run_b: str
    pairs: tuple[Pair, ...]
    first_divergence: int | None
    """Index into :attr:`pairs` of the first pair that is not ``same`` (``None``: the transcripts match)."""
    roles: tuple[RoleDelta, ...]
    """Per sender, in order of first appearance (A's, then B's newcomers)."""
    flips: tuple[Flip, ...]
    method: Literal["full", "banded"] = "full"
    """How the middle was aligned: the whole table, or a band around its diagonal (a very long diff)."""

    @property
    def identical(self) -> bool:
        """Whether every message pairs with one of the same content."""
        return self.first_divergence is None

    def counts(self) -> dict[str, int]:
        """How many pairs of each status."""
        out = dict.fromkeys(("same", "changed", "only_a", "only_b"), 0)
        for pair in self.pairs:
            out[pair.status] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        """The whole diff as one JSON-ready dict."""
        return {"run_a": self.run_a, "run_b": self.run_b, "identical": self.identical,
                "first_divergence": self.first_divergence, "method": self.method, "counts": self.counts(),
                "pairs": [p.as_dict() for p in self.pairs], "roles": [r.as_dict() for r in self.roles],
                "flips": [f.as_dict() for f in self.flips]}


def diff_runs(a: list[Message], b: list[Message], *, status_a: str | None = None,
              status_b: str | None = None) -> RunDiff:
    """Align two runs' messages; ``status_a``/``status_b`` (the runs' status) add the run's own outcome flip.

    Example:
        >>> from studio.messages import Task
        >>> diff_runs([Task(run_id="a", sender="user")], [], status_a="done", status_b="failed").flips
        (Flip(subject='run', a='passed', b='failed'),)
    """
    content_a, content_b = [content_of(m) for m in a], [content_of(m) for m in b]
    pairs, method = _pairs(a, b, content_a, content_b)
    first = next((k for k, p in enumerate(pairs) if p.status != "same"), None)
    run_a = a[0].run_id if a else ""
    run_b = b[0].run_id if b else ""
    flips = flips_between(a, b, status_a, status_b)
    return RunDiff(run_a, run_b, tuple(pairs), first, role_deltas(a, b), flips, method)


def _pairs(a: list[Message], b: list[Message], content_a: list[dict[str, Any]],
           content_b: list[dict[str, Any]]) -> tuple[list[Pair], Literal["full", "banded"]]:
    keys: dict[Any, int] = {}  # each distinct (sender, kind) and content as a small int: cheap to compare

    def key(value: Any) -> int:
        return keys.setdefault(value, len(keys))

    class_a = [key((m.sender, m.kind)) for m in a]
    class_b = [key((m.sender, m.kind)) for m in b]
    sig_a = [key(json.dumps(c, sort_keys=True)) for c in content_a]
    sig_b = [key(json.dumps(c, sort_keys=True)) for c in content_b]
    n, m = len(a), len(b)
    head = 0
    while head < min(n, m) and sig_a[head] == sig_b[head]:
        head += 1
    tail = 0
    while tail < min(n, m) - head and sig_a[n - 1 - tail] == sig_b[m - 1 - tail]:
        tail += 1
    core, method = _align(class_a[head:n - tail], sig_a[head:n - tail], class_b[head:m - tail],
                          sig_b[head:m - tail])
    steps = ([(i, i) for i in range(head)] + [(None if i is None else i + head, None if j is None else j + head)
                                               for i, j in core]
             + [(n - tail + k, m - tail + k) for k in range(tail)])
    pairs = []
    for i, j in steps:
        if i is not None and j is not None:
            fields = tuple(f for f in dict.fromkeys([*content_a[i], *content_b[j]])
                           if content_a[i].get(f) != content_b[j].get(f))
            pairs.append(Pair("changed" if fields else "same", i, j, a[i].sender, a[i].kind, fields))
        elif i is not None:
            pairs.append(Pair("only_a", i, None, a[i].sender, a[i].kind))
        else:
            assert j is not None
            pairs.append(Pair("only_b", None, j, b[j].sender, b[j].kind))
    return pairs, method


def _align(class_a: list[int], sig_a: list[int], class_b: list[int],
           sig_b: list[int]) -> tuple[list[tuple[int | None, int | None]], Literal["full", "banded"]]:
    """The least-cost alignment as (i, j) steps; ``None`` on the side a message is missing from."""
    n, m = len(class_a), len(class_b)
    full = n * m <= FULL_CELLS
    width = m + n if full else max(FULL_CELLS // (2 * (n + 1)), m // max(n, 1) + 2)
    bounds = [(0, m)] * (n + 1) if full else [
        (max(0, i * m // n - width), min(m, i * m // n + width)) if n else (0, m) for i in range(n + 1)]
    never = n + m + 1
    prev_lo, prev_hi = bounds[0]
    prev = list(range(prev_lo, prev_hi + 1))
    moves = [bytearray([_LEFT]) * (prev_hi - prev_lo + 1)]
    for i in range(1, n + 1):
        lo, hi = bounds[i]
        here, sig = class_a[i - 1], sig_a[i - 1]
        row = [never] * (hi - lo + 1)
        move = bytearray(hi - lo + 1)
        for j in range(lo, hi + 1):
            best, step = (prev[j - prev_lo] + 1, _UP) if prev_lo <= j <= prev_hi else (never, _UP)
            if j > lo and row[j - 1 - lo] + 1 <= best:  # read backwards: B's alone after A's alone
                best, step = row[j - 1 - lo] + 1, _LEFT
            if j and class_b[j - 1] == here and prev_lo <= j - 1 <= prev_hi:
                cost = prev[j - 1 - prev_lo] + (sig_b[j - 1] != sig)
                if cost <= best:
                    best, step = cost, _DIAG
            row[j - lo] = best
            move[j - lo] = step
        moves.append(move)
        prev, prev_lo, prev_hi = row, lo, hi
    steps: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i or j:
        step = moves[i][j - bounds[i][0]] if i else _LEFT
        if step == _DIAG:
            i, j = i - 1, j - 1
            steps.append((i, j))
        elif step == _UP:
            i -= 1
            steps.append((i, None))
        else:
            j -= 1
            steps.append((None, j))
    steps.reverse()
    return steps, "full" if full else "banded"
