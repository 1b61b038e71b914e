"""The Runs page: the history of runs, a replay of one run with its timeline, and two runs of one team side by side.

The third tab diffs any two runs (``studio.ui.run_diff``): their transcripts aligned, the first divergence marked.

Everything here is read from the run log; a run still going on shows as far
as it got (the Run page follows it live).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from studio.bus import BusUnavailable
from studio.bus.sqlite import RunInfo
from studio.bus.store import RunStore
from studio.llm.budget import working_seconds
from studio.messages import Message
from studio.render import sender_text
from studio.runner import shared_store
from studio.spec import Budget
from studio.ui import icons, run_budget, run_diff, run_fork, run_page, state, timeline, transcript

__all__ = ["HISTORY_LIMIT", "budget_text", "history_frame", "page"]

HISTORY_LIMIT = 200
"""Most recent runs listed."""


def page() -> None:
    """Render the Runs page."""
    st.title(f"{icons.PAGES['runs']} Runs")
    try:
        log = shared_store(state.home())  # $HUDDLE_BUS_URL's bus (Redis Streams), else runs.db in the home
    except BusUnavailable as exc:
        st.error(str(exc))
        return
    runs = log.runs(limit=HISTORY_LIMIT)
    if not runs:
        st.info("No runs yet: start one on the Run page.")
        return
    st.dataframe(history_frame(runs), hide_index=True, width="stretch")
    replay, compare, diff = st.tabs(["Replay a run", "Compare two runs", f"{run_diff.DIVERGENCE} Diff two runs"])
    with replay:
        _replay(log, runs)
    with compare:
        _compare(log, runs)
    with diff:
        run_diff.show(log, runs)


def history_frame(runs: Sequence[RunInfo]) -> pd.DataFrame:
    """The run index as a table: team, task, status, duration, tokens, cost and budget, newest first."""
    return pd.DataFrame([{
        "run": r.run_id[:12], "team": r.team, "task": r.task, "status": r.status,
        "started": r.created_at[:19].replace("T", " "), "duration (s)": round(transcript.duration_s(r), 1),
        "messages": r.messages, "tokens": r.prompt_tokens + r.completion_tokens, "cost (USD)": r.cost_usd,
        "model": r.model or "(team's)", "budget": budget_text(run_budget.run_budgets(r.spec)[0]),
    } for r in runs])


def budget_text(budget: Budget | None) -> str:
    """A run's budget in a few words (``""``: none).

    Example:
        >>> budget_text(Budget(tokens=20000, usd=0.5))
        '20,000 tokens · $0.5'
    """
    if budget is None:
        return ""
    parts = [f"{budget.tokens:,} tokens" if budget.tokens else "", f"${budget.usd:g}" if budget.usd else "",
             f"{budget.seconds:g} s" if budget.seconds else "",
             f"{budget.model_calls} calls" if budget.model_calls else ""]
    return " · ".join(p for p in parts if p)


def _label(info: RunInfo) -> str:
    task = info.task if len(info.task) <= 48 else info.task[:47] + "…"
    return f"{info.run_id[:8]} · {info.team} · {info.status} · {task}"


def _replay(log: RunStore, runs: Sequence[RunInfo]) -> None:
    """One run, up to a point on its timeline chosen with a slider."""
    by_id = {r.run_id: r for r in runs}
    # streamlit types a choice as Optional: None only for an empty list of options
    chosen: str = st.selectbox("Run", list(by_id), format_func=lambda i: _label(by_id[i]),  # type: ignore[assignment]
                               key="runs_replay")
    info = by_id[chosen]
    messages = transcript.tail(log, chosen)
    _summary(info, messages)
    _link_to_run_page(chosen)
    if not messages:
        st.caption("no messages")
        return
    with st.expander("Timeline", expanded=True):
        picked = timeline.show(messages, key=f"runs-timeline-{chosen}", waiting=info.status == "waiting")
        if picked is not None and 0 < picked <= len(messages):
            st.caption(f"message #{picked}, picked on the timeline")
            transcript.render_transcript(messages[picked - 1:picked], transcript.role_kinds(info.spec),
                                         offset=picked - 1)
    upto = len(messages)
    if len(messages) > 1:
        upto = st.slider("Timeline: messages up to", 1, len(messages), value=len(messages),
                         key=f"runs-replay-at-{chosen}")
    at = messages[upto - 1]
    st.caption(f"at #{upto} of {len(messages)}: {sender_text(at)} · {at.kind} · {at.created_at:%H:%M:%S}")
    run_fork.show(info, at, upto)
    start = max(0, upto - transcript.WINDOW)
    if start:
        st.caption(f"showing messages {start + 1}–{upto}, the {transcript.WINDOW} up to this point")
    transcript.render_transcript(messages[start:upto], transcript.role_kinds(info.spec), offset=start)
    final = transcript.final_of(messages[:upto])
    if final is not None:
        transcript.render_result(final, key=f"replay-{chosen}")


def _compare(log: RunStore, runs: Sequence[RunInfo]) -> None:
    """Two runs of the same team in two columns: summary, final code and test result, transcript."""
    teams = list(dict.fromkeys(r.team for r in runs))  # most recently run first
    team = st.selectbox("Team", teams, key="runs_compare_team")
    theirs = {r.run_id: r for r in runs if r.team == team}
    if len(theirs) < 2:
        st.info(f"Comparing needs two runs of {team!r}; it has {len(theirs)}.")
        return
    ids = list(theirs)
    columns = st.columns(2)
    for side, column, default in (("left", columns[0], 1), ("right", columns[1], 0)):
        with column:
            chosen: str = st.selectbox(f"Run ({side})", ids, index=default,  # type: ignore[assignment]
                                       format_func=lambda i: _label(theirs[i]), key=f"runs_compare_{side}")
            _side(log, theirs[chosen], side)


def _side(log: RunStore, info: RunInfo, side: str) -> None:
    messages = transcript.tail(log, info.run_id)
    st.markdown(f"**{info.task}**")
    _summary(info, messages)
    transcript.render_result(transcript.final_of(messages), key=f"compare-{side}-{info.run_id}")
    with st.expander(f"Transcript ({len(messages)} messages)", expanded=True):
        start, end = transcript.window(len(messages), key=f"runs-compare-window-{side}-{info.run_id}")
        transcript.render_transcript(messages[start:end], transcript.role_kinds(info.spec), offset=start)


def _summary(info: RunInfo, messages: Sequence[Message]) -> None:
    """Status, messages, tokens and cost as metrics, then the run's error, if any."""
    status, count, tokens, cost = st.columns(4)
    status.metric("status", f"{transcript.STATUS_ICONS.get(info.status, '')} {info.status}")
    count.metric("messages", len(messages))
    tokens.metric("tokens", f"{info.prompt_tokens + info.completion_tokens:,}")
    cost.metric("cost", f"${info.cost_usd:.4f}")
    st.caption(f"run `{info.run_id}` · team {info.team} · {transcript.duration_s(info):.1f}s · "
               f"{transcript.rounds(messages)} rounds · model {info.model or '(the team’s)'}")
    budget, roles = run_budget.run_budgets(info.spec)
    [spent, *_] = run_budget.meter_rows(messages, budget, roles, working_seconds(list(messages)))
    st.caption(f"{icons.ALERTS['meter']} spent: {run_budget.meter_text(spent)}"
               + ("" if budget is None else " (against the run's budget)") + " · seconds: working time")
    if info.error:
        st.error(info.error)


def _link_to_run_page(run_id: str) -> None:
    """A link that opens the run on the Run page (``?run=ID``)."""
    try:
        st.page_link(st.Page(run_page.page, title="Run", icon=icons.PAGES["run"], url_path="run"),
                     label="Open on the Run page", icon=icons.PAGES["run"], query_params={"run": run_id})
    except StreamlitAPIException:  # no navigation (a page rendered on its own, as in tests)
        st.caption(f"Open it on the Run page: `?run={run_id}`")
