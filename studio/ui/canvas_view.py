"""The canvas on the Build page: draws the team with streamlit-flow and applies what the user did on it.

The canvas and the spec talk through timestamps. The page hands the
component a state built from the spec, stamped when it was built; the
component redraws from it only when that stamp is newer than its own last
event, and each event comes back stamped with the browser's time. So the page
rebuilds (with a fresh stamp) exactly when the spec changed in a way the
canvas shows, and applies an event only when it is newer than both that build
and the last event it applied; the component keeps returning its last event
on every rerun, and applying it twice would undo the edits made since.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

import streamlit as st
from streamlit_flow import streamlit_flow
from streamlit_flow.layouts import ManualLayout
from streamlit_flow.state import StreamlitFlowState

from studio.ui import canvas
from studio.ui.build_fields import replace_team

__all__ = ["POSITIONS", "SELECTED_EDGE", "forget", "move_position", "show"]

POSITIONS = "build_positions"
"""Session key: role name -> (x, y) of its node. Not part of the spec."""
SELECTED_EDGE = "build_selected_edge"
"""Session key: the index of the route whose edge was clicked last. The component's own edge menu is off: its
*Edit Edge* dialog edits a label, a type and an animation, none of which a route has (a route is ``{from, to}``);
the page shows the clicked route with a Remove button instead. Its node menu is off too: its *Edit Node* dialog
edits what is drawn (the label, width, handles), never the role; a click on a node opens the role's own form,
with Remove this role."""
_FLOW, _SIGNATURE, _SEEN, _MOUNT = "build_flow", "build_flow_signature", "build_flow_seen", "build_flow_mount"


def move_position(old: str, new: str) -> None:
    """Keep a renamed role's node where it was."""
    positions = st.session_state.setdefault(POSITIONS, {})
    if old in positions and new not in positions:
        positions[new] = positions.pop(old)


def forget() -> None:
    """Drop positions and the drawn state: a different team (a loaded file) is laid out afresh.

    The component is mounted afresh too (a new key), so an event it built from the old team's
    nodes can never come back and be applied to the new team.
    """
    for name in (POSITIONS, _FLOW, _SIGNATURE, SELECTED_EDGE):
        st.session_state.pop(name, None)
    st.session_state[_MOUNT] = st.session_state.get(_MOUNT, 0) + 1


def _current(data: dict[str, Any], problems: list[str], speaking: Collection[str]) -> StreamlitFlowState:
    positions = st.session_state.setdefault(POSITIONS, {})
    signature = json.dumps([canvas.signature(data, problems), sorted(speaking)])
    drawn = st.session_state.get(_FLOW)
    if drawn is None or st.session_state.get(_SIGNATURE) != signature:
        positions.update(canvas.layout(data, positions))
        drawn = canvas.to_flow(data, positions, problems, speaking=speaking)
        st.session_state[_FLOW], st.session_state[_SIGNATURE] = drawn, signature
    return drawn


def show(data: dict[str, Any], problems: list[str], *, height: int = 440,
         speaking: Collection[str] = ()) -> int | None:
    """Draw the canvas and apply the user's latest action on it.

    Args:
        data: the team being edited.
        problems: its validation problems (a role with any is marked).
        height: the canvas's height in pixels.
        speaking: the roles to light as speaking (a run of this team works): a change redraws the canvas.

    Returns:
        The index of the role whose node was clicked, if one was just clicked.

    A change to the team (a node or edge deleted, an edge drawn) stores the
    new team and reruns the script, so everything above the canvas shows it.
    """
    drawn = _current(data, problems, speaking)
    event = streamlit_flow(f"build_canvas_{st.session_state.get(_MOUNT, 0)}", drawn, height=height, fit_view=True,
                           allow_new_edges=True, animate_new_edges=False, layout=ManualLayout(),
                           get_node_on_click=True, get_edge_on_click=True, enable_node_menu=False,
                           enable_edge_menu=False, enable_pane_menu=False, show_minimap=False, hide_watermark=True)
    if event is drawn or event.timestamp <= max(drawn.timestamp, st.session_state.get(_SEEN, 0)):
        return None  # no component (tests, first draw) or an event already applied or older than the spec
    st.session_state[_SEEN] = event.timestamp
    st.session_state.setdefault(POSITIONS, {}).update(canvas.positions_from(data, event))
    updated = canvas.from_flow(data, event)
    clicked = canvas.role_index(event.selected_id)
    edge = re.fullmatch(r"edge-(\d+)", event.selected_id or "")
    if edge:
        st.session_state[SELECTED_EDGE] = int(edge.group(1))
    if updated != data:
        replace_team(updated)
        st.rerun()
    # Same team: keep the stamp (the canvas must not redraw), but carry the moved positions so a
    # remounted canvas (back from another page) shows the nodes where the user left them.
    st.session_state[_FLOW] = canvas.to_flow(data, st.session_state[POSITIONS], problems, timestamp=drawn.timestamp,
                                             speaking=speaking)
    return clicked
