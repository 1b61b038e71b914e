"""The studio's icons: Streamlit's Material Symbols (``:material/name:``), never emoji.

Streamlit serves the Material Symbols font itself, so these draw alike in every
browser; an emoji needs a colour-emoji font that a server or a minimal desktop
lacks, and shows as an empty box there. A message kind's icon lives with the kind
(:data:`studio.kinds.KINDS`); this module holds the others. They work wherever
Streamlit takes an icon (``st.Page``, ``st.page_link``, ``st.button``, ``st.toast``,
``st.error`` and the other alerts, ``st.chat_message``'s avatar) and inside
Markdown (``st.markdown``, ``st.caption``, widget labels, tab and expander labels),
but not in a selectbox's options or the canvas's node labels, which show plain text.

Example:
    >>> PAGES["build"], STATUS["done"], ROLES.get("coder", UNKNOWN_ROLE)
    (':material/construction:', ':material/check_circle:', ':material/code:')
"""

from __future__ import annotations

__all__ = ["ALERTS", "APP", "PAGES", "ROLES", "STATUS", "UNKNOWN_ROLE"]

APP = ":material/hub:"
"""The studio's own icon: the browser tab and the sidebar's heading."""

PAGES = {"build": ":material/construction:", "run": ":material/play_arrow:", "memory": ":material/psychology:",
         "runs": ":material/history:"}
"""Each page's icon in the navigation (and in a link to the page), by its URL path."""

STATUS = {"starting": ":material/hourglass_top:", "running": ":material/autorenew:",
          "waiting": ":material/pause_circle:", "done": ":material/check_circle:", "unsolved": ":material/warning:",
          "failed": ":material/cancel:", "stopped": ":material/stop_circle:", "budget": ":material/savings:"}
"""A run's status."""

ROLES = {"orchestrator": ":material/explore:", "planner": ":material/map:", "coder": ":material/code:",
         "critic": ":material/search:", "test_designer": ":material/checklist:", "user": ":material/person:",
         "system": ":material/settings:"}
"""A transcript's avatar (and a role's mark in the Build page's lists), by role kind; ``user`` and ``system`` too."""

UNKNOWN_ROLE = ":material/smart_toy:"
"""The avatar of a sender whose role kind is not in :data:`ROLES`."""

ALERTS = {
    "problem": ":material/warning:",  # a field with a problem
    "refused": ":material/block:",  # a team that was not loaded or not run
    "valid": ":material/check_circle:",  # the team is valid; a check passed
    "failed": ":material/cancel:",  # a check failed
    "loaded": ":material/folder_open:",  # a team file was loaded
    "saved": ":material/save:",  # a team file was written
    "info": ":material/info:",
    "server": ":material/power:",  # an MCP server (that cannot be reached)
    "approval": ":material/front_hand:",  # a run waits for a person
    "approve": ":material/thumb_up:",
    "edit": ":material/edit:",
    "reject": ":material/do_not_disturb_on:",
    "delete": ":material/delete:",
    "remove": ":material/close:",  # remove a route or a sub-team from the list
    "chosen": ":material/emoji_events:",  # the ranking's choice
    "tool": ":material/build:",  # a tool call
    "final": ":material/flag:",  # the run's final result
    "team": ":material/groups:",  # a cross_team sub-team
    "judge": ":material/gavel:",  # the cross_team judge
    "meter": ":material/speed:",  # what a run spent, against its budget
}
"""Alerts, toasts, buttons and marks in text, by what they say."""
