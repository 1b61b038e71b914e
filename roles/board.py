"""Adaptive N for best_of_n: finished candidates post their evidence on a board; the step stops once it is decided.

Each candidate of a best_of_n step, once written and run, posts what the ranking
weighs (:mod:`roles.vote`): whether it passed the task's examples, what it returns
on the probe calls, and which designed tests it passes. Just before each
candidate's model call (its first, or the fix after a failed run) the board is
asked whether the evidence already decides the step (:func:`settled`); if so,
the call is refused with :class:`CandidateSkipped` and the candidate is not written.
With ``give_up`` the board also stops the step once that many candidates are written and
their evidence leads nowhere (:func:`leads_nowhere`): the model is guessing, and more
guesses cost more than they are likely to find.
The ranking then reuses the posted evidence instead of running the probes again.

Example:
    >>> ok = Evidence("def inc(n): return n + 1", ("2", "1"), passed=True)
    >>> settled([ok, ok], agree=2, examples=True), settled([ok], agree=2, examples=True)
    (True, False)
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from roles.designed import designed_results
from roles.executor import task_counts
from roles.probe import behaviour, runs
from studio.llm.gateway import CallRefused
from studio.messages import Execution

__all__ = ["Board", "CandidateSkipped", "Evidence", "evidence_of", "leads_nowhere", "settled"]

NO_EXAMPLE_EXTRA = 1
"""Without examples the leading cluster must lead by this many more than ``agree`` (agreement is all there is)."""


class CandidateSkipped(CallRefused):
    """A candidate's model call is not made: the candidates before it already decided the step."""


@dataclass(frozen=True)
class Evidence:
    """What a finished candidate posts on the board."""

    code: str
    """The code the evidence is about (the branch's last)."""
    behaviour: tuple[str, ...] | None
    """What it returns on each probe call (:func:`roles.probe.behaviour`); ``None`` when it could not be run."""
    passed: bool
    """Its run passed the task's examples (without examples: it ran clean)."""
    designed: tuple[bool, ...] = ()
    """Whether it passes each designed test (empty without designed tests)."""


def _largest_clusters(posts: Sequence[Evidence], most: int) -> list[int]:
    """The sizes of the ``most`` largest clusters: candidates that passed (or ran clean) and return the same."""
    return [n for _, n in Counter(e.behaviour for e in posts if e.passed and runs(e.behaviour)).most_common(most)]


def settled(posts: Sequence[Evidence], agree: int, examples: bool) -> bool:
    """Whether the evidence decides the step: the leading cluster leads every other one by ``agree`` candidates.

    A cluster is the candidates that passed the task's examples (or, without examples, ran clean) and return
    the same on every probe call; a crash is no vote (:func:`roles.probe.runs`). The leading cluster must have
    ``agree`` more members than the runner-up (so at least ``agree``); without examples
    :data:`NO_EXAMPLE_EXTRA` more still, as agreement is then the only evidence and a small model's wrong
    answers also come in clusters. ``agree`` 0 never settles.

    Example:
        >>> a, b = Evidence("a", ("1",), True), Evidence("b", ("2",), True)
        >>> settled([a, a, b], agree=2, examples=True), settled([a, a, a, b], agree=2, examples=True)
        (False, True)
        >>> settled([a, a, a, b], agree=2, examples=False), settled([a, a, a], agree=2, examples=False)
        (False, True)
    """
    if agree <= 0:
        return False
    sizes = _largest_clusters(posts, 2)
    lead = sizes[0] - (sizes[1] if len(sizes) > 1 else 0) if sizes else 0
    return lead >= agree + (0 if examples else NO_EXAMPLE_EXTRA)


def leads_nowhere(posts: Sequence[Evidence], examples: bool) -> bool:
    """Whether the evidence points at no candidate: none passed the examples, or (without any) no two agree.

    Without examples, agreement is the only evidence: when no two candidates that run return the same on the
    probe calls, every one is a guess of its own. A candidate that passed the task's examples is a lead.

    Example:
        >>> a, b, broken = Evidence("a", ("1",), True), Evidence("b", ("2",), True), Evidence("c", None, True)
        >>> leads_nowhere([a, b, broken], examples=False), leads_nowhere([a, b, a], examples=False)
        (True, False)
        >>> failed = Evidence("d", ("1",), passed=False)
        >>> leads_nowhere([failed, failed], examples=True), leads_nowhere([failed, a], examples=True)
        (True, False)
    """
    if examples:
        return not any(e.passed for e in posts)
    sizes = _largest_clusters(posts, 1)
    return not sizes or sizes[0] < 2


