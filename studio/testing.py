"""Regression tests from recorded runs: replay each cassette against the team as it is now, and fail on drift.

A cassette (``huddle runs export-cassette RUN -o FILE``) holds a run's messages and every call it made. Replayed
against the current team file (:func:`studio.replay.replay`), it drifts when:

- **a request changed**: a role's model call asks something the recording did not (a prompt, a role, the flow or
  a model changed); the check names the role and the call, with the difference of the two requests;
- **the outcome changed**: every request matched, but the status, the final or the transcript is not the
  recording's;
- with ``tests``, **the outcome fails its tests**: the final code is run against the task's hidden tests (an eval
  task file whose prompt is the cassette's task: ``tasks``), or, where no task carries hidden tests, graded on
  what the run's final carries (its own tests, as the run's sandbox ran them).

``huddle test TEAM_FILE CASSETTE_DIR`` runs :func:`check_cassette` on every cassette of a folder; in a project's
own pytest suite, the ``huddle_replay`` fixture (``studio.pytest_plugin``) is :func:`assert_replays`.

Example:
    >>> Grade(False, "the run's final", "no final message").line()
    "fails its tests (the run's final): no final message"
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.messages import Final, message_to_json
from studio.redact import redact
from studio.replay import CassetteError, Recording, ReplayOutcome, load_recording, replay, request_diff, same_message
from studio.spec import TeamSpec, load_spec

if TYPE_CHECKING:
    from studio.eval import EvalTask

__all__ = ["CassetteCheck", "Grade", "assert_replays", "check_cassette", "drift", "find_cassettes", "grade_outcome",
           "load_cassettes"]

SHOWN = 3
"""How many differing messages a drift report names."""


@dataclass(frozen=True)
class Grade:
    """How a replayed outcome fared against its tests."""

    passed: bool
    how: str
    """``hidden tests`` (a task file's) or ``the run's final`` (what its final carries)."""
    detail: str

    def line(self) -> str:
        """One line for a report."""
        return f"{'passes' if self.passed else 'fails'} its tests ({self.how}): {self.detail}"


@dataclass
class CassetteCheck:
    """One cassette replayed against a team: what was served, how long it took, and what drifted."""

    path: Path
    recording: Recording
    outcome: ReplayOutcome
    ms: float
    problems: list[str] = field(default_factory=list)
    """What drifted, one line each (empty: the cassette passes)."""
    diff: str = ""
    """The unified diff of the recorded and the new request, where a request changed."""
    grade: Grade | None = None
    """With ``tests``: how the outcome fared against its tests."""

    @property
    def ok(self) -> bool:
        """Whether the replay is the recording (and, with tests, passes them)."""
        return not self.problems

    @property
    def verdict(self) -> str:
        """``pass``, ``request changed``, ``outcome changed`` or ``fails tests``."""
        if self.ok:
            return "pass"
        if self.outcome.diverged is not None:
            return "request changed"
        return "fails tests" if self.grade is not None and self.problems == [self.grade.line()] else "outcome changed"

    def message(self) -> str:
        """What drifted, with the request diff: the text of a failed check."""
        lines = [f"{self.path}: {self.verdict}"] + [f"  {p}" for p in self.problems]
        return "\n".join(lines + ([self.diff] if self.diff else []))


def find_cassettes(folder: str | Path) -> list[Path]:
    """Every ``*.jsonl`` file under ``folder`` (sub-folders too), sorted.

    Raises:
        CassetteError: ``folder`` is not a folder, or holds no ``*.jsonl`` file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CassetteError(f"cassette folder {folder}: no such folder")
    found = sorted(p for p in folder.rglob("*.jsonl") if p.is_file())
    if not found:
        raise CassetteError(f"cassette folder {folder} holds no cassette (*.jsonl); write one with "
                            "`huddle runs export-cassette RUN -o FILE`")
    return found


def load_cassettes(paths: Sequence[Path], team: TeamSpec) -> list[Recording]:
    """Read every cassette before any is replayed: a bad one stops the lot, naming the file.

    Raises:
        CassetteError: a file that is not a cassette, is cut short, or was recorded by another team.
    """
    recordings = [load_recording(path) for path in paths]
    for recording in recordings:
        if recording.team != team.name:
            raise CassetteError(f"{recording.source} was recorded by team {recording.team!r}, not {team.name!r}; "
                                "replay it with that team's file")
    return recordings


def drift(outcome: ReplayOutcome) -> list[str]:
    """What about a replay is not its recording, one line each (nothing: no drift)."""
    d = outcome.diverged
    if d is not None:
        what = "is one the recording does not have" if d.recorded is None else "asks what the recording did not"
        return [f"request changed: {d.key}'s model call {d.index + 1} {what}"]
    recorded, now = outcome.recording, outcome.result
    found = []
    if now.status != recorded.status:
        found.append(f"outcome changed: status {recorded.status} -> {now.status}"
                     + (f" ({now.error})" if now.error else ""))
    before = next((m for m in reversed(recorded.messages) if isinstance(m, Final)), None)
    after = now.final
    if (before is None) != (after is None) or (before is not None and after is not None and not same_message(
            json.loads(message_to_json(before)), json.loads(message_to_json(after)))):
        found.append(f"outcome changed: the final is not the recording's ({_final(before)} -> {_final(after)})")
    if outcome.differences:
        shown = ", ".join(_at(now.messages, i) for i in outcome.differences[:SHOWN])
        more = f" and {len(outcome.differences) - SHOWN} more" if len(outcome.differences) > SHOWN else ""
        found.append(f"transcript differs: {len(recorded.messages)} messages recorded, {len(now.messages)} "
                     f"replayed; first differences at {shown}{more}")
    return found


def _final(final: Final | None) -> str:
    if final is None:
        return "no final"
    return f"{final.stop_reason}, {len(final.code.splitlines())} lines of code"


def _at(messages: list[Any], index: int) -> str:
    if index >= len(messages):
        return f"#{index + 1} (missing)"
    m = messages[index]
    return f"#{index + 1} {m.sender} · {m.kind}" + (f" [{m.branch}]" if m.branch else "")


def grade_outcome(outcome: ReplayOutcome, team: TeamSpec, tasks: Sequence[EvalTask] = ()) -> Grade:
    """Grade a replay's final code against its tests.

    On the hidden tests of the task in ``tasks`` whose prompt is the cassette's task, run for real in the sandbox;
    without one, on what the run's final carries (its own tests, as the recorded run's sandbox ran them).

    Raises:
        SandboxError: the sandbox cannot run code here (hidden tests only).
    """
    final = outcome.result.final
    task = next((t for t in tasks if t.prompt.strip() == outcome.recording.task.strip()), None)
    if task is not None:
        from studio.eval import grade

        if final is None or not final.code.strip():
            return Grade(False, "hidden tests", "no final code to test")
        with tempfile.TemporaryDirectory(prefix="huddle-test-") as scratch:
            ok, total, reason = grade(task, final.code, team.sandbox, Path(scratch), outcome.recording.run_id)
        return Grade(not reason, "hidden tests", reason or f"{ok} of {total} passed (task {task.id})")
    how = "the run's final"
    if final is None:
        return Grade(False, how, f"no final message (status {outcome.result.status})")
    if outcome.result.status == "unsolved":
        return Grade(False, how, f"the final code fails the task's tests ({final.passed} passed, {final.failed} "
                                 "failed)")
    if not final.executed:
        return Grade(False, how, "the final code never ran, so nothing says it works; give the task's hidden "
                                 "tests with --tasks FILE")
    ran = f"{final.passed} passed, {final.failed} failed, exit {final.exit_code}"
    return Grade(final.failed == 0 and final.exit_code in (0, None), how, ran)


def check_cassette(source: str | Path | Recording, team: TeamSpec, *, tests: bool = False,
                   tasks: Sequence[EvalTask] = ()) -> CassetteCheck:
    """Replay one cassette against ``team`` and say what drifted.

    Args:
        source: a cassette file, a run id, or a loaded :class:`Recording`.
        team: the team as it is now.
        tests: also grade the outcome (see :func:`grade_outcome`).
        tasks: eval tasks carrying hidden tests, matched to the cassette by its task's prompt.

    Raises:
        CassetteError: the cassette cannot be read, or was recorded by another team.
    """
    recording = source if isinstance(source, Recording) else load_recording(source)
    started = time.perf_counter()
    outcome = replay(recording, spec=team)
    ms = (time.perf_counter() - started) * 1000
    check = CassetteCheck(Path(recording.source), recording, outcome, ms, drift(outcome))
    if outcome.diverged is not None:
        check.diff = redact(request_diff(outcome.diverged))  # the new request is not from the (redacted) log
    elif tests:
        check.grade = grade_outcome(outcome, team, tasks)
        if not check.grade.passed:
            check.problems.append(check.grade.line())
    return check


def assert_replays(team: str | Path | TeamSpec, cassette: str | Path, *, tests: bool = False,
                   tasks: str | Path | Sequence[EvalTask] = ()) -> ReplayOutcome:
    """Replay ``cassette`` against ``team``; raise ``AssertionError`` naming the drift when it is not the recording.

    The ``huddle_replay`` fixture of Huddle's pytest plugin. Nothing is called: no model, no cost, no key.

    Args:
        team: the team file (or spec) as it is now.
        cassette: a cassette file (``huddle runs export-cassette RUN -o FILE``).
        tests: also fail when the outcome fails its tests.
        tasks: an eval task file (or its tasks) with the hidden tests; implies ``tests``.

    Returns:
        The replay's outcome, for more checks of your own.

    Raises:
        AssertionError: the replay drifted: the role and call whose request changed, with the diff of the two
            requests, or what about the outcome changed.
        CassetteError: the cassette cannot be read, or was recorded by another team.
    """
    spec = team if isinstance(team, TeamSpec) else load_spec(team)
    if isinstance(tasks, (str, Path)):
        from studio.eval import load_tasks

        tasks = load_tasks(tasks)
    check = check_cassette(cassette, spec, tests=tests or bool(tasks), tasks=tasks)
    if not check.ok:
        raise AssertionError(check.message())
    return check.outcome
