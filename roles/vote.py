"""Choose among candidate programs by running them: the task's examples, agreement, then designed tests.

The order of the evidence, strongest first:

1. **The task's examples** (``assert`` lines, ``>>>`` lines, "f(x) should
   return y" sentences): a candidate that passes more of them wins.
2. **Agreement on inputs** (MBR-exec): each candidate runs on probe inputs
   (the examples' calls varied, or inputs generated from the signature and text
   when the task has no example); candidates that return the same values form a
   cluster, and the largest cluster of candidates that run wins. A crash is no
   vote: a majority that crashes alike loses to a minority that runs.
3. **Designed tests** (AgentCoder, CodeT): asserts written from the task's text
   by a test designer. A small model's asserts are often wrong, so each is
   trusted only as far as the candidates agree with it: its weight is the
   share of running candidates that pass it, and a candidate scores the weights
   of the tests it passes. Right code is not sunk by a wrong test that only a
   few candidates pass, and it breaks ties between clusters of one size.
4. **Different programs**: between clusters of one size, the one that more
   distinct programs reach wins. A small model writes one program many times;
   its copies agree because they are one program, not because they found the
   same answer.
5. What is still tied goes to the shortest code.

The designed tests' weights are :func:`roles.designed.trust`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from roles.executor import given_tests, run_code
from roles.ranker import Candidate, by_evidence, with_agreement, with_designed
from studio.messages import Code

__all__ = ["choose", "ranked"]


def ranked(candidates: list[Candidate], task: str, sandbox: Any, designed: Sequence[str] = ()) -> list[Candidate]:
    """The candidates best first: by their runs, agreement, designed tests, distinct programs, the shortest code."""
    scored = with_designed(with_agreement(candidates, task, sandbox), designed, sandbox)
    shortest = sorted(scored, key=lambda c: len(c.code.code.strip()) if c.code and c.code.code.strip() else 1 << 30)
    return by_evidence(shortest)


def choose(task: str, codes: list[str], sandbox: Any, designed: Sequence[str] = ()) -> int:
    """The index of the code to keep among ``codes``, by the evidence above (``0`` when nothing tells them apart).

    Each code runs against the task's own examples in ``sandbox``; the vote needs no roles and no model, so a
    baseline (``huddle eval --baseline sample-vote``) and a team's ranking choose alike.
    """
    tests = given_tests(task)
    candidates = [Candidate(f"s{i + 1}", Code(run_id="vote", sender="vote", code=code),
                            run_code(sandbox, code, tests, run_id="vote", sender="vote", name=f"vote-s{i + 1}")
                            if code.strip() else None)
                  for i, code in enumerate(codes)]
    best = ranked(candidates, task, sandbox, designed)[0]
    return int(best.name[1:]) - 1
