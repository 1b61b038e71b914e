"""The Build page's canvas while a run of the team works: the speaking roles lit, following the run as it goes.

The run is the one this session started or opened (the one the Run page shows). While this server works on it
(``studio.ui.worker``) and it is a run of the team being edited (the same name), the canvas is drawn in a
fragment that reruns every :data:`POLL_S`, lighting each role whose model call is in flight (its node filled in
its kind's colour and marked *speaking*). A click on the canvas, or the run's end, reruns the whole page, so the
forms below follow the click and the canvas goes back to being drawn once.

Example (what the Build page does):
    >>> from streamlit.testing.v1 import AppTest
    >>> def app():
    ...     from studio.ui import canvas_live, state
    ...     data = state.team_data()
    ...     canvas_live.show(data, state.validate(data)[1])
    >>> AppTest.from_function(app).run(timeout=30).exception  # doctest: +SKIP
    []
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.ui import canvas_view, state, worker
from studio.ui.role_form import select_role
from studio.ui.run_page import RUN_KEY
from studio.ui.run_picture import speaking_roles

__all__ = ["POLL_S", "show", "speaking", "working_run"]

POLL_S = 1.0
"""How often the canvas looks at who is speaking while a run works, in seconds."""


def working_run(data: dict[str, Any]) -> worker.RunHandle | None:
    """This session's run, while this server works on it and it is a run of the team ``data``."""
    run_id = st.session_state.get(RUN_KEY)
    handle = worker.get(run_id) if run_id else None
    if handle is None or not handle.active or handle.team != data.get("name"):
        return None
    return handle


def speaking(data: dict[str, Any]) -> set[str]:
    """The roles of ``data`` whose model call is in flight in this session's working run (none without one)."""
    handle = working_run(data)
    return speaking_roles(handle.speeches()) if handle is not None else set()


def show(data: dict[str, Any], problems: list[str]) -> int | None:
    """Draw the canvas; returns the index of the role whose node was just clicked, if one was.

    While a run of the team works, the canvas follows it in a fragment, which handles a click itself (it
    selects the role and reruns the page), so this returns ``None`` then.
    """
    if working_run(data) is None:
        return canvas_view.show(data, problems)
    st.caption(f"A run of this team is working (run `{st.session_state.get(RUN_KEY)}`): the speaking role is lit.")
    _following()
    return None


@st.fragment(run_every=POLL_S)
def _following() -> None:
    data = state.team_data()
    problems = state.validate(data)[1]
    handle = working_run(data)
    edge = st.session_state.get(canvas_view.SELECTED_EDGE)
    clicked = canvas_view.show(data, problems, speaking=speaking_roles(handle.speeches()) if handle else ())
    if clicked is not None and clicked < len(data.get("roles") or []):
        select_role(clicked)
    if handle is None or clicked is not None or st.session_state.get(canvas_view.SELECTED_EDGE) != edge:
        st.rerun()  # the whole page: the run ended, or the forms below must show what was clicked
