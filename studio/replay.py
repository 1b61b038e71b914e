"""Replay a recorded run without a model, and fork a run at any message.

A run's cassette is its messages and the records of its calls (``studio._tape``). :func:`replay` runs a team
again with every model call, tool result, sandbox result and memory search served from the cassette: no model
call, no cost, the same transcript. A team whose prompts, roles or flow changed stops at the first model call
whose request no longer matches (:class:`ReplayDiverged` names the role; :func:`request_diff` shows the two
requests), or goes on from there with a real model. :func:`fork_run` starts a new run whose messages up to a
given one are served from the parent's cassette, and the rest made live, with a changed model or spec.

Example:
    >>> same_message({"kind": "task", "id": "a", "content": "x"}, {"kind": "task", "id": "b", "content": "x"})
    True
"""

from __future__ import annotations

import difflib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio._run_state import keep_local, release
from studio._tape import Cassette, ReplayDiverged, Tape
from studio.bus.sqlite import calls_per_sender
from studio.llm import Gateway
from studio.messages import Message, Task, message_from_json, message_to_json
from studio.runner import ApprovalDecision, RunNotFound, RunResult, resume_run, run_team, shared_store
from studio.safe_input import InputError, read_text
from studio.spec import SpecError, TeamSpec, parse_spec

__all__ = ["CassetteError", "Recording", "ReplayDiverged", "ReplayOutcome", "fork_run", "load_recording",
           "recording_of_run", "replay", "request_diff", "same_message", "write_cassette"]

FORMAT = 1
"""Version of the cassette file format (JSON lines: a header, the calls, the messages, an end line)."""
CASSETTE_BYTES = 500_000_000
"""Largest cassette read (500 MB: a long run's prompts add up)."""
_VOLATILE = {"id", "run_id", "parent_id", "created_at"}


class CassetteError(ValueError):
    """A cassette that cannot be used: not one, truncated, from another team, or a run id not in the log."""


@dataclass
class Recording:
    """A recorded run: who ran what, its messages and its calls."""

    run_id: str
    team: str
    task: str
    model: str | None
    status: str
    spec: dict[str, Any]
    messages: list[Message]
    calls: list[dict[str, Any]]
    source: str = ""
    """Where it came from: ``run ID`` or the cassette's file."""

    def cassette(self) -> Cassette:
        """The calls, ready to serve."""
        return Cassette(self.calls, self.messages)


def recording_of_run(run_id: str, home: str | Path | None = None) -> Recording:
    """The recording of a run in the run log (a unique id prefix is enough).

    Raises:
        RunNotFound: no such run.
    """
    from studio.home import huddle_home

    log = shared_store(huddle_home(home))
    info = log.get_run(run_id)
    if info is None:
        raise RunNotFound(f"no run {run_id!r} in {log.path} (or the prefix is ambiguous); see `huddle runs list`")
    return Recording(info.run_id, info.team, info.task, info.model, info.status, info.spec,
                     log.messages(info.run_id), log.calls(info.run_id), source=f"run {info.run_id}")


