"""Designed tests as evidence: each assert weighted by the share of candidates that pass it.

A test designer's asserts (:mod:`roles.designer`) come from a small model and
are often wrong. Trusted in proportion to the candidates that agree with them
(CodeT's dual agreement, simplified), a wrong assert that few candidates pass
weighs little, so it cannot sink right code that agrees with the others.

Example:
    >>> trust([[True, False], [True, False], [True, True]])
    [1.0, 0.3333]
    >>> scores([[True, False], [True, False], [True, True]])
    [1.0, 1.0, 1.3333]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["DESIGNED", "designed_results", "designed_scores", "scores", "trust"]

DESIGNED = "test_designed.py"
"""The file a candidate's designed tests run from (its asserts are named ``test_designed.py:LINE``)."""


def designed_results(code: str, tests: Sequence[str], sandbox: Any, name: str = "designed") -> list[bool]:
    """Whether ``code`` passes each designed assert line (all ``False`` when it cannot be run)."""
    if not tests or not code.strip():
        return [False] * len(tests)
    result = sandbox.run({"solution.py": code, DESIGNED: "\n".join(tests) + "\n"}, entry="solution.py",
                         tests=[DESIGNED], name=name)
    passed = {t.name for t in result.tests or [] if t.ok and t.of_file(DESIGNED)}
    return [f"{DESIGNED}:{line}" in passed for line in range(1, len(tests) + 1)]


def trust(results: Sequence[Sequence[bool]]) -> list[float]:
    """Each designed test's weight: the share of candidates (rows) that pass it, to four places."""
    if not results:
        return []
    return [round(sum(row[i] for row in results) / len(results), 4) for i in range(len(results[0]))]


def scores(rows: Sequence[Sequence[bool]]) -> list[float]:
    """Each candidate's (row's) score: the weights of the designed tests it passes.

    The weights come from the candidates that pass at least one test (one that runs none says nothing
    about the tests).
    """
    weights = trust([row for row in rows if any(row)] or rows)
    return [round(sum(w for w, ok in zip(weights, row, strict=True) if ok), 4) for row in rows]


def designed_scores(codes: Sequence[str], tests: Sequence[str], sandbox: Any) -> list[float]:
    """Each code's score on the designed ``tests`` (:func:`scores`), run in ``sandbox``; zeros without tests."""
    if not tests or sandbox is None:
        return [0.0] * len(codes)
    return scores([designed_results(code, tests, sandbox, name=f"designed-{i + 1}") for i, code in enumerate(codes)])


