"""Budgets kept before each model call: the run's meter, its reservations, and the prices behind dollar limits.

Every call first reserves what it could spend at most (its prompt's tokens plus ``max_tokens``, their price,
one call) against the run's budget and its role's; a reservation that would overrun either is refused with
:class:`BudgetReached` and the call is not made. Once the call returns, the reservation is settled with what
it really spent. Reservations are atomic, so parallel branches cannot overspend together.

Example:
    >>> from studio.spec import Budget
    >>> meter = Meter(Budget(tokens=100))
    >>> ticket = meter.reserve("coder", "scripted:x.yaml", prompt_tokens=20, max_tokens=50)
    >>> meter.settle(ticket, Usage(prompt_tokens=20, completion_tokens=10, calls=1))
    >>> meter.total.tokens
    30
    >>> try:
    ...     meter.reserve("coder", "scripted:x.yaml", prompt_tokens=20, max_tokens=60)
    ... except BudgetReached as stop:
    ...     print(stop)
    the run's token budget (100) is reached: 30 spent, and the next call of coder could take up to 80
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from studio.llm.gateway import CallRefused, ModelConfigError, litellm
from studio.messages import Approval, Error, Final, Message, Usage
from studio.spec import TeamSpec
from studio.spec.budget import BUDGET_FIELDS, Budget

__all__ = ["BudgetConfigError", "BudgetReached", "Meter", "Spend", "Ticket", "check_prices", "count_prompt_tokens",
           "logged_budgets", "price_of", "role_budgets", "run_meter", "spend_of", "spenders", "unlogged", "with_budget",
           "working_seconds"]

_NAMES = {"tokens": "token", "usd": "dollar", "seconds": "time", "model_calls": "model-call"}


class BudgetConfigError(ModelConfigError):
    """A budget that cannot be kept as configured (a dollar budget on a model without a known price)."""


class BudgetReached(CallRefused):
    """The next model call could overrun a budget: it is not made, and the run stops with its best work."""

    def __init__(self, scope: str, limit: str, text: str):
        super().__init__(text)
        self.scope = scope
        """``run`` or the role's name."""
        self.limit = limit
        """Which limit: ``tokens``, ``usd``, ``seconds`` or ``model_calls``."""


@dataclass
class Spend:
    """What was spent (or is reserved): tokens, dollars, seconds of model time and model calls."""

    tokens: int = 0
    usd: float = 0.0
    seconds: float = 0.0
    model_calls: int = 0

    def add(self, other: Spend, sign: int = 1) -> None:
        """Add ``other`` in place (``sign=-1`` takes it away)."""
        self.tokens += sign * other.tokens
        self.usd += sign * other.usd
        self.seconds += sign * other.seconds
        self.model_calls += sign * other.model_calls

    @classmethod
    def of(cls, usage: Usage) -> Spend:
        """What a message's (or a call's) usage spent."""
        return cls(usage.prompt_tokens + usage.completion_tokens, usage.cost_usd, usage.latency_ms / 1000,
                   usage.calls)


@dataclass(frozen=True)
class Ticket:
    """A reservation for one call: settle it with what the call spent, or release it."""

    role: str
    held: Spend


