"""How the flow messages read in a transcript: the task ledger, a ranking, an approval, and a branch badge.

Kept apart from ``studio.ui.transcript`` (which calls these for each message)
to keep that module about the transcript as a whole.
"""

from __future__ import annotations

import re

import streamlit as st

from studio.kinds import APPROVAL_COLOURS, LEDGER_FACTS
from studio.messages import Approval, Ledger, Ranking

__all__ = ["approval", "badge", "ledger", "plain", "ranking"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~$])")


def plain(text: str) -> str:
    """``text`` with markdown syntax escaped, for lines that must read exactly as written."""
    return _MD_SPECIAL.sub(r"\\\1", text)


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
    lines = [f"1. {plain(name)}" + (" 🏆 **chosen**" if name == message.chosen else "") for name in message.order]
    if message.chosen and message.chosen not in message.order:
        lines.append(f"\n🏆 **chosen: {plain(message.chosen)}**")  # the judge merged the results
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
