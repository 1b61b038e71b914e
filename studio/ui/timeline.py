"""A run as a timeline: one lane per role and per parallel branch, a bar for each model call, sandbox run and approval.

A model call's bar ends when its message was published and starts
``usage.latency_ms`` before; a sandbox run's ends with its ``execution``
message and lasts ``duration_ms``; an approval lasts from the request to the
person's answer (to now while the run waits). The chart is a Vega-Lite chart
(Streamlit ships Vega-Lite); clicking a bar selects its message, which the
page then shows under the chart.

Example:
    >>> from datetime import datetime, timezone
    >>> from studio.messages import Code, Task, Usage
    >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> frame = timeline_frame([Task(run_id="r", sender="user", content="x", created_at=at),
    ...                         Code(run_id="r", sender="coder", content="y", branch="c1", created_at=at,
    ...                              usage=Usage(calls=1, latency_ms=900))])
    >>> frame[["lane", "what", "message"]].values.tolist()
    [['coder.c1', 'model call', 2]]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import streamlit as st

from studio.messages import Approval, Execution, Message

__all__ = ["APPROVAL_LANE", "COLOURS", "lane_of", "lanes", "picked", "show", "spec", "timeline_frame"]

APPROVAL_LANE = "approvals"
"""The lane of the waits for a person."""
COLOURS = {"model call": "#1e6fd9", "sandbox run": "#1e8e4e", "sandbox failed": "#d93025", "approval": "#d9822b"}
"""Bar colour by what the bar stands for."""
_SELECTION = "pick"
_CACHE = "huddle_timelines"
_LANE_PX = 30


def lane_of(message: Message) -> str:
    """The lane of a message's bars: its role, or ``role.branch`` in a parallel branch."""
    return f"{message.sender}.{message.branch}" if message.branch else message.sender


def timeline_frame(messages: Sequence[Message], *, now: datetime | None = None) -> pd.DataFrame:
    """One row per bar: ``lane``, ``what``, ``start``, ``end``, ``message`` (its number, from 1) and ``label``.

    Args:
        messages: the run's messages, in order.
        now: where an unanswered approval's bar ends (the run still waits); ``None``: at the last message.
    """
    rows: list[dict[str, Any]] = []
    asked: dict[str, tuple[int, Approval]] = {}
    for number, m in enumerate(messages, start=1):
        if isinstance(m, Approval):
            if m.status == "requested":
                asked[m.point] = (number, m)
            elif m.point in asked:
                at, request = asked.pop(m.point)
                rows.append(_row(APPROVAL_LANE, "approval", request.created_at, m.created_at, at,
                                 f"{m.point}: {m.status}"))
        elif isinstance(m, Execution):
            rows.append(_row(lane_of(m), "sandbox run" if m.ok else "sandbox failed",
                             m.created_at - timedelta(milliseconds=m.duration_ms), m.created_at, number,
                             m.content.splitlines()[0] if m.content else "sandbox run"))
        elif m.usage.calls:
            rows.append(_row(lane_of(m), "model call", m.created_at - timedelta(milliseconds=m.usage.latency_ms),
                             m.created_at, number, f"{m.kind} · {m.usage.latency_ms / 1000:.1f}s"))
    if asked and messages:
        end = now or messages[-1].created_at
        rows += [_row(APPROVAL_LANE, "approval", r.created_at, max(end, r.created_at), at, f"{r.point}: waiting")
                 for at, r in asked.values()]
    frame = pd.DataFrame(rows, columns=["lane", "what", "start", "end", "message", "label"])
    if not frame.empty:  # a bar a few pixels wide at least, so an instant call (a scripted model) can be clicked
        span = (frame["end"].max() - frame["start"].min()).total_seconds()
        shortest = timedelta(seconds=max(span * 0.006, 0.05))
        least = frame["start"] + shortest
        frame["end"] = frame["end"].where(frame["end"] >= least, least)
    return frame


