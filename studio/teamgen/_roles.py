"""The roles of a draft: read from whatever the model replied, then fitted to the description and the flow.

Names are cleaned and made unique, kinds read (``reviewer`` is a critic) or the role dropped; then the roles the
description names are added under its words, and so are the roles the flow needs.

Example:
    >>> notes = []
    >>> [(r.name, r.kind) for r in draft_roles([{"name": "Lead Dev!", "kind": "developer"}, 7], notes)]
    [('lead_dev', 'coder')]
    >>> notes
    ["roles[0]: kind 'developer' read as coder", "roles[1]: dropped, '7' is not a role"]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from studio.redact import redact
from studio.spec import ROLE_KINDS, free_role_name
from studio.teamgen._draft import EXAMPLES
from studio.teamgen._reading import Reading, kind_of

__all__ = ["COPIED", "MAX_ROLES", "NEEDS", "DraftRole", "clean_name", "draft_roles", "parse_reply", "shape", "show"]

MAX_ROLES = 6
_ORDER = {"orchestrator": 0, "planner": 1, "test_designer": 2, "coder": 3, "critic": 4}
NEEDS = {"best_of_n": ("coder", "critic"), "parallel_plan": ("planner", "coder"), "magentic": ("orchestrator",)}
_EXAMPLE_DRAFTS = [json.loads(reply) for _, reply in EXAMPLES]
COPIED = {r["instructions"] for d in _EXAMPLE_DRAFTS for r in d["roles"]} | {d["name"] for d in _EXAMPLE_DRAFTS}
_EXAMPLE_NAMES = {r["name"] for d in _EXAMPLE_DRAFTS for r in d["roles"]}


@dataclass
class DraftRole:
    """One role as the repair works on it (a plain name, a built-in kind, tool names of the catalogue)."""

    name: str
    kind: str
    instructions: str = ""
    tools: list[str] = field(default_factory=list)


def show(value: Any) -> str:
    """A value of the reply, short and redacted, for a note."""
    text = redact(value if isinstance(value, str) else json.dumps(value, default=str))
    return repr(text if len(text) <= 40 else text[:37] + "...")


def parse_reply(reply: Any) -> Any:
    """The JSON in ``reply``: itself unless it is text; else the text, or its ``{...}`` span, parsed (or ``None``)."""
    if not isinstance(reply, str):
        return reply
    text = reply.strip()
    start, end = text.find("{"), text.rfind("}")
    for candidate in (text, text[start:end + 1] if 0 <= start < end else ""):
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):
            continue
    return None


def clean_name(value: Any, fallback: str) -> str:
    """``value`` as a role name (lower case, a letter first, at most 40 characters), or ``fallback``."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "_", value.strip().lower()) if isinstance(value, str) else ""
    cleaned = re.sub(r"^[^a-z]+", "", cleaned)[:40].rstrip("_-")
    return cleaned or fallback


def _plain(value: Any) -> str | None:
    """A built-in kind, when ``value`` is one spelled loosely (``Test Designer``)."""
    plain = value.strip().lower().replace("-", "_").replace(" ", "_") if isinstance(value, str) else None
    return plain if plain in ROLE_KINDS else None


def _kind(entry: dict[str, Any], where: str, notes: list[str]) -> str | None:
    """The role's built-in kind: its kind, its ``acts_as``, or a word that names one (``reviewer``)."""
    raw = entry.get("kind")
    found = _plain(raw) or _plain(entry.get("acts_as"))
    if found is not None:
        return found
    words = [raw] if isinstance(raw, str) and raw.strip() else [entry.get(k) for k in ("role", "type", "name")]
    for word in (w for w in words if isinstance(w, str)):
        read = _plain(word) or (kind_of(word) or (None,))[0]
        if read is not None:
            if word is raw:
                notes.append(f"{where}: kind {show(raw)} read as {read}")
            return read
    notes.append(f"{where}: dropped, its kind {show(raw)} is none of {', '.join(ROLE_KINDS)}")
    return None


def _instructions(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split())
    return redact(text if len(text) <= 200 else text[:197].rstrip() + "...")