def write_cassette(recording: Recording, path: str | Path) -> Path:
    """Write ``recording`` as a cassette file (JSON lines, secrets already redacted in the log); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {"huddle_cassette": FORMAT, "run_id": recording.run_id, "team": recording.team, "task": recording.task,
            "model": recording.model, "status": recording.status, "spec": recording.spec}
    lines = [json.dumps(head, ensure_ascii=False)]
    lines += [json.dumps({"call": call}, ensure_ascii=False) for call in recording.calls]
    lines += [json.dumps({"message": json.loads(message_to_json(m))}, ensure_ascii=False)
              for m in recording.messages]
    lines.append(json.dumps({"end": {"calls": len(recording.calls), "messages": len(recording.messages)}}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_recording(source: str | Path, home: str | Path | None = None) -> Recording:
    """A run id in the log, or a cassette file.

    Raises:
        CassetteError: the file is not a cassette, or is cut short (it says where).
        RunNotFound: neither a file nor a run in the log.
    """
    path = Path(source)
    if not path.is_file():
        return recording_of_run(str(source), home)
    try:
        text = read_text(path, CASSETTE_BYTES)
    except OSError as exc:
        raise CassetteError(f"cassette {path}: cannot read it ({exc.strerror or exc})") from None
    except InputError as exc:
        raise CassetteError(f"cassette {path}: {exc}") from None
    head: dict[str, Any] | None = None
    calls: list[dict[str, Any]] = []
    messages: list[Message] = []
    end: dict[str, Any] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise CassetteError(f"{path}, line {number}: not JSON (the file is cut short or not a cassette)") from None
        if head is None:
            if not isinstance(row, dict) or row.get("huddle_cassette") != FORMAT:
                raise CassetteError(f"{path}: not a Huddle cassette (its first line has no huddle_cassette: "
                                    f"{FORMAT}); write one with `huddle runs export-cassette RUN -o FILE`")
            head = row
        elif "call" in row:
            calls.append(row["call"])
        elif "message" in row:
            messages.append(message_from_json(json.dumps(row["message"])))
        elif "end" in row:
            end = row["end"]
    if head is None:
        raise CassetteError(f"{path}: empty; not a cassette")
    if end is None or end.get("calls") != len(calls) or end.get("messages") != len(messages):
        raise CassetteError(f"{path}: truncated (it has {len(calls)} calls and {len(messages)} messages, and "
                            "no end line that counts them); export it again")
    return Recording(head["run_id"], head["team"], head["task"], head.get("model"), head.get("status", ""),
                     head["spec"], messages, calls, source=str(path))


@dataclass
class ReplayOutcome:
    """What a replay gave: its run, whether its transcript is the recording's, and where it diverged."""

    result: RunResult
    recording: Recording
    diverged: ReplayDiverged | None = None
    served: int = 0
    """Calls served from the cassette (model calls, tools, sandbox runs, memory searches)."""
    differences: list[int] = field(default_factory=list)
    """Positions where the replayed transcript differs from the recorded one."""

    @property
    def same(self) -> bool:
        """No divergence, and the same messages as the recording."""
        return self.diverged is None and not self.differences and self.result.status == self.recording.status


def replay(source: str | Path | Recording, *, spec: TeamSpec | None = None, live_model: str | None = None,
           home: str | Path | None = None, keep: bool = False) -> ReplayOutcome:
    """Run a recorded run's team again with every call served from its cassette.

    Args:
        source: a run id, a cassette file, or a :class:`Recording`.
        spec: the team to replay (a changed one: replay stops where its requests differ); the recording's own
            by default.
        live_model: go on from the first divergent call with this model, for real (the run is kept).
        home: where the run log is (``$HUDDLE_HOME`` by default).
        keep: keep the replayed run in the run log (for ``huddle runs diff``); otherwise it runs in a
            scratch folder and leaves nothing behind.

    Raises:
        CassetteError: a cassette from another team, or one that cannot be read.
    """
    recording = source if isinstance(source, Recording) else load_recording(source, home)
    if spec is None:
        spec = parse_spec(recording.spec, recording.source)
    elif spec.name != recording.team:
        raise CassetteError(f"{recording.source} was recorded by team {recording.team!r}, not {spec.name!r}; "
                            "replay it with that team's file")
    tape = Tape(recording.cassette(), live_model=live_model)
    scratch = None if keep or live_model else tempfile.TemporaryDirectory(prefix="huddle-replay-")
    try:
        where = scratch.name if scratch is not None else home
        if scratch is not None:
            keep_local(scratch.name)  # nothing of the replay reaches a shared bus or store
        try:
            result = run_team(spec, recording.task, model=recording.model, home=where, tape=tape,
                              gateway=Gateway(spec.defaults.max_concurrency))
            answers = iter(tape.source.decisions if tape.source else [])
            while result.status == "waiting" and (answer := next(answers, None)) is not None:
                tape.served += 1  # the person's recorded answer, given again
                result = resume_run(result.run_id, home=where, tape=tape,
                                    decision=ApprovalDecision.from_resume(answer))
        except ReplayDiverged as exc:
            tape.diverged = tape.diverged or exc
            result = RunResult("", "diverged", [], error=str(exc))
    finally:
        if scratch is not None:
            release(scratch.name)  # its run log and checkpoints, closed
            scratch.cleanup()
    differences = [] if tape.diverged else _differences(recording.messages, result.messages)
    return ReplayOutcome(result, recording, tape.diverged, tape.served, differences)


