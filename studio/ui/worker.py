"""Runs started from the studio: each on a thread of its own, off the UI's script thread.

The UI never waits for a run: it starts one, then reads the run log (where the
bus writes every message before anyone sees it) on each rerun. Handles live in
this module, so they outlive reruns and browser reloads of the same server.

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
from dataclasses import dataclass, field
from pathlib import Path

from studio.messages import new_id
from studio.spec import TeamSpec

__all__ = ["RunHandle", "get", "start"]

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
    """``starting``, ``running``, ``done``, ``failed`` or ``stopped``."""
    error: str | None = None
    speaking: str = ""
    """The role whose model call is in flight."""
    turns: int = 0
    """Model calls made so far."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.status in ("starting", "running")

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def stop(self) -> None:
        """Ask the run to stop before its next model call (it can be resumed later)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> RunHandle:
        if self._thread is not None:
            self._thread.join(timeout)
        return self


def start(spec: TeamSpec, task: str, *, model: str | None = None, home: str | Path | None = None) -> RunHandle:
    """Start ``spec`` on ``task`` in the background; returns at once."""
    handle = RunHandle(run_id=new_id(), team=spec.name, task=task)
    handle._thread = threading.Thread(target=_work, args=(handle, spec, task, model, home),
                                      name=f"huddle-run-{handle.run_id[:8]}", daemon=True)
    with _LOCK:
        _HANDLES[handle.run_id] = handle
    handle._thread.start()
    return handle


def get(run_id: str) -> RunHandle | None:
    """The handle of a run this server started, if any."""
    with _LOCK:
        return _HANDLES.get(run_id)


def _work(handle: RunHandle, spec: TeamSpec, task: str, model: str | None, home: str | Path | None) -> None:
    from studio.runner import RunStopped, run_team

    def on_turn(role: str) -> None:
        if handle._stop.is_set():
            raise RunStopped("stopped from the studio")
        handle.speaking, handle.turns = role, handle.turns + 1

    handle.status = "running"
    try:
        result = run_team(spec, task, model=model, home=home, run_id=handle.run_id, on_turn=on_turn)
    except Exception as exc:  # a user error before the run started (model, key, memory): show it
        handle.status, handle.error = "failed", f"{type(exc).__name__}: {exc}"
        return
    stopped = result.status == "failed" and handle._stop.is_set()
    handle.status = "stopped" if stopped else result.status
    handle.error = result.error
    handle.speaking = ""
