"""``huddle ui``: it serves the studio on loopback, prints the address, and refuses bad input with exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HUDDLE = str(Path(sys.executable).parent / "huddle")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ui(home: Path, *args: str) -> tuple[subprocess.Popen, int]:
    """``huddle ui`` on a free loopback port, once it answers HTTP; the caller stops it."""
    port = free_port()
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    proc = subprocess.Popen([HUDDLE, "ui", "--port", str(port), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return proc, port
        except OSError:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("huddle ui did not answer within 60 s")


def stop_ui(proc: subprocess.Popen) -> str:
    os.killpg(proc.pid, 2)
    out, _ = proc.communicate(timeout=20)
    return out


def test_ui_serves_on_loopback_and_prints_the_address(home, dev_team_file):
    proc, port = start_ui(home, "--team", str(dev_team_file))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        local = [line.split()[3] for line in listening.splitlines()]
        assert local and all(a.startswith("127.0.0.1:") for a in local)  # bound to loopback only
    finally:
        out = stop_ui(proc)
    assert f"Huddle studio: http://127.0.0.1:{port}" in out


def test_a_bad_team_file_or_a_busy_port_exits_2(home, tmp_path):
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nroles: [{name: c, kind: coderr}]\n")
    out = subprocess.run([HUDDLE, "ui", "--team", str(bad)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and "roles[0].kind" in out.stderr and str(bad) in out.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([HUDDLE, "ui", "--port", str(port)], capture_output=True, text=True, env=env,
                             timeout=60)
    assert out.returncode == 2 and f"127.0.0.1:{port}" in out.stderr and "--port" in out.stderr


def test_a_public_address_without_a_token_or_insecure_exits_2_and_serves_nothing(home):
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    port = free_port()
    out = subprocess.run([HUDDLE, "ui", "--host", "0.0.0.0", "--port", str(port)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--host 0.0.0.0 lets other machines in" in out.stderr and "--token-env NAME" in out.stderr
    assert "--insecure" in out.stderr and "Huddle studio:" not in out.stdout
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
    assert listening.strip() == ""


def test_a_new_token_reaches_the_studio_in_its_environment_never_its_command_line(home):
    proc, port = start_ui(home, "--new-token")
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert children, "huddle ui started no Streamlit process"
        cmdlines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children]
        environs = [Path(f"/proc/{pid}/environ").read_bytes() for pid in children]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert page.status == 200
    finally:
        os.killpg(proc.pid, 2)
        _, err = proc.communicate(timeout=20)
    [line] = [line for line in err.splitlines() if line.startswith("token (shown once")]
    token = line.split(": ", 1)[1]
    assert len(token) >= 40 and err.count(token) == 1
    assert not any(token.encode() in c for c in cmdlines)  # ps shows a command line to every user
    assert any(f"HUDDLE_UI_TOKEN={token}".encode() in e.split(b"\0") for e in environs)