class Board:
    """One best_of_n step's evidence, posted by its candidates from their threads.

    Example:
        >>> board = Board(agree=1, examples=True, calls=("inc(1)",))
        >>> board.post("c1", Evidence("code", ("2",), passed=True))
        >>> board.decided, board.written
        (True, ['c1'])
    """

    def __init__(self, agree: int, examples: bool, calls: Sequence[str], designed: Sequence[str] = (),
                 replayed: frozenset[str] | None = None, give_up: int = 0):
        """A board for a step whose task has ``examples`` (or not), probed with ``calls``.

        ``replayed``: in a replay, the candidates the recording wrote; the others are skipped, whatever the
        evidence says when they start. ``give_up``: once this many candidates posted and their evidence leads
        nowhere, the step is decided too (0: never); without examples it needs ``calls`` to judge by.
        """
        self.agree, self.examples, self.replayed = agree, examples, replayed
        self.give_up = give_up if examples or calls else 0
        self.gave_up = False
        """Whether the step stopped because the evidence led nowhere (rather than because it agreed)."""
        self.calls, self.designed = tuple(calls), tuple(designed)
        self._lock = threading.Lock()
        self._posts: dict[str, Evidence] = {}
        self._decided = False
        self.skipped: list[str] = []
        """Candidates whose model call was refused, in the order they were."""

    @property
    def decided(self) -> bool:
        """Whether the posted evidence decides the step (no further candidate is written)."""
        return self._decided

    @property
    def written(self) -> list[str]:
        """The candidates that posted evidence, in the order they did."""
        with self._lock:
            return list(self._posts)

    def post(self, name: str, evidence: Evidence) -> None:
        """Candidate ``name``'s evidence (a later post replaces an earlier one)."""
        with self._lock:
            self._posts[name] = evidence
            if self._decided:
                return
            posts = list(self._posts.values())
            self._decided = settled(posts, self.agree, self.examples)
            if not self._decided and self.give_up and len(posts) >= self.give_up:
                self._decided = self.gave_up = leads_nowhere(posts, self.examples)

    def check(self, name: str) -> None:
        """Raise :class:`CandidateSkipped` when the step is decided (the hook before ``name``'s model calls)."""
        if self.replayed is not None and name in self.replayed:
            return
        if self._decided or self.replayed is not None:
            with self._lock:
                if name not in self.skipped:
                    self.skipped.append(name)
            why = "the evidence leads nowhere" if self.gave_up else f"{self.agree} candidates agree"
            raise CandidateSkipped(f"candidate {name} is not needed: {why}")

    def copy_of(self, code: str) -> Evidence | None:
        """What a candidate with the same ``code`` posted (``None``: none did).

        Small models write the same code again and again; the same program gives the same results, so it is
        probed once.
        """
        with self._lock:
            return next((e for e in self._posts.values() if e.code == code), None)

    def evidence(self, name: str, code: str) -> Evidence | None:
        """What ``name`` posted about ``code`` (``None`` when it posted nothing, or about other code)."""
        with self._lock:
            found = self._posts.get(name)
        return found if found is not None and found.code == code else None


def evidence_of(code: str, ran: Execution | None, board: Board, sandbox, name: str) -> Evidence:
    """A candidate's evidence for ``board``: its run, its results on the probe calls, its designed tests.

    The probe calls run once per distinct code: a copy of code already posted takes its results.

    The designed tests' results are read from the run when it ran them (:func:`roles.executor.execute` does,
    when the code's own run exits 0), else run here.
    """
    passed = False
    if ran is not None:
        done, failed = task_counts(ran)
        clean = ran.limit is None and failed == 0 and (ran.exit_code == 0 or ran.own_failed > 0)
        passed = clean and (done > 0 or not board.examples)
    same = board.copy_of(code)
    if same is not None:
        seen = same.behaviour
    else:
        seen = behaviour(code, board.calls, sandbox, name=f"probe-{name}") if board.calls else None
    rows: tuple[bool, ...] = ()
    if board.designed:
        if ran is not None and ran.exit_code == 0 and ran.designed_passed + len(ran.designed_failed) == \
                len(board.designed):
            rows = tuple(t not in ran.designed_failed for t in board.designed)
        else:
            rows = tuple(designed_results(code, board.designed, sandbox, name=f"designed-{name}"))
    return Evidence(code, seen, passed, rows)
