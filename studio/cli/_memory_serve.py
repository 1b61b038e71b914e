"""``huddle memory serve`` with a token: ``chroma run`` on a loopback port, the token proxy on the address asked for.

The Chroma server is a child process bound to ``127.0.0.1`` on a free port; it
dies with this process (``PR_SET_PDEATHSIG`` on Linux, and a ``finally`` everywhere).
Its own output goes to ``chroma.log`` in its data folder, not to the terminal.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from studio.cli._common import sigterm_as_ctrl_c
from studio.cli._token_proxy import token_proxy

__all__ = ["ServeError", "serve_with_token"]

_READY_S = 60


class ServeError(Exception):
    """The server could not be started (the CLI exits 2 with this message)."""


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when its parent dies (even by kill -9)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _wait_ready(port: int, child: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + _READY_S
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).read()
            return
        except OSError:
            if child.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                raise ServeError(f"`chroma run` exited with {child.returncode}: {' / '.join(tail) or 'no output'} "
                                 f"(see {log})") from None
            if time.monotonic() > deadline:
                raise ServeError(f"`chroma run` did not answer within {_READY_S} s (see {log})") from None
            time.sleep(0.2)


def serve_with_token(exe: str, folder: Path, host: str, port: int, token: str, ready: Callable[[], None]) -> None:
    """Serve the Chroma data in ``folder`` on ``host:port`` to clients that send ``token``, until Ctrl-C or SIGTERM.

    Args:
        exe: the ``chroma`` command.
        folder: the server's data folder (it exists).
        host: the address clients connect to.
        port: the port clients connect to.
        token: what they must send.
        ready: called once the server answers (prints the address).

    Raises:
        OSError: ``host:port`` cannot be listened on.
        ServeError: ``chroma run`` exited or did not answer.
    """
    proxy = token_proxy(host, port, upstream_port=(upstream := _free_loopback_port()), token=token)
    log = folder / "chroma.log"
    with open(log, "ab") as out:
        child = subprocess.Popen([exe, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(upstream)],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    try:
        with sigterm_as_ctrl_c():  # given back before the cleanup below, as it was taken after the start
            _wait_ready(upstream, child, log)
            ready()
            proxy.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.server_close()
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
