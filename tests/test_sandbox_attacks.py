"""The attack suite: hostile code the sandbox must contain, with a clear result and nothing left behind.

Each attack runs through the public :class:`sandbox.Sandbox`. After every one,
no process of the sandbox's process group, and no process carrying the
attack's marker, may still exist.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from sandbox import Sandbox
from studio.spec_sandbox import SandboxSpec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")

SECRET = "sk-huddle-attack-suite-0123456789abcdef"


def _processes() -> list[tuple[int, int, str]]:
    """(pid, process group, command line) of every process on the machine."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        found.append((int(entry.name), int(fields[2]), cmdline))
    return found


def _survivors(result, marker: str = "") -> list[tuple[int, int, str]]:
    return [p for p in _processes() if p[1] == result.pid or (marker and marker in p[2])]


@pytest.fixture
def box(tmp_path) -> Sandbox:
    spec = SandboxSpec(timeout_s=2, cpu_s=1, memory_mb=256, file_size_mb=4, processes=16, max_output_kb=8)
    return Sandbox(spec, tmp_path / "workspaces")


def _run(box: Sandbox, code: str):
    result = box.run({"main.py": code}, entry="main.py")
    assert _survivors(result) == []
    return result


def test_infinite_loop_is_stopped(box):
    result = _run(box, "while True:\n    pass\n")
    assert result.limit in ("cpu", "timeout") and not result.ok
    assert result.duration_s < box.spec.timeout_s + 3


def test_sleeping_forever_hits_the_wall_clock(box):
    result = _run(box, "import time\ntime.sleep(3600)\n")
    assert result.limit == "timeout" and result.exit_code == -signal.SIGKILL
    assert result.duration_s < box.spec.timeout_s + 3


