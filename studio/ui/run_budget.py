"""Budgets on the Run page: limits for the next run, the live meter, and going on after a budget stop.

The meter is computed from the messages the page reads from the run log (:func:`studio.llm.budget.spend_of`
and :func:`~studio.llm.budget.working_seconds`), so its numbers are the run log's sums: tokens, dollars and
model calls in total and per role, the run's working seconds (and, per role, the time its model calls took),
each against its limit where one is set.

Example:
    >>> from studio.messages import Code, Usage
    >>> from studio.spec import Budget
    >>> rows = meter_rows([Code(run_id="r", sender="coder", usage=Usage(prompt_tokens=5, completion_tokens=7,
    ...                                                                 calls=1))], Budget(tokens=100), {}, 3.0)
    >>> rows[0]["tokens"], rows[0]["tokens limit"], rows[1]["who"]
    (12, 100, 'coder')
    >>> meter_text(rows[0])
    'tokens 12/100 · $0.0000 · 3.0s · calls 1'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from studio.llm.budget import Spend, logged_budgets, spend_of, spenders, working_seconds
from studio.messages import Approval, Error, Final, Message
from studio.render import spend_text
from studio.spec import BUDGET_FIELDS, Budget
from studio.ui import icons, worker

__all__ = ["INPUT_KEYS", "RUN_ROW", "budget_stop", "inputs", "live_seconds", "meter_rows", "meter_text",
           "requested", "run_budgets", "show_meter"]

INPUT_KEYS = {name: f"run_budget_{name}" for name in BUDGET_FIELDS}
"""Session keys (and widgets) of the limits given for the next run on the Run page."""
RUN_ROW = "(run)"
"""The meter's row of the whole run."""
_LABELS = {"tokens": "tokens", "usd": "dollars", "seconds": "seconds", "model_calls": "model calls"}
_INTEGER = ("tokens", "model_calls")
_MORE = "run_more_{name}_{run_id}"
_NOTE = "run_budget_note"


def _number(label: str, name: str, key: str, value: float | None = None, help: str | None = None) -> None:
    integer = name in _INTEGER
    minimum: float = 1 if integer else (0.0001 if name == "usd" else 0.1)
    st.session_state.setdefault(key, value)  # seeded, not a default: a person can still empty the field
    st.number_input(label, min_value=minimum, value=None, step=1 if integer else (0.01 if name == "usd" else 1.0),
                    format=None if integer else ("%.4f" if name == "usd" else "%.1f"), key=key, help=help,
                    placeholder="no limit")


def inputs() -> None:
    """Limits for the next run (over the team's own ``budget``); empty fields leave the team's."""
    with st.expander("Budget for this run (empty: the team's own)"):
        st.caption("The run stops cleanly before a model call that could overrun a limit, with its best work so "
                   "far; it can then go on with a raised budget.")
        for name, column in zip(BUDGET_FIELDS, st.columns(len(BUDGET_FIELDS)), strict=True):
            with column:
                _number(f"Stop at {_LABELS[name]}", name, INPUT_KEYS[name])


def requested() -> Budget | None:
    """The limits given for the next run (``None``: none, the team's budget alone applies)."""
    given = {name: st.session_state.get(key) for name, key in INPUT_KEYS.items()}
    budget = Budget(**{k: v for k, v in given.items() if v is not None})
    return None if budget.empty else budget


def run_budgets(spec: dict[str, Any] | None, handle: worker.RunHandle | None = None) -> tuple[Budget | None,
                                                                                             dict[str, Budget]]:
    """The run's budget and its roles' budgets, from the spec the run log keeps.

    A budget raised on a resume in this server (``handle.budget``) is set over the run's.
    """
    run, roles = logged_budgets(spec)
    raised = handle.budget if handle is not None else None
    if raised is not None and not raised.empty:
        run = (run or Budget()).merged(raised)
    return run, roles


def live_seconds(messages: Sequence[Message], active: bool, now: datetime | None = None) -> float:
    """The run's working seconds: from its log, and while it works, the time since its last message too."""
    seconds = working_seconds(list(messages))
    if active and messages:
        last = messages[-1]
        waiting = isinstance(last, (Approval, Final)) or (isinstance(last, Error) and last.fatal)
        if not waiting:
            seconds += max(0.0, ((now or datetime.now(timezone.utc)) - last.created_at).total_seconds())
    return seconds