@dataclass
class Meter:
    """A run's spending against its budget and its roles' budgets, shared by every branch of the run.

    Args:
        budget: the run's limits (``None``: none).
        roles: role name -> that role's limits.
        prices: model -> (dollars per prompt token, dollars per completion token), for dollar budgets.
        spent: what the run had already spent per role (a resumed run: from its log).
        elapsed_s: working seconds the run had already spent (a resumed run).
    """

    budget: Budget | None = None
    roles: dict[str, Budget] = field(default_factory=dict)
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    spent: dict[str, Spend] = field(default_factory=dict)
    elapsed_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _reserved: dict[str, Spend] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._started = self.clock()

    @property
    def limited(self) -> bool:
        """Whether any limit applies (else the runner need not meter at all)."""
        return not ((self.budget is None or self.budget.empty) and all(b.empty for b in self.roles.values()))

    @property
    def seconds(self) -> float:
        """Working seconds of the run so far (this session and the earlier ones)."""
        return self.elapsed_s + self.clock() - self._started

    @property
    def total(self) -> Spend:
        """What the run spent, every role together (reservations not included)."""
        out = Spend()
        with self._lock:
            for spend in self.spent.values():
                out.add(spend)
        return out

    def remaining_seconds(self) -> float | None:
        """Seconds left of the run's time budget (``None``: no time budget)."""
        if self.budget is None or self.budget.seconds is None:
            return None
        return max(0.0, self.budget.seconds - self.seconds)

    def reserve(self, role: str, model: str, *, prompt_tokens: int, max_tokens: int) -> Ticket:
        """Hold what the next call of ``role`` could spend at most, or raise :class:`BudgetReached`."""
        prompt_price, completion_price = self.prices.get(model, (0.0, 0.0))
        need = Spend(prompt_tokens + max_tokens, prompt_tokens * prompt_price + max_tokens * completion_price,
                     0.0, 1)
        with self._lock:
            run_spent, role_spent = Spend(), Spend()
            for name in set(self.spent) | set(self._reserved):
                for part in (self.spent.get(name), self._reserved.get(name)):
                    if part is not None:
                        run_spent.add(part)
                        if name == role:
                            role_spent.add(part)
            run_spent.seconds = self.seconds  # the run's time is wall time; a role's is its calls' time
            self._check("run", "the run's", self.budget, run_spent, need, role)
            self._check(role, f"role {role}'s", self.roles.get(role), role_spent, need, role)
            self._reserved.setdefault(role, Spend()).add(need)
        return Ticket(role, need)

    def settle(self, ticket: Ticket, usage: Usage) -> None:
        """The call behind ``ticket`` returned, having spent ``usage``."""
        with self._lock:
            self._reserved[ticket.role].add(ticket.held, -1)
            self.spent.setdefault(ticket.role, Spend()).add(Spend.of(usage))

    def record(self, role: str, usage: Usage) -> None:
        """A call of ``role`` made without a reservation (no limit applies) spent ``usage``."""
        with self._lock:
            self.spent.setdefault(role, Spend()).add(Spend.of(usage))

    def release(self, ticket: Ticket) -> None:
        """The call behind ``ticket`` failed before it spent anything the meter can know of."""
        with self._lock:
            self._reserved[ticket.role].add(ticket.held, -1)

    @staticmethod
    def _check(scope: str, whose: str, budget: Budget | None, spent: Spend, need: Spend, role: str) -> None:
        if budget is None:
            return
        for name in BUDGET_FIELDS:
            limit = getattr(budget, name)
            if limit is None:
                continue
            used, more = getattr(spent, name), getattr(need, name)
            if name == "seconds":
                if used < limit:
                    continue
                text = f"{whose} time budget ({limit:g} s) is spent: {used:.1f} s"
            elif used + more <= limit:
                continue
            elif name == "usd":
                text = (f"{whose} dollar budget (${limit:g}) is reached: ${used:.4f} spent, and the next call of "
                        f"{role} could cost up to ${more:.4f}")
            elif name == "model_calls":
                text = f"{whose} model-call budget ({limit}) is reached: {used} calls made"
            else:
                text = (f"{whose} token budget ({limit:,}) is reached: {used:,} spent, and the next call of {role} "
                        f"could take up to {more:,}")
            raise BudgetReached(scope, name, text)


def price_of(model: str) -> tuple[float, float] | None:
    """Dollars per prompt token and per completion token of ``model`` (``None``: litellm knows no price).

    The in-process models (``local/...``, ``scripted:``) cost nothing.
    """
    if model.startswith(("local/", "scripted:")):
        return 0.0, 0.0
    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises for a model it has no entry for
        return None
    prompt, completion = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if prompt is None or completion is None:
        return None
    return float(prompt), float(completion)


def check_prices(models: Iterable[str]) -> dict[str, tuple[float, float]]:
    """The price of each model, for a dollar budget.

    Raises:
        BudgetConfigError: a model has no known price (a dollar budget would silently count it as free).
    """
    prices: dict[str, tuple[float, float]] = {}
    for model in sorted(set(models)):
        price = price_of(model)
        if price is None:
            raise BudgetConfigError(
                f"budget.usd: model {model} has no known price (litellm's cost map has none), so a dollar budget "
                "cannot be kept; use a tokens or model_calls budget for it instead, or remove budget.usd")
        prices[model] = price
    return prices


