"""The team-level form of the Build page: name, defaults, flow (entry, rounds, routes), memory and sandbox.

The routes editor does what the canvas does with the mouse, so a team can be
wired without the canvas (and tested without a browser).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.ui import icons, state
from studio.ui.budget_form import budget_fields
from studio.ui.build_fields import (
    guard,
    key,
    model_picker,
    number,
    problem_md,
    replace_team,
    show_problems,
    text,
    toggle,
    writer,
)
from studio.ui.team_edit import add_edge, edge_ends, edges, get_path, names, problems_under, remove_edge

__all__ = ["FIRST_WORKER", "routes_editor", "team_form"]

FIRST_WORKER = "(first worker)"


def team_form(data: dict[str, Any], problems: list[str]) -> None:
    """The team's own fields, each with its problems under it."""
    left, right = st.columns(2)
    with left:
        text(data, problems, "Team name", ("name",), keep_empty=True, help="Shown in `huddle runs list`.")
        text(data, problems, "Description", ("description",), area=True)
        model_picker(data, problems, "Default model", ("defaults", "model"), can_unset=False)
        for line in problems_under(problems, "defaults"):
            if not line.startswith("defaults.model:"):  # the picker shows those; other defaults have no field here
                st.error(problem_md(line), icon=icons.ALERTS["problem"])
    with right:
        current = get_path(data, ("flow", "entry"))
        options = [FIRST_WORKER] + [n for n in dict.fromkeys(names(data)) if n]
        if current is not None and current not in options:
            options.append(current)  # a dangling entry stays visible (with its problem) until it is changed
        widget = key("flow", "entry")
        st.selectbox("Entry", options, index=options.index(current) if current is not None else 0, key=widget,
                     on_change=writer(("flow", "entry"), widget, lambda v: None if v == FIRST_WORKER else v),
                     help="The first worker to speak (with an orchestrator: its fallback until a worker spoke).")
        show_problems(problems, "flow.entry")
        number(data, problems, "Max rounds", ("flow", "max_rounds"), integer=True, default=8,
               help="Worker turns allowed, 1 to 200; orchestrator turns do not count.")
        toggle(data, problems, "Shared memory", ("memory", "enabled"), default=True,
               help="Retrieval before every model call, reflection after every run.")
        toggle(data, problems, "Run code in the sandbox", ("sandbox", "enabled"), default=True,
               help="Off: the coder's code is never executed.")
        show_problems(problems, "flow", exact=True)
    st.markdown("**Run budget** (empty: no limit; the run stops cleanly before a call that could overrun it, "
                "with its best work so far)")
    budget_fields(data, problems, ("budget",))


def _add_route(src_widget: str, tgt_widget: str) -> None:
    src, tgt = st.session_state.get(src_widget), st.session_state.get(tgt_widget)
    if src and tgt:
        replace_team(add_edge(state.team_data(), src, tgt))


def _remove_route(index: int) -> None:
    replace_team(remove_edge(state.team_data(), index))


def routes_editor(data: dict[str, Any], problems: list[str]) -> None:
    """The list of routes, each with a remove button and its problems, and a row to add one."""
    routes = edges(data)
    if not routes:
        st.caption("No routes yet: without an orchestrator, the entry speaks and the run ends.")
    first_from: set[str] = set()
    for j, edge in enumerate(routes):
        src, tgt = edge_ends(edge)
        note = "" if src not in first_from else "  ·  unused: only the first route from a role is followed"
        first_from.add(src)
        row, button = st.columns([6, 1], vertical_alignment="center")
        row.markdown(f"`{src or '?'}` → `{tgt or '?'}`{note}")
        button.button("", icon=icons.ALERTS["remove"], key=f"build_route_rm_{j}", on_click=guard(_remove_route),
                      args=(j,), help="Remove this route")
        show_problems(problems, f"flow.edges[{j}]")
    show_problems(problems, "flow.edges", exact=True)
    choices = [n for n in dict.fromkeys(names(data)) if n]
    if not choices:
        return
    src_col, tgt_col = st.columns(2)
    src_widget, tgt_widget = key("route", "from"), key("route", "to")
    src_col.selectbox("From", choices, key=src_widget)
    tgt_col.selectbox("To", choices, key=tgt_widget, index=min(1, len(choices) - 1))
    st.button("Add route", key="build_route_add", on_click=guard(_add_route), args=(src_widget, tgt_widget))
