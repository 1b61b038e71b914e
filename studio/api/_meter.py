"""The notebook's budget meter: what a run spent, against its budget, as escaped HTML.

The numbers are the run log's sums over the messages shown (:func:`studio.llm.budget.spend_of`): tokens,
dollars and model calls, in total and per role; seconds are the run's working time in total and the time
each role's model calls took.

Example:
    >>> from studio.messages import Code, Usage
    >>> from studio.spec import Budget
    >>> code = Code(run_id="r", sender="coder", usage=Usage(prompt_tokens=5, completion_tokens=7, calls=1))
    >>> meter_line(*spend_of([code]), Budget(tokens=100), {}, 2.0)[0]
    'tokens 12/100 · $0.0000 · 2.0s · calls 1'
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from studio.llm.budget import Spend, spend_of, spenders
from studio.messages import Message
from studio.render import spend_text
from studio.spec import Budget

__all__ = ["meter_html", "meter_line"]


def meter_line(total: Spend, per_role: dict[str, Spend], budget: Budget | None, roles: dict[str, Budget],
               seconds: float) -> list[str]:
    """The meter as lines of text, each number with its limit where one is set.

    First the run's line (``seconds``: its working time), then one per role that spent or has a budget
    (``role: …``; its seconds: the time its model calls took).
    """
    lines = [spend_text(total, budget, seconds)]
    for who in spenders(per_role, roles):
        spend = per_role.get(who, Spend())
        lines.append(f"{who}: {spend_text(spend, roles.get(who))}")
    return lines


def meter_html(messages: Sequence[Message], budget: Budget | None = None, roles: dict[str, Budget] | None = None,
               seconds: float = 0.0) -> str:
    """The meter as HTML: the run's line (``spent: …``), then a line per role.

    Args:
        messages: the run's messages so far.
        budget: the run's budget (``None``: none; its limits are shown after each number it limits).
        roles: the roles' budgets, by name.
        seconds: the run's working seconds so far.
    """
    run, *per_role = meter_line(*spend_of(messages), budget, roles or {}, seconds)
    extra = "" if budget is not None else " · no run budget"
    rows = "".join(f"<li>{html.escape(line)}</li>" for line in per_role)
    return (f'<div class="huddle-meter"><p>spent: {html.escape(run)}{extra}</p>'
            + (f"<ul>{rows}</ul>" if rows else "") + "</div>")
