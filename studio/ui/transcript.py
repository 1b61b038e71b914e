"""Messages in Streamlit: the transcript grouped by agent, usage per agent, the final result.

The Run and Runs pages both render runs with these functions. ``tail`` reads
the run log incrementally: each rerun parses only the rows published since the
last one and keeps the parsed messages in ``st.session_state``, so a rerun of a
page showing a long run costs the same as one showing a short run.

Example:
    >>> from studio.messages import Task
    >>> usage_by_agent([Task(run_id="r", sender="user", content="hi")]).empty
    True
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from studio.bus.sqlite import RunInfo
from studio.bus.store import RunStore
from studio.kinds import KINDS, covering
from studio.messages import (
    Code,
    Decision,
    DesignedTests,
    Error,
    Execution,
    Final,
    Message,
    Plan,
    Reflection,
    Review,
    ToolCall,
    ToolResult,
    message_from_json,
)
from studio.render import usage_text
from studio.ui import icons
from studio.ui.flow_messages import FENCE, approval, badge, hard_breaks, ledger, plain, ranking

__all__ = ["AVATARS", "KIND_ICONS", "STATUS_ICONS", "WINDOW", "duration_s", "final_of", "render_result",
           "render_transcript", "role_kinds", "rounds", "tail", "usage_by_agent", "usage_chart", "window"]

AVATARS = icons.ROLES
"""Avatar of an agent, by its role kind (or ``user`` / ``system``): a Material icon, as ``st.chat_message`` takes it."""
KIND_ICONS = {name: kind.icon for name, kind in KINDS.items()}
"""Icon in front of each message, by its kind (from the one table of kinds, ``studio.kinds``)."""
STATUS_ICONS = icons.STATUS
"""Icon in front of a run's status (Markdown's ``:material/name:``)."""
WINDOW = 50
"""Messages shown at once; older ones are a page away, so a long run renders as fast as a short one."""
_CACHE = "huddle_transcripts"
_CACHED_RUNS = 8
_TAIL_LINES = 20
_CUT = re.compile(r"\n\[… ([\d,]+) more characters cut\]$")
"""How ``studio.tools.cap`` marks a result it cut."""


@dataclass
class _Tail:
    seq: int = 0
    messages: list[Message] = field(default_factory=list)


def tail(log: RunStore, run_id: str) -> list[Message]:
    """All messages of ``run_id`` so far, parsing only the rows added since the last call in this session."""
    cache: dict[str, _Tail] = st.session_state.setdefault(_CACHE, {})
    entry = cache.pop(run_id, None) or _Tail()
    cache[run_id] = entry  # re-inserted last: the dict's order is the least recently used first
    while len(cache) > _CACHED_RUNS:
        cache.pop(next(iter(cache)))
    for seq, body in log.messages_with_seq(run_id, entry.seq):
        entry.messages.append(message_from_json(body))
        entry.seq = seq
    return entry.messages


def role_kinds(spec: dict[str, Any] | None) -> dict[str, str]:
    """Role name to role kind, from a spec as the run log stores it."""
    return {r.get("name", ""): r.get("kind", "") for r in (spec or {}).get("roles", [])}


def duration_s(info: RunInfo) -> float:
    """Seconds from a run's start to its last status change (to now while it is running)."""
    start = datetime.fromisoformat(info.created_at)
    end = datetime.now(timezone.utc) if info.status == "running" else datetime.fromisoformat(info.updated_at)
    return max(0.0, (end - start).total_seconds())


def rounds(messages: Iterable[Message]) -> int:
    """Worker turns taken so far, as ``flow.max_rounds`` counts them: one per plan, code or review."""
    return sum(KINDS[m.kind].turn for m in messages)


def final_of(messages: Sequence[Message]) -> Final | None:
    """The run's final message, if it got that far."""
    return next((m for m in reversed(messages) if isinstance(m, Final)), None)


def _prose(content: str) -> str:
    """A reply without its fenced code blocks (they are shown with ``st.code``)."""
    return FENCE.sub("", content).strip()


def window(total: int, key: str, size: int = WINDOW) -> tuple[int, int]:
    """The slice of a transcript to show: the newest ``size`` messages, with a slider to page back.

    Pages count back from the newest, so "0 pages back" keeps following a live run as it grows.
    """
    pages = math.ceil(total / size)
    if pages <= 1:
        return 0, total
    back = st.slider("Show earlier messages (pages back from the newest)", 0, pages - 1, key=key,
                     help=f"{size} messages a page")
    end = total - back * size
    start = max(0, end - size)
    st.caption(f"messages {start + 1}–{end} of {total}")
    return start, end


