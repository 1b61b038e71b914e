"""Budgets on the command line: the ``--budget-*`` flags, the run's meter, and the note on a budget stop.

The meter counts what the run's messages carry (their usage, as the run log sums it) and the seconds the run
works, so the numbers it shows live, and in the summary line at the end, are the run log's.

Example:
    >>> from studio.messages import Code, Usage
    >>> meter = RunMeter(Budget(tokens=20000, model_calls=40), clock=lambda: 0.0)
    >>> meter.message(Code(run_id="r", sender="coder", usage=Usage(prompt_tokens=1000, completion_tokens=234, calls=1)))
    >>> meter.text()
    'tokens 1,234/20,000 · $0.0000 · 0.0s · calls 1/40'
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import typer
from pydantic import ValidationError

from studio.llm.budget import Spend, logged_budgets, role_budgets, spend_of, with_budget, working_seconds
from studio.messages import Message
from studio.render import spend_text
from studio.spec import Budget, SpecError, TeamSpec, parse_spec

__all__ = ["FLAGS", "RunMeter", "budget_from_flags", "resumed_run", "spent_lines", "stop_note"]

FLAGS = {"tokens": "--budget-tokens", "usd": "--budget-usd", "seconds": "--budget-seconds",
         "model_calls": "--budget-calls"}
"""Each budget field's flag on ``huddle run``."""

_LIMITS = {"token": "tokens", "dollar": "usd", "time": "seconds", "model-call": "model_calls"}


def budget_from_flags(tokens: int | None = None, usd: float | None = None, seconds: float | None = None,
                      calls: int | None = None) -> Budget | None:
    """The budget the ``--budget-*`` flags set (``None``: none given).

    Raises:
        typer.BadParameter: a limit that is zero or negative, naming its flag.

    Example:
        >>> budget_from_flags(tokens=20000).tokens
        20000
        >>> try:
        ...     budget_from_flags(usd=0)
        ... except typer.BadParameter as exc:
        ...     print(exc)
        --budget-usd must be > 0 (got 0)
    """
    given = {k: v for k, v in {"tokens": tokens, "usd": usd, "seconds": seconds, "model_calls": calls}.items()
             if v is not None}
    if not given:
        return None
    try:
        return Budget(**given)
    except ValidationError as exc:
        problems = [f"{FLAGS[str(e['loc'][0])]} must be > 0 (got {e['input']})" for e in exc.errors()]
        raise typer.BadParameter("; ".join(problems)) from None


class RunMeter:
    """A run's tokens, dollars, seconds and model calls against its budgets, live, from its messages.

    Feed it each message as it is published (:meth:`message`, from any thread); a resumed run starts from
    what its log holds (``logged``). Its sums are :func:`~studio.llm.budget.spend_of` of those messages, the
    run log's; its seconds are the run's working time (:meth:`pause` it while a person is asked), a role's
    are its model calls' time.

    Args:
        budget: the run's limits.
        roles: role name -> that role's limits (those roles get a line of their own).
        logged: the messages the run had already logged (a resumed run).
        clock: seconds, monotonic.
    """

    def __init__(self, budget: Budget | None = None, roles: dict[str, Budget] | None = None,
                 logged: Iterable[Message] = (), clock: Callable[[], float] = time.monotonic):
        self.budget, self.roles, self._clock = budget, dict(roles or {}), clock
        self._messages = {m.id: m for m in logged}
        self._worked = working_seconds(list(self._messages.values()))
        self._since: float | None = clock()
        self._lock = threading.Lock()

    def use(self, spec: TeamSpec | None, logged: Iterable[Message] = ()) -> None:
        """Meter a run of ``spec`` (its budget merged with the command line's); ``logged``: its log so far."""
        logged, budget = list(logged), spec.budget if spec is not None else None
        with self._lock:
            self.budget = budget if budget is not None and not budget.empty else None
            self.roles = role_budgets(spec) if spec is not None else {}
            for message in logged:
                self._messages.setdefault(message.id, message)
            self._worked += working_seconds(logged)

    def message(self, message: Message) -> None:
        """``message`` was published (one already counted is not counted again)."""
        with self._lock:
            self._messages.setdefault(message.id, message)

    def pause(self) -> None:
        """The run waits (for a person): its seconds stop."""
        with self._lock:
            if self._since is not None:
                self._worked += self._clock() - self._since
                self._since = None

    def go(self) -> None:
        """The run works again."""
        with self._lock:
            if self._since is None:
                self._since = self._clock()

    @property
    def seconds(self) -> float:
        """The run's working seconds so far (earlier sessions of a resumed run included)."""
        with self._lock:
            return self._worked + (self._clock() - self._since if self._since is not None else 0.0)

    def spent(self) -> tuple[Spend, dict[str, Spend]]:
        """What the messages so far spent: in total and per role (as :func:`~studio.llm.budget.spend_of`)."""
        with self._lock:
            messages = list(self._messages.values())
        return spend_of(messages)

    def text(self) -> str:
        """The run's line: ``tokens 1,234/20,000 · $0.0000 · 12.3s/60s · calls 5/40``."""
        total, _ = self.spent()
        return spend_text(total, self.budget, self.seconds)

    def role_texts(self) -> list[str]:
        """One line per role with a budget: ``critic: tokens 310/1,000 · $0.0000 · 2.0s · calls 2/3``."""
        _, per_role = self.spent()
        return [f"{name}: {spend_text(per_role.get(name, Spend()), budget)}" for name, budget in self.roles.items()]


