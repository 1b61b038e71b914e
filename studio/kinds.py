"""One table of message kinds: what every surface calls, marks and says of each kind.

The CLI (``studio.render``), the studio (``studio.ui.transcript``) and the
notebook (``studio.api.notebook``) take a message's label, icon, colour and
plain-text summary from :data:`KINDS`. Where a surface draws a kind its own way,
it keeps a table of drawers keyed by kind and passes it through :func:`covering`
when it is imported: a kind added to the union in ``studio.messages`` fails
loudly, first here (no entry in :data:`KINDS`), then in each surface that does
not draw it yet, naming the kind and the table to extend.

Example:
    >>> from studio.messages import Review
    >>> review = Review(run_id="r", sender="critic", verdict="approve", feedback="Tests pass.")
    >>> KINDS[review.kind].label, KINDS[review.kind].icon, KINDS[review.kind].summary(review)
    ('review', ':material/rate_review:', 'approve: Tests pass.')
    >>> covering("the pager", {"task": print}, kinds=("task", "plan"))
    Traceback (most recent call last):
    studio.kinds.KindNotDrawn: the pager does not draw the message kind(s) plan yet: add them to its table of kinds
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, get_args, get_origin

from studio.messages import Message

__all__ = ["APPROVAL_COLOURS", "KINDS", "KIND_NAMES", "LEDGER_FACTS", "Kind", "KindNotDrawn", "covering",
           "kind_names"]

_T = TypeVar("_T")

LEDGER_FACTS = (("facts given", "facts_given"), ("facts to look up", "facts_to_look_up"),
                ("facts to derive", "facts_to_derive"), ("educated guesses", "educated_guesses"))
"""The fact lists of a task ledger: (heading, field), in the order Magentic-One writes them."""
APPROVAL_COLOURS = {"requested": "yellow", "approved": "green", "edited": "blue", "rejected": "red"}
"""Colour of each approval status: names that rich and Streamlit's ``:colour[text]`` both know (not ``cyan``)."""


class KindNotDrawn(LookupError):
    """A message kind that a table of kinds (the registry or a surface's drawers) has no entry for."""


@dataclass(frozen=True)
class Kind:
    """How one message kind reads on every surface."""

    label: str
    """What the transcript calls it (the kind itself, so that a log, a terminal and a page read alike)."""
    icon: str
    """Streamlit's Material icon (``:material/name:``) in front of it in the studio: no emoji, which needs a font
    that many machines lack. A terminal marks a kind by its label and colour; HTML (the notebook) by its label."""
    colour: str
    """Its rich style in a terminal (the title, and the colour of its panel's border)."""
    summary: Callable[[Any], str]
    """The message as plain text (its ``content``, else made from its fields), where a surface draws no more."""
    turn: bool = False
    """Whether it is a worker's turn, one of the rounds that ``flow.max_rounds`` counts."""


def kind_names(union: Any = Message) -> tuple[str, ...]:
    """The ``kind`` of every member of a message union (``Annotated`` or bare), in the union's order."""
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    return tuple(get_args(member.model_fields["kind"].annotation)[0] for member in get_args(union))


KIND_NAMES = kind_names()
"""Every message kind, in the order of the union in ``studio.messages``."""


def covering(where: str, table: Mapping[str, _T], kinds: tuple[str, ...] | None = None) -> Mapping[str, _T]:
    """``table`` itself, once it has an entry for every kind of ``kinds`` (default: every message kind).

    Raises:
        KindNotDrawn: naming ``where`` and each kind it has no entry for.
    """
    missing = [kind for kind in (KIND_NAMES if kinds is None else kinds) if kind not in table]
    if missing:
        raise KindNotDrawn(f"{where} does not draw the message kind(s) {', '.join(missing)} yet: add them to its "
                           f"table of kinds")
    return table


def _content(message: Any) -> str:
    return message.content


def _plan(message: Any) -> str:
    return message.content or "\n".join(f"{s.id}. {s.description}" for s in message.steps)


def _tests(message: Any) -> str:
    return message.content or "\n".join(message.tests) or "no tests"


def _review(message: Any) -> str:
    return message.content or (f"{message.verdict}: {message.feedback}" if message.feedback else message.verdict)


def _decision(message: Any) -> str:
    return message.content or f"next: {message.next_speaker or '(end)'}" + (
        f" — {message.instruction}" if message.instruction else "")


def _tool_call(message: Any) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in message.arguments.items())
    return message.content or f"{message.tool}({args})"


def _tool_result(message: Any) -> str:
    return message.content or f"{message.tool}: {'ok' if message.ok else 'failed'}"


def _error(message: Any) -> str:
    return message.content or message.error_type or "error"


def _ledger(message: Any) -> str:
    return message.content or "\n".join(f"{i}. {step}" for i, step in enumerate(message.plan, 1))


def _ranking(message: Any) -> str:
    chosen = f"chosen {message.chosen}" if message.chosen else "nothing chosen"
    return message.content or (f"{chosen}: {message.reason}" if message.reason else chosen)


def _approval(message: Any) -> str:
    head = f"{message.point.replace('_', ' ')}: {message.status}"
    return "\n".join(part for part in (head, message.feedback, message.content) if part)


KINDS: Mapping[str, Kind] = covering("the kind registry (studio/kinds.py)", {
    "task": Kind("task", ":material/description:", "bold white", _content),
    "plan": Kind("plan", ":material/map:", "cyan", _plan, turn=True),
    "code": Kind("code", ":material/code:", "green", _content, turn=True),
    "tests": Kind("tests", ":material/checklist:", "cyan", _tests, turn=True),
    "execution": Kind("execution", ":material/science:", "yellow", _content),
    "review": Kind("review", ":material/rate_review:", "magenta", _review, turn=True),
    "decision": Kind("decision", ":material/alt_route:", "blue", _decision),
    "final": Kind("final", ":material/flag:", "bold green", _content),
    "tool_call": Kind("tool_call", ":material/build:", "cyan", _tool_call),
    "tool_result": Kind("tool_result", ":material/attach_file:", "cyan", _tool_result),
    "reflection": Kind("reflection", ":material/lightbulb:", "bright_magenta", _content),
    "error": Kind("error", ":material/error:", "bold red", _error),
    "ledger": Kind("ledger", ":material/menu_book:", "blue", _ledger),
    "ranking": Kind("ranking", ":material/emoji_events:", "magenta", _ranking),
    "approval": Kind("approval", ":material/front_hand:", "yellow", _approval),
})
"""Every message kind's label, icon, colour, summary and whether it is a turn."""