def draft_roles(data: Any, notes: list[str]) -> list[DraftRole]:
    """The usable roles of a parsed reply (anything), with notes on what was dropped or read differently."""
    if isinstance(data, list):
        data = {"roles": data}
    if not isinstance(data, dict):
        notes.append("the model's reply is not a JSON object: the team comes from the description's words")
        return []
    raw = next((data[k] for k in ("roles", "agents", "members") if k in data), None)
    if not isinstance(raw, list):
        notes.append("the model's reply has no list of roles: the team comes from the description's words")
        return []
    roles: list[DraftRole] = []
    for i, entry in enumerate(raw[:20]):
        where = f"roles[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            notes.append(f"{where}: dropped, {show(entry)} is not a role")
            continue
        kind = _kind(entry, where, notes)
        if kind is not None:
            tools = entry.get("tools")
            roles.append(DraftRole(clean_name(entry.get("name"), kind), kind, _instructions(entry.get("instructions")),
                               [t for t in tools if isinstance(t, str)] if isinstance(tools, list) else []))
    if not roles:
        notes.append("the model's reply has no usable role: the team comes from the description's words")
    return roles


def _roster(roles: list[DraftRole], reading: Reading, needed: tuple[str, ...], notes: list[str]) -> list[DraftRole]:
    """Drop what the description rules out: kinds it does not name when it lists the team, a second orchestrator."""
    drop: list[DraftRole] = []
    if len(reading.names) >= 2:  # the description lists the team: other kinds, and repeats, are the model's own
        unlisted = [r for r in roles if r.kind not in reading.names and r.kind not in needed and r.kind != "coder"]
        kinds = [r.kind for r in roles]
        repeats = [r for i, r in enumerate(roles)
                   if kinds[:i].count(r.kind) >= reading.counts.get(r.kind, 1) and r not in unlisted]
        for found, why in ((unlisted, "the description lists no such role"),
                           (repeats, "the description lists fewer of that kind")):
            if found:
                notes.append(f"dropped {', '.join(r.name for r in found)}: {why}")
        drop = unlisted + repeats
    orchestrators = [r for r in roles if r.kind == "orchestrator" and all(r is not d for d in drop)][1:]
    if orchestrators:
        notes.append(f"dropped {', '.join(r.name for r in orchestrators)}: a team has one orchestrator at most")
    return [r for r in roles if all(r is not d for d in [*drop, *orchestrators])]


def _rename(roles: list[DraftRole], reading: Reading, text: str, notes: list[str]) -> set[str]:
    """Make names unique, and name roles as the description does (not as the prompt's examples); the names taken."""
    taken: set[str] = set()
    for role in roles:
        unique = free_role_name(role.name, taken)
        if unique != role.name:
            notes.append(f"two roles were named {role.name!r}: the second is {unique!r}")
            role.name = unique
        taken.add(unique)
    for role in roles:
        if re.search(rf"\b{re.escape(role.name)}\b", text, re.IGNORECASE):
            continue
        word = reading.names.get(role.kind)
        first = next(r for r in roles if r.kind == role.kind) is role
        if word is not None and first and word not in taken:
            new, why = word, "the description's word for it"
        elif role.name in _EXAMPLE_NAMES and role.name != role.kind and role.kind not in taken:
            new, why = role.kind, "its name came from the prompt's example"
        else:
            continue
        notes.append(f"renamed {role.name} to {new}: {why}")
        taken.discard(role.name)
        role.name = new
        taken.add(new)
    return taken


def shape(roles: list[DraftRole], reading: Reading, flow: str, text: str, notes: list[str]) -> list[DraftRole]:
    """The roles, made to fit the description and the flow: one orchestrator, unique names, the kinds needed."""
    needed = NEEDS.get(flow, ())
    roles = _roster(roles, reading, needed, notes)
    taken = _rename(roles, reading, text, notes)
    wanted = [(kind, word, n, f"the description asks for {'one' if n == 1 else n}")
              for kind, word in reading.names.items() for n in [reading.counts.get(kind, 1)]]
    wanted += [(kind, kind, 1, f"flow {flow} needs one") for kind in needed]
    wanted += [("coder", "coder", 1, "a team needs a coder to write the answer")]
    for kind, word, count, why in wanted:
        while sum(r.kind == kind for r in roles) < count:
            role = DraftRole(free_role_name(word, taken), kind)
            notes.append(f"added {role.name} ({kind}): {why}")
            roles.append(role)
            taken.add(role.name)
    if len(roles) > MAX_ROLES:
        kinds = [r.kind for r in roles]
        firsts = [r for i, r in enumerate(roles) if r.kind not in kinds[:i]]  # one of each kind stays
        keep = (firsts + [r for r in roles if r not in firsts])[:MAX_ROLES]
        notes.append(f"dropped {', '.join(r.name for r in roles if r not in keep)}: {MAX_ROLES} roles at most")
        roles = [r for r in roles if r in keep]
    return sorted(roles, key=lambda r: _ORDER[r.kind])
