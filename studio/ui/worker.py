"""Runs started (or resumed) from the studio: each on a thread of its own, off the UI's script thread.

The UI never waits for a run: it starts one, then reads the run log (where the
bus writes every message before anyone sees it) on each rerun. Handles live in
this module, so they outlive reruns and browser reloads of the same server.

A run that reaches an approval point ends its thread with status ``waiting``;
:func:`resume` continues it with a person's :class:`ApprovalDecision`, whoever
started it (this server, another one, or ``huddle run`` on the CLI): the
checkpoint and the run log are all a run needs. :func:`stop_waiting` stops such
a run instead (failed with error type ``stopped``, resumable like any other).

While a model call is in flight, its text arrives piece by piece (the runner's
``on_token``) in :attr:`RunHandle.live`, one :class:`Speech` per role or
``role.branch``, until that speaker's message is published (a call that fails part way and is tried again starts
its text over).

Example:
    >>> from studio.spec import TeamSpec, RoleSpec
    >>> team = TeamSpec(name="t", roles=[RoleSpec(name="c", kind="coder")])
    >>> handle = start(team, "x", model="scripted:/nonexistent.yaml")
    >>> handle.join(10).status, "does not exist" in handle.error
    ('failed', True)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.approval import ApprovalDecision
from studio.llm._streaming import RESTART
from studio.messages import Error, Message, new_id
from studio.spec import Budget, TeamSpec

__all__ = ["STOPPED", "RunBusy", "RunHandle", "Speech", "fork", "get", "resume", "speaker_key", "start",
           "stop_waiting"]

STOPPED = "stopped from the studio"
"""The error of a run stopped with the Stop button."""


@dataclass(frozen=True)
class _Hooks:
    """The runner's callbacks a studio run listens with."""

    on_turn: Callable[[str], None]
    on_token: Callable[[str, str], None]
    on_message: Callable[[Message], None]


def speaker_key(message: Message) -> str:
    """Who published ``message``, as ``on_token`` names speakers: the role, or ``role.branch``."""
    return f"{message.sender}.{message.branch}" if message.branch else message.sender


@dataclass
class Speech:
    """What one role (or ``role.branch``) has said so far in the model call in flight."""

    started: float = field(default_factory=time.monotonic)
    text: str = ""
    """The pieces so far; empty while a reply that cannot be streamed (JSON-constrained) is on its way."""
    attempt: int = 1
    """Which try of the call this is: a call that failed part way starts its text over (``RESTART``)."""

    def seconds(self) -> float:
        """Seconds since the call began."""
        return time.monotonic() - self.started

_HANDLES: dict[str, RunHandle] = {}
_LOCK = threading.Lock()


