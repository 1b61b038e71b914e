"""``huddle sandbox check`` and ``huddle sandbox run`` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")

HUDDLE = str(Path(sys.executable).parent / "huddle")


def huddle(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HUDDLE_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([HUDDLE, "sandbox", *args], capture_output=True, text=True, env=env, timeout=120)


def test_check_reports_the_isolation_of_this_machine(home):
    out = huddle("check", "--json", home=home)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert {k: report[k]["ok"] for k in ("network", "filesystem", "processes", "start-up")} == {
        "network": True, "filesystem": True, "processes": True, "start-up": True}
    human = huddle("check", home=home)
    assert "own PID namespace" in human.stdout and "private root" in human.stdout


def test_run_a_file_with_tests_and_see_each_outcome(home, tmp_path):
    (tmp_path / "add.py").write_text("def add(a, b):\n    return a + b\nprint('loaded')\n")
    (tmp_path / "checks.py").write_text("assert add(1, 2) == 3\nassert add(1, 1) == 3\n")
    out = huddle("run", str(tmp_path / "add.py"), "--tests", str(tmp_path / "checks.py"), home=home)
    assert out.returncode == 1  # one test fails
    assert "loaded" in out.stdout and "where add(1, 1) = 2" in out.stdout and "1 passed, 1 failed" in out.stdout
    data = json.loads(huddle("run", str(tmp_path / "add.py"), "--json", home=home).stdout)
    assert data["ok"] and data["stdout"] == "loaded\n" and data["workspace"].startswith(str(home / "workspaces"))


def test_run_uses_the_team_limits(home, tmp_path):
    team = tmp_path / "team.yaml"
    team.write_text("name: t\nroles: [{name: c, kind: coder}]\nsandbox: {timeout_s: 1, cpu_s: 5}\n")
    (tmp_path / "spin.py").write_text("while True:\n    pass\n")
    out = huddle("run", str(tmp_path / "spin.py"), "--team", str(team), home=home)
    assert out.returncode == 1 and "wall-clock limit" in out.stdout


def test_user_mistakes_exit_2_with_the_reason(home, tmp_path):
    missing = huddle("run", str(tmp_path / "nope.py"), home=home)
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "nope.py" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nroles: [{name: c, kind: coder}]\nsandbox: {timeout_s: -1}\n")
    (tmp_path / "ok.py").write_text("pass\n")
    out = huddle("run", str(tmp_path / "ok.py"), "--team", str(bad), home=home)
    assert out.returncode == 2 and "sandbox.timeout_s" in out.stderr
