"""The ``combine`` move: the edits that each helped the best team, made together.

A search that keeps one edit per generation walks to a good team one step at a time, and pays a
full generation for each step; the other edits of a generation that did better than their parent
on the tasks they were graded on (more passed, or as many for fewer tokens) are dropped with the
generation. They are likely to help the best team too: coordinate search's "keep every improving
coordinate", the crossover of the edits that paid. :func:`combined` makes them on the best team in
order, best first, skipping an edit whose fields have changed since (by the best team's own
lineage, or by an edit already made); the result is checked like any other proposal.

A spec is compared field by field: nested mappings by key, roles by name (the parent's order, an
added role where its child put it), anything else (a list of edges, worked examples) as one value.

Example:
    >>> parent = {"defaults": {"max_tokens": 256}, "sandbox": {"max_attempts": 2}}
    >>> shorter = {"defaults": {"max_tokens": 192}, "sandbox": {"max_attempts": 2}}
    >>> longer = {"defaults": {"max_tokens": 384}, "sandbox": {"max_attempts": 2}}
    >>> once = {"defaults": {"max_tokens": 256}, "sandbox": {"max_attempts": 1}}
    >>> combined(shorter, [(parent, longer), (parent, once)])
    ({'defaults': {'max_tokens': 192}, 'sandbox': {'max_attempts': 1}}, [1])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["combined"]

Path = tuple[str, ...]
class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _flat(data: dict[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    out: dict[Path, Any] = {}
    for key, value in data.items():
        if not prefix and key == "roles" and isinstance(value, list):
            for index, role in enumerate(value):
                out.update(_flat(role, ("roles", str(role.get("name", index)))))
        elif isinstance(value, dict) and value:
            out.update(_flat(value, (*prefix, key)))
        else:
            out[(*prefix, key)] = value
    return out


def _names(data: dict[str, Any]) -> list[str]:
    return [str(role.get("name", i)) for i, role in enumerate(data.get("roles") or [])]


def _nest(flat: dict[Path, Any], order: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    roles: dict[str, dict[str, Any]] = {}
    for path, value in flat.items():
        node = roles.setdefault(path[1], {}) if path[0] == "roles" else data
        keys = path[2:] if path[0] == "roles" else path
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    if roles:
        data = {"roles": [roles[name] for name in sorted(roles, key=lambda n: (order + [n]).index(n))], **data}
    return data


def _overlap(a: Path, b: Path) -> bool:
    """One field holds the other (or they are one field)."""
    return a[:len(b)] == b or b[:len(a)] == a


def combined(base: dict[str, Any], edits: Sequence[tuple[dict[str, Any], dict[str, Any]]]
             ) -> tuple[dict[str, Any], list[int]]:
    """``base`` with each edit (a team before it and after it) made in turn; and the indices of the edits made.

    An edit is made only where every field it changes still holds the value it had before it: an edit of a
    field the base (or an earlier edit) has changed since would undo a change that was graded, so it is
    left out whole (half an edit is not the edit that was graded).
    """
    merged = _flat(base)
    order = _names(base)
    used: list[int] = []
    for index, (before_data, after_data) in enumerate(edits):
        before, after = _flat(before_data), _flat(after_data)
        edit = {p: v for p, v in after.items() if before.get(p, _MISSING) != v}
        edit.update({p: _MISSING for p in before if p not in after})
        fields = {q for p in edit for q in (*merged, *before) if _overlap(p, q)}
        if not edit or any(merged.get(q, _MISSING) != before.get(q, _MISSING) for q in fields):
            continue
        for path, value in edit.items():
            if value is _MISSING:
                merged.pop(path, None)
            else:
                merged[path] = value
        used.append(index)
        names = _names(after_data)
        for name in names:  # a role the edit added goes where the edit put it
            if name not in order:
                order.insert(names.index(name), name)
    return _nest(merged, order), used
