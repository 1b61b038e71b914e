"""How the flow messages read in a transcript: the task ledger, a ranking, an approval, and a branch badge.

Kept apart from ``studio.ui.transcript`` (which calls these for each message)
to keep that module about the transcript as a whole.
"""

from __future__ import annotations

import re

import streamlit as st

from studio.kinds import APPROVAL_COLOURS, LEDGER_FACTS
from studio.messages import Approval, Ledger, Ranking
from studio.ui import icons

__all__ = ["FENCE", "approval", "badge", "hard_breaks", "ledger", "plain", "ranking"]

FENCE = re.compile(r"```[^\n]*\n.*?(?:```|\Z)", re.S)
"""A fenced code block in Markdown (to its end, or to the end of the text where it is not closed)."""
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~$])")


def plain(text: str) -> str:
    """``text`` with markdown syntax escaped, for lines that must read exactly as written."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def hard_breaks(text: str, indent: str = "") -> str:
    r"""``text`` in Markdown that keeps its line breaks: a single newline there would join two lines into one.

    Each line followed by another gets a hard break (two spaces at its end); fenced code blocks keep their lines
    anyway and stay as they are.

    Args:
        text: Markdown, or plain text passed through :func:`plain`.
        indent: put in front of every line after the first, to keep them inside a list item.

    Example:
        >>> hard_breaks("Write fizzbuzz.\nUse 1..15"), hard_breaks("Plan it.\nThen test.", indent="   ")
        ('Write fizzbuzz.  \nUse 1..15', 'Plan it.  \n   Then test.')
    """
    out, start = [], 0
    for fence in [*FENCE.finditer(text), None]:
        prose = text[start:fence.start() if fence else len(text)]
        lines = prose.split("\n")
        out.append("\n".join(line + "  " if line.strip() and i + 1 < len(lines) and lines[i + 1].strip() else line
                             for i, line in enumerate(lines)))
        if fence:
            out.append(fence.group(0))
            start = fence.end()
    return "".join(out).replace("\n", "\n" + indent) if indent else "".join(out)


def badge(branch: str) -> str:
    """A branch (``s2``, ``c1``, ``red``) as a small blue badge in markdown."""
    return f":blue-badge[{plain(branch)}]"


def ledger(message: Ledger) -> None:
    """The task ledger: on a replan, its number and the reflection; the facts and the plan as lists."""
    if message.replan:
        st.markdown(f":orange[**replan {message.replan}**]" + (f" — {plain(message.reflection)}"
                                                                if message.reflection else ""))
    for heading, name in LEDGER_FACTS:
        facts = getattr(message, name)
        if facts:
            st.markdown(f"**{heading.capitalize()}**\n" + "\n".join(f"- {plain(f)}" for f in facts))
    if message.plan:
        st.markdown("**Plan**\n" + "\n".join(f"1. {plain(step)}" for step in message.plan))
    if not message.plan and not any(getattr(message, name) for _, name in LEDGER_FACTS):
        st.markdown(plain(message.content) or "*(empty ledger)*")


def ranking(message: Ranking) -> None:
    """The branches best first, the chosen one marked; then why."""
    chosen = f" {icons.ALERTS['chosen']} **chosen**"
    lines = [f"1. {plain(name)}" + (chosen if name == message.chosen else "") for name in message.order]
    if message.chosen and message.chosen not in message.order:
        lines.append(f"\n{icons.ALERTS['chosen']} **chosen: {plain(message.chosen)}**")  # the judge merged the results
    st.markdown("\n".join(lines) or "*(nothing ranked)*")
    if message.reason:
        st.markdown(f"*why:* {plain(message.reason)}")


def approval(message: Approval) -> None:
    """The point and the status (and the feedback); a request also folds away what it asked about.

    Before a tool call (``before_tool``) the point reads ``Tool call: NAME`` and the request shows its
    arguments as JSON.
    """
    colour = APPROVAL_COLOURS.get(message.status, "gray")
    point, shown, language = message.point.replace("_", " "), message.content, "python"
    if message.point == "before_tool":
        name, _, rest = message.content.partition("(")
        point, shown, language = f"Tool call: {name.strip() or '?'}", rest.removesuffix(")") or "{}", "json"
    elif message.point == "after_plan":
        language = "text"
    st.markdown(f"**{plain(point)}** · :{colour}[**{message.status}**]"
                + (f" — {plain(message.feedback)}" if message.feedback else ""))
    if message.status == "requested" and message.content:
        with st.expander("what was asked", expanded=message.point == "before_tool"):
            st.code(shown, language=language)
