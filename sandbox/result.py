r"""What one execution produced: exit code, output, limits hit, test outcomes, and how isolated it was.

Example:
    >>> r = ExecResult(exit_code=0, stdout="hi\n", stderr="", duration_s=0.03, peak_memory_mb=9.5)
    >>> r.ok, r.summary()
    (True, 'exit 0 · 30 ms · 9.5 MB')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["LIMIT_TEXT", "ExecResult", "Limit", "TestOutcome"]

Limit = Literal["timeout", "cpu", "memory", "file_size", "output", "processes", "open_files", "disk"]

LIMIT_TEXT: dict[str, str] = {
    "timeout": "the wall-clock limit was reached and every process it started was killed",
    "cpu": "the CPU-time limit was reached",
    "memory": "the memory limit was reached",
    "file_size": "the file-size limit was reached",
    "output": "the output limit was reached",
    "processes": "the process limit was reached",
    "open_files": "the open-files limit was reached",
    "disk": "the workspace's disk quota was reached",
}
"""Why a run was stopped, as a sentence for people and prompts."""


@dataclass(frozen=True)
class TestOutcome:
    """One test: its name, whether it passed, and why not."""

    __test__ = False  # not a pytest test class

    name: str
    """Where it came from (the sandbox harness names them): ``test_add``, a function of the code itself;
    ``test_task.py:4`` or ``test_task.py:test_add``, an assert line or a function of that test file;
    ``test_task.py``, the file failing as a whole; ``import solution``, the code failing to import."""
    ok: bool
    message: str = ""

    @property
    def from_code(self) -> bool:
        """Whether it is one of the code's own ``test_`` functions (not a test file's, not the import)."""
        return self.name.isidentifier()

    @property
    def import_failed(self) -> bool:
        """Whether it is the code failing to import (every test then fails with it)."""
        return self.name == "import solution"

    def of_file(self, file: str) -> bool:
        """Whether it came from test file ``file``: one of its asserts or functions, or the file as a whole."""
        return self.name == file or self.name.startswith(file + ":")


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one sandboxed execution."""

    exit_code: int | None
    """Exit status; negative for a signal (``-9`` is SIGKILL); ``None`` if it never started."""
    stdout: str
    stderr: str
    duration_s: float
    peak_memory_mb: float
    limit: Limit | None = None
    """The limit that stopped the code, if one did."""
    tests: list[TestOutcome] | None = None
    """Test outcomes when tests ran (``None`` for a plain script)."""
    truncated: bool = False
    """Whether stdout or stderr was cut to the output limit."""
    network: Literal["cut", "tcp-blocked", "open"] = "open"
    """``cut``: a network namespace with no interfaces; ``tcp-blocked``: Landlock refused TCP; ``open``: neither."""
    filesystem: Literal["isolated", "private-root", "landlock", "open"] = "open"
    """``isolated``: a private root holding only the interpreter, the system folders (read-only) and the
    workspace, with Landlock on top; ``private-root`` or ``landlock``: one of the two; ``open``: neither."""
    processes_contained: bool = False
    """Whether the code ran in its own PID namespace, so nothing it started can outlive it."""
    workspace: Path | None = None
    pid: int | None = None
    """Process id (and process group) of the sandbox's first process."""
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        """Tests that passed."""
        return sum(t.ok for t in self.tests or [])

    @property
    def failed(self) -> int:
        """Tests that failed (errors included)."""
        return sum(not t.ok for t in self.tests or [])

    @property
    def ok(self) -> bool:
        """Exit status 0, no limit hit, and no failed test."""
        return self.exit_code == 0 and self.limit is None and self.failed == 0

    @property
    def network_isolated(self) -> bool:
        """Whether the code had no way onto the network (or at least none over TCP)."""
        return self.network != "open"

    def summary(self) -> str:
        """One line: exit status, tests, limit, time and memory."""
        parts = [f"exit {self.exit_code}" if self.exit_code is not None else "did not finish"]
        if self.tests is not None:
            parts.append(f"{self.passed} passed, {self.failed} failed")
        if self.limit:
            parts.append(f"stopped: {self.limit}")
        parts += [f"{self.duration_s * 1000:.0f} ms", f"{self.peak_memory_mb:.1f} MB"]
        return " · ".join(parts)
