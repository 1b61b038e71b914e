"""``scripts/system-deps.sh``: what CI installs before the tests (redis-server, postgresql, …) when missing."""

from __future__ import annotations

import os
import subprocess

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "system-deps.sh"


def _deps(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def test_nothing_to_do_when_every_package_is_there():
    done = _deps()  # this machine has what the tests need, PostgreSQL's initdb in /usr/lib/postgresql included
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_missing_package_without_root_prints_the_one_command_to_run():
    done = _deps(HUDDLE_DEPS_PRETEND_MISSING="postgresql redis-server", HUDDLE_DEPS_PRETEND_UID="1000")
    assert done.returncode == 1
    assert "sudo apt-get update && sudo apt-get install -y postgresql redis-server" in done.stderr


def test_postgresql_is_found_off_path_where_debian_puts_it():
    path = ":".join(p for p in os.environ["PATH"].split(":") if not os.path.exists(os.path.join(p, "initdb")))
    done = _deps(PATH=path, HUDDLE_DEPS_PRETEND_UID="1000")
    assert done.returncode == 0, done.stderr
