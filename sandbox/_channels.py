"""The parent's side of the channels a sandbox reports on: pipes and unlinked output files the code cannot redirect.

Nothing here opens a path the code could have touched. Stdout and stderr are
unlinked temporary files the parent created before the code started
(:func:`output_file`) and reads back through its own descriptor; the status
and verdict lines come on pipes the parent created (:func:`collect`).
"""

from __future__ import annotations

import json
import os
import select
import signal
import tempfile
import time
from pathlib import Path

__all__ = ["collect", "lines", "output_file", "read_capped"]

TEARDOWN_S = 10.0
"""After the deadline, how long to wait for the kernel to remove every process the code started
(a fork bomb takes it a second or two)."""
MAX_REPORT = 16 << 20
"""Bytes kept of the status and verdict pipes; the rest is left unread."""


def output_file() -> int:
    """A descriptor on a new file with no name (``O_TMPFILE`` where the OS has it), for the code's output."""
    handle = tempfile.TemporaryFile(prefix="huddle-out-")
    fd = os.dup(handle.fileno())  # os.dup gives a non-inheritable copy; the file object closes its own
    handle.close()
    return fd


def read_capped(fd: int, cap: int) -> tuple[str, bool, int]:
    """The text written to ``fd``, its middle cut to ``cap`` bytes with a marker; whether it was cut; its size."""
    size = os.fstat(fd).st_size
    if size <= cap:
        return os.pread(fd, size, 0).decode("utf-8", "replace"), False, size
    head, tail = os.pread(fd, cap // 2, 0), os.pread(fd, cap // 2, size - cap // 2)
    marker = f"\n[... {size - len(head) - len(tail):,} bytes cut by Huddle's sandbox ...]\n"
    return head.decode("utf-8", "replace") + marker + tail.decode("utf-8", "replace"), True, size


def lines(data: bytes) -> list[dict]:
    """The JSON objects of a report, one a line; anything else is skipped."""
    found = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def collect(status: int, verdicts: int | None, pid: int, deadline: float) -> tuple[bytes, bytes, bool, float | None]:
    """Read the sandbox's status and verdict pipes until it exits; at ``deadline``, kill the code and all it started.

    The code's first process is killed, not the sandbox's: the sandbox reaps it, which (as PID 1 of its
    namespace) happens only once every process it started is gone, then exits. Only if that takes
    longer than :data:`TEARDOWN_S` is the whole process group killed.

    Returns (status bytes, verdict bytes, timed_out, peak memory in KiB of the killed code).
    """
    data = {status: b"", **({verdicts: b""} if verdicts is not None else {})}
    if _read_until(data, status, deadline):
        return data[status], (data.get(verdicts, b"") if verdicts is not None else b""), False, None
    child = next((line["child"] for line in lines(data[status]) if isinstance(line.get("child"), int)), None)
    peak = _peak_kib(child) if child else None
    if child:
        _signal(child, signal.SIGKILL)
        ended = _read_until(data, status, time.perf_counter() + TEARDOWN_S)
    if not child or not ended:
        kill_group(pid)
    return data[status], (data.get(verdicts, b"") if verdicts is not None else b""), True, peak


def _read_until(data: dict[int, bytes], main: int, deadline: float) -> bool:
    """Append what arrives on each descriptor of ``data`` until ``main`` closes (True) or ``deadline`` passes.

    Once ``main`` closes, what the others still hold is read without waiting. ``poll``, not ``select``:
    a long-lived parent (the studio, a test session) may hold more than 1024 files.
    """
    waiting = select.poll()
    for fd in data:
        waiting.register(fd, select.POLLIN)
    open_fds = set(data)
    while open_fds:
        timeout = 0
        if main in open_fds:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            timeout = max(1, int(left * 1000))
        ready = waiting.poll(timeout)
        if not ready and main not in open_fds:
            return True
        for fd, _ in ready:
            chunk = os.read(fd, 65536)
            if not chunk or len(data[fd]) >= MAX_REPORT:
                waiting.unregister(fd)
                open_fds.discard(fd)
            else:
                data[fd] += chunk
    return True


def _peak_kib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((float(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in the sandbox's process group."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