def _row(who: str, spend: Spend, seconds: float, budget: Budget | None) -> dict[str, Any]:
    spent = {"tokens": spend.tokens, "usd": round(spend.usd, 6), "seconds": round(seconds, 1),
             "model_calls": spend.model_calls}
    row: dict[str, Any] = {"who": who}
    row.update({_LABELS[name]: spent[name] for name in BUDGET_FIELDS})
    row.update({f"{_LABELS[name]} limit": getattr(budget, name) if budget is not None else None
                for name in BUDGET_FIELDS})
    return row


def meter_rows(messages: Sequence[Message], budget: Budget | None, roles: dict[str, Budget],
               seconds: float) -> list[dict[str, Any]]:
    """The meter as rows, each with its limits (``None``: no limit).

    First the whole run (``seconds``: its working time), then each role that spent or has a budget (its
    seconds: the time its model calls took).
    """
    total, per_role = spend_of(messages)
    rows = [_row(RUN_ROW, total, seconds, budget)]
    for who in spenders(per_role, roles):
        spend = per_role.get(who, Spend())
        rows.append(_row(who, spend, spend.seconds, roles.get(who)))
    return rows


def meter_text(row: dict[str, Any]) -> str:
    """One meter row as the CLI and the notebook show it: ``tokens 1,234/20,000 · $0.0012 · 12.3s/60s · calls 5/40``."""
    spent = Spend(*(row[_LABELS[name]] for name in BUDGET_FIELDS))
    limits = {name: row[f"{_LABELS[name]} limit"] for name in BUDGET_FIELDS}
    return spend_text(spent, Budget(**limits))


def show_meter(messages: Sequence[Message], budget: Budget | None, roles: dict[str, Budget],
               seconds: float) -> None:
    """The meter: the run's line with a bar per limit set, and a table per role (live while the run works)."""
    rows = meter_rows(messages, budget, roles, seconds)
    run = rows[0]
    st.markdown(f"{icons.ALERTS['meter']} **Spent** · {meter_text(run)}"
                + ("" if budget is not None else " · no run budget"))
    limits = [name for name in BUDGET_FIELDS if run[f"{_LABELS[name]} limit"] is not None]
    for name, bar in zip(limits, st.columns(len(limits)) if limits else [], strict=True):
        limit = float(run[f"{_LABELS[name]} limit"])
        share = min(1.0, float(run[_LABELS[name]]) / limit)
        bar.progress(share, text=f"{_LABELS[name]}: {share:.0%} of the budget")
    if len(rows) > 1:
        with st.expander("Spent per role", expanded=bool(roles)):
            st.dataframe(pd.DataFrame(rows[1:]).set_index("who").dropna(axis=1, how="all"), width="stretch")


def _more(run_id: str, home: Any) -> None:
    given = {name: st.session_state.get(_MORE.format(name=name, run_id=run_id)) for name in BUDGET_FIELDS}
    budget = Budget(**{k: v for k, v in given.items() if v is not None})
    try:
        worker.resume(run_id, home=home, budget=budget)
    except worker.RunBusy as exc:
        st.session_state[_NOTE] = (run_id, str(exc))
        return
    st.session_state.pop(_NOTE, None)


def budget_stop(run_id: str, final: Final | None, budget: Budget | None, home: Any = None) -> None:
    """A run stopped by its budget: why, and limits to go on with (each set limit doubled to start with)."""
    why = (final.content.split("\n\n", 1)[0] if final is not None else "") or "The run reached its budget."
    st.warning(f"**Stopped by its budget.** {why}", icon=icons.STATUS["budget"])
    st.caption("Go on from where it stopped with a raised budget (what it spent so far counts against it):")
    for name, column in zip(BUDGET_FIELDS, st.columns(len(BUDGET_FIELDS)), strict=True):
        limit = getattr(budget, name) if budget is not None else None
        with column:
            _number(f"New {_LABELS[name]} limit", name, _MORE.format(name=name, run_id=run_id),
                    value=None if limit is None else limit * 2)
    st.button("Continue", key=f"run_continue_{run_id}", type="primary", on_click=_more, args=(run_id, home),
              icon=icons.PAGES["run"], help="Resume the run with these limits")
    note = st.session_state.get(_NOTE)
    if note and note[0] == run_id:
        st.error(note[1], icon=icons.ALERTS["problem"])
