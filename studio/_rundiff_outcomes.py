"""What two runs spent per role, and which test outcomes flipped between them (a part of :mod:`studio.rundiff`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.messages import Execution, Final, Message

__all__ = ["Flip", "RoleDelta", "Spend", "flips_between", "role_deltas"]

_PASSED, _FAILED = "passed", "failed"
_RAN = "(tests ran)"


@dataclass(frozen=True)
class Spend:
    """What one role's messages in one run spent.

    Example:
        >>> Spend(tokens=10, cost_usd=0.5) - Spend(tokens=4)
        Spend(tokens=6, cost_usd=0.5, latency_ms=0.0, calls=0, messages=0)
    """

    tokens: int = 0
    """Prompt and completion tokens."""
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    calls: int = 0
    """Model calls."""
    messages: int = 0

    def __sub__(self, other: Spend) -> Spend:
        return Spend(self.tokens - other.tokens, round(self.cost_usd - other.cost_usd, 10),
                     round(self.latency_ms - other.latency_ms, 3), self.calls - other.calls,
                     self.messages - other.messages)

    def as_dict(self) -> dict[str, Any]:
        """The spend as a JSON-ready dict."""
        return {"tokens": self.tokens, "cost_usd": self.cost_usd, "latency_ms": self.latency_ms,
                "calls": self.calls, "messages": self.messages}


@dataclass(frozen=True)
class RoleDelta:
    """One sender's spend in A and in B, and B less A.

    Example:
        >>> RoleDelta("coder", Spend(tokens=5), Spend(tokens=8)).delta.tokens
        3
    """

    role: str
    a: Spend
    b: Spend

    @property
    def delta(self) -> Spend:
        """B's spend less A's."""
        return self.b - self.a

    def as_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return {"role": self.role, "a": self.a.as_dict(), "b": self.b.as_dict(), "delta": self.delta.as_dict()}


@dataclass(frozen=True)
class Flip:
    """A test outcome that passed in one run and failed in the other.

    ``subject`` is ``run`` (the runs' status: ``done`` passed; ``unsolved``, ``failed`` and ``budget`` did not),
    ``final`` (the final code's run of the task's tests) or ``test NAME`` (one test of the last run of code
    with tests on each side).

    Example:
        >>> Flip("final", "passed", "failed").broke
        True
    """

    subject: str
    a: str
    """``passed`` or ``failed``."""
    b: str

    @property
    def broke(self) -> bool:
        """Whether it passed in A and fails in B (else it was fixed in B)."""
        return self.a == _PASSED

    def as_dict(self) -> dict[str, Any]:
        """The flip as a JSON-ready dict."""
        return {"subject": self.subject, "a": self.a, "b": self.b}


def role_deltas(a: list[Message], b: list[Message]) -> tuple[RoleDelta, ...]:
    """Each sender's spend in A and in B, in the order they first speak."""
    def spend(messages: list[Message]) -> dict[str, Spend]:
        out: dict[str, Spend] = {}
        for m in messages:
            s, u = out.get(m.sender, Spend()), m.usage
            out[m.sender] = Spend(s.tokens + u.prompt_tokens + u.completion_tokens, s.cost_usd + u.cost_usd,
                                  s.latency_ms + u.latency_ms, s.calls + u.calls, s.messages + 1)
        return out

    in_a, in_b = spend(a), spend(b)
    return tuple(RoleDelta(r, in_a.get(r, Spend()), in_b.get(r, Spend())) for r in dict.fromkeys([*in_a, *in_b]))


def _outcomes(messages: list[Message], status: str | None) -> dict[str, str]:
    """``passed``/``failed`` by subject: the run, its final code, and each test of its last code run with tests."""
    out: dict[str, str] = {}
    if status in ("done", "unsolved", "failed", "budget"):
        out["run"] = _PASSED if status == "done" else _FAILED
    final = next((m for m in reversed(messages) if isinstance(m, Final)), None)
    if final is not None and final.executed:
        out["final"] = _PASSED if final.exit_code == 0 and not final.failed else _FAILED
    runs = [m for m in messages if isinstance(m, Execution) and m.tests_run]
    last = next((m for m in reversed(runs) if not m.branch), runs[-1] if runs else None)
    if last is not None and last.limit is None:  # the tests ran to the end: those not named as failing passed
        out.update({f"test {f.split(': ', 1)[0]}": _FAILED for f in last.failures})
        out[_RAN] = _PASSED
    return out


def flips_between(a: list[Message], b: list[Message], status_a: str | None, status_b: str | None) -> tuple[Flip, ...]:
    """The test outcomes that passed in one run and failed in the other."""
    in_a, in_b = _outcomes(a, status_a), _outcomes(b, status_b)
    flips = []
    for subject in dict.fromkeys([*in_a, *in_b]):
        if subject == _RAN:
            continue
        # a test named as failing on one side only passed on the other side, if the tests ran to the end there
        x = in_a.get(subject, _PASSED if subject.startswith("test ") and _RAN in in_a else None)
        y = in_b.get(subject, _PASSED if subject.startswith("test ") and _RAN in in_b else None)
        if x and y and x != y:
            flips.append(Flip(subject, x, y))
    return tuple(flips)