def fork_run(source: str | Recording, at: str, *, model: str | None = None, spec: TeamSpec | None = None,
             home: str | Path | None = None, **options: Any) -> RunResult:
    """A new run whose messages up to message ``at`` are the parent's (served, free), the rest live.

    Args:
        source: the parent run's id (or its recording).
        at: the id (or a unique prefix) of the parent's message to fork at; it is the last one kept.
        model: the model for the live part (the parent's by default).
        spec: the changed team for the new run (the parent's by default).
        home: where the run log is.
        options: passed to :func:`studio.runner.run_team` (``on_message``, ``on_turn``, ``budget``...).

    Raises:
        CassetteError: ``at`` is not a message of the run.
    """
    recording = source if isinstance(source, Recording) else recording_of_run(source, home)
    matches = [i for i, m in enumerate(recording.messages) if m.id == at] or \
        [i for i, m in enumerate(recording.messages) if m.id.startswith(at)]
    if len(matches) != 1:
        which = "is ambiguous among" if matches else "is not a message of"
        raise CassetteError(f"message {at!r} {which} run {recording.run_id}; `huddle runs show "
                            f"{recording.run_id} --json` lists their ids")
    position = matches[0]
    kept = recording.messages[: position + 1]
    spec = spec if spec is not None else parse_spec(recording.spec, recording.source)
    task = next((m.content for m in kept if isinstance(m, Task)), recording.task)
    gateway = Gateway(spec.defaults.max_concurrency, scripted_start=calls_per_sender(kept),
                      limits=spec.defaults.providers)
    tape = Tape(recording.cassette(), strict=False, fork_after=position + 1)
    return run_team(spec, task, model=model or recording.model, home=home, tape=tape, gateway=gateway,
                    parent=(recording.run_id, recording.messages[position].id), **options)


def same_message(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two messages (as JSON objects) say the same: ids, times and latencies left out."""
    return _content(a) == _content(b)


def _content(message: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in message.items() if k not in _VOLATILE and not k.endswith(("_id", "_ids"))
           or k == "memory_ids"}
    if isinstance(out.get("usage"), dict):
        out["usage"] = {k: v for k, v in out["usage"].items() if k not in ("latency_ms", "queue_ms")}
    return out


def _differences(recorded: list[Message], replayed: list[Message]) -> list[int]:
    # Parallel branches interleave differently from run to run: compare the main line, then each branch, in order
    # (positions are the replayed transcript's).
    def lines(messages: list[Message]) -> list[tuple[int, dict[str, Any]]]:
        order = sorted(range(len(messages)), key=lambda i: (messages[i].branch, i))
        return [(i, json.loads(message_to_json(messages[i]))) for i in order]

    a, b = lines(recorded), lines(replayed)
    out = sorted(j for (_, x), (j, y) in zip(a, b, strict=False)
                 if x.get("branch") != y.get("branch") or not same_message(x, y))
    if len(a) != len(b):
        out.append(min(len(a), len(b)))
    return out


def request_diff(divergence: ReplayDiverged) -> str:
    """The recorded and the new request of a divergent call, as a unified diff of their readable lines."""
    return "\n".join(difflib.unified_diff(_lines(divergence.recorded), _lines(divergence.asked),
                                          "recorded", "now", lineterm="", n=2))


_FENCE = re.compile(r"data-[0-9a-f]{12}")


def _lines(request: dict[str, Any] | None) -> list[str]:
    if request is None:
        return []
    lines = [f"model: {request.get('model')}", f"temperature: {request.get('temperature')}",
             f"max_tokens: {request.get('max_tokens')}"]
    for message in request.get("messages") or []:
        lines.append(f"[{message.get('role')}]")
        lines += _FENCE.sub("data-fence", str(message.get("content") or "")).splitlines()
    if request.get("schema"):
        lines.append("schema: " + json.dumps(request["schema"], sort_keys=True))
    if request.get("tools"):
        lines.append("tools: " + json.dumps(request["tools"], sort_keys=True))
    return lines


def parse_sets(spec: TeamSpec, sets: list[str]) -> TeamSpec:
    """``spec`` with ``path=value`` edits (``roles.coder.instructions=Be brief``, ``flow.max_rounds=3``).

    Raises:
        SpecError: an edit that is not ``path=value``, names nothing in the spec, or leaves it invalid.
    """
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    for item in sets:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise SpecError("--set", [f"{item!r}: expected PATH=VALUE, e.g. roles.coder.instructions=Be brief"])
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        _assign(data, path.split("."), value, item)
    return parse_spec(data, "--set")


def _assign(data: Any, parts: list[str], value: Any, item: str) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(data, list):  # roles.NAME: the role of that name
        found = next((r for r in data if isinstance(r, dict) and r.get("name") == head), None)
        if found is None:
            raise SpecError("--set", [f"{item!r}: no role named {head!r}"])
        _assign(found, rest, value, item) if rest else None
        return
    if not isinstance(data, dict):
        raise SpecError("--set", [f"{item!r}: {head!r} is not inside a mapping"])
    if not rest:
        data[head] = value
        return
    if head not in data:
        data[head] = {}
    _assign(data[head], rest, value, item)
