"""Jupyter surfaces: a team drawn as HTML, a run's timeline, live updates in a cell, the studio on a team.

Everything is plain, escaped HTML (no JavaScript, and no emoji: a message's kind
shows as its label, a run's status as its word), so it renders the same in
Jupyter, VS Code, a static notebook viewer and on a machine without an emoji font.

Example:
    >>> from studio.spec import TeamSpec, RoleSpec
    >>> html = team_html(TeamSpec(name="t", roles=[RoleSpec(name="c", kind="coder")]))
    >>> "<svg" in html and ">c<" in html
    True
"""

from __future__ import annotations

import html
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.api._meter import meter_html
from studio.export import server_label
from studio.kinds import KIND_NAMES, KINDS, covering
from studio.llm.budget import role_budgets, with_budget, working_seconds
from studio.messages import Code, DesignedTests, Execution, Final, Message
from studio.spec import Budget, TeamSpec, dump_spec, tool_label

__all__ = ["LiveView", "StudioServer", "live_view", "meter_html", "open_studio", "run_html", "team_html",
           "timeline_html"]

COLOURS = {"planner": "#3b82f6", "coder": "#16a34a", "critic": "#ea580c", "orchestrator": "#9333ea",
           "test_designer": "#0e8a96"}
_OTHER = "#64748b"
_BOX_W, _BOX_H, _GAP = 130, 46, 40


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _graph_svg(spec: TeamSpec) -> str:
    """The roles as boxes in a row (the orchestrator above), the routes as arrows between them."""
    workers = [r for r in spec.roles if r.behaviour != "orchestrator"]
    boss = spec.orchestrator()
    top = _BOX_H + _GAP if boss else 0
    where = {r.name: (20 + i * (_BOX_W + _GAP), top + 20) for i, r in enumerate(workers)}
    if boss:
        where[boss.name] = (20 + max(0, (len(workers) - 1)) * (_BOX_W + _GAP) // 2, 10)
    width = 40 + len(workers) * (_BOX_W + _GAP)
    height = top + _BOX_H + 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="13">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#475569"/></marker></defs>']
    for i, edge in enumerate(spec.flow.edges):
        (x1, y1), (x2, y2) = where[edge.source], where[edge.target]
        bend = 28 + 10 * (i % 3)
        start, end = (x1 + _BOX_W // 2, y1 + _BOX_H), (x2 + _BOX_W // 2, y2 + _BOX_H)
        if x2 < x1:  # a route back: curve under the boxes
            parts.append(f'<path d="M{start[0]},{start[1]} C{start[0]},{start[1] + bend} {end[0]},{end[1] + bend} '
                         f'{end[0]},{end[1]}" fill="none" stroke="#475569" marker-end="url(#arrow)"/>')
        else:
            parts.append(f'<line x1="{x1 + _BOX_W}" y1="{y1 + _BOX_H // 2}" x2="{x2}" y2="{y2 + _BOX_H // 2}" '
                         f'stroke="#475569" marker-end="url(#arrow)"/>')
    for role in spec.roles:
        x, y = where[role.name]
        colour = COLOURS.get(role.behaviour, _OTHER)
        entry = ' stroke-dasharray="0"' if role.name != spec.entry() else ' stroke-width="3"'
        parts.append(f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="8" fill="{colour}22" '
                     f'stroke="{colour}"{entry}/>')
        parts.append(f'<text x="{x + _BOX_W // 2}" y="{y + 20}" text-anchor="middle" font-weight="bold">'
                     f'{_e(role.name)}</text>')
        parts.append(f'<text x="{x + _BOX_W // 2}" y="{y + 37}" text-anchor="middle" fill="#475569">'
                     f'{_e(role.kind)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _servers_html(spec: TeamSpec) -> str:
    if not spec.mcp_servers:
        return ""
    items = "".join(f"<li><b>{_e(name)}</b>: <code>{_e(server_label(server))}</code></li>"
                    for name, server in spec.mcp_servers.items())
    return f"<p>MCP servers:</p><ul>{items}</ul>"


def team_html(spec: TeamSpec) -> str:
    """The team: its graph (the entry has a thick border), a table of its roles and its MCP servers."""
    rows = "".join(
        f"<tr><td><b>{_e(r.name)}</b></td><td>{_e(r.kind)}{_e(' → ' + r.acts_as) if r.acts_as else ''}</td>"
        f"<td>{_e(spec.model_for(r.name))}</td><td>{_e(', '.join(r.reads()) or '-')}</td>"
        f"<td>{_e('; '.join(tool_label(t) for t in r.tools) or '-')}</td>"
        f"<td>{_e(r.instructions[:80])}</td></tr>" for r in spec.roles)
    memory = f"memory: {_e(spec.memory_namespace())}" if spec.memory.enabled else "memory off"
    sandbox = "code runs in the sandbox" if spec.sandbox.enabled else "code is not run"
    return (f'<div class="huddle-team"><h4>Team {_e(spec.name)}</h4><p>{_e(spec.description)}</p>'
            f"{_graph_svg(spec)}<table><tr><th>role</th><th>kind</th><th>model</th><th>reads</th>"
            f"<th>tools</th><th>instructions</th></tr>{rows}</table>{_servers_html(spec)}"
            f"<p>entry {_e(spec.entry())} · up to {spec.flow.max_rounds} rounds · {memory} · {sandbox}</p></div>")


def _text(message: Message) -> str:
    return f"<div>{_e(KINDS[message.kind].summary(message)[:2000])}</div>"


def _code(message: Code | Final) -> str:
    if not message.code:
        return _text(message)
    prose = message.content.split("```", 1)[0].strip()
    return (f"<div>{_e(prose)}</div>" if prose else "") + f"<pre>{_e(message.code)}</pre>"


def _tests(message: DesignedTests) -> str:
    tests = "\n".join(message.tests)
    prose = f"<div>{_e(message.content)}</div>" if message.content and message.content != tests else ""
    return prose + (f"<pre>{_e(tests)}</pre>" if tests else "")


def _execution(message: Execution) -> str:
    failures = "".join(f"<pre>{_e(f)}</pre>" for f in message.failures[:3])
    return f"<div>{_e(message.content)}</div>{failures}"


_BODY: dict[str, Callable[[Any], str]] = dict(covering("the notebook (studio/api/notebook.py)", {
    **{kind: _text for kind in KIND_NAMES}, "tests": _tests, "code": _code, "final": _code, "execution": _execution,
}))
"""A message's HTML by its kind: the kind's summary, but the code and the sandbox's verdict drawn as such."""


def timeline_html(messages: list[Message], kinds: dict[str, str], status: str = "") -> str:
    """Messages in order, one row each: who, what kind, what it said, and what it cost."""
    rows = []
    for i, m in enumerate(messages, 1):
        colour = COLOURS.get(kinds.get(m.sender, ""), _OTHER)
        cost = f"{m.usage.prompt_tokens}+{m.usage.completion_tokens} tok" if m.usage.calls else ""
        kind = KINDS[m.kind]
        rows.append(f'<tr><td>{i}</td><td style="color:{colour}"><b>{_e(m.sender)}</b></td>'
                    f"<td>{_e(kind.label)}</td><td>{_BODY[m.kind](m)}</td><td>{cost}</td></tr>")
    head = f"<p>{_e(status)}</p>" if status else ""
    return (f'<div class="huddle-run">{head}<table><tr><th>#</th><th>who</th><th>kind</th><th>message</th>'
            f"<th>usage</th></tr>{''.join(rows)}</table></div>")


def run_html(run: Any) -> str:
    """A :class:`~studio.api.run.Run`: status, totals, what it spent against its budget, and timeline."""
    usage = run.usage
    kinds = {r.name: r.behaviour for r in run.spec.roles} if run.spec is not None else {}
    status = (f"run {run.run_id[:12]} · {run.status} · {len(run.messages)} messages · "
              f"{usage.prompt_tokens + usage.completion_tokens} tokens · ${usage.cost_usd:.4f}")
    if run.error:
        status += f" · {run.error}"
    if run.status in ("unsolved", "budget") and run.final is not None:  # what was claimed (or which budget)
        status = f"{status} · {run.final.content.splitlines()[0]}"
    spec = run.spec
    budget, roles = (spec.budget, role_budgets(spec)) if spec is not None else (None, {})
    meter = meter_html(run.messages, budget, roles, working_seconds(list(run.messages)))
    return meter + timeline_html(run.messages, kinds, status)


_SAID_CHARS = 1500
"""How much of a speaking role's reply the live view shows (its end)."""


def _said_html(said: dict[str, str], kinds: dict[str, str]) -> str:
    """What the speaking roles have said so far, as it streams in: a block each, under the timeline."""
    blocks = [f'<div class="huddle-live"><b style="color:{COLOURS.get(kinds.get(key.split(".")[0], ""), _OTHER)}">'
              f"{_e(key)}</b> <i>is speaking…</i><pre>{_e(text[-_SAID_CHARS:])}</pre></div>"
              for key, text in list(said.items())[-3:] if text]
    return "".join(blocks)


@dataclass
class LiveView:
    """Updates one cell output as a run publishes: the meter, the timeline, a progress line, what the roles say.

    The meter (:func:`meter_html`) shows what the messages so far spent, against ``budget`` and ``roles``
    where set, and the seconds this view has watched the run work. What a role says shows under the timeline
    as it streams in, until its message is published.
    """

    handle: Any
    kinds: dict[str, str]
    max_rounds: int
    messages: list[Message] = field(default_factory=list)
    speaking: str = ""
    said: dict[str, str] = field(default_factory=dict)
    """Per role (or ``role.branch``) whose reply is streaming: its text so far, until its message is published."""
    started: float = field(default_factory=time.monotonic)
    min_interval_s: float = 0.2
    budget: Budget | None = None
    """The run's budget (the team's, with the limits given for this run over it)."""
    roles: dict[str, Budget] = field(default_factory=dict)
    """The roles' budgets, by name."""
    _last: float = 0.0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def _show(self, status: str, force: bool = False) -> None:
        with self._lock:  # parallel branches stream from several threads
            now = time.monotonic()
            if not force and now - self._last < self.min_interval_s:
                return
            self._last = now
            page = (meter_html(self.messages, self.budget, self.roles, time.monotonic() - self.started)
                    + timeline_html(self.messages, self.kinds, status) + _said_html(self.said, self.kinds))
            self.handle.update(_HTML(page, plain=status))

    def _progress(self) -> str:
        rounds = sum(KINDS[m.kind].turn for m in self.messages)
        who = ""
        if self.speaking:
            said = self.said.get(self.speaking, "")
            who = f" · {self.speaking} is speaking… ({len(said)} chars)" if said else f" · {self.speaking} is thinking…"
        return f"running · round {rounds}/{self.max_rounds}{who} · {time.monotonic() - self.started:.0f}s"

    def message(self, message: Message) -> None:
        """Add a published message; redraw at most every ``min_interval_s``, at once for a final or error.

        The message replaces its sender's streamed text.
        """
        with self._lock:
            self.messages.append(message)
            self.said.pop(f"{message.sender}.{message.branch}" if message.branch else message.sender, None)
        self._show(self._progress(), force=message.kind in ("final", "error"))

    def token(self, key: str, piece: str) -> None:
        """A piece of ``key``'s reply as it streams in (``""``: a reply that cannot stream has started).

        The first piece of a reply shows at once, the rest at most every ``min_interval_s``.
        """
        with self._lock:
            first = not self.said.get(key)
            self.said[key] = (self.said.get(key, "") + piece)[-4 * _SAID_CHARS:]
            self.speaking = key
        self._show(self._progress(), force=first and bool(piece))

    def turn(self, role: str) -> None:
        """Show that ``role``'s model call has started."""
        self.speaking = role
        self._show(self._progress())

    def close(self, status: str) -> None:
        """Draw the final line: the run's ``status``, its message count and how long it took."""
        self.speaking = ""
        self.said.clear()
        self._show(f"{status} · {len(self.messages)} messages · "
                   f"{time.monotonic() - self.started:.1f}s", force=True)


class _HTML:
    """What IPython's ``display`` needs of an object: its HTML, and a line for plain-text viewers."""

    def __init__(self, text: str, plain: str = "Huddle run"):
        self.text, self.plain = text, plain

    def _repr_html_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.plain


def _ipython_display():
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    return display if shell is not None and getattr(shell, "kernel", None) is not None else None


def live_view(spec: TeamSpec, display: Any = "auto", budget: Budget | None = None) -> LiveView | None:
    """A live view for a run: in a Jupyter kernel with ``"auto"``, or with the given ``display`` function.

    Its meter measures against the team's budget, with ``budget``'s limits (the run's own) set over it.
    """
    if display in (None, False):
        return None
    show = _ipython_display() if display == "auto" else display
    if show is None:
        return None
    spec = with_budget(spec, budget)
    handle = show(_HTML("starting…", plain="starting…"), display_id=True)
    return LiveView(handle, {r.name: r.behaviour for r in spec.roles}, spec.flow.max_rounds, budget=spec.budget,
                    roles=role_budgets(spec))


@dataclass
class StudioServer:
    """A studio serving one team; stop it with :meth:`stop` (it also stops when Python exits)."""

    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        """Stop the studio's server and wait (up to 20 s) for it to exit."""
        self.process.terminate()
        self.process.wait(timeout=20)

    def _repr_html_(self) -> str:
        return f'<p>Huddle studio: <a href="{_e(self.url)}" target="_blank">{_e(self.url)}</a></p>'


def open_studio(spec: TeamSpec, *, port: int | None = None, host: str = "127.0.0.1",
                home: str | Path | None = None, wait_s: float = 60) -> StudioServer:
    """Serve the studio with ``spec`` on its Build page; returns once it answers."""
    import socket

    from studio.exposure import TEAM_ENV, streamlit_command

    if port is None:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="huddle-team-"))
    team_file = folder / f"{spec.name}.yaml"
    team_file.write_text(dump_spec(spec), encoding="utf-8")
    env = {**os.environ, TEAM_ENV: str(team_file), **({"HUDDLE_HOME": str(home)} if home else {})}
    process = subprocess.Popen(streamlit_command(host, port), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return StudioServer(url, process)
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"the studio did not start on {url}; try another port")
