"""The Runs page's diff: two runs' transcripts aligned side by side, the first divergence highlighted.

Any two runs can be picked (A and B); a run that records the run it was
forked from offers "Diff with its parent" in one click. The alignment is
:func:`studio.rundiff.diff_runs` (by sender and kind, an edit distance), as
``huddle runs diff`` prints it. The page shows the counts, where the runs
first part, a window of aligned pairs that starts just before it (each
message numbered as its run's transcript numbers it, with a link that opens
the run on the Run page), what changed in a changed pair, then each role's
spend in A and B and the test outcomes that flipped.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from studio.bus.sqlite import RunInfo
from studio.bus.store import RunStore
from studio.kinds import KINDS
from studio.messages import Message
from studio.render import sender_text
from studio.rundiff import Pair, RunDiff, content_of, diff_runs
from studio.ui import icons, transcript

__all__ = ["DIVERGENCE", "KEY_A", "KEY_B", "LEAD", "MARKS", "WINDOW", "parent_of", "render", "roles_frame",
           "show"]

KEY_A, KEY_B = "runs_diff_a", "runs_diff_b"
"""Session keys of the two runs picked."""
WINDOW = 50
"""Pairs shown at once; a slider pages through a longer diff."""
LEAD = 3
"""Pairs shown before the first divergence, where the window starts."""
DIVERGENCE = ":material/call_split:"
"""The mark of the first divergence."""
MARKS = {"same": ":material/drag_handle:", "changed": ":material/change_history:", "only_a": ":material/remove:",
         "only_b": ":material/add:"}
"""Each pair's mark in front of its messages, by status."""
_TEXT = 600


def parent_of(info: RunInfo) -> str | None:
    """The run ``info`` was forked from (``huddle runs fork``), when the run log records one (``None`` otherwise)."""
    return getattr(info, "parent_run", None) or None  # a run log written before forks has no such column


def _label(info: RunInfo) -> str:
    task = info.task if len(info.task) <= 40 else info.task[:39] + "…"
    return f"{info.run_id[:8]} · {info.team} · {info.status} · {task}"


def _pick(a: str, b: str) -> None:
    st.session_state[KEY_A], st.session_state[KEY_B] = a, b


def show(log: RunStore, runs: Sequence[RunInfo]) -> None:
    """Pick runs A and B (B's parent with one click, when it has one) and show their diff."""
    by_id = {r.run_id: r for r in runs}
    ids = list(by_id)
    if len(ids) < 2:
        st.info(f"A diff needs two runs; the run log has {len(ids)}.")
        return
    if st.session_state.get(KEY_B) not in by_id:
        st.session_state[KEY_B] = ids[0]
    if st.session_state.get(KEY_A) not in by_id:
        parent = parent_of(by_id[st.session_state[KEY_B]])
        st.session_state[KEY_A] = parent if parent in by_id else next(i for i in ids if i != st.session_state[KEY_B])
    left, right = st.columns(2)
    # streamlit types a choice as Optional: None only for an empty list of options
    a: str = left.selectbox("Run A", ids, format_func=lambda i: _label(by_id[i]), key=KEY_A)  # type: ignore[assignment]
    b: str = right.selectbox("Run B", ids, format_func=lambda i: _label(by_id[i]), key=KEY_B)  # type: ignore[assignment]
    parent = parent_of(by_id[b])
    if parent in by_id and parent != a:
        st.button(f"Diff with its parent ({parent[:8]})", icon=DIVERGENCE, on_click=_pick, args=(parent, b),
                  key="runs_diff_parent")
    messages_a, messages_b = transcript.tail(log, a), transcript.tail(log, b)
    diff = diff_runs(list(messages_a), list(messages_b), status_a=by_id[a].status, status_b=by_id[b].status)
    render(diff, messages_a, messages_b, by_id[a], by_id[b])


def render(diff: RunDiff, a: Sequence[Message], b: Sequence[Message], info_a: RunInfo, info_b: RunInfo) -> None:
    """The diff of two runs: counts, the first divergence, aligned pairs, spend per role, test flips."""
    counts = diff.counts()
    labels = {"same": "same", "changed": "changed", "only_a": "only in A", "only_b": "only in B"}
    for column, (status, label) in zip(st.columns(4), labels.items(), strict=True):
        column.metric(label, counts[status])
    if diff.first_divergence is None:
        st.success("No divergence: the two transcripts match message for message.", icon=icons.ALERTS["valid"])
    else:
        st.warning(f"First divergence at pair {diff.first_divergence + 1}: "
                   f"{_where(diff.pairs[diff.first_divergence])}", icon=DIVERGENCE)
    if diff.method == "banded":
        st.caption("A very long diff: aligned within a band around the diagonal.")
    _pairs(diff, a, b, info_a, info_b)
    st.markdown("**Per role** (B − A)")
    st.dataframe(roles_frame(diff), hide_index=True, width="stretch")
    if not diff.flips:
        st.caption("Test outcomes: no flips.")
    for flip in diff.flips:
        text = f"{flip.subject}: {flip.a} in A, {flip.b} in B"
        if flip.broke:
            st.error(text, icon=":material/trending_down:")
        else:
            st.success(text, icon=":material/trending_up:")