def count_prompt_tokens(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """The tokens ``messages`` will cost as a prompt to ``model`` (a close upper estimate where not exact).

    Scripted models count words, as their usage does; the embedded model counts with its own tokenizer; any
    other model with litellm's counter for it.
    """
    if model.startswith("scripted:"):
        return sum(len(str(m.get("content") or "").split()) for m in messages)
    if model.startswith("local/"):
        from studio.llm.local import get_local_model

        local = get_local_model(model.removeprefix("local/"))
        counter = getattr(local, "count_prompt_tokens", None)
        if counter is not None:
            return int(counter(messages))
    try:
        return int(litellm.token_counter(model=model, messages=messages, tools=tools))  # type: ignore[arg-type]
    except Exception:  # a model litellm has no tokenizer for: four characters a token, rounded up, and some slack
        text = sum(len(str(m.get("content") or "")) for m in messages)
        return text // 3 + 8 * len(messages)


def role_budgets(spec: TeamSpec) -> dict[str, Budget]:
    """The roles of ``spec`` that have a budget with a limit set, by name."""
    return {r.name: r.budget for r in spec.roles if r.budget is not None and not r.budget.empty}


def _logged(data: Any) -> Budget | None:
    try:
        budget = Budget.model_validate({k: v for k, v in data.items() if v is not None})
    except (ValidationError, AttributeError):  # not a mapping, or written by another version
        return None
    return None if budget.empty else budget


def logged_budgets(spec: Any) -> tuple[Budget | None, dict[str, Budget]]:
    """The run's budget and its roles', from a spec as the run log keeps it (a dict).

    A budget that no longer validates (a log written by another version) counts as none: the spend shows alone.

    Example:
        >>> run, roles = logged_budgets({"budget": {"tokens": 900},
        ...                              "roles": [{"name": "critic", "budget": {"model_calls": 2}}]})
        >>> run.tokens, roles["critic"].model_calls
        (900, 2)
    """
    spec = spec if isinstance(spec, dict) else {}
    roles = {str(r.get("name", "")): _logged(r.get("budget") or {})
             for r in spec.get("roles", []) if isinstance(r, dict)}
    return _logged(spec.get("budget") or {}), {name: b for name, b in roles.items() if b is not None}


def spend_of(messages: Iterable[Message]) -> tuple[Spend, dict[str, Spend]]:
    """What a run's messages spent: in total, and per sender (a role's branches count as the role).

    Each ``Spend.seconds`` here is model time (the calls' latency); a run's wall time is
    :func:`working_seconds`. These are the run log's sums: a live meter built on them agrees with the log.

    Example:
        >>> from studio.messages import Code
        >>> total, per_role = spend_of([Code(run_id="r", sender="coder", branch="c2",
        ...                                  usage=Usage(prompt_tokens=5, completion_tokens=7, calls=1))])
        >>> total.tokens, per_role["coder"].model_calls
        (12, 1)
    """
    total, per_role = Spend(), dict[str, Spend]()
    for message in messages:
        spend = Spend.of(message.usage)
        total.add(spend)
        per_role.setdefault(message.sender, Spend()).add(spend)
    return total, per_role


def spenders(per_role: dict[str, Spend], roles: dict[str, Budget]) -> list[str]:
    """Who a meter lists after the run: each sender that spent, then each role with a budget that has not yet."""
    spent = [who for who, s in per_role.items() if s.tokens or s.model_calls or s.usd or who in roles]
    return spent + [name for name in roles if name not in per_role]


def working_seconds(messages: list[Message]) -> float:
    """The seconds a run spent working, from its log: waits for a person, and time between sessions, excluded.

    A gap after an approval request, a final message or a fatal error is a wait (or the run was over until
    it was resumed); every other gap between two messages was work.
    """
    total = 0.0
    for before, after in zip(messages, messages[1:], strict=False):
        if isinstance(before, (Approval, Final)) or (isinstance(before, Error) and before.fatal):
            continue
        total += max(0.0, (after.created_at - before.created_at).total_seconds())
    return total


def unlogged(meter: Meter, messages: list[Message]) -> Usage:
    """What ``meter`` counted that none of ``messages`` carries (calls of a turn that did not end), as a usage."""
    total, logged = meter.total, Spend()
    for message in messages:
        logged.add(Spend.of(message.usage))
    tokens = max(0, total.tokens - logged.tokens)
    return Usage(completion_tokens=tokens, cost_usd=max(0.0, total.usd - logged.usd),
                 latency_ms=max(0.0, total.seconds - logged.seconds) * 1000,
                 calls=max(0, total.model_calls - logged.model_calls))


def with_budget(spec: TeamSpec, budget: Budget | None) -> TeamSpec:
    """``spec`` with ``budget``'s limits set over its own run budget (the command line's ``--budget-*``)."""
    if budget is None or budget.empty:
        return spec
    return spec.model_copy(update={"budget": (spec.budget or Budget()).merged(budget)})


def run_meter(spec: TeamSpec, model: str | None, logged: list[Message] | None = None) -> Meter:
    """The run's meter: its budget, its roles' budgets and the prices a dollar budget needs.

    For a resumed run, ``logged`` (its log so far) seeds what was spent, per role, and the working seconds.

    Raises:
        BudgetConfigError: a dollar budget on a model with no known price.
    """
    roles = role_budgets(spec)
    priced = {spec.model_for(r.name, model) for r in spec.roles if spec.budget is not None and spec.budget.usd} | {
        spec.model_for(name, model) for name, budget in roles.items() if budget.usd}
    spent: dict[str, Spend] = {}
    for message in logged or []:
        spent.setdefault(message.sender, Spend()).add(Spend.of(message.usage))
    return Meter(spec.budget, roles, check_prices(priced), spent, working_seconds(logged or []))
