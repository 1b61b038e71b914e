"""What every test that starts a real server needs: a free loopback port, and a way to stop the process."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ctrl_c_as_in_a_terminal() -> None:
    """``preexec_fn`` for a child that a test stops with SIGINT: the signal's default action, as a terminal gives.

    A shell that started the test runner in the background (``nohup``, ``&``) ignores SIGINT, children inherit that,
    and Python leaves an ignored SIGINT ignored: the child would run on as if Ctrl-C never came.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(proc: subprocess.Popen) -> None:
    """Stop a server started by a test: terminate, then kill if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def wait_until_ready(proc: subprocess.Popen, ready: Callable[[], bool], name: str, log: Path, within_s: float,
                     waiting_for: str, poll_s: float = 0.05) -> None:
    """Poll ``ready()`` until it is true; fail the test (with the server's log) if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + within_s
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{name} did not {waiting_for} within {within_s:g} s")
        time.sleep(poll_s)