def _where(pair: Pair) -> str:
    sides = " vs ".join(f"{side} #{index + 1}" for side, index in (("A", pair.a), ("B", pair.b)) if index is not None)
    what = f"{', '.join(pair.fields)} differ" if pair.fields else pair.status.replace("_", " ")
    return f"{sides} · {pair.sender} · {pair.kind} ({what})"


def _pairs(diff: RunDiff, a: Sequence[Message], b: Sequence[Message], info_a: RunInfo, info_b: RunInfo) -> None:
    """A window of the aligned pairs, side by side, from just before the first divergence."""
    total = len(diff.pairs)
    if not total:
        st.caption("Both runs are empty.")
        return
    start = max(0, (diff.first_divergence or 0) - LEAD)
    if total > WINDOW:
        start = st.slider("Pairs from", 1, total, value=start + 1,
                          key=f"runs-diff-from-{info_a.run_id}-{info_b.run_id}") - 1
    end = min(total, start + WINDOW)
    st.caption(f"pairs {start + 1}–{end} of {total}")
    heads = st.columns(2)
    heads[0].markdown(f"**A** · run `{info_a.run_id[:8]}` · {info_a.status}")
    heads[1].markdown(f"**B** · run `{info_b.run_id[:8]}` · {info_b.status}")
    for k in range(start, end):
        pair = diff.pairs[k]
        first = k == diff.first_divergence
        with st.container(border=first):
            if first:
                st.markdown(f":orange-background[{DIVERGENCE} **first divergence** · pair {k + 1}]")
            columns = st.columns(2)
            for column, side, messages, index, info in ((columns[0], "A", a, pair.a, info_a),
                                                        (columns[1], "B", b, pair.b, info_b)):
                with column:
                    _cell(pair, side, messages, index, info)
            if pair.status == "changed" and pair.a is not None and pair.b is not None:
                with st.expander(f"what changed: {', '.join(pair.fields)}", expanded=first):
                    st.code(_changes(a[pair.a], b[pair.b], pair.fields) or "(no text)", language="diff")


def _cell(pair: Pair, side: str, messages: Sequence[Message], index: int | None, info: RunInfo) -> None:
    """One side of a pair: its mark, number (a link to the run on the Run page), sender, kind and text."""
    if index is None:
        st.caption(f"{MARKS[pair.status]} *(not in {side})*")
        return
    message = messages[index]
    kind = KINDS[message.kind]
    link = f"run?run={info.run_id}&message={index + 1}"  # the Run page shows that message first
    st.caption(f"{MARKS[pair.status]} [{side} #{index + 1}]({link}) · {sender_text(message)} · "
               f"{kind.icon} {kind.label}")
    text = kind.summary(message)
    st.text(text if len(text) <= _TEXT else text[:_TEXT - 1] + "…")
    code = getattr(message, "code", "")
    if code:
        st.code(code, language=getattr(message, "language", "python"))


def _changes(a: Message, b: Message, fields: tuple[str, ...]) -> str:
    """A unified diff of the changed fields, A's before B's."""
    def lines(message: Message) -> list[str]:
        content = content_of(message)
        out = []
        for name in fields:
            value = content.get(name)
            text = value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False)
            out += [f"{name}:", *text.splitlines()]
        return out

    return "\n".join(difflib.unified_diff(lines(a), lines(b), "A", "B", lineterm=""))


def roles_frame(diff: RunDiff) -> pd.DataFrame:
    """Each role's tokens, cost and latency in A, in B, and B − A, as a table."""
    return pd.DataFrame([{
        "role": r.role, "tokens A": r.a.tokens, "tokens B": r.b.tokens, "Δ tokens": r.delta.tokens,
        "cost A (USD)": r.a.cost_usd, "cost B (USD)": r.b.cost_usd, "Δ cost (USD)": r.delta.cost_usd,
        "latency A (s)": round(r.a.latency_ms / 1000, 3), "latency B (s)": round(r.b.latency_ms / 1000, 3),
        "Δ latency (s)": round(r.delta.latency_ms / 1000, 3),
    } for r in diff.roles])
