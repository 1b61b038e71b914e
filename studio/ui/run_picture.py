"""What is happening now, on the Run page: the team with its speaking roles lit, and what they are saying.

The team is drawn as on the Build page's canvas (its routes, each kind in its
colours), read-only, as a Graphviz picture: it redraws on every poll without
a component to reload. A role whose model call is in flight is filled in its
colour and marked *speaking*. Next to it, each speaker's text as it streams
in (``RunHandle.live``), or "is thinking… Ns" while a reply that cannot be
streamed (a JSON-constrained call) is on its way.

Example:
    >>> team = {"name": "t", "roles": [{"name": "p", "kind": "planner"}, {"name": "c", "kind": "coder"}],
    ...         "flow": {"edges": [{"from": "p", "to": "c"}]}}
    >>> [line.split()[0] for line in team_dot(team, {"c"}).splitlines() if "penwidth=4" in line]
    ['"c"']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

from studio.ui.canvas import KIND_LOOK, UNKNOWN_LOOK
from studio.ui.team_edit import edge_ends, edges, role_kind, role_name, roles
from studio.ui.worker import Speech

__all__ = ["speaking_roles", "show_speeches", "show_team", "team_dot"]


def _quote(*lines: str) -> str:
    """A DOT string of one or more lines."""
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines) + '"'


def speaking_roles(speakers: Iterable[str]) -> set[str]:
    """The roles behind speakers named ``role`` or ``role.branch``."""
    return {speaker.split(".", 1)[0] for speaker in speakers}


def team_dot(data: dict[str, Any], speaking: set[str]) -> str:
    """The team as Graphviz DOT: a box per role, an arrow per route, the speaking roles filled and bold."""
    lines = ["digraph team {", "  rankdir=LR; bgcolor=transparent; pad=0.1;",
             '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11, margin="0.15,0.06"];',
             '  edge [color="#8a8a8a", arrowsize=0.7];']
    for role in roles(data):
        name, kind = role_name(role), role_kind(role)
        background, border = KIND_LOOK.get(kind, UNKNOWN_LOOK)
        if name in speaking:
            look = f'fillcolor="{border}", color="{border}", fontcolor=white, penwidth=4, style="rounded,filled,bold"'
            label = _quote(name, f"{kind} · speaking" if kind != name else "speaking")
        else:
            look = f'fillcolor="{background}", color="{border}", fontcolor="#1f2328", penwidth=1.5'
            label = _quote(name, kind) if kind != name else _quote(name)
        lines.append(f"  {_quote(name)} [label={label}, {look}];")
    for edge in edges(data):
        src, tgt = edge_ends(edge)
        if src and tgt:
            lines.append(f"  {_quote(src)} -> {_quote(tgt)};")
    lines.append("}")
    return "\n".join(lines)


def show_team(data: dict[str, Any], speaking: set[str]) -> None:
    """Draw the team, its speaking roles lit."""
    st.graphviz_chart(team_dot(data, speaking), width="stretch")


def show_speeches(speeches: dict[str, Speech], avatars: dict[str, str]) -> None:
    """Each speaker's text so far, or how long it has been thinking; nothing when nobody speaks.

    Args:
        speeches: speaker (``role`` or ``role.branch``) to what it said so far.
        avatars: role name to the avatar of its bubble.
    """
    for speaker, speech in sorted(speeches.items()):
        role = speaker.split(".", 1)[0]
        with st.chat_message(f"{speaker} (live)", avatar=avatars.get(role)):  # not the role's own bubbles
            retry = f" · attempt {speech.attempt}" if speech.attempt > 1 else ""  # the first try failed part way
            if speech.text:
                st.caption(f"{speaker} is speaking · {speech.seconds():.0f}s{retry}")
                st.markdown(speech.text)
            else:
                st.caption(f"{speaker} is thinking… {speech.seconds():.0f}s{retry}")
