"""A real PostgreSQL server (Debian's ``postgresql``) on a free loopback port, for the tests of the Postgres store.

Never a fake: ``initdb`` into a temporary folder, ``postgres`` on 127.0.0.1 for the whole session, stopped at the
end. As root (CI), the server runs as the ``postgres`` user: initdb refuses root. Logins over TCP need a password
(scram), so a wrong one is refused as on a real deployment. Each test gets a schema of its own
(:func:`pg_url`): creating one is instant, and nothing a test writes is seen by another. Without the binaries the
tests fail, saying how to install them (CI installs them: ``scripts/system-deps.sh``).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from _procs import free_port, stop, wait_until_ready

INSTALL = ("PostgreSQL is not installed: apt-get install postgresql (the Postgres store tests start a real server; "
           "scripts/system-deps.sh installs it)")
USER, PASSWORD = "huddle", "pg-test-s3cret"


def pg_binary(name: str) -> str:
    """A PostgreSQL program from PATH, else Debian's ``/usr/lib/postgresql/*/bin`` (the newest)."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                        None)
    if found is None:
        pytest.fail(INSTALL)
    return found


def _as_owner() -> dict:
    """Popen's arguments that run a program as ``postgres`` when we are root (initdb and postgres refuse root).

    The server is then our child itself (not under ``runuser``), so a signal we send reaches it.
    """
    return {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}


def start_postgres(*settings: str) -> tuple[subprocess.Popen, str, str]:
    """Start a private cluster on a free loopback port; (process, URL with the password, its data folder).

    ``settings`` are more ``-c name=value`` options. The folder is made under /tmp, since the ``postgres`` user
    cannot enter pytest's private folders.
    """
    folder = Path(tempfile.mkdtemp(prefix="huddle-pg-"))
    data = folder / "data"
    (folder / "pw").write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(folder / "pw", "postgres")
    done = subprocess.run([pg_binary("initdb"), "-D", str(data), "-U", USER, "--pwfile", str(folder / "pw"),
                           "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
                          capture_output=True, text=True, cwd=folder, **_as_owner())
    if done.returncode:
        pytest.fail(f"initdb failed ({done.returncode}): {done.stderr[-2000:]}")
    port = free_port()
    options = ["-c", f"port={port}", "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}",
               "-c", "fsync=off", "-c", "max_connections=200"]
    for setting in settings:
        options += ["-c", setting]
    log = open(folder / "server.log", "w")  # noqa: SIM115 - the server writes to it until it stops
    if os.geteuid() == 0:
        shutil.chown(folder / "server.log", "postgres")
    proc = subprocess.Popen([pg_binary("postgres"), "-D", str(data), *options], stdout=log, stderr=subprocess.STDOUT,
                            cwd=folder, **_as_owner())
    url = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres"

    def accepts() -> bool:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    wait_until_ready(proc, accepts, "postgres", folder / "server.log", 30, "accept a login", poll_s=0.1)
    return proc, url, str(folder)


def stop_postgres(proc: subprocess.Popen, folder: str) -> None:
    """Stop the server (a fast shutdown: SIGINT; it does not wait for clients) and remove its folder."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop(proc)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL (with its password) of the session's private PostgreSQL server."""
    proc, url, folder = start_postgres()
    yield url
    stop_postgres(proc, folder)


def schema_url(server: str) -> str:
    """``server``'s URL on a new, empty schema of its own (tables made there are this caller's only)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{server}?options=-csearch_path%3D{name}"


@pytest.fixture
def pg_url(postgres_server) -> str:
    """A Postgres store URL of this test's own (an empty schema on the session's server)."""
    return schema_url(postgres_server)
