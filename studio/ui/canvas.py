"""The team as a React Flow graph (streamlit-flow) and back: plain functions, no Streamlit calls.

Each role is a node ``role-<index>`` (indices, not names, because a name being
edited may be empty or duplicated); each ``flow.edges`` route is an edge
``edge-<index>``; a fixed ``start`` node points at the entry. Node positions
are not part of the spec: the page keeps them by role name and
:func:`layout` places the roles that have none. In a ``cross_team`` flow a
node also names its role's sub-team (``team red``) or marks the judge (``judge``). The labels are plain
Markdown: the canvas (a React component of its own) draws neither Streamlit's Material icons nor, on a machine
without an emoji font, emoji; a kind shows as its colours and its name.

Example:
    >>> team = {"name": "t", "roles": [{"name": "p", "kind": "planner"}, {"name": "c", "kind": "coder"}],
    ...         "flow": {"edges": [{"from": "p", "to": "c"}]}}
    >>> state = to_flow(team, {})
    >>> [n.id for n in state.nodes], [(e.source, e.target) for e in state.edges]
    (['start', 'role-0', 'role-1'], [('role-0', 'role-1'), ('start', 'role-0')])
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Collection, Sequence
from typing import Any, cast

from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.state import StreamlitFlowState

from studio.ui.flow_edit import judge_of, sub_team_of
from studio.ui.team_edit import edge_ends, edges, names, problems_under, role_kind, role_name, roles

__all__ = ["KIND_LOOK", "SPEAKING_CLASS", "SPEAKING_LOOK", "START", "UNKNOWN_LOOK", "from_flow", "layout",
           "positions_from", "role_index", "signature", "to_flow"]

START = "start"
"""Id of the node whose edge marks ``flow.entry``; drawing a new edge from it picks a new entry."""
_ENTRY_EDGE = "entry"
KIND_LOOK: dict[str, tuple[str, str]] = {
    "orchestrator": ("#f3ebfb", "#7b3fc4"),
    "planner": ("#e8f1fd", "#1e6fd9"),
    "coder": ("#e9f7ef", "#1e8e4e"),
    "critic": ("#fff4e5", "#d9822b"),
    "test_designer": ("#e6f7f8", "#0e8a96"),
}
"""Kind to (background, border colour) of its nodes."""
UNKNOWN_LOOK = ("#f4f4f4", "#8a8a8a")
"""The look of a role whose kind is not in :data:`KIND_LOOK` (none yet, or a typo)."""
SPEAKING_LOOK = {"color": "#ffffff", "fontWeight": "600"}
"""What a speaking role's node adds to its style (its background becomes its kind's border colour, with a halo)."""
SPEAKING_CLASS = "huddle-speaking"
"""The class name of a speaking role's node."""
_DX, _DY = 240.0, 140.0
# Kind to (x, y, step x, step y) of its first slot and the next ones: workers in columns left to right,
# the order a task usually travels; the orchestrator in a row above them, since it talks to all of them.
# The critic starts lower so its route back to the coder does not hide the coder's route to it.
_SLOTS = {"planner": (230.0, 0.0, 0.0, _DY), "coder": (470.0, 0.0, 0.0, _DY), "critic": (710.0, 100.0, 0.0, _DY),
          "orchestrator": (470.0, -170.0, _DX, 0.0), "test_designer": (230.0, 170.0, 0.0, _DY)}
_OTHER_SLOTS = (950.0, 0.0, 0.0, _DY)
Position = tuple[float, float]


def role_index(node_id: str | None) -> int | None:
    """The role index of a node id (``role-3`` -> 3), or ``None`` for the start node and foreign ids."""
    match = re.fullmatch(r"role-(\d+)", node_id or "")
    return int(match.group(1)) if match else None


def _free(spot: Position, placed: list[Position]) -> bool:
    return all(abs(spot[0] - x) >= _DX / 2 or abs(spot[1] - y) >= _DY / 2 for x, y in placed)


def layout(data: dict[str, Any], positions: dict[str, Position]) -> dict[str, Position]:
    """A position for every role name: its known one, else the first free slot of its kind."""
    # a position read back from the page may be a JSON list: tuple() makes it one again
    out: dict[str, Position] = {name: cast(Position, tuple(positions[name])) for name in names(data)
                                if name in positions}
    placed = list(out.values())
    for role in roles(data):
        name = role_name(role)
        if name in out:
            continue
        x, y, step_x, step_y = _SLOTS.get(role_kind(role), _OTHER_SLOTS)
        while not _free((x, y), placed):
            x, y = x + step_x, y + step_y
        out[name] = (x, y)
        placed.append(out[name])
    return out


