"""A team spec from a sentence: ``huddle teams new``, ``Team.from_description`` and the Build page's box.

A model fills a small draft (:class:`TeamDraft`: a name, a flow, up to six roles with their instructions and
tools) under its JSON schema, so the embedded model's reply always parses; :func:`complete` then repairs it
against the description (roles it names, the flow it asks for, the tools it needs) into a spec that always
validates, whatever the model replied, and says what it repaired.

Example (a scripted reply that is no JSON at all still makes a valid team):
    >>> made = complete("Sure! Here is a great team for you.", "A planner and a coder, checked by a reviewer.")
    >>> [(r.name, r.kind) for r in made.spec.roles]
    [('planner', 'planner'), ('coder', 'coder'), ('reviewer', 'critic')]
    >>> made.notes[0]
    "the model's reply is not a JSON object: the team comes from the description's words"
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from studio.llm import CallSettings, Gateway, check_model
from studio.redact import redact
from studio.spec import DEFAULT_MODEL, TeamSpec, dump_spec
from studio.teamgen._draft import TOOL_CATALOGUE, TeamDraft, prompt
from studio.teamgen._repair import build

__all__ = ["SCRIPT_ROLE", "TOOL_CATALOGUE", "GeneratedTeam", "TeamDraft", "complete", "generate_team"]

SCRIPT_ROLE = "team_designer"
"""The key the model is called with: a scripted model's replies for ``huddle teams new`` go under it."""
SETTINGS = CallSettings(temperature=0.0, max_tokens=700, timeout_s=120.0)
"""Greedy decoding (the same description gives the same team), room for six roles' bounded fields."""
_PROMPT_CHARS = 1000


@dataclass(frozen=True)
class GeneratedTeam:
    """A team made from a description: the valid spec, what was repaired, and where it came from."""

    spec: TeamSpec
    """The team; it always validates."""
    notes: list[str] = field(default_factory=list)
    """What the repair changed in the model's draft, one sentence each (empty: taken as the model wrote it)."""
    description: str = ""
    """The description it was made from."""
    model: str = DEFAULT_MODEL
    """The model that drafted it."""
    reply: str = ""
    """The model's reply, as it came."""

    def header(self) -> str:
        """The comment block a team file of it starts with: the description, the model, the repairs."""
        lines = ["A team drafted from the description:"]
        lines += [f"  {line}" for line in textwrap.wrap(redact(self.description), 100)]
        lines += [f"by the model {redact(self.model)}"
                 + (", then repaired:" if self.notes else ", and taken as it was drafted.")]
        lines += [f"  - {redact(note)}" for note in self.notes]
        return "".join(f"# {line}".rstrip() + "\n" for line in lines)

    def yaml(self) -> str:
        """The team file: :meth:`header`, then the spec as minimal YAML (what ``huddle teams validate`` reads)."""
        return self.header() + dump_spec(self.spec, minimal=True)


def complete(reply: Any, description: str, *, model: str = DEFAULT_MODEL) -> GeneratedTeam:
    """Repair a model's ``reply`` (its text, or JSON already parsed) for ``description`` into a valid team.

    Deterministic: the same reply and description give the same team and notes.
    """
    spec, notes = build(reply, description, model)
    text = reply if isinstance(reply, str) else ""
    return GeneratedTeam(spec, notes, " ".join(description.split()), model, text)


def generate_team(description: str, model: str | None = None, *, gateway: Gateway | None = None,
                  on_token: Callable[[str], None] | None = None) -> GeneratedTeam:
    """Ask ``model`` (the embedded one by default) to draft a team for ``description``, and :func:`complete` it.

    Args:
        description: what the team is for, in a sentence or two.
        model: a litellm model string, ``local/smollm2`` or ``scripted:PATH`` (replies under :data:`SCRIPT_ROLE`).
        gateway: the gateway to call it through (a new one by default).
        on_token: called with each piece of the reply as it streams in.

    Raises:
        ValueError: the description is empty.
        ModelConfigError: the model cannot be used (unknown, missing key or file).
        ModelCallError: the call failed after its retries.
        ScriptError: a scripted model's file cannot be read.
        ScriptExhausted: a scripted model has no reply left under :data:`SCRIPT_ROLE`.
    """
    text = " ".join(description.split())
    if not text:
        raise ValueError("description: describe the team in a sentence, e.g. \"a planner, a coder and a reviewer "
                         "that write Python functions\"")
    model = model or DEFAULT_MODEL
    check_model(model)
    gateway = gateway if gateway is not None else Gateway()
    completion = gateway.complete(model, prompt(text[:_PROMPT_CHARS]), role=SCRIPT_ROLE, settings=SETTINGS,
                                  schema=TeamDraft, on_token=on_token)
    return complete(completion.text, text, model=model)
