"""The approval prompt on the Run page: what a waiting run asks a person, and the three ways to answer.

A run waits at an approval point with an ``Approval(status="requested")`` as
its last approval message and ``waiting`` as its status in the run log. That
is all the prompt needs, so a run started anywhere (another server, the CLI)
can be answered here. An answer resumes the run in the background
(``worker.resume``) and the page follows it live again.

Example:
    >>> decision_for("edit", original="1. a", edited="1. a")  # nothing changed: a plain approval
    ApprovalDecision(action='approve', text='', feedback='')
    >>> decision_for("reject", original="x", feedback=" Use a loop. ").feedback
    'Use a loop.'
    >>> decision_for("edit", original='{"q": "a"}', edited='{"q": "b"}', tool=True).text  # a tool call's arguments
    '{"q": "b"}'
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import streamlit as st

from pipelines.approval import TOOL_POINT, ApprovalDecision, pending_approval, tool_arguments
from pipelines.approval import tool_call_parts as call_parts
from studio.messages import Approval, Message
from studio.runner import shared_store
from studio.ui import icons, state, worker
from studio.ui.flow_edit import APPROVAL_HELP

__all__ = ["APPROVE", "EDIT", "NOTE", "REJECT", "TOOL_POINT", "approval_prompt", "decision_for", "edit_key",
           "feedback_key", "tool_call_parts", "waiting_request"]

APPROVE, EDIT, REJECT = "run_approve", "run_approve_edit", "run_reject"
"""Keys of the three answer buttons."""
NOTE = "run_approval_note"
"""Session key of why the last answer was refused, as (request id, text); shown under that request's prompt."""


def tool_call_parts(content: str) -> tuple[str, str]:
    """(the tool's name, its arguments as indented JSON) of a ``before_tool`` request's content ``name({...})``."""
    name, arguments = call_parts(content)
    try:
        arguments = json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        pass  # shown as it came
    return name.strip(), arguments


def _arguments(text: str) -> dict:
    try:
        return tool_arguments(text)
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message[:1].upper() + message[1:] + ".") from None


def edit_key(request: Approval) -> str:
    """Key of the edit box: one per request, so a later request starts from its own text."""
    return f"run_approval_edit_{request.id}"


def feedback_key(request: Approval) -> str:
    """Key of the feedback box: one per request, so a later request starts empty."""
    return f"run_approval_feedback_{request.id}"


def waiting_request(status: str, messages: Sequence[Message]) -> Approval | None:
    """The approval a run is waiting for, if its status says it waits and a request is unanswered."""
    return pending_approval(list(messages)) if status == "waiting" else None


def decision_for(action: str, *, original: str, edited: str = "", feedback: str = "",
                 tool: bool = False) -> ApprovalDecision:
    """The decision a click means: ``approve``, ``edit`` (an unchanged text approves) or ``reject``.

    With ``tool`` the text is a tool call's arguments: an edit must be a JSON object, sent on one line.

    Raises:
        ValueError: a rejection without feedback (the team needs to know what to do instead), or a tool call's
            arguments that are not a JSON object.
    """
    if action == "approve" or (action == "edit" and edited.strip() in ("", original.strip())):
        return ApprovalDecision.approve()
    if action == "edit" and tool:
        value = _arguments(edited)
        if value == _arguments(original):
            return ApprovalDecision.approve()
        return ApprovalDecision.edit(json.dumps(value, ensure_ascii=False))
    if action == "edit":
        return ApprovalDecision.edit(edited)
    if not feedback.strip():
        raise ValueError("Say why you reject it, and what the team should do instead: the team reads it.")
    return ApprovalDecision.reject(feedback.strip())


def _answer(run_id: str, request_id: str, action: str) -> None:
    log = shared_store(state.home())
    info = log.get_run(run_id)
    request = waiting_request(info.status, log.messages(info.run_id)) if info else None
    # a second click, or answered in another tab or the CLI
    if info is None or request is None or request.id != request_id:
        st.toast("That request was answered already; the run is shown as it is now.", icon=icons.ALERTS["info"])
        return
    try:
        tool = request.point == TOOL_POINT
        decision = decision_for(action, original=tool_call_parts(request.content)[1] if tool else request.content,
                                edited=st.session_state.get(edit_key(request), ""),
                                feedback=st.session_state.get(feedback_key(request), ""), tool=tool)
        worker.resume(info.run_id, decision, home=state.home())
    except (ValueError, worker.RunBusy) as exc:
        st.session_state[NOTE] = (request_id, str(exc))
        return
    st.session_state.pop(NOTE, None)


def approval_prompt(run_id: str, request: Approval) -> None:
    """The request (its point and the plan, code or tool call in question) and Approve, Edit and Reject."""
    plan, tool = request.point == "after_plan", request.point == TOOL_POINT
    shown, language, label = request.content, "text" if plan else "python", "Your version"
    if tool:
        name, shown = tool_call_parts(request.content)
        language, label = "json", "Arguments (a JSON object)"
        st.warning(f"**Waiting for your approval: Tool call: {name}** — approve, edit its arguments or reject "
                   "the call. The run goes on once you answer.", icon=icons.ALERTS["approval"])
    else:
        st.warning(f"**Waiting for your approval: {request.point.replace('_', ' ')}** — "
                   f"{APPROVAL_HELP.get(request.point, '')}. The run goes on once you answer.",
                   icon=icons.ALERTS["approval"])
    st.code(shown or "(nothing to show)", language=language)
    approve, edit, reject = st.tabs([f"{icons.ALERTS['approve']} Approve", f"{icons.ALERTS['edit']} Edit",
                                     f"{icons.ALERTS['reject']} Reject"])
    args = (run_id, request.id)
    with approve:
        st.button("Approve", key=APPROVE, type="primary", on_click=_answer, args=(*args, "approve"),
                  help="Go on as it is.")
    with edit:
        st.text_area(label + (" (one step a line)" if plan else ""), value=shown, key=edit_key(request),
                     height=220)
        st.button("Approve with edit", key=EDIT, on_click=_answer, args=(*args, "edit"),
                  help="Go on with your version instead (unchanged: a plain approval).")
    with reject:
        st.text_area("Why, and what to do instead (required: the team reads it)", key=feedback_key(request))
        st.button("Reject", key=REJECT, on_click=_answer, args=(*args, "reject"))
    note = st.session_state.get(NOTE)
    if note and note[0] == request.id:
        st.error(note[1], icon=icons.ALERTS["problem"])
