"""A stand-in for ``studio.runner.run_team`` in the studio's tests: a run whose speaking the test drives.

``fake_runner(monkeypatch, speak)`` replaces the runner: each "run" logs its team and task, publishes the task,
then calls ``speak(run_id, on_turn, on_token, publish)`` (which says what the test wants, waiting on the test's
events as it goes, and returns the last message it published), and ends ``done``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import studio.runner
from studio.messages import Message, Task
from studio.runner import RunResult, shared_store

Speak = Callable[[str, Callable[[str], None], Callable[[str, str], None], Callable[[Message], None]], Message]


def fake_runner(monkeypatch, speak: Speak, spec_data: Callable[[Any], dict] | None = None) -> None:
    """Make ``studio.runner.run_team`` a run that ``speak`` drives; ``spec_data(spec)`` is the spec it logs."""

    def fake_run_team(spec, task, *, run_id=None, home=None, on_turn=None, on_token=None, on_message=None, **_):
        log = shared_store(home)
        log.create_run(run_id, team=spec.name, task=task, spec=spec_data(spec) if spec_data else {"name": spec.name})
        first = Task(run_id=run_id, sender="user", content=task)

        def publish(message: Message) -> None:
            log.append([message])
            on_message(message)

        publish(first)
        last = speak(run_id, on_turn, on_token, publish)
        log.set_status(run_id, "done")
        return RunResult(run_id, "done", [first, last])

    monkeypatch.setattr(studio.runner, "run_team", fake_run_team)
