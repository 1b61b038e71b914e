"""Edits of the team dict the Build page holds: plain functions that return a new dict, no Streamlit.

The dict may be invalid at any time (a cleared name, a route to a missing
role), so every reader here tolerates missing or odd values instead of
assuming the spec's shape.

Example:
    >>> team = {"name": "t", "roles": [{"name": "coder", "kind": "coder"}]}
    >>> team, index = add_role(team, "coder")
    >>> names(team), index
    (['coder', 'coder2'], 1)
    >>> names(rename_role(team, 1, "tester"))
    ['coder', 'tester']
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from studio.spec import free_role_name

__all__ = ["FieldPath", "add_edge", "add_role", "edge_ends", "edges", "get_path", "names", "problems_under",
           "remove_edge", "remove_role", "rename_role", "role_kind", "role_name", "roles", "set_path", "split_problem"]

FieldPath = tuple[str | int, ...]
"""Keys and list indices from the top of the team dict: ``("roles", 1, "limits", "temperature")``."""


def roles(data: dict[str, Any]) -> list[Any]:
    """The ``roles`` list, or ``[]`` when it is missing or not a list."""
    found = data.get("roles")
    return found if isinstance(found, list) else []


def role_name(role: Any) -> str:
    """A role's name as text (``""`` when it has none)."""
    value = role.get("name") if isinstance(role, dict) else None
    return "" if value is None else str(value)


def role_kind(role: Any) -> str:
    """A role's kind as text (``""`` when it has none)."""
    value = role.get("kind") if isinstance(role, dict) else None
    return "" if value is None else str(value)


def names(data: dict[str, Any]) -> list[str]:
    """The role names, in order (duplicates and empty names included)."""
    return [role_name(r) for r in roles(data)]


def edges(data: dict[str, Any]) -> list[Any]:
    """The ``flow.edges`` list, or ``[]``."""
    flow = data.get("flow")
    found = flow.get("edges") if isinstance(flow, dict) else None
    return found if isinstance(found, list) else []


def edge_ends(edge: Any) -> tuple[str, str]:
    """``(from, to)`` of an edge; the spec also accepts ``source``/``target``."""
    if not isinstance(edge, dict):
        return "", ""
    src, tgt = edge.get("from", edge.get("source")), edge.get("to", edge.get("target"))
    return ("" if src is None else str(src)), ("" if tgt is None else str(tgt))


def get_path(data: Any, path: FieldPath, default: Any = None) -> Any:
    """The value at ``path`` (keys and list indices), or ``default`` where the path breaks off."""
    for part in path:
        if isinstance(part, int) and isinstance(data, list) and 0 <= part < len(data):
            data = data[part]
        elif isinstance(part, str) and isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return default
    return data