def _escape(text: str) -> str:
    # Node labels are markdown: a half-typed name must not turn into markup.
    return re.sub(r"([\\`*_\[\]#<>|~])", r"\\\1", text)


def _entry(data: dict[str, Any]) -> tuple[str | None, bool]:
    """(the entry role's name, whether the spec sets it) — unset means the first worker."""
    flow = data.get("flow")
    entry = flow.get("entry") if isinstance(flow, dict) else None
    if entry is not None:
        return str(entry), True
    workers = [role_name(r) for r in roles(data) if role_kind(r) != "orchestrator"]
    return (workers[0] if workers else None), False


def _part(data: dict[str, Any], name: str) -> str:
    """A role's part in a ``cross_team`` flow: ``team red`` (its sub-team), ``judge`` or ``""``."""
    team = sub_team_of(data).get(name)
    if team is not None:
        return f"team {team}"
    return "judge" if name and name == judge_of(data) else ""


def _node(index: int, role: Any, pos: Position, bad: bool, part: str = "", speaking: bool = False) -> StreamlitFlowNode:
    kind = role_kind(role)
    background, border = KIND_LOOK.get(kind, UNKNOWN_LOOK)
    model = role.get("model") if isinstance(role, dict) else None
    name = role_name(role) or "(no name)"
    lines = [f"**{_escape(name)}**", f"{_escape(kind or '?')}" + (f" · {_escape(str(model))}" if model else "")]
    if part:
        lines.append(_escape(part))
    if bad:
        lines.append("**has problems**")
    style = {"background": background, "border": f"2px {'dashed #d93025' if bad else 'solid ' + border}",
             "borderRadius": "10px", "color": "#1f2328", "width": "180px", "padding": "4px"}
    extra = {}
    if speaking:  # filled in its kind's colour, as on the Run page's picture
        lines.append("**speaking**")
        style |= SPEAKING_LOOK | {"background": border, "boxShadow": f"0 0 0 5px {border}55"}
        extra["className"] = SPEAKING_CLASS
    return StreamlitFlowNode(f"role-{index}", pos, {"content": "\n\n".join(lines), "kind": kind}, "default",
                             source_position="right", target_position="left", connectable=True, deletable=True,
                             selectable=True, style=style, **extra)


