"""What the model fills in: a small draft of a team, its JSON schema, the tools it may pick, and the prompt.

The draft is far smaller than the team spec, so that a 135M model can fill it under a llama.cpp grammar: a name,
a flow type, the number of candidates and up to six roles (a name, a built-in kind, short instructions, tools
from :data:`TOOL_CATALOGUE`). Every string is bounded, so constrained decoding closes the JSON in time.

Example:
    >>> draft = TeamDraft.model_validate_json(EXAMPLES[0][1])
    >>> draft.flow, [r.kind for r in draft.roles]
    ('sequential', ['planner', 'coder', 'critic'])
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from studio.spec import ROLE_KINDS

__all__ = ["DRAFT_FLOWS", "EXAMPLES", "TOOL_CATALOGUE", "RoleDraft", "TeamDraft", "prompt"]

DraftFlow = Literal["sequential", "best_of_n", "parallel_plan", "magentic"]
DRAFT_FLOWS: tuple[str, ...] = DraftFlow.__args__  # type: ignore[attr-defined]
"""The flow types a draft may pick: those that need nothing but roles (``cross_team`` needs sub-teams)."""
DraftKind = Literal["planner", "coder", "critic", "test_designer", "orchestrator"]
DraftTool = Literal["memory_search", "fetch", "filesystem", "git"]

TOOL_CATALOGUE: dict[str, dict[str, Any] | None] = {
    "memory_search": None,
    "fetch": {"command": "uvx", "args": ["mcp-server-fetch"]},
    "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."]},
    "git": {"command": "uvx", "args": ["mcp-server-git", "--repository", "."]},
}
"""The tools a draft may give a role: ``memory_search`` (the team's memory) or a reference MCP server, by name,
with the stdio command that starts it (no secrets: none of them needs a key)."""
TOOL_HINTS = {"memory_search": "search the team's notes and knowledge", "fetch": "read web pages",
              "filesystem": "read and write files", "git": "read a git repository"}

_NAME = r"^[a-z][a-z0-9_]{0,19}$"


class RoleDraft(BaseModel):
    """One role of a draft."""

    name: str = Field(pattern=_NAME, max_length=20)
    """Its name: lower case, a letter first (``reviewer``)."""
    kind: DraftKind
    """One of the built-in kinds."""
    instructions: str = Field(max_length=120)
    """A sentence of persona or instructions (may be empty)."""
    tools: list[DraftTool] = Field(max_length=2)
    """Tools of :data:`TOOL_CATALOGUE`, usually none."""


class TeamDraft(BaseModel):
    """A team as the model drafts it; :func:`studio.teamgen.complete` makes a valid spec of it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,29}$", max_length=30)
    """The team's name, lower case with dashes."""
    flow: DraftFlow
    """How the roles take turns."""
    candidates: int = Field(ge=1, le=16)
    """best_of_n: how many candidates (1 for other flows)."""
    roles: list[RoleDraft] = Field(min_length=1, max_length=6)
    """The roles, in speaking order."""


assert set(DraftKind.__args__) == set(ROLE_KINDS), "the draft's kinds are the spec's built-in kinds"  # type: ignore[attr-defined]


def _json(draft: dict[str, Any]) -> str:
    return json.dumps(TeamDraft.model_validate(draft).model_dump(mode="json"))


EXAMPLES: tuple[tuple[str, str], ...] = (
    ("A planner, a coder and a critic that write small shell utilities in Python.", _json({
        "name": "shell-tools-team", "flow": "sequential", "candidates": 1, "roles": [
            {"name": "planner", "kind": "planner", "instructions": "Break the utility into small steps.",
             "tools": []},
            {"name": "coder", "kind": "coder", "instructions": "Write plain Python with the standard library.",
             "tools": []},
            {"name": "critic", "kind": "critic", "instructions": "Approve only code whose tests pass.",
             "tools": []}]})),
    ("Five candidate answers, the best picked by a reviewer; look facts up on the web.", _json({
        "name": "web-answers-team", "flow": "best_of_n", "candidates": 5, "roles": [
            {"name": "researcher", "kind": "coder", "instructions": "Look the facts up before you answer.",
             "tools": ["fetch"]},
            {"name": "reviewer", "kind": "critic", "instructions": "Pick the answer the sources support.",
             "tools": []}]})),
)
"""Worked examples shown to the model before the description: (description, draft JSON)."""

_SYSTEM = ("You design a team of AI agents from a one-sentence description, as JSON.\n"
           "Role kinds: planner (breaks the task into steps), coder (writes and runs Python code), critic (reviews "
           "the work, approves or asks for changes), test_designer (writes tests before any code), orchestrator "
           "(picks who speaks next).\n"
           "Flows: sequential (one role after another), best_of_n (several candidates, the critic picks the best), "
           "parallel_plan (the planner's steps run at once), magentic (an orchestrator that replans when stuck).\n"
           "Tools (only when the description needs them): "
           + ", ".join(f"{name} ({hint})" for name, hint in TOOL_HINTS.items()) + ".\n"
           "Use the roles the description names, with its words for their names.")


def prompt(description: str) -> list[dict[str, str]]:
    """The chat asking for the draft of ``description``: the instructions, the worked examples, the description."""
    messages = [{"role": "system", "content": _SYSTEM}]
    for text, reply in EXAMPLES:
        messages += [{"role": "user", "content": f"Team: {text}"}, {"role": "assistant", "content": reply}]
    return [*messages, {"role": "user", "content": f"Team: {description}"}]