def render_transcript(messages: Sequence[Message], kinds: dict[str, str], *, offset: int = 0,
                      newest_first: bool = False) -> None:
    """Messages as chat bubbles, consecutive messages of one agent on one branch in one bubble.

    A bubble of a parallel branch (a plan step, a candidate, a sub-team) shows
    the branch as a badge next to the agent's name.

    Args:
        messages: the messages to show, in order.
        kinds: role name to role kind (picks each agent's avatar).
        offset: index of ``messages[0]`` in the whole run (message numbers count from 1).
        newest_first: the newest message on top (the Run page: a live run's latest words stay in view).
    """
    numbered = list(enumerate(messages, start=offset))
    group: list[tuple[int, Message]] = []
    for index, message in reversed(numbered) if newest_first else numbered:
        if group and (group[-1][1].sender, group[-1][1].branch) != (message.sender, message.branch):
            _bubble(group, kinds)
            group = []
        group.append((index, message))
    if group:
        _bubble(group, kinds)


def _bubble(group: list[tuple[int, Message]], kinds: dict[str, str]) -> None:
    sender = group[0][1].sender
    avatar = AVATARS.get(kinds.get(sender, sender), icons.UNKNOWN_ROLE)
    branch = group[0][1].branch
    with st.chat_message(sender, avatar=avatar):
        st.markdown(f"**{plain(sender)}**" + (f" {badge(branch)}" if branch else ""))
        for index, message in group:
            _message(index, message)


def _usage_line(message: Message) -> str:
    text = usage_text(message, sep=" · ")
    return f" · {text}" if text else ""


def _message(index: int, message: Message) -> None:
    kind = KINDS[message.kind]
    st.caption(f"{kind.icon} {kind.label} · #{index + 1}{_usage_line(message)}")
    _DRAW[message.kind](message)
    if message.memory_ids and not isinstance(message, Reflection):
        with st.expander(f"memory used ({len(message.memory_ids)})"):
            st.markdown("\n".join(f"- `{i}`" for i in message.memory_ids))


def _text(message: Message) -> None:
    """The task as the user wrote it: Markdown, each line on its own line (Markdown alone would join them)."""
    text = KINDS[message.kind].summary(message)
    st.markdown(hard_breaks(text) or "*(empty)*")


def _code(message: Code | Final) -> None:
    if _prose(message.content):
        st.markdown(_prose(message.content))
    if message.code:
        st.code(message.code, language=getattr(message, "language", "python"))


def _plan(message: Plan) -> None:
    st.markdown("\n".join(f"1. **{plain(s.id)}** {hard_breaks(plain(s.description), indent='   ')}"
                          + (f" (after {', '.join(s.depends_on)})" if s.depends_on else "")
                          for s in message.steps) or "(no steps)")


def _review(message: Review) -> None:
    colour = "green" if message.verdict == "approve" else "orange"
    st.markdown(f":{colour}[**{message.verdict}**] {plain(message.feedback)}")
    for lesson in message.lessons:
        st.markdown(f"- lesson: {plain(lesson)}")


def _decision(message: Decision) -> None:
    flags = [f for f, on in (("request satisfied", message.is_request_satisfied), ("in a loop", message.is_in_loop),
                             ("no progress", not message.is_progress_being_made)) if on]
    st.markdown(f"→ **{plain(message.next_speaker or 'end')}** — {plain(message.instruction)}"
                + (f"  :orange[({', '.join(flags)})]" if flags else ""))


def _tests(message: DesignedTests) -> None:
    st.caption(f"{len(message.tests)} designed test(s): evidence weighed by how many candidates agree with each")
    tests = "\n".join(message.tests)
    if message.content and message.content != tests:
        st.markdown(plain(message.content))
    if tests:
        st.code(tests, language="python")


def _error(message: Error) -> None:
    text = f"{message.error_type or 'error'}{' (fatal)' if message.fatal else ''}: {message.content}"
    (st.error if message.fatal else st.warning)(text)


def _reflection(message: Reflection) -> None:
    st.markdown(f"*{message.note} → {message.collection}* {plain(', '.join(message.memory_ids))}")
    st.text(message.content)


def _tool_call(message: ToolCall) -> None:
    arguments = json.dumps(message.arguments, indent=2, ensure_ascii=False, default=str)
    st.markdown(f"{icons.ALERTS['tool']} calls **{plain(message.tool)}**")
    st.code(arguments, language="json")


