"""The attack suite: hostile code the sandbox must contain, with a clear result and nothing left behind.

Each attack runs through the public :class:`sandbox.Sandbox`. After every one,
no process of the sandbox's process group, and no process carrying the
attack's marker, may still exist.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import Sandbox
from studio.spec.sandbox import SandboxSpec

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
    assert sum(f.stat().st_size for f in result.workspace.rglob("*") if f.is_file()) < 4096  # none on disk


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


# Results the code cannot redirect (issue 18, item 1): the parent once read .huddle/stdout.txt, stderr.txt and
# tests.json from the workspace after the run. Each attack replaces them (and any other name a report could
# have) inside the workspace; the parent must neither follow, block on, nor trip over any of them.

REPORTS = (".huddle/stdout.txt", ".huddle/stderr.txt", ".huddle/tests.json", ".huddle/status.json", "stdout.txt")
HONEST_TESTS = "assert add(1, 2) == 3\nassert add(1, 2) == 4\n"


def _replace_reports(make: str) -> str:
    """Code that puts ``make`` (a statement on ``name``) where each report file could be."""
    return ("import os\n"
            f"for name in {REPORTS!r}:\n"
            "    os.makedirs(os.path.dirname(name) or '.', exist_ok=True)\n"
            "    try:\n        os.remove(name)\n    except OSError:\n        pass\n"
            f"    {make}\n"
            "print('attacked')\n")


def _graded(box: Sandbox, solution: str, tests: str = HONEST_TESTS):
    result = box.run({"solution.py": solution, "test_task.py": tests}, tests=["test_task.py"])
    assert _survivors(result) == []
    return result


def _assert_honest(result, stdout: str = "attacked\n"):
    """The verdicts of HONEST_TESTS against a correct add: the first passes, the second fails, nothing else."""
    assert [(t.name, t.ok) for t in result.tests] == [("test_task.py:1", True), ("test_task.py:2", False)]
    assert "where add(1, 2) = 3" in result.tests[1].message
    assert result.stdout == stdout and not result.ok


def _attack_both_ways(box: Sandbox, make: str):
    """The attack as a script and as a solution under test; both results."""
    attack = _replace_reports(make)
    script = _run(box, attack)
    graded = _graded(box, attack + "def add(a, b):\n    return a + b\n")
    return script, graded


@pytest.mark.parametrize("target", ["/etc/shadow", "host secret"])
def test_reports_linked_to_a_secret_file_are_never_followed(box, tmp_path, target):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    path = str(secret) if target == "host secret" else target
    shadow = [line for line in Path("/etc/shadow").read_text().splitlines() if len(line) > 5] \
        if os.access("/etc/shadow", os.R_OK) else []
    for result in _attack_both_ways(box, f"os.symlink({path!r}, name)"):
        seen = repr(result)
        assert SECRET not in seen and not any(line in seen for line in shadow)
        assert result.stdout == "attacked\n"
    _assert_honest(result)


def test_reports_linked_to_the_parents_environ_leak_nothing(tmp_path):
    # /proc/self/environ holds a process's environment as it started, so the parent is a fresh process whose
    # environment carries the secret (as a database URL with its password did in the issue).
    attack = _replace_reports("os.symlink('/proc/self/environ', name)")
    script = (f"import json, sys\nsys.path[:0] = {sys.path!r}\nfrom sandbox import Sandbox\n"
              "from studio.spec.sandbox import SandboxSpec\n"
              f"box = Sandbox(SandboxSpec(timeout_s=5), {str(tmp_path / 'ws')!r})\n"
              f"attack = {attack!r}\n"
              "results = [box.run({'main.py': attack}, entry='main.py'), box.run(\n"
              "    {'solution.py': attack + 'def add(a, b):\\n    return a + b\\n',\n"
              f"     'test_task.py': {HONEST_TESTS!r}}}, tests=['test_task.py'])]\n"
              "print(json.dumps([[r.stdout, r.stderr, repr(r), [(t.name, t.ok, t.message) for t in r.tests or []]]"
              " for r in results]))\n")
    env = {**os.environ, "HUDDLE_ATTACK_DB_URL": f"postgresql://huddle:{SECRET}@db/runs"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert SECRET not in out.stdout and "HUDDLE_ATTACK_DB_URL" not in out.stdout
    (script_out, _, _, _), (graded_out, _, _, tests) = json.loads(out.stdout)
    assert script_out == graded_out == "attacked\n"
    assert [(name, ok) for name, ok, _ in tests] == [("test_task.py:1", True), ("test_task.py:2", False)]


def test_reports_replaced_by_fifos_do_not_hang_the_parent(box):
    for result in _attack_both_ways(box, "os.mkfifo(name)"):
        assert result.stdout == "attacked\n" and result.limit is None
        assert result.duration_s < box.spec.timeout_s
    _assert_honest(result)


def test_reports_linked_to_dev_zero_do_not_grow_the_parent(box):
    for result in _attack_both_ways(box, "os.symlink('/dev/zero', name)"):
        assert result.stdout == "attacked\n" and result.limit is None and result.duration_s < box.spec.timeout_s
    _assert_honest(result)


def test_reports_deleted_or_made_folders_do_not_crash_the_parent(box):
    script, graded = _attack_both_ways(box, "os.mkdir(name)")
    assert script.stdout == "attacked\n" and script.ok
    _assert_honest(graded)
    wiped = "import shutil\nshutil.rmtree('.huddle', ignore_errors=True)\nprint('attacked')\n"
    assert _run(box, wiped).stdout == "attacked\n"
    _assert_honest(_graded(box, wiped + "def add(a, b):\n    return a + b\n"))


# Verdicts the code under test cannot forge (issue 18, item 2): every solution below is wrong or exits;
# none may be graded as passing.

FORGED_LINES = (b'{"test": "test_task.py:1", "ok": true, "message": ""}\n'
                b'{"test": "test_task.py:2", "ok": true, "message": ""}\n{"done": 2}\n{"exit_code": 0}\n')


def test_a_forged_passing_report_then_exit_is_not_believed(box):
    forge = ("import os, json\nos.makedirs('.huddle', exist_ok=True)\n"
             "report = [{'name': 'test_task.py:1', 'ok': True, 'message': ''},\n"
             "          {'name': 'test_task.py:2', 'ok': True, 'message': ''}]\n"
             "open('.huddle/tests.json', 'w').write(json.dumps(report))\n"
             f"for fd in range(3, 12):\n    try:\n        os.write(fd, {FORGED_LINES!r})\n"
             "    except OSError:\n        pass\n"
             "os._exit(0)\n")
    result = _graded(box, forge + "def add(a, b):\n    return a + b\n")
    assert result.passed == 0 and result.failed >= 1 and not result.ok
    assert {t.name for t in result.tests} <= {"import solution", "test_task.py:1", "test_task.py:2"}


@pytest.mark.parametrize("exit_call", ["import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n",
                                       "def add(a, b):\n    import os\n    os._exit(0)\n",
                                       "def add(a, b):\n    raise SystemExit(0)\n"],
                         ids=["sys.exit at import", "os._exit at import", "os._exit in the call",
                              "SystemExit in the call"])
def test_exiting_before_the_tests_fails_them(box, exit_call):
    result = _graded(box, "def add(a, b):\n    return a + b\n" + exit_call)
    assert result.passed == 0 and result.failed in (1, 2) and not result.ok
    if result.failed == 1:
        assert result.tests[0].import_failed
    else:
        assert [t.name for t in result.tests] == ["test_task.py:1", "test_task.py:2"]


@pytest.mark.parametrize("returned", [
    "class Anything:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n"
    "        return False\n    __hash__ = object.__hash__\nresult = Anything()\n",
    "class Three(int):\n    def __eq__(self, other):\n        return True\nresult = Three(7)\n",
    "class Text(str):\n    def __eq__(self, other):\n        return True\nresult = Text('7')\n",
    "from collections import namedtuple\nclass Pair(namedtuple('Pair', 'a b')):\n"
    "    def __eq__(self, other):\n        return True\nresult = Pair(7, 7)\n",
], ids=["custom __eq__", "int subclass", "str subclass", "namedtuple subclass"])
def test_an_object_equal_to_everything_passes_nothing(box, returned):
    solution = returned + "def add(a, b):\n    return result\n"
    result = _graded(box, solution, "assert add(1, 2) == 3\nassert add(1, 2) == 4\nassert not (add(1, 2) != 3)\n")
    assert result.passed == 0 and result.failed == 3


def test_monkeypatching_the_harness_or_builtins_changes_no_verdict(box):
    # The solution's process is a fork of the runner, so it holds a copy of every harness module: patch them.
    patch = ("import builtins, sys\n"
             "harness, proxy = sys.modules['sandbox._harness'], sys.modules['sandbox._proxy']\n"
             "harness._Verdicts.add = lambda self, name, ok, message='': None\n"
             "harness._Verdicts.check = lambda self, name, call, filename: None\n"
             "proxy.Handle.__eq__ = lambda self, other: True\n"
             "proxy._exception = lambda name, message: None\n"
             "builtins.AssertionError = type('AssertionError', (Exception,), {})\n"
             "builtins.ValueError = builtins.AssertionError\n"
             "print('attacked')\n"
             "def add(a, b):\n    return a + b\n")
    _assert_honest(_graded(box, patch))
    # Patching everything there, the wire included, only breaks the solution's own process.
    everything = ("import builtins, json, sys\nbuiltins.isinstance = lambda *a: True\n"
                  "for name, module in list(sys.modules.items()):\n"
                  "    if name.startswith('sandbox'):\n"
                  "        for attr in dir(module):\n"
                  "            if not attr.startswith('__') and callable(getattr(module, attr)):\n"
                  "                setattr(module, attr, lambda *a, **k: True)\n"
                  "json.dumps = lambda *a, **k: '{\"test\": \"x\", \"ok\": true, \"message\": \"\"}'\n"
                  "def add(a, b):\n    return a + b\n")
    result = _graded(box, everything)
    assert result.passed == 0 and result.failed >= 1 and {t.name for t in result.tests} <= {
        "import solution", "test_task.py:1", "test_task.py:2"}


def test_the_test_runner_cannot_be_killed_or_traced(box):
    attack = ("import ctypes, os, signal, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nrunner = os.getppid()\n"
              "for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSTOP, signal.SIGUSR1):\n"
              "    for pid in (runner, 1, -1):\n"
              "        try:\n            os.kill(pid, sig)\n        except OSError:\n            pass\n"
              "traced = [libc.ptrace(16, runner, 0, 0), libc.ptrace(0x4206, runner, 0, 0)]\n"
              "pidfd = libc.syscall(434, runner, 0)\n"
              "stolen = libc.syscall(438, pidfd, 4, 0) if pidfd >= 0 else -1\n"
              # S is a fork of the runner: the runner's sys.modules sits at the same address in both
              "buf = ctypes.create_string_buffer(8)\n"
              "iovec = ctypes.c_void_p * 2\n"
              "local, remote = iovec(ctypes.addressof(buf), 8), iovec(id(sys.modules), 8)\n"
              "read = libc.process_vm_readv(runner, local, 1, remote, 1, 0)\n"
              "written = libc.process_vm_writev(runner, local, 1, remote, 1, 0)\n"
              "print('attacked' if traced == [-1, -1] and stolen == read == written == -1 else 'got in')\n"
              "def add(a, b):\n    return a + b\n")
    _assert_honest(_graded(box, attack))


def test_rewriting_the_test_files_or_planting_modules_changes_no_verdict(box):
    # The runner keeps its own copy of the test files (it evaluates a failed comparison again to show both
    # sides) and never has the workspace on its import path.
    forged = "import os\nos.write(4, b'{\"test\": \"x\", \"ok\": true, \"message\": \"\"}\\n')\n"
    attack = ("open('test_task.py', 'w').write('assert True\\nassert True\\n')\n"
              "for name in ('ast', 'json', 'traceback', 'linecache', 'collections', 'fractions', 're', 'solution'):\n"
              f"    open(name + '.py', 'w').write({forged!r})\n"
              "print('attacked')\n"
              "def add(a, b):\n    return a + b\n")
    _assert_honest(_graded(box, attack))


# Resources (issue 18, item 6, the sandbox's half).

def test_a_disk_bomb_stops_at_the_quota_and_leaves_nothing_on_disk(tmp_path):
    box = Sandbox(SandboxSpec(timeout_s=10, disk_mb=8, file_size_mb=4), tmp_path / "workspaces")
    bomb = ("i = 0\nwhile True:\n    with open(f'fill{i}.bin', 'wb') as f:\n        for _ in range(3):\n"
            "            f.write(bytes(2**20))\n    i += 1\n")
    result = _run(box, bomb)
    assert result.limit == "disk" and "No space left on device" in result.stderr and not result.ok
    assert result.duration_s < 5
    assert sum(f.stat().st_size for f in result.workspace.rglob("*") if f.is_file()) < 4096


def test_killing_the_parent_leaves_no_sandbox_process(tmp_path):
    # huddle itself is killed with SIGKILL during an execution: the sandbox must die with it (the limits
    # here are far away, so only the parent-death signal can end it).
    marker = f"orphan-{os.getpid()}-{time.monotonic_ns()}"
    script = (f"import sys\nsys.path[:0] = {sys.path!r}\nfrom sandbox import Sandbox\n"
              "from studio.spec.sandbox import SandboxSpec\n"
              f"Sandbox(SandboxSpec(timeout_s=120, cpu_s=120), {str(tmp_path)!r}).run(\n"
              f"    {{'main.py': 'while True:\\n    pass\\n'}}, entry='main.py', name={marker!r})\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    tag = marker.encode().hex()

    def sandboxed() -> list[tuple[int, int, str]]:
        return [p for p in _processes() if tag in p[2] and p[0] != parent.pid]

    try:
        deadline = time.monotonic() + 30
        while len(sandboxed()) < 2 and time.monotonic() < deadline:  # the sandbox and the code's process
            time.sleep(0.05)
        assert len(sandboxed()) >= 2
        time.sleep(0.2)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while sandboxed() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandboxed() == []