def test_fork_bomb_is_contained_and_torn_down(box):
    result = _run(box, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    assert result.limit in ("timeout", "processes", "cpu")
    assert result.duration_s < box.spec.timeout_s + 10


@pytest.mark.parametrize("code, limit, sign", [
    ("import threading, time\nfor _ in range(500):\n"
     "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n",
     "processes", "can't start new thread"),
    ("chunks = []\nwhile True:\n    chunks.append(bytearray(10 * 2**20))\n", "memory", "MemoryError"),
    ("with open('big.bin', 'wb') as f:\n    for _ in range(64):\n        f.write(bytes(2**20))\n",
     "file_size", "File too large"),
    ("handles = [open('main.py') for _ in range(10_000)]\n", "open_files", "Too many open files"),
], ids=["thread flood", "memory hog", "huge file", "open files"])
def test_resource_hogs_hit_their_limit(box, code, limit, sign):
    result = _run(box, code)
    assert result.limit == limit and sign in result.stderr and not result.ok
    assert result.peak_memory_mb < box.spec.memory_mb + 16


def test_a_gigabyte_of_output_is_capped(box):
    result = _run(box, "import sys\nblock = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(block)\n")
    assert result.limit == "output" and result.truncated
    assert len(result.stdout) < 9 * 1024 and "bytes cut by Huddle's sandbox" in result.stdout
    assert (result.workspace / ".huddle" / "stdout.txt").stat().st_size <= box.spec.file_size_mb << 20


def test_writing_outside_the_workspace_is_refused(box, tmp_path):
    targets = [tmp_path / "escaped.txt", Path.home() / "huddle-escaped.txt", Path("/tmp/huddle-escaped.txt")]
    code = "".join(f"try:\n    open({str(t)!r}, 'w').write('pwned')\nexcept OSError as e:\n    print('refused', e)\n"
                   for t in targets)
    result = _run(box, code)
    assert result.stdout.count("refused") == len(targets)
    assert not any(t.exists() for t in targets)


def test_the_parents_environment_is_out_of_reach(box, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    code = (f"import os\nprint(dict(os.environ))\n"
            f"for pid in ({os.getpid()}, os.getppid(), 1):\n"
            f"    try:\n        print(open(f'/proc/{{pid}}/environ', 'rb').read())\n"
            f"    except OSError as e:\n        print('refused', e)\n")
    result = _run(box, code)
    assert SECRET not in result.stdout + result.stderr
    assert result.stdout.count("refused") == 3


def test_ssh_keys_cannot_be_read(box, tmp_path):
    ssh = tmp_path / "user" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519").write_text(SECRET)
    code = (f"import os\nfor path in ({str(ssh / 'id_ed25519')!r}, {str(Path.home() / '.ssh' / 'id_rsa')!r}):\n"
            f"    try:\n        print(open(path).read())\n    except OSError as e:\n        print('refused', e)\n"
            f"try:\n    print(os.listdir({str(ssh)!r}))\nexcept OSError as e:\n    print('refused', e)\n")
    result = _run(box, code)
    assert SECRET not in result.stdout + result.stderr
    assert result.stdout.count("refused") == 3  # not there at all, or not readable


def test_no_connection_reaches_a_loopback_listener(box):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    code = (f"import socket\nfor host in ('127.0.0.1', 'localhost'):\n    try:\n"
            f"        socket.create_connection((host, {port}), timeout=1).sendall(b'stolen')\n"
            f"        print('connected')\n    except OSError as e:\n        print('refused', e)\n")
    result = _run(box, code)
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()
    assert result.network_isolated and "connected" not in result.stdout.replace("refused", "")
    assert result.stdout.count("refused") == 2


def test_no_unix_socket_of_the_machine_is_reachable(box, tmp_path):
    # An ssh-agent, Docker or X11 socket is a way out; the private root gives them no path at all.
    path = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    server.settimeout(0.5)
    code = (f"import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect({str(path)!r})\n"
            f"    s.sendall(b'stolen')\n    print('connected')\nexcept OSError as e:\n    print('refused', e)\n")
    result = _run(box, code)
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()
    assert result.stdout.startswith("refused")


def test_only_the_interpreter_system_folders_and_workspace_exist(box):
    code = ("import os\nfor path in ('/', '/home', '/tmp', '/proc/1/environ', '/var/run', '/etc/passwd'):\n"
            "    print(path, os.path.exists(path))\ntry:\n    os.listdir('/')\nexcept OSError as e:\n"
            "    print('refused', e)\n")
    result = _run(box, code)
    seen = dict(line.split() for line in result.stdout.splitlines() if not line.startswith("refused"))
    assert seen == {"/": "True", "/home": "False", "/tmp": str(str(box.root).startswith("/tmp/")),
                    "/proc/1/environ": "False", "/var/run": "False", "/etc/passwd": "False"}
    assert "refused" in result.stdout  # not even the root folder can be listed


def test_the_parent_cannot_be_killed(box):
    me = os.getpid()
    code = (f"import os, signal\nfor attempt in (lambda: os.kill({me}, signal.SIGKILL),\n"
            f"                lambda: os.killpg(os.getpgid({me}), signal.SIGKILL),\n"
            f"                lambda: os.kill(os.getppid() or {me}, signal.SIGTERM)):\n"
            f"    try:\n        attempt()\n        print('sent')\n"
            f"    except OSError as e:\n        print('refused', e)\n")
    result = _run(box, code)
    assert "sent" not in result.stdout
    assert result.stdout.count("refused") == 3


def test_ctypes_and_os_system_tricks_fail(box, tmp_path):
    me, target = os.getpid(), tmp_path / "via-shell.txt"
    code = (f"import ctypes, os, resource\nlibc = ctypes.CDLL(None)\n"
            f"print('kill', libc.kill({me}, 9))\n"
            f"print('system', os.system('kill -9 {me}; echo pwned > {target}'))\n"
            f"try:\n    resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
            f"    print('raised the limit')\nexcept (ValueError, OSError) as e:\n    print('refused', e)\n")
    result = _run(box, code)
    assert "kill -1" in result.stdout and "raised the limit" not in result.stdout
    assert not target.exists()


def test_a_child_that_outlives_its_parent_is_killed(box):
    marker = f"4242.{os.getpid()}"
    code = ("import os, subprocess, time\n"
            f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
            "if os.fork() == 0:\n    os.setsid()\n"
            f"    os.execvp('sleep', ['sleep', '{marker}1'])\n"
            "time.sleep(0.2)\nprint('left them running')\n")
    result = _run(box, code)
    assert result.stdout == "left them running\n" and result.ok
    time.sleep(0.1)
    assert _survivors(result, marker) == []


def test_the_sandbox_keeps_working_after_every_attack(box):
    _run(box, "import os\nos.kill(os.getpid(), 9)\n")
    result = _run(box, "print('still here')")
    assert result.stdout == "still here\n" and result.ok
    assert signal.getsignal(signal.SIGINT) is not None  # the test process itself is untouched
