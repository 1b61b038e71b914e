"""The flow part of the Build page: the collaboration pattern, its bounds, the sub-teams and judge, approvals.

Only the fields the chosen flow type uses are shown; each field's problems
appear under it, as everywhere on the page. The edits themselves are plain
functions in ``studio.ui.flow_edit``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.spec import APPROVAL_POINTS, FLOW_TYPES
from studio.ui import icons, state
from studio.ui.build_fields import guard, key, number, problem_md, replace_team, show_problems, writer
from studio.ui.flow_edit import (
    APPROVAL_HELP,
    CANDIDATE_TEMPERATURE_HELP,
    FLOW_CAPTIONS,
    FLOW_NUMBERS,
    NUMBER_FIELDS,
    TIE_BREAK_HELP,
    add_sub_team,
    approval,
    approved_tools,
    behaviour,
    flow_type,
    number_default,
    remove_sub_team,
    set_approval,
    set_flow_type,
    set_sub_team_roles,
    sub_teams,
)
from studio.ui.team_edit import get_path, names, roles

__all__ = ["ANY_CRITIC", "FLOW_PROBLEM", "approval_select", "flow_form", "tool_approval_select"]

ANY_CRITIC = "(the one critic outside the sub-teams)"
FLOW_PROBLEM = "roles: flow "
"""How a problem about the roles a flow type needs begins; shown under the type (not with the palette)."""


def _set_type(widget: str) -> None:
    replace_team(set_flow_type(state.team_data(), st.session_state[widget]))


def flow_form(data: dict[str, Any], problems: list[str]) -> None:
    """The flow type with a caption of what it does, then the fields that type uses."""
    kind = flow_type(data)
    options = list(FLOW_TYPES) + ([kind] if kind not in FLOW_TYPES else [])
    widget = key("flow", "type")
    st.selectbox("Flow", options, index=options.index(kind), key=widget, on_change=guard(_set_type), args=(widget,),
                 help="How the roles work together; see the line under it.")
    st.caption(FLOW_CAPTIONS.get(kind, "not a flow type this Huddle knows"))
    show_problems(problems, "flow.type")
    for line in problems:
        if line.startswith(FLOW_PROBLEM):
            st.error(problem_md(line), icon=icons.ALERTS["problem"])
    shown = FLOW_NUMBERS.get(kind, ())
    if shown:
        for column, name in zip(st.columns(len(shown)), shown, strict=True):
            label, help_text = NUMBER_FIELDS[name]
            with column:
                number(data, problems, label, ("flow", name), integer=True, default=number_default(name),
                       help=help_text)
    for name in NUMBER_FIELDS:
        if name not in shown:  # kept in the spec but unused by this type: its problems still need a place
            show_problems(problems, f"flow.{name}")
    if kind == "best_of_n":
        _choosing(data, problems)
    else:
        show_problems(problems, "flow.candidate_temperature")
        show_problems(problems, "flow.tie_break")
    if kind == "cross_team":
        sub_teams_editor(data, problems)
        _judge(data, problems)
    else:
        show_problems(problems, "flow.teams")
        show_problems(problems, "flow.judge")


def _choosing(data: dict[str, Any], problems: list[str]) -> None:
    """best_of_n: how hot the later candidates are sampled, and what breaks a tie the evidence leaves."""
    hot, tie = st.columns(2)
    with hot:
        number(data, problems, "Later candidates' temperature", ("flow", "candidate_temperature"), integer=False,
               default=number_default("candidate_temperature"), help=CANDIDATE_TEMPERATURE_HELP)
    current = str(get_path(data, ("flow", "tie_break"), number_default("tie_break")))
    options = list(TIE_BREAK_HELP) + ([current] if current not in TIE_BREAK_HELP else [])
    widget = key("flow", "tie_break")
    with tie:
        st.selectbox("Ties go to", options, index=options.index(current), key=widget,
                     format_func=lambda o: TIE_BREAK_HELP.get(o, o), on_change=writer(("flow", "tie_break"), widget),
                     help="Who decides between candidates that passed the same tests and agree as much.")
        show_problems(problems, "flow.tie_break")


def _add_team() -> None:
    replace_team(add_sub_team(state.team_data()))


def _remove_team(index: int) -> None:
    replace_team(remove_sub_team(state.team_data(), index))


def _set_members(index: int, widget: str) -> None:
    replace_team(set_sub_team_roles(state.team_data(), index, list(st.session_state[widget])))


def sub_teams_editor(data: dict[str, Any], problems: list[str]) -> None:
    """One row per sub-team (name, roles, remove), each with its problems, and a button to add one."""
    st.markdown("**Sub-teams** (each solves the task on its own; a role belongs to one)")
    teams = sub_teams(data)
    known = [n for n in dict.fromkeys(names(data)) if n]
    for i, team in enumerate(teams):
        members = get_path(team, ("roles",), [])
        members = [str(m) for m in members] if isinstance(members, list) else []
        options = known + [m for m in members if m not in known]  # a missing role stays visible with its problem
        name_col, roles_col, button = st.columns([2, 5, 1], vertical_alignment="bottom")
        name_widget, roles_widget = key("flow", "teams", i, "name"), key("flow", "teams", i, "roles")
        name = get_path(team, ("name",), "")
        name_col.text_input("Name", value="" if name is None else str(name), key=name_widget,
                            on_change=writer(("flow", "teams", i, "name"), name_widget),
                            help="Short name, shown on its messages (letters, digits, _ and -).")
        roles_col.multiselect("Roles", options, default=list(dict.fromkeys(members)), key=roles_widget,
                              on_change=guard(_set_members), args=(i, roles_widget),
                              help="In speaking order; picking a role here takes it from another sub-team.")
        button.button("", icon=icons.ALERTS["remove"], key=f"build_team_rm_{i}", on_click=guard(_remove_team),
                      args=(i,), help="Remove this sub-team")
        show_problems(problems, f"flow.teams[{i}]")
    show_problems(problems, "flow.teams", exact=True)
    st.button("Add sub-team", key="build_team_add", on_click=guard(_add_team))


def _judge(data: dict[str, Any], problems: list[str]) -> None:
    current = get_path(data, ("flow", "judge"))
    critics = [n for n in dict.fromkeys(n for n, r in zip(names(data), roles(data), strict=True)
                                        if behaviour(r) == "critic") if n]
    options = [ANY_CRITIC] + critics + ([str(current)] if current is not None and current not in critics else [])
    widget = key("flow", "judge")
    st.selectbox("Judge", options, index=0 if current is None else options.index(str(current)), key=widget,
                 on_change=writer(("flow", "judge"), widget, lambda v: None if v == ANY_CRITIC else v),
                 help="The critic that compares the sub-teams' results and merges them; it belongs to no "
                      "sub-team.")
    show_problems(problems, "flow.judge")


def approval_select(data: dict[str, Any], problems: list[str]) -> None:
    """The points where a run stops for a person (team-wide), with their problems."""
    chosen = approval(data)
    options = list(APPROVAL_POINTS) + [p for p in chosen if p not in APPROVAL_POINTS]
    widget = key("approval")
    st.multiselect("Human approval", options, default=list(dict.fromkeys(chosen)), key=widget,
                   format_func=lambda p: f"{p} — {APPROVAL_HELP.get(p, 'unknown point')}",
                   on_change=guard(_set_approval), args=(widget, "points"),
                   help="The run stops at each point until someone approves, edits or rejects (on the Run page "
                        "or with the CLI).")
    show_problems(problems, "approval", exact=True)


def _set_approval(widget: str, which: str) -> None:
    chosen = list(st.session_state[widget])
    data = state.team_data()
    state.commit(set_approval(data, points=chosen) if which == "points" else set_approval(data, tools=chosen))


def tool_approval_select(data: dict[str, Any], problems: list[str]) -> None:
    """The tools whose every call waits for a person (approve, edit its arguments, or reject)."""
    chosen = approved_tools(data)
    functions = [str(t.get("name") or str(t["python"]).rpartition(":")[2].rpartition(".")[2])
                 for r in roles(data) if isinstance(r, dict) and isinstance(r.get("tools"), list)
                 for t in r["tools"] if isinstance(t, dict) and t.get("python")]
    allowed = [str(name) for r in roles(data) if isinstance(r, dict) and isinstance(r.get("tools"), list)
               for t in r["tools"] if isinstance(t, dict) and isinstance(t.get("allow"), list) for name in t["allow"]]
    widget = key("approval", "tools")
    st.multiselect("Approve before calls of these tools", list(dict.fromkeys([*chosen, *functions, *allowed])),
                   default=list(dict.fromkeys(chosen)), key=widget, accept_new_options=True,
                   on_change=guard(_set_approval), args=(widget, "tools"),
                   help="Each call of these tools waits until someone approves it, edits its arguments or "
                        "rejects it (type a name to add one not listed).")
    for line in problems:
        if line.startswith("approval[") or line.startswith("approval."):
            st.error(problem_md(line), icon=icons.ALERTS["problem"])
