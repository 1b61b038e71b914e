"""What a description says outright: the roles it names, the flow and number of candidates, the tools it needs.

The model's draft is checked against this reading, and the reading alone makes the team when the draft is
unusable: deterministic, so a team always comes out.

Example:
    >>> r = read_description("Best of eight candidates, picked by a reviewer; look things up on the web.")
    >>> r.flow, r.candidates, r.names, sorted(r.tools)
    ('best_of_n', 8, {'critic': 'reviewer'}, ['fetch'])
    >>> read_description("A planner and two coders.").counts
    {'planner': 1, 'coder': 2}
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

__all__ = ["KIND_WORDS", "Reading", "kind_of", "read_description", "team_name"]

KIND_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "planner": ((r"planners?", "planner"), (r"architects?", "architect"), (r"plan(?:s|ning)?", "planner")),
    "test_designer": ((r"test[ _-]?designers?", "test_designer"), (r"test[ _-]?writers?", "test_writer"),
                      (r"testers?", "tester"), (r"tests? (?:first|before)", "tester")),
    "coder": ((r"coders?", "coder"), (r"programmers?", "programmer"), (r"developers?", "developer"),
              (r"engineers?", "engineer"), (r"implementers?", "implementer"), (r"researchers?", "researcher"),
              (r"cod(?:e|es|ing)", "coder")),
    "critic": ((r"critics?", "critic"), (r"reviewers?", "reviewer"), (r"checkers?", "checker"),
               (r"verifiers?", "verifier"), (r"judges?", "judge"), (r"auditors?", "auditor"),
               (r"graders?", "grader"), (r"review(?:s|ing)?|critiques?|verif(?:y|ies)", "critic")),
    "orchestrator": ((r"orchestrators?", "orchestrator"), (r"managers?", "manager"),
                     (r"coordinators?", "coordinator"), (r"routers?", "router")),
}
"""Per built-in kind, the words that name a role of it and the role name each gives (agent nouns first)."""

_FLOW_WORDS = (
    ("best_of_n", r"best[ -]of|candidates?|several (?:solutions|attempts|tries|answers|versions)"
                  r"|multiple (?:solutions|attempts|tries|answers|versions)|\bvot(?:e|es|ing)\b"),
    ("parallel_plan", r"parallel|at once|concurrent(?:ly)?|simultaneous(?:ly)?"),
    ("magentic", r"magentic|ledgers?|re-?plan(?:s|ning)?|stuck|stall(?:s|ing)?"),
)
_TOOL_WORDS = {
    "fetch": r"web|internet|online|urls?|websites?|web ?pages?|browse|browsing|https?",
    "memory_search": r"research(?:es|ing)?|knowledge|notes|docs|documentation|look(?:s|ing)? up"
                     r"|remember|memory",
    "filesystem": r"files?|folders?|director(?:y|ies)|disk",
    "git": r"git|repo|repos|repository|repositories|commits?",
}
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
            "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "dozen": 12}
_COUNT = r"(\d+|" + "|".join(_NUMBERS) + r")"
_STOP = {"a", "an", "the", "and", "or", "that", "which", "who", "whom", "of", "by", "with", "to", "for", "in", "on",
         "team", "teams", "agent", "agents", "their", "its", "it", "is", "are", "then", "each", "one", "some", "them",
         "my", "our", "your", "me", "us", "we", "i"}


@dataclass
class Reading:
    """What a description asks for in so many words."""

    names: dict[str, str] = field(default_factory=dict)
    """Built-in kind -> the role name the description's word gives it, for each kind it names."""
    counts: dict[str, int] = field(default_factory=dict)
    """Built-in kind -> how many roles of it the description asks for (``two coders``: 2), for each kind it names."""
    flow: str | None = None
    """The flow it asks for, if it asks for one."""
    candidates: int | None = None
    """best_of_n: the number it gives (``best of eight``, ``5 candidates``), unclamped."""
    tools: set[str] = field(default_factory=set)
    """Tools of the catalogue it needs (the web: ``fetch``; searching notes: ``memory_search``; …)."""


@functools.cache
def _word(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_])(?:{pattern})(?![A-Za-z0-9_])", re.IGNORECASE)


def kind_of(word: str) -> tuple[str, str] | None:
    """(kind, role name) for a word that names a role (``reviewer`` -> critic), else ``None``."""
    for kind, words in KIND_WORDS.items():
        for pattern, name in words:
            if _word(pattern).fullmatch(word.strip()):
                return kind, name
    return None


def _count(text: str) -> int | None:
    found = (re.search(rf"best[ -]of[ -]{_COUNT}", text, re.IGNORECASE)
             or re.search(rf"{_COUNT}\s+(?:\w+\s+)?(?:candidates?|solutions|attempts|tries|answers|versions)", text,
                          re.IGNORECASE))
    if found is None:
        return None
    value = found.group(1).lower()
    return int(value) if value.isdigit() else _NUMBERS[value]


def read_description(text: str) -> Reading:
    """Read the roles, flow, candidates and tools that ``text`` names."""
    reading = Reading()
    for kind, words in KIND_WORDS.items():
        name = next((name for pattern, name in words if _word(pattern).search(text)), None)
        if name is not None:
            reading.names[kind] = name
            counted = [_NUMBERS.get(m.group(1).lower()) or int(m.group(1)) for pattern, _ in words
                       for m in _word(rf"{_COUNT}\s+(?:{pattern})").finditer(text)]
            reading.counts[kind] = min(max([*counted, 1]), 6)
    for flow, pattern in _FLOW_WORDS:
        if _word(pattern).search(text):
            reading.flow = flow
            break
    reading.candidates = _count(text)
    if reading.candidates is not None and reading.candidates > 1:
        reading.flow = "best_of_n"
    reading.tools = {tool for tool, pattern in _TOOL_WORDS.items() if _word(pattern).search(text)}
    return reading


def team_name(text: str) -> str:
    """A team name from the description's first few words that say something (``python-functions-team``)."""
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and not w.isdigit()]
    return "-".join([*words[:3], "team"])[:40] if words else "new-team"
