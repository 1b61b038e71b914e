"""The Build page: lay a team out on a canvas, edit its roles, flow and approvals in forms, load and save its YAML.

The team is the plain dict in the session (``state.team_data()``): every edit
lands there at once, valid or not, and the page validates it on each run,
showing every problem in the summary at the top and again next to its field.

Example (what ``huddle ui`` does; tests drive it the same way with AppTest):
    >>> from streamlit.testing.v1 import AppTest
    >>> def app():
    ...     from studio.ui.build import page
    ...     page()
    >>> AppTest.from_function(app).run(timeout=30).title[0].value  # doctest: +SKIP
    'Build a team'
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.spec import ROLE_KINDS, TeamSpec
from studio.ui import build_describe, build_io, canvas_live, canvas_view, icons, state
from studio.ui.build_fields import guard, md, problem_md, replace_team
from studio.ui.flow_form import FLOW_PROBLEM, approval_select, flow_form, tool_approval_select
from studio.ui.mcp_form import servers_form
from studio.ui.role_form import role_form, select_role
from studio.ui.team_edit import add_role, edge_ends, edges, names, remove_edge
from studio.ui.team_form import routes_editor, team_form

__all__ = ["page"]


def _add(kind: str) -> None:
    data, index = add_role(state.team_data(), kind)
    replace_team(data)
    select_role(index)


def _summary(data: dict[str, Any], spec: TeamSpec | None, problems: list[str]) -> None:
    if spec is None:
        lines = "\n".join(f"- {problem_md(p)}" for p in problems)
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        st.error(f"**This team is not valid yet ({count})**; it is kept as edited, so fix the fields below.\n\n"
                 f"{lines}", icon=icons.ALERTS["refused"])
        return
    roles = ", ".join(f"{r.name} ({r.kind})" for r in spec.roles)
    st.success(f"Team **{spec.name}** is valid: {roles}.", icon=icons.ALERTS["valid"])


def _palette(problems: list[str]) -> None:
    st.caption("Add a role")
    for column, kind in zip(st.columns(len(ROLE_KINDS)), ROLE_KINDS, strict=True):
        column.button(kind, icon=icons.ROLES[kind], key=f"build_add_{kind}", on_click=guard(_add), args=(kind,),
                      width="stretch", help=f"Add a {kind} role")
    for line in problems:
        # About the set of roles as a whole (one orchestrator, at least one worker); what a flow type needs
        # of the roles is shown under the flow type instead.
        if line.startswith("roles:") and not line.startswith(FLOW_PROBLEM):
            st.error(problem_md(line), icon=icons.ALERTS["problem"])


def _remove_selected(index: int) -> None:
    replace_team(remove_edge(state.team_data(), index))
    st.session_state.pop(canvas_view.SELECTED_EDGE, None)


def _selected_route(data: dict[str, Any]) -> None:
    """The route whose edge was clicked: all a route has is where it starts and ends."""
    index = st.session_state.get(canvas_view.SELECTED_EDGE)
    if not isinstance(index, int) or not 0 <= index < len(edges(data)):
        return
    src, tgt = edge_ends(edges(data)[index])
    row, button = st.columns([6, 1], vertical_alignment="center")
    row.markdown(f"Selected route: `{md(src)}` → `{md(tgt)}` (after *{md(src)}* speaks, *{md(tgt)}* speaks next)")
    button.button("Remove route", key="build_edge_rm", on_click=guard(_remove_selected), args=(index,))


def page() -> None:
    """Render the Build page."""
    st.title("Build a team")
    data = state.team_data()
    if st.session_state.get("huddle_load_error"):
        st.warning(st.session_state["huddle_load_error"])
    build_io.load_bar()
    build_describe.describe_box()
    spec, problems = state.validate(data)
    _summary(data, spec, problems)
    build_io.save_bar(data, spec)

    st.subheader("Canvas")
    _palette(problems)
    st.caption("Drag nodes; draw an edge from one role to another to add a route (from **start**: the entry); "
               "click a node to edit its role below (or remove it there); click an edge to select its route "
               "(Backspace or the button below removes it). While a run of this team works, its speaking role is "
               "lit.")
    clicked = canvas_live.show(data, problems)
    if clicked is not None and clicked < len(names(data)):
        select_role(clicked)
    _selected_route(data)

    role_col, team_col = st.columns([3, 2], gap="large")
    with role_col:
        st.subheader("Role")
        role_form(data, problems)
    with team_col:
        st.subheader("Team")
        team_form(data, problems)
        st.markdown("**Flow**")
        flow_form(data, problems)
        approval_select(data, problems)
        tool_approval_select(data, problems)
        st.markdown("**MCP servers** (tools for the roles from other programs and services)")
        servers_form(data, problems)
        st.markdown("**Routes** (after *from* speaks, *to* speaks next)")
        routes_editor(data, problems)
