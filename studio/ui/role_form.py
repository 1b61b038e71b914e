"""The form of one role on the Build page: pick a role (or click its node), edit its fields, remove it."""

from __future__ import annotations

import zlib
from typing import Any

import streamlit as st

from studio.spec import COLLECTIONS, ROLE_KINDS
from studio.spec.memory import DEFAULT_READ, DEFAULT_WRITE
from studio.ui import canvas_view, icons, state
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
from studio.ui.team_edit import get_path, names, problems_under, remove_role, rename_role, role_kind, role_name, roles
from studio.ui.tools_form import role_tools

__all__ = ["SELECTED", "role_form", "select_role"]

SELECTED = "build_selected"
"""Session key of the selected role's index; the picker widget only shows it."""
_PICKS = "build_pick_revision"
_FIELDS = ("name", "kind", "model", "instructions", "tools", "max_tool_calls", "writes_tests", "memory.read",
           "memory.write", "limits.temperature", "limits.max_tokens", "limits.timeout_s", "budget")


def select_role(index: int) -> None:
    """Open role ``index`` in the form."""
    st.session_state[SELECTED] = index
    st.session_state[_PICKS] = st.session_state.get(_PICKS, 0) + 1  # a fresh picker shows it, not its old choice


def _rename(index: int, widget: str) -> None:
    data = state.team_data()
    old, new = role_name(roles(data)[index]), st.session_state[widget]
    replace_team(rename_role(data, index, new))
    if names(data).count(old) == 1:  # a shared name's spot belongs to the other role too
        canvas_view.move_position(old, new)


def _remove(index: int) -> None:
    replace_team(remove_role(state.team_data(), index))
    select_role(max(0, index - 1))


def _label(role: Any, bad: bool) -> str:
    # a selectbox's options are plain text: no Material icon there (an emoji shows as a box without its font)
    return f"{role_name(role) or '(no name)'} ({role_kind(role) or '?'})" + (" — has problems" if bad else "")


def _picker(all_roles: list[Any], problems: list[str]) -> int:
    selected = st.session_state.get(SELECTED, 0)
    if not isinstance(selected, int) or not 0 <= selected < len(all_roles):
        selected = st.session_state[SELECTED] = 0
    labels = [_label(role, bool(problems_under(problems, f"roles[{i}]"))) for i, role in enumerate(all_roles)]
    # The browser keeps a selectbox's choice as its label: when a label changes (a rename, a new problem) the
    # old choice matches nothing and Streamlit would fall back to the first role. A new key per set of labels
    # makes a fresh picker, showing the selection kept in SELECTED.
    widget = f"build_pick:{st.session_state.get(_PICKS, 0)}:{zlib.crc32(repr(labels).encode())}"
    chosen = st.selectbox("Role", list(range(len(all_roles))), index=selected, format_func=labels.__getitem__,
                          key=widget, help="Or click a node on the canvas.")
    st.session_state[SELECTED] = chosen
    return chosen  # type: ignore[return-value]  # streamlit's Optional: None only for an empty list of options


def _scope(data: dict[str, Any], problems: list[str], index: int, which: str) -> None:
    """Read or write scope: the kind's default, or the collections ticked here."""
    kind = role_kind(roles(data)[index])
    defaults = (DEFAULT_READ if which == "read" else DEFAULT_WRITE).get(kind, ())
    path = ("roles", index, "memory", which)
    current = get_path(data, path)
    verb = "Reads" if which == "read" else "Writes"
    widget = key(*path, "default")
    by_kind = st.checkbox(f"{verb}: default for its kind ({', '.join(defaults) or 'nothing'})",
                          value=current is None, key=widget,
                          on_change=writer(path, widget, lambda checked: None if checked else list(defaults)))
    if not by_kind:
        chosen = [c for c in current if c in COLLECTIONS] if isinstance(current, list) else list(defaults)
        widget = key(*path)
        st.multiselect(f"{verb} collections", list(COLLECTIONS), default=chosen, key=widget,
                       on_change=writer(path, widget, list))
    show_problems(problems, f"roles[{index}].memory.{which}")


def role_form(data: dict[str, Any], problems: list[str]) -> None:
    """The picker and the form of the selected role; each field's problems are shown under it."""
    all_roles = roles(data)
    if not all_roles:
        st.info("No roles yet: add one from the palette.")
        return
    index = _picker(all_roles, problems)
    role = all_roles[index]
    if not isinstance(role, dict):
        st.error(f"roles[{index}] is not a mapping ({role!r}); remove it.", icon=icons.ALERTS["problem"])
    else:
        prefix = f"roles[{index}]"
        known = {f"{prefix}.{f}" for f in _FIELDS}
        for line in problems_under(problems, prefix):  # the ones no field below shows (unknown fields, …)
            if not any(line.startswith((k + ":", k + "[", k + ".")) for k in known):
                st.error(problem_md(line), icon=icons.ALERTS["problem"])
        _fields(data, problems, index, role)
    st.button("Remove this role", key=f"build_remove_{index}", on_click=guard(_remove), args=(index,),
              help="Also removes its routes (and the entry, if it was the entry).")


def _fields(data: dict[str, Any], problems: list[str], index: int, role: dict[str, Any]) -> None:
    left, right = st.columns(2)
    with left:
        widget = key("roles", index, "name")
        st.text_input("Name", value=role_name(role), key=widget, on_change=guard(_rename), args=(index, widget),
                      help="Letters, digits, _ and -, starting with a letter. Routes and the entry follow a rename.")
        show_problems(problems, f"roles[{index}].name")
        kinds = list(ROLE_KINDS) + ([role["kind"]] if role.get("kind") not in ROLE_KINDS else [])
        widget = key("roles", index, "kind")
        st.selectbox("Kind", kinds, index=kinds.index(role.get("kind")), key=widget,
                     on_change=writer(("roles", index, "kind"), widget))
        show_problems(problems, f"roles[{index}].kind")
        model_picker(data, problems, "Model", ("roles", index, "model"), can_unset=True)
    with right:
        text(data, problems, "Instructions", ("roles", index, "instructions"), area=True,
             help="Persona or extra instructions, appended to the role's system prompt.")
        number(data, problems, "Tool calls a turn", ("roles", index, "max_tool_calls"), integer=True, default=4,
               help="How many tools the role may call in one turn before it must give its own reply.")
        if role.get("kind") == "coder" or role.get("acts_as") == "coder":
            toggle(data, problems, "Writes its own tests", ("roles", index, "writes_tests"), default=True,
                   help="Asks the coder for a test_ function from the task's text with its code; it runs with it.")
    st.markdown("**Tools**")
    role_tools(data, problems, index)
    st.markdown("**Memory**")
    read, write = st.columns(2)
    with read:
        _scope(data, problems, index, "read")
    with write:
        _scope(data, problems, index, "write")
    st.markdown("**Limits** (empty: the team's defaults)")
    temp, tokens, timeout = st.columns(3)
    with temp:
        number(data, problems, "Temperature", ("roles", index, "limits", "temperature"), integer=False)
    with tokens:
        number(data, problems, "Max tokens", ("roles", index, "limits", "max_tokens"), integer=True)
    with timeout:
        number(data, problems, "Timeout (s)", ("roles", index, "limits", "timeout_s"), integer=False)
    st.markdown("**Budget** (empty: no limit; the run stops before a call of this role that could overrun it)")
    budget_fields(data, problems, ("roles", index, "budget"), scope="role")
