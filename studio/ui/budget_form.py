"""Budget fields of the Build page: the team's run budget and a role's, one number field per limit.

An empty field is no limit (the key leaves the team file, and ``budget:`` with it once every limit is empty).
Zero or a negative number is kept as typed and shown as the field's problem, like any invalid edit: the team
is not valid then, so it cannot be saved or run until the field is fixed or emptied.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.spec import BUDGET_FIELDS
from studio.ui import icons
from studio.ui.build_fields import number, problem_md
from studio.ui.team_edit import FieldPath, problems_under

__all__ = ["LABELS", "budget_fields", "dotted"]

LABELS = {"tokens": "Tokens", "usd": "Dollars (USD)", "seconds": "Seconds", "model_calls": "Model calls"}
"""Each limit's field label, by the budget's key."""
_HELP = {
    "run": {
        "tokens": "Prompt plus completion tokens of the whole run. Each call is checked before it is made, with "
                  "its prompt and max_tokens, so no call starts that could overrun.",
        "usd": "Dollars at litellm's prices; a model without a known price cannot have a dollar budget.",
        "seconds": "Wall time the run spends working (waits for your approval do not count).",
        "model_calls": "Model calls of the whole run, retries included.",
    },
    "role": {
        "tokens": "Prompt plus completion tokens of this role's calls.",
        "usd": "Dollars this role's calls may cost (its model needs a known price).",
        "seconds": "Time this role's model calls may take.",
        "model_calls": "Model calls this role may make, retries included.",
    },
}


def dotted(prefix: FieldPath) -> str:
    """``roles[1].budget`` for ``("roles", 1, "budget")``: the path a problem line names."""
    out = ""
    for part in prefix:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def budget_fields(data: dict[str, Any], problems: list[str], prefix: FieldPath, *, scope: str = "run") -> None:
    """The four limits at ``prefix`` (``("budget",)`` or ``("roles", i, "budget")``), each with its problems.

    Args:
        data: the team as edited.
        problems: the team's problem lines.
        prefix: where the budget mapping is in the team dict.
        scope: ``run`` or ``role`` (picks the help texts).
    """
    where = dotted(prefix)
    for name, column in zip(BUDGET_FIELDS, st.columns(len(BUDGET_FIELDS)), strict=True):
        with column:
            number(data, problems, LABELS[name], (*prefix, name), integer=name in ("tokens", "model_calls"),
                   fmt="%.4f" if name == "usd" else "%.1f", placeholder="no limit", help=_HELP[scope][name],
                   clearable=True)
    fields = {f"{where}.{name}" for name in BUDGET_FIELDS}
    for line in problems_under(problems, where):  # an unknown key, or a budget that is not a mapping
        if not line.startswith(tuple(f + ":" for f in fields)):
            st.error(problem_md(line), icon=icons.ALERTS["problem"])