def set_path(data: dict[str, Any], path: FieldPath, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``value`` at ``path``; ``None`` removes the key.

    Mappings left empty by a removal are removed too (``limits: {}`` says
    nothing the default does not), but list items never are.
    """
    out = copy.deepcopy(data)
    node: Any = out
    trail: list[tuple[Any, str | int]] = []
    for depth, part in enumerate(path[:-1]):
        if isinstance(part, int):
            if not (isinstance(node, list) and 0 <= part < len(node)):
                return out  # the item is gone (or never was a list item): nothing to set
            node = node[part]
            continue
        if not isinstance(node, dict):
            return out
        if isinstance(path[depth + 1], int):
            if not isinstance(node.get(part), list):
                return out
        elif not isinstance(node.get(part), dict):
            if value is None:
                return out
            node[part] = {}
        trail.append((node, part))
        node = node[part]
    last = path[-1]
    if not isinstance(node, dict):
        return out
    if value is not None:
        node[last] = value
        return out
    node.pop(last, None)
    for parent, part in reversed(trail):
        if parent[part] == {}:
            del parent[part]
        else:
            break
    return out


def add_role(data: dict[str, Any], kind: str) -> tuple[dict[str, Any], int]:
    """A copy of ``data`` with a new role of ``kind`` at the end, and that role's index."""
    out = copy.deepcopy(data)
    if not isinstance(out.get("roles"), list):
        out["roles"] = []
    out["roles"].append({"name": free_role_name(kind, names(out)), "kind": kind})
    return out, len(out["roles"]) - 1


def _is_unique(data: dict[str, Any], index: int, name: str) -> bool:
    return [i for i, other in enumerate(names(data)) if other == name] == [index]


def _teams(flow: dict[str, Any]) -> list[dict[str, Any]]:
    """The sub-teams of ``flow`` whose ``roles`` is a list (those a role can be renamed in or removed from)."""
    found = flow.get("teams")
    teams = found if isinstance(found, list) else []
    return [t for t in teams if isinstance(t, dict) and isinstance(t.get("roles"), list)]


def remove_role(data: dict[str, Any], index: int) -> dict[str, Any]:
    """A copy of ``data`` without role ``index``.

    Gone too are its routes, its place in a sub-team, and ``flow.entry`` and ``flow.judge`` when they
    named it.
    """
    name = role_name(roles(data)[index])
    unique = _is_unique(data, index, name)
    out = copy.deepcopy(data)
    del out["roles"][index]
    if unique and isinstance(out.get("flow"), dict):
        flow = out["flow"]
        if isinstance(flow.get("edges"), list):
            flow["edges"] = [e for e in flow["edges"] if name not in edge_ends(e)]
        for team in _teams(flow):
            team["roles"] = [r for r in team["roles"] if r != name]
        for key in ("entry", "judge"):
            if flow.get(key) == name:
                del flow[key]
    return out


def rename_role(data: dict[str, Any], index: int, new: str) -> dict[str, Any]:
    """A copy of ``data`` with role ``index`` called ``new``; the routes, entry, sub-teams and judge follow.

    References follow only when the old name was the role's alone: with two
    roles of one name, nobody can tell which one a route meant.
    """
    old = role_name(roles(data)[index])
    follow = old != new and _is_unique(data, index, old)
    out = copy.deepcopy(data)
    out["roles"][index]["name"] = new
    flow = out.get("flow")
    if not follow or not isinstance(flow, dict):
        return out
    for edge in edges(out):
        if isinstance(edge, dict):
            for key in ("from", "to", "source", "target"):
                if key in edge and edge[key] == old:
                    edge[key] = new
    for team in _teams(flow):
        team["roles"] = [new if r == old else r for r in team["roles"]]
    for key in ("entry", "judge"):
        if flow.get(key) == old:
            flow[key] = new
    return out


def add_edge(data: dict[str, Any], src: str, tgt: str) -> dict[str, Any]:
    """A copy of ``data`` with the route ``src -> tgt`` appended (once: a repeat would never be used)."""
    if (src, tgt) in [edge_ends(e) for e in edges(data)]:
        return copy.deepcopy(data)
    out = copy.deepcopy(data)
    if not isinstance(out.get("flow"), dict):
        out["flow"] = {}
    if not isinstance(out["flow"].get("edges"), list):
        out["flow"]["edges"] = []
    out["flow"]["edges"].append({"from": src, "to": tgt})
    return out


def remove_edge(data: dict[str, Any], index: int) -> dict[str, Any]:
    """A copy of ``data`` without route ``index``."""
    out = copy.deepcopy(data)
    del out["flow"]["edges"][index]
    return out


def split_problem(line: str) -> tuple[str, str]:
    """``("roles[1].name", "what")`` from ``"roles[1].name: what"``; a line without a path has path ``""``."""
    path, sep, what = line.partition(": ")
    return (path, what) if sep and " " not in path else ("", line)


def problems_under(problems: Sequence[str], path: str, *, exact: bool = False) -> list[str]:
    """The problem lines about ``path`` (and, unless ``exact``, about the fields inside it)."""
    found = []
    for line in problems:
        where, _ = split_problem(line)
        if where == path or (not exact and where.startswith((path + ".", path + "["))):
            found.append(line)
    return found