@dataclass
class RunHandle:
    """A run the studio started: follow it with ``run_id`` in the run log."""

    run_id: str
    team: str
    task: str
    started_at: float = field(default_factory=time.monotonic)
    status: str = "starting"
    """``starting``, ``running``, ``waiting`` (for a person's approval), ``done``, ``failed``, ``stopped`` or
    ``budget`` (stopped by a budget: it can go on with a raised one)."""
    error: str | None = None
    speaking: str = ""
    """The role whose model call is in flight."""
    turns: int = 0
    """Model calls made so far."""
    live: dict[str, Speech] = field(default_factory=dict)
    """Speaker (``role`` or ``role.branch``) to the text of its model call in flight."""
    budget: Budget | None = None
    """The limits given for this run (or its resume) over the team's own budget."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """Whether the run is still starting or running in this server."""
        return self.status in ("starting", "running")

    def elapsed(self) -> float:
        """Seconds since the run started here."""
        return time.monotonic() - self.started_at

    def stop(self) -> None:
        """Ask the run to stop before its next model call (it can be resumed later)."""
        self._stop.set()

    def speeches(self) -> dict[str, Speech]:
        """A copy of :attr:`live`, safe to read while the run's threads add to it."""
        with _LOCK:
            return dict(self.live)

    def _token(self, speaker: str, piece: str) -> None:
        with _LOCK:
            speech = self.live.setdefault(speaker, Speech())
            if piece == RESTART:  # the call failed part way and is tried again: what it said goes
                speech.text, speech.attempt = "", speech.attempt + 1
            else:
                speech.text += piece

    def _turn(self, speaker: str) -> None:
        with _LOCK:
            self.live[speaker] = Speech()  # a new call: what it said before is in its published message
            self.speaking, self.turns = speaker, self.turns + 1

    def _heard(self, message: Message) -> None:
        with _LOCK:
            self.live.pop(speaker_key(message), None)

    def join(self, timeout: float | None = None) -> RunHandle:
        """Wait up to ``timeout`` seconds (``None``: for good) for the run's thread to end; returns the handle."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self


class RunBusy(RuntimeError):
    """The run is already going on in this server: it cannot be resumed twice at once."""


def _launch(handle: RunHandle, call: Callable[[_Hooks], Any]) -> RunHandle:
    handle._thread = threading.Thread(target=_work, args=(handle, call), name=f"huddle-run-{handle.run_id[:8]}",
                                      daemon=True)
    handle._thread.start()
    return handle


def start(spec: TeamSpec, task: str, *, model: str | None = None, home: str | Path | None = None,
          budget: Budget | None = None) -> RunHandle:
    """Start ``spec`` on ``task`` in the background, with ``budget``'s limits over the team's; returns at once."""
    from studio.runner import run_team

    handle = RunHandle(run_id=new_id(), team=spec.name, task=task, budget=budget)
    with _LOCK:
        _HANDLES[handle.run_id] = handle
    return _launch(handle, lambda hooks: run_team(spec, task, model=model, home=home, run_id=handle.run_id,
                                                  on_turn=hooks.on_turn, on_token=hooks.on_token,
                                                  on_message=hooks.on_message, budget=budget))


def resume(run_id: str, decision: ApprovalDecision | None = None, *, home: str | Path | None = None,
           budget: Budget | None = None) -> RunHandle:
    """Continue run ``run_id`` in the background; returns at once with its (new) handle.

    Args:
        run_id: the run, as the run log knows it (started here or anywhere else).
        decision: for a run ``waiting`` at an approval point, what the person said; ``None`` continues a
            stopped, failed or budget-stopped run from its last checkpoint.
        home: the state folder of the run log and checkpoints.
        budget: raised limits (a run stopped by its budget goes on with them); ``None`` keeps the limits this
            server last gave the run, if any (an approval answered after a raise keeps the raise).

    Raises:
        RunBusy: this server is running it already (a second click, two browser tabs).
    """
    from studio.runner import resume_run, shared_store

    log = shared_store(home)
    info = log.get_run(run_id)
    calls = sum(log.call_counts(info.run_id).values()) if info else 0  # the count goes on where it stopped
    with _LOCK:
        old = _HANDLES.get(run_id)
        if old is not None and old.active:
            raise RunBusy(f"run {run_id} is already running")
        if budget is None and old is not None:
            budget = old.budget
        handle = RunHandle(run_id=run_id, team=info.team if info else (old.team if old else "?"),
                           task=info.task if info else (old.task if old else ""), turns=calls, budget=budget)
        _HANDLES[run_id] = handle
    return _launch(handle, lambda hooks: resume_run(run_id, home=home, decision=decision, on_turn=hooks.on_turn,
                                                    on_token=hooks.on_token, on_message=hooks.on_message,
                                                    budget=budget))


def fork(parent: str, at: str, *, spec: TeamSpec, model: str | None = None,
         home: str | Path | None = None) -> RunHandle:
    """Start a fork of run ``parent`` at its message ``at`` in the background (:func:`studio.replay.fork_run`).

    The messages up to ``at`` are served from the parent's cassette; the rest run live with ``spec`` and
    ``model`` (the parent's when ``None``). Returns at once with the new run's handle.
    """
    from studio.replay import fork_run

    handle = RunHandle(run_id=new_id(), team=spec.name, task="")
    with _LOCK:
        _HANDLES[handle.run_id] = handle
    return _launch(handle, lambda hooks: fork_run(parent, at, model=model, spec=spec, home=home,
                                                  run_id=handle.run_id, on_turn=hooks.on_turn,
                                                  on_token=hooks.on_token, on_message=hooks.on_message))


def get(run_id: str) -> RunHandle | None:
    """The handle of a run this server started, if any."""
    with _LOCK:
        return _HANDLES.get(run_id)


def stop_waiting(run_id: str, *, home: str | Path | None = None) -> bool:
    """Stop a run that waits for a person's approval: it fails with error type ``stopped``, its request unanswered.

    Like a run stopped while it works, it can be resumed later (``huddle resume`` or the studio), and then asks
    for the same approval again.

    Returns:
        Whether the run was waiting (and is now stopped).
    """
    from studio.runner import shared_store

    log = shared_store(home)
    info = log.get_run(run_id)
    if info is None or info.status != "waiting":
        return False
    log.append([Error(run_id=info.run_id, sender="system", error_type="stopped", fatal=True, content=STOPPED)])
    log.set_status(info.run_id, "failed", STOPPED)
    handle = get(info.run_id)
    if handle is not None and not handle.active:
        handle.status, handle.error = "stopped", STOPPED
    return True


def _work(handle: RunHandle, call: Callable[[_Hooks], Any]) -> None:
    """Run ``call`` (``run_team`` or ``resume_run``, given the hooks) and keep its outcome."""
    from studio.runner import RunStopped

    def on_turn(role: str) -> None:
        if handle._stop.is_set():
            raise RunStopped(STOPPED)
        handle._turn(role)

    def on_token(speaker: str, piece: str) -> None:
        if not handle._stop.is_set():  # stopping: the page says so, and the call's last words do not matter
            handle._token(speaker, piece)

    handle.status = "running"
    try:
        result = call(_Hooks(on_turn, on_token, handle._heard))
    except Exception as exc:  # a user error before the run started (model, key, memory): show it
        handle.status, handle.error = "failed", f"{type(exc).__name__}: {exc}"
        return
    finally:
        with _LOCK:
            handle.live.clear()
    stopped = result.status == "failed" and handle._stop.is_set()
    handle.status = "stopped" if stopped else result.status
    handle.error = result.error
    handle.speaking = ""