def _rendered_edges(data: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """Route index to (source role index, target role index), for the routes whose ends both exist."""
    first: dict[str, int] = {}
    for i, name in enumerate(names(data)):
        first.setdefault(name, i)
    out = {}
    for j, edge in enumerate(edges(data)):
        src, tgt = edge_ends(edge)
        if src in first and tgt in first:
            out[j] = (first[src], first[tgt])
    return out


def to_flow(data: dict[str, Any], positions: dict[str, Position], problems: Sequence[str] = (),
            timestamp: int | None = None, speaking: Collection[str] = ()) -> StreamlitFlowState:
    """The canvas state for ``data``: one node per role, one edge per route, and the entry.

    Args:
        data: the team dict (possibly invalid).
        positions: known node positions by role name; the others are laid out.
        problems: validation problems; a role with any gets a dashed red border.
        timestamp: the state's timestamp; a newer one than the canvas last sent makes it redraw from this state.
        speaking: the names of the roles whose model call is in flight (a run of this team works): their nodes
            are filled in their kind's colour, marked *speaking* and get the class :data:`SPEAKING_CLASS`.
    """
    spots = layout(data, positions)
    nodes = [StreamlitFlowNode(START, (0.0, 0.0), {"content": "**start**"}, "input", source_position="right",
                               connectable=True, deletable=False, selectable=False,
                               style={"background": "#ffffff", "border": "2px solid #555", "borderRadius": "18px",
                                      "width": "110px", "padding": "2px"})]
    used: set[Position] = set()
    for i, role in enumerate(roles(data)):
        pos = spots[role_name(role)]
        while pos in used:  # two roles of one name share a spot: move the second off it
            pos = (pos[0] + 30.0, pos[1] + 30.0)
        used.add(pos)
        nodes.append(_node(i, role, pos, bool(problems_under(problems, f"roles[{i}]")), _part(data, role_name(role)),
                           role_name(role) in speaking))
    arrow = {"type": "arrowclosed"}
    flow_edges = []
    seen_sources: set[int] = set()
    for j, (src, tgt) in _rendered_edges(data).items():
        first = src not in seen_sources
        seen_sources.add(src)
        # The runner follows only the first route from a role; show the others as such.
        flow_edges.append(StreamlitFlowEdge(f"edge-{j}", f"role-{src}", f"role-{tgt}", marker_end=arrow,
                                            deletable=True, focusable=True, label="" if first else "unused",
                                            style={} if first else {"strokeDasharray": "6 4"}))
    entry, explicit = _entry(data)
    if entry in names(data):
        flow_edges.append(StreamlitFlowEdge(_ENTRY_EDGE, START, f"role-{names(data).index(entry)}",
                                            marker_end=arrow, animated=True, deletable=False,
                                            label="entry" if explicit else "entry (first worker)",
                                            style={"stroke": "#555"}))
    stamp = int(time.time() * 1000) if timestamp is None else timestamp
    return StreamlitFlowState(nodes=nodes, edges=flow_edges, timestamp=stamp)


def positions_from(data: dict[str, Any], state: StreamlitFlowState) -> dict[str, Position]:
    """Role name to the position of its node in ``state`` (which was drawn from ``data``)."""
    out = {}
    all_roles = roles(data)
    for node in state.nodes:
        index = role_index(node.id)
        if index is not None and index < len(all_roles):
            out[role_name(all_roles[index])] = (float(node.position["x"]), float(node.position["y"]))
    return out


def from_flow(data: dict[str, Any], state: StreamlitFlowState) -> dict[str, Any]:
    """``data`` updated with what the user did on a canvas drawn from it.

    A deleted node removes its role and every route touching it; a deleted
    edge removes its route; a new edge adds a route (a new edge from
    ``start`` sets ``flow.entry`` instead). Routes the canvas never showed
    (they name a missing role) are kept: the user could not have removed them.
    """
    all_roles = roles(data)
    present = {role_index(n.id) for n in state.nodes} - {None}
    kept = [i for i in range(len(all_roles)) if i in present]
    gone = {role_name(all_roles[i]) for i in range(len(all_roles)) if i not in present}
    gone -= {role_name(all_roles[i]) for i in kept}  # a duplicate name still lives on
    name_of = {f"role-{i}": role_name(all_roles[i]) for i in kept}
    out = copy.deepcopy(data)
    if len(kept) != len(all_roles):
        out["roles"] = [copy.deepcopy(all_roles[i]) for i in kept]
    ids = {e.id for e in state.edges}
    rendered = _rendered_edges(data)
    routes = []
    for j, edge in enumerate(edges(data)):
        wanted = f"edge-{j}" in ids if j in rendered else True
        if wanted and not gone & set(edge_ends(edge)):
            routes.append(copy.deepcopy(edge))
    entry = None
    for edge in state.edges:
        if edge.id == _ENTRY_EDGE or edge.id in {f"edge-{j}" for j in rendered}:
            continue
        if edge.source == START and edge.target in name_of:
            entry = name_of[edge.target]
        elif edge.source in name_of and edge.target in name_of:
            pair = (name_of[edge.source], name_of[edge.target])
            if pair not in [edge_ends(r) for r in routes]:
                routes.append({"from": pair[0], "to": pair[1]})
    flow: dict[str, Any] = out["flow"] if isinstance(out.get("flow"), dict) else {}
    if routes != edges(data):
        flow["edges"] = routes
    if entry is not None:
        flow["entry"] = entry
    elif isinstance(flow.get("entry"), str) and flow["entry"] in gone:
        del flow["entry"]
    if flow:
        out["flow"] = flow
    return out


def signature(data: dict[str, Any], problems: Sequence[str] = ()) -> str:
    """What the canvas shows of ``data``: when it changes, the canvas must be redrawn from the spec."""
    shown = [(role_name(r), role_kind(r), r.get("model") if isinstance(r, dict) else None,
              bool(problems_under(problems, f"roles[{i}]")), _part(data, role_name(r)))
             for i, r in enumerate(roles(data))]
    return json.dumps([shown, [edge_ends(e) for e in edges(data)], _entry(data)], default=str)
