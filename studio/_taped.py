"""What a run's calls go through so that its :class:`~studio._tape.Tape` sees them, and how their results are kept.

The runner wraps the gateway, the sandbox and the team memory of every run in these; each call goes through the
tape (recorded, or served from a cassette), everything else reaches the wrapped object as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memory.items import Hit
from sandbox.result import ExecResult, TestOutcome
from studio.llm.gateway import Completion, ToolCallRequest
from studio.messages import Usage

__all__ = ["TapedGateway", "TapedMemory", "TapedSandbox", "completion", "completion_data", "exec_data",
           "exec_result"]


class TapedGateway:
    """A gateway whose ``complete`` goes through a :class:`Tape`; everything else is the gateway's own."""

    def __init__(self, gateway: Any, tape: Any):
        self._gateway, self._tape = gateway, tape

    def complete(self, model: str, messages: list[dict[str, Any]], **options: Any) -> Completion:
        """See :meth:`studio.llm.Gateway.complete`."""
        return self._tape.complete(self._gateway, model, messages, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)


class TapedSandbox:
    """A sandbox whose ``run`` goes through a :class:`Tape`; everything else is the sandbox's own."""

    def __init__(self, sandbox: Any, tape: Any):
        self._sandbox, self._tape = sandbox, tape

    def run(self, files: dict[str, str], *, entry: str = "solution.py", tests: Sequence[str] = (),
            name: str = "exec") -> ExecResult:
        """See :meth:`sandbox.Sandbox.run`."""
        return self._tape.sandbox_run(self._sandbox, files, entry=entry, tests=tests, name=name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sandbox, name)


class TapedMemory:
    """A team memory whose ``search`` goes through a :class:`Tape` (``memory`` ``None``: a replay without one)."""

    def __init__(self, memory: Any, tape: Any):
        self._memory, self._tape = memory, tape

    @property
    def writes(self) -> int:
        """Writes so far (a replay writes nothing)."""
        return self._memory.writes if self._memory is not None else 0

    def search(self, query: str, k: int = 5, *, collections: Sequence[str] = (), min_score: float | None = None,
               **options: Any) -> list[Hit]:
        """See :meth:`memory.VectorMemory.search`."""
        return self._tape.search(self._memory, query, k, collections, min_score, **options)

    def __getattr__(self, name: str) -> Any:
        if self._memory is None:
            raise AttributeError(f"a replayed run has no memory to {name}")
        return getattr(self._memory, name)


def completion_data(reply: Completion) -> dict[str, Any]:
    return {"text": reply.text, "usage": reply.usage.model_dump(mode="json"),
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.tool_calls]}


def completion(data: dict[str, Any]) -> Completion:
    calls = tuple(ToolCallRequest(c["id"], c["name"], c.get("arguments") or {}) for c in data.get("tool_calls", []))
    return Completion(text=data["text"], usage=Usage.model_validate(data["usage"]), tool_calls=calls)


def exec_data(result: ExecResult) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["workspace"] = str(result.workspace) if result.workspace is not None else None
    return data


def exec_result(data: dict[str, Any]) -> ExecResult:
    fields = {f.name for f in dataclasses.fields(ExecResult)}
    data = {k: v for k, v in data.items() if k in fields}
    if data.get("tests") is not None:
        data["tests"] = [TestOutcome(**t) for t in data["tests"]]
    if data.get("workspace") is not None:
        data["workspace"] = Path(data["workspace"])
    return ExecResult(**data)