def stop_note(run_id: str, final_content: str, budget: Budget | None) -> str:
    """What ``huddle run`` says on stderr when a run stops on a budget: why, and the command that goes on.

    The command raises the limit that stopped the run to twice its value. A role's budget comes from the team
    file and stays with the run, so a run stopped by one is started again from a raised team file.

    Example:
        >>> why = ("Stopped before the next model call: the run's model-call budget (2) is reached: 2 calls made. "
        ...        "Resume with a raised budget: …")
        >>> for part in stop_note("ab12", why, Budget(model_calls=2)).split("; "):
        ...     print(part)
        run ab12 stopped by its budget: the run's model-call budget (2) is reached: 2 calls made
        go on with  huddle run --resume ab12 --budget-calls 4
    """
    found = re.search(r"model call: (.*?)\. Resume with", final_content, re.S)
    why = found.group(1) if found else final_content.split("\n", 1)[0]
    note = f"run {run_id} stopped by its budget: {why}"
    which = re.match(r"(the run's|role (\S+)'s) (token|dollar|time|model-call) budget", why)
    if which is None:
        return f"{note}; go on with  huddle run --resume {run_id} --budget-tokens N (or another --budget-* flag)"
    name = _LIMITS[which.group(3)]
    if which.group(2):  # --budget-* flags set the run's budget; a role's stays what its team file says
        return f"{note}; a role's budget comes from its team file (roles[].budget): raise it there and run again"
    limit = getattr(budget, name) if budget is not None else None
    raised = "N" if limit is None else (f"{limit * 2:g}" if name in ("usd", "seconds") else str(int(limit) * 2))
    return f"{note}; go on with  huddle run --resume {run_id} {FLAGS[name]} {raised}"


def resumed_run(run_id: str, budget: Budget | None) -> tuple[TeamSpec | None, list[Message]]:
    """The spec of the run ``run_id`` with ``budget`` over its own, and its log so far: what its meter needs.

    ``(None, [])`` for a run the log does not hold (:func:`~studio.runner.resume_run` says so).
    """
    from studio.runner import shared_store  # the run log's home and bus: langgraph with it, so not at start-up

    log = shared_store()
    info = log.get_run(run_id)
    if info is None:
        return None, []
    try:
        spec: TeamSpec | None = with_budget(parse_spec(info.spec, f"run {info.run_id}"), budget)
    except SpecError:  # resume_run names the problem
        spec = None
    return spec, log.messages(info.run_id)


def spent_lines(spec: dict[str, Any], messages: list[Message]) -> list[str]:
    """What a run spent against its budget (raised on a resume or not), then each budgeted role's (``runs show``).

    The run's seconds are its working time; a role's, its model calls' time.
    """
    total, per_role = spend_of(messages)
    budget, roles = logged_budgets(spec)
    lines = [f"spent: {spend_text(total, budget, working_seconds(messages))}"]
    return lines + [f"  {name}: {spend_text(per_role.get(name, Spend()), limit)}" for name, limit in roles.items()]
