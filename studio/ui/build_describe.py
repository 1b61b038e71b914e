"""The Build page's "Describe your team" box: a sentence in, a team on the canvas.

The team's default model (the embedded one unless the team names another) drafts the team from the description;
:mod:`studio.teamgen` repairs the draft into a valid team, which replaces the one being edited (as loading a
file does), and the box lists what was repaired.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
import yaml

from studio.llm import ModelCallError, ModelConfigError
from studio.llm.scripted import ScriptError, ScriptExhausted
from studio.spec import DEFAULT_MODEL, dump_spec
from studio.teamgen import generate_team
from studio.ui import build_io, canvas_view, icons, state
from studio.ui.build_fields import md
from studio.ui.role_form import select_role

__all__ = ["DESCRIBE", "describe_box", "page_model"]

DESCRIBE, _NOTES, _FAILED = "build_describe", "build_describe_notes", "build_describe_error"
"""Session keys: the description's text area, the last draft's repairs (with the revision they belong to), and
why the last draft failed."""


def page_model(data: dict[str, Any]) -> str:
    """The model the page drafts with: the team's default model, else the embedded one."""
    defaults = data.get("defaults")
    model = defaults.get("model") if isinstance(defaults, dict) else None
    return model.strip() if isinstance(model, str) and model.strip() else DEFAULT_MODEL


def _draft(model: str) -> None:
    text = str(st.session_state.get(DESCRIBE) or "")
    try:
        with st.spinner(f"{model} is drafting the team…"):
            made = generate_team(text, model)
    except (ValueError, ModelConfigError, ScriptError, ModelCallError, ScriptExhausted) as exc:
        st.session_state[_FAILED] = str(exc)
        return
    state.load(yaml.safe_load(dump_spec(made.spec, minimal=True)), made.header())
    canvas_view.forget()
    select_role(0)
    st.session_state.pop(_FAILED, None)
    st.session_state.pop(build_io.ERROR, None)
    st.session_state[_NOTES] = (state.revision(), made.notes)
    st.session_state[build_io.NOTE] = (f"Drafted team '{made.spec.name}' with {len(made.spec.roles)} roles from "
                                       f"your description ({model}).")
    st.rerun()


def describe_box() -> None:
    """The text area, the button, and what the last draft repaired (or why it failed)."""
    model = page_model(state.team_data())
    with st.container(border=True):
        st.markdown("**Describe your team**")
        st.text_area("What is the team for?", key=DESCRIBE, height=68,
                     placeholder="e.g. a planner, a coder and a reviewer that write Python functions",
                     help="Name the roles, how they take turns (best of N candidates, in parallel) and what they "
                          "need (the web, files, a git repository); the rest is filled in.")
        go, about = st.columns([1, 3], vertical_alignment="center")
        clicked = go.button("Draft the team", key="build_describe_go", icon=":material/auto_awesome:",
                            help="Replaces the team being edited, as loading a file does.")
        about.caption(f"Drafted by `{md(model)}` (the team's default model); the draft is checked and repaired "
                      "so the team is always valid.")
        if clicked:
            _draft(model)
        failure = st.session_state.get(_FAILED)
        if failure:
            st.error(f"Could not draft a team: {md(failure)}", icon=icons.ALERTS["refused"])
        found = st.session_state.get(_NOTES)
        if isinstance(found, tuple) and found[0] == state.revision():
            if found[1]:
                st.info("Repaired in the model's draft:\n\n" + "\n".join(f"- {md(n)}" for n in found[1]),
                        icon=icons.ALERTS["info"])
            else:
                st.info("The model's draft needed no repair.", icon=icons.ALERTS["info"])