def _tool_result(message: ToolResult) -> None:
    """Whether it worked on one line; the text (as the role was shown it, capped) folded away, open when it failed."""
    cut = _CUT.search(message.content)
    head = f"`{message.tool}` " + (":green[**ok**]" if message.ok else ":red[**failed**]")
    if not message.ok:
        first = message.content.strip().splitlines()[0] if message.content.strip() else "(no reason given)"
        head += f" — {plain(first[:300])}"
    st.markdown(head)
    size = f"{len(message.content) - (len(cut.group(0)) if cut else 0):,} characters"
    if cut:
        size += f", {int(cut.group(1).replace(',', '')):,} more cut"
    items = f", {len(message.memory_ids)} memory item(s)" if message.memory_ids else ""
    with st.expander(f"result ({size}{items})", expanded=not message.ok):
        st.text(message.content or "(empty)")


def _execution(message: Execution) -> None:
    """The outcome on one line; failures, output and the sandbox's facts folded away under it."""
    colour, mark = ("green", icons.ALERTS["valid"]) if message.ok else ("red", icons.ALERTS["failed"])
    st.markdown(f":{colour}[{mark} {plain(message.content)}]")  # the content already says OK or FAILED
    label = f"execution details: {message.failed} failure(s)" if message.failures else "execution details"
    with st.expander(label, expanded=not message.ok and bool(message.failures)):
        for failure in message.failures:
            st.code(failure, language="text")
        for name, text in (("stderr", message.stderr), ("stdout", message.stdout)):
            lines = text.rstrip().splitlines()
            if lines:
                st.caption(f"{name} (last {min(len(lines), _TAIL_LINES)} of {len(lines)} lines)")
                st.code("\n".join(lines[-_TAIL_LINES:]), language="text")
        facts = [f"exit {message.exit_code}", f"{message.duration_ms:.0f} ms", f"{message.peak_memory_mb:.1f} MB",
                 f"network {message.network}", f"files {message.filesystem}"]
        if message.limit:
            facts.insert(0, f"stopped by the {message.limit} limit")
        st.caption(" · ".join(facts))


_DRAW: dict[str, Callable[[Any], None]] = dict(covering("the studio (studio/ui/transcript.py)", {
    "task": _text, "plan": _plan, "code": _code, "execution": _execution, "review": _review,
    "decision": _decision, "final": _code, "tool_call": _tool_call, "tool_result": _tool_result,
    "reflection": _reflection, "tests": _tests, "error": _error, "ledger": ledger, "ranking": ranking,
    "approval": approval,
}))
"""How the studio draws each kind's body, under its caption."""


def usage_by_agent(messages: Iterable[Message]) -> pd.DataFrame:
    """Tokens, cost and model calls per agent (agents that made no model call are left out)."""
    rows: dict[str, list[float]] = {}
    for m in messages:
        if m.usage.calls or m.usage.prompt_tokens or m.usage.completion_tokens:
            row = rows.setdefault(m.sender, [0, 0, 0.0, 0])
            row[0] += m.usage.prompt_tokens
            row[1] += m.usage.completion_tokens
            row[2] += m.usage.cost_usd
            row[3] += m.usage.calls
    frame = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["prompt tokens", "completion tokens", "cost (USD)", "calls"])
    frame.index.name = "agent"
    return frame


def usage_chart(messages: Sequence[Message]) -> None:
    """Tokens (stacked prompt and completion) and cost per agent, as bar charts."""
    frame = usage_by_agent(messages)
    if frame.empty:
        st.caption("no model calls yet")
        return
    tokens, cost = st.columns(2)
    with tokens:
        st.caption("tokens per agent")
        st.bar_chart(frame[["prompt tokens", "completion tokens"]], height=220)
    with cost:
        total = frame["cost (USD)"].sum()
        st.caption(f"cost per agent (total ${total:.4f})")
        if total:
            st.bar_chart(frame[["cost (USD)"]], height=220)
        else:
            st.caption("$0: local and scripted models cost nothing")


def render_result(final: Final | None, key: str) -> None:
    """The run's outcome: approved or why it stopped, its test result, its code and a download button."""
    if final is None:
        st.info("No final result (yet).")
        return
    head = ":green[**approved**]" if final.approved else f":orange[**{final.stop_reason}**]"
    if final.stop_reason == "unsolved":  # a role's claim the evidence contradicts: say both
        head = f":red[**unsolved**] · {final.content.split(chr(10), 1)[0]}"
    if final.executed:
        ok = final.exit_code == 0 and not final.failed
        colour = "green" if ok else "red"
        head += f" · :{colour}[tests: {final.passed} passed, {final.failed} failed]"
    else:
        head += " · not run"
    st.markdown(f"{icons.ALERTS['final']} Final result: {head}")
    if final.code:
        st.code(final.code, language="python")
        st.download_button("Download the code", final.code, file_name="solution.py", mime="text/x-python",
                           key=f"download-{key}")
    else:
        st.caption("no code was written")
