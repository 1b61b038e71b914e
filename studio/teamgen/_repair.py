"""From whatever the model replied to a team spec that validates, with a note for every repair.

The draft is taken apart role by role: names are cleaned and made unique, kinds read (``reviewer`` is a critic)
or the role dropped, tools kept where the description asks for them. The description then has the last word:
the roles it names are added (under its words), the flow it asks for is used (``sequential`` when it asks for
none), and so are the roles that flow needs. A reply with nothing usable gives the team the description's words
make, and a description that names nothing the dev team's planner, coder and critic.

Example:
    >>> made = build("not JSON at all", "A coder and a reviewer.")
    >>> [(r.name, r.kind) for r in made[0].roles], made[0].flow.type
    ([('coder', 'coder'), ('reviewer', 'critic')], 'sequential')
"""

from __future__ import annotations

from typing import Any

from studio.redact import redact
from studio.spec import DEFAULT_MODEL, SpecError, TeamSpec, parse_spec
from studio.teamgen._draft import DRAFT_FLOWS, TOOL_CATALOGUE
from studio.teamgen._reading import Reading, read_description, team_name
from studio.teamgen._roles import COPIED, DraftRole, clean_name, draft_roles, parse_reply, shape, show

__all__ = ["build"]


def _tools(roles: list[DraftRole], reading: Reading, notes: list[str]) -> None:
    for role in roles:
        kept = []
        for tool in dict.fromkeys(role.tools):
            if tool not in TOOL_CATALOGUE:
                notes.append(f"{role.name}: dropped the tool {show(tool)}, not one of {', '.join(TOOL_CATALOGUE)}")
            elif tool not in reading.tools:
                notes.append(f"{role.name}: dropped the tool {tool}, which the description does not call for")
            else:
                kept.append(tool)
        role.tools = kept
    worker = next(r for r in roles if r.kind == "coder")
    for tool in sorted(reading.tools - {t for r in roles for t in r.tools}):
        notes.append(f"{worker.name}: added the tool {tool}, which the description calls for")
        worker.tools.append(tool)


def _edges(roles: list[DraftRole], flow: str) -> tuple[str | None, list[dict[str, str]]]:
    """The flow's entry and edges.

    Sequential: a chain in speaking order, the last critic sending work back to the coder; best_of_n and
    parallel_plan: coder and critic back and forth (the flow wires the planner and test designer itself).
    """
    workers = [r.name for r in roles if r.kind != "orchestrator"]
    coder = next(r.name for r in roles if r.kind == "coder")
    critics = [r.name for r in roles if r.kind == "critic"]
    if flow == "magentic":
        return None, []
    if flow == "sequential":
        pairs = list(zip(workers, workers[1:], strict=False)) + ([(critics[-1], coder)] if critics else [])
        return workers[0], [{"from": a, "to": b} for a, b in pairs]
    pairs = [(coder, critics[0]), (critics[0], coder)] if critics else []
    return None, [{"from": a, "to": b} for a, b in pairs]


def _flow(data: Any, reading: Reading, notes: list[str]) -> tuple[str, int]:
    asked = data.get("flow") if isinstance(data, dict) else None
    asked = asked.get("type") if isinstance(asked, dict) else asked
    flow = reading.flow or "sequential"
    plain = asked.strip().lower().replace("-", "_").replace(" ", "_") if isinstance(asked, str) else None
    if asked is not None and plain != flow:
        why = "the description asks for it" if reading.flow else "the description asks for no other"
        notes.append(f"flow: {flow} ({why}), not the model's {show(asked)}"
                     + (f" (one of {', '.join(DRAFT_FLOWS)})" if plain not in DRAFT_FLOWS else ""))
    raw = data.get("candidates") if isinstance(data, dict) else None
    wanted = reading.candidates or (raw if isinstance(raw, int) and not isinstance(raw, bool) else 3)
    count = min(max(wanted, 2), 16)
    if flow == "best_of_n" and count != wanted:
        notes.append(f"flow.candidates: {count}, the nearest to {wanted} a best_of_n flow allows (2 to 16)")
    return flow, count


def _spec_data(data: Any, roles: list[DraftRole], reading: Reading, text: str, model: str,
               notes: list[str]) -> dict[str, Any]:
    flow, candidates = _flow(data, reading, notes)
    roles = shape(roles, reading, flow, text, notes)
    _tools(roles, reading, notes)
    copied = [r.name for r in roles if r.instructions in COPIED]
    if copied:
        notes.append(f"cleared the instructions of {', '.join(copied)}: copied from the prompt's example")
    entry, edges = _edges(roles, flow)
    raw_name = data.get("name") if isinstance(data, dict) else None
    name = clean_name(raw_name, "").replace("_", "-") if isinstance(raw_name, str) and raw_name not in COPIED else ""
    parts = name.split("-")
    if isinstance(raw_name, str) and name and (len(set(parts)) < len(parts) or len(raw_name) >= 30):
        notes.append(f"name: the model's {show(raw_name)} repeats itself or was cut short; named from the description")
        name = ""
    servers = {t: TOOL_CATALOGUE[t] for r in roles for t in r.tools if TOOL_CATALOGUE[t] is not None}
    return {
        "version": 1, "name": name or team_name(text), "description": redact(text[:300]),
        **({"defaults": {"model": model}} if model != DEFAULT_MODEL and not model.startswith("scripted:") else {}),
        **({"mcp_servers": servers} if servers else {}),
        "roles": [{"name": r.name, "kind": r.kind,
                   **({"instructions": r.instructions} if r.instructions and r.instructions not in COPIED else {}),
                   **({"tools": [t if TOOL_CATALOGUE[t] is None else {"mcp": t} for t in r.tools]}
                      if r.tools else {})} for r in roles],
        "flow": {"type": flow, **({"entry": entry} if entry else {}), **({"edges": edges} if edges else {}),
                 **({"candidates": candidates} if flow == "best_of_n" else {})},
    }


_DEV_SHAPE: dict[str, Any] = {
    "version": 1, "name": "dev-team", "description": "Planner, coder and critic.",
    "roles": [{"name": "planner", "kind": "planner"}, {"name": "coder", "kind": "coder"},
              {"name": "critic", "kind": "critic"}],
    "flow": {"entry": "planner", "edges": [{"from": "planner", "to": "coder"}, {"from": "coder", "to": "critic"},
                                           {"from": "critic", "to": "coder"}]},
}


def build(reply: Any, description: str, model: str = DEFAULT_MODEL) -> tuple[TeamSpec, list[str]]:
    """A valid team from the model's ``reply`` (text or parsed JSON) and the ``description``; and the repair notes."""
    text = " ".join(description.split())
    notes: list[str] = []
    data = parse_reply(reply)
    roles = draft_roles(data, notes)
    reading = read_description(text)
    if not roles and not reading.names:
        notes.append("the description names no roles: planner, coder and critic, as in the dev team")
        roles = [DraftRole("planner", "planner"), DraftRole("coder", "coder"), DraftRole("critic", "critic")]
    try:
        return parse_spec(_spec_data(data, roles, reading, text, model, notes), "the generated team"), notes
    except SpecError as exc:  # not expected: every field above is made valid; still, a team comes out
        notes.append(f"the repaired team did not validate ({'; '.join(exc.problems)}): the dev team's shape instead")
        return parse_spec(_DEV_SHAPE, "the dev team's shape"), notes
