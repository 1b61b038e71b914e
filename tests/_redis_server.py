"""A real ``redis-server`` (the Debian package) on a free loopback port, for the tests of the Redis bus.

Never a fake: the tests exercise the server's own streams, groups and Lua.
Without redis-server the tests fail, saying how to install it (CI installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from _procs import free_port, stop, wait_until_ready

INSTALL = "redis-server is not installed: apt-get install redis-server (the Redis bus tests start a real one)"


def start_redis_server(folder: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """Start redis-server on a free loopback port, in memory only; (process, URL) once it answers PING.

    ``args`` are more options (``--requirepass``, …).
    """
    exe = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if exe is None:
        pytest.fail(INSTALL)
    port = free_port()
    log = open(folder / "redis.log", "w")  # noqa: SIM115 - the server writes to it until it stops
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder), *args], stdout=log, stderr=subprocess.STDOUT)

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    wait_until_ready(proc, answers, "redis-server", folder / "redis.log", 20, "answer PING")
    return proc, f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """The URL of a real redis-server on loopback, for the whole session."""
    proc, url = start_redis_server(tmp_path_factory.mktemp("redis-server"))
    yield url
    stop(proc)