def _row(lane: str, what: str, start: datetime, end: datetime, number: int, label: str) -> dict[str, Any]:
    return {"lane": lane, "what": what, "start": start, "end": end, "message": number, "label": label}


def lanes(frame: pd.DataFrame) -> list[str]:
    """The lanes top to bottom: each role in the order they first worked, then its branches (c2 before c10).

    A role that worked only in branches (a best-of-n coder) still has its own lane, over its branches';
    approvals come last.
    """
    seen = [lane for lane in dict.fromkeys(frame["lane"]) if lane != APPROVAL_LANE]
    roles = dict.fromkeys(lane.split(".", 1)[0] for lane in seen)
    ordered = [x for role in roles
               for x in [role] + sorted((lane for lane in seen if lane.startswith(role + ".")), key=_natural)]
    return ordered + ([APPROVAL_LANE] if APPROVAL_LANE in set(frame["lane"]) else [])


def _natural(lane: str) -> list[Any]:
    """Sort key: the numbers in a lane's name as numbers (``c2`` before ``c10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", lane)]


def spec(frame: pd.DataFrame) -> dict[str, Any]:
    """The Vega-Lite spec of the chart (data passed apart); clicking a bar selects its ``message``."""
    order = lanes(frame)
    return {
        "height": _LANE_PX * len(order),
        "autosize": {"type": "fit-x", "contains": "padding"},  # the lanes keep their height; axis and legend add
        "params": [{"name": _SELECTION, "select": {"type": "point", "fields": ["message"]}}],
        "mark": {"type": "bar", "cornerRadius": 2, "cursor": "pointer"},
        "encoding": {
            "y": {"field": "lane", "type": "nominal", "sort": order, "title": None},
            "x": {"field": "start", "type": "temporal", "title": None, "axis": {"format": "%H:%M:%S"}},
            "x2": {"field": "end"},
            "color": {"field": "what", "type": "nominal", "title": None, "legend": {"orient": "bottom"},
                      "scale": {"domain": list(COLOURS), "range": list(COLOURS.values())}},
            "opacity": {"condition": {"param": _SELECTION, "value": 1}, "value": 0.45},
            "tooltip": [{"field": "lane"}, {"field": "what"}, {"field": "label", "title": "message"},
                        {"field": "message", "title": "#"}],
        },
    }


def picked(event: Any) -> int | None:
    """The message number (from 1) of the bar a click selected, from ``st.vega_lite_chart``'s selection state."""
    try:
        points = event["selection"][_SELECTION]
    except (KeyError, TypeError):
        return None
    if isinstance(points, dict):  # some versions give the point's fields, not a list of points
        points = [points]
    for point in points or []:
        value = point.get("message") if isinstance(point, dict) else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return None


def _frame(messages: Sequence[Message], key: str, waiting: bool) -> pd.DataFrame:
    """The bars, built again only when a message came (or, while the run waits, its approval grows)."""
    if waiting:
        return timeline_frame(messages, now=datetime.now(timezone.utc))
    cache: dict[str, tuple[int, str, pd.DataFrame]] = st.session_state.setdefault(_CACHE, {})
    stamp = (len(messages), messages[-1].id if messages else "")
    if key not in cache or cache[key][:2] != stamp:
        cache[key] = (*stamp, timeline_frame(messages))
    return cache[key][2]


def show(messages: Sequence[Message], *, key: str, waiting: bool = False) -> int | None:
    """Draw the timeline; returns the number (from 1) of the message whose bar was clicked, if one was.

    Args:
        messages: the run's messages, in order.
        key: the chart's widget key (its selection survives reruns under it).
        waiting: the run waits for a person: an unanswered approval lasts until now.
    """
    frame = _frame(messages, key, waiting)
    if frame.empty:
        st.caption("no model calls, sandbox runs or approvals yet")
        return None
    event = st.vega_lite_chart(frame, spec(frame), on_select="rerun", selection_mode=_SELECTION, key=key,
                               width="stretch")
    return picked(event)
