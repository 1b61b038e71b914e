"""Run untrusted code: a fresh workspace, a scrubbed environment, limits, isolation, a hard deadline.

The parent side of the sandbox. :class:`Sandbox` writes the files into a new
folder, starts ``_boot.py`` with ``posix_spawn`` (cheap even from a large
process) in a session of its own, waits for its report or the deadline, and
reads back at most ``max_output_kb`` of each stream.

Example:
    >>> import tempfile
    >>> box = Sandbox(SandboxSpec(timeout_s=5), tempfile.mkdtemp())
    >>> box.run({"main.py": "print(6 * 7)"}, entry="main.py").stdout
    '42\\n'
"""

from __future__ import annotations

import itertools
import json
import marshal
import os
import select
import signal
import sys
import sysconfig
import threading
import time
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path, PurePosixPath

from sandbox.result import ExecResult, Limit, TestOutcome
from studio.spec_sandbox import SandboxSpec

__all__ = ["Sandbox", "SandboxError", "isolation_report"]

_HERE = Path(__file__).parent
_BOOT, _HARNESS = _HERE / "_boot.py", _HERE / "_harness.py"
_TEARDOWN_S = 10.0
"""After the deadline, how long to wait for the kernel to remove every process the code started
(a fork bomb takes it a second or two)."""
_SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/localtime",
                "/dev/urandom", "/dev/zero")
_STDERR_SIGNS: tuple[tuple[str, Limit], ...] = (
    ("MemoryError", "memory"),
    ("Cannot allocate memory", "memory"),
    ("[Errno 27] File too large", "file_size"),
    ("[Errno 24] Too many open files", "open_files"),
    ("BlockingIOError: [Errno 11]", "processes"),
    ("can't start new thread", "processes"),
)


class SandboxError(RuntimeError):
    """The sandbox cannot run this (bad file names, no isolation where it is required, unsupported OS)."""


@cache
def _read_paths(site_packages: bool) -> tuple[str, ...]:
    """Folders the code may read and execute from: the interpreter, its standard library, system libraries.

    Worked out once per process: they do not change, and every execution needs them.
    """
    paths = [sys.base_prefix, os.path.dirname(os.__file__), os.path.dirname(os.path.realpath(sys.executable)),
             *_SYSTEM_READ]
    if site_packages:
        paths += [sys.prefix, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    # Both the path as written (a symlink such as /bin is recreated in the private root) and where it leads.
    return tuple(sorted({q for p in paths if os.path.exists(p) for q in (os.path.abspath(p), os.path.realpath(p))}))


def _env(workspace: Path) -> dict[str, str]:
    """A clean environment: nothing of the parent's (no API keys), HOME and TMPDIR inside the workspace."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workspace / ".home"),
            "TMPDIR": str(workspace / ".tmp"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _inside(workspace: Path, name: str) -> Path:
    rel = PurePosixPath(name)
    if not name or rel.is_absolute() or ".." in rel.parts or rel.parts[0] in (".huddle", ".home", ".tmp"):
        raise SandboxError(f"file name {name!r}: expected a relative path inside the workspace")
    return workspace.joinpath(*rel.parts)


def _read_capped(path: Path, cap: int) -> tuple[str, bool]:
    """The file's text, its middle cut to ``cap`` bytes with a marker; and whether it was cut."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size <= cap:
                return f.read().decode("utf-8", "replace"), False
            head = f.read(cap // 2)
            f.seek(size - cap // 2)
            tail = f.read()
    except OSError:
        return "", False
    marker = f"\n[... {size - len(head) - len(tail):,} bytes cut by Huddle's sandbox ...]\n"
    return head.decode("utf-8", "replace") + marker + tail.decode("utf-8", "replace"), True


class Sandbox:
    """Runs code in fresh workspaces under ``root``, with the limits of a :class:`SandboxSpec`.

    Safe to use from several threads: each call gets its own workspace and processes.
    """

    def __init__(self, spec: SandboxSpec, root: str | Path):
        if not hasattr(os, "posix_spawn"):
            raise SandboxError("running code needs Linux or macOS; set `sandbox: {enabled: false}` in the team file")
        self.spec = spec
        self.root = Path(root)
        self._count = itertools.count(1)
        self._lock = threading.Lock()

    def _workspace(self, name: str) -> Path:
        with self._lock:
            while True:
                path = self.root / f"{next(self._count):02d}-{name}"
                try:
                    path.mkdir(parents=True)
                    break
                except FileExistsError:
                    continue
        for sub in (".home", ".tmp", ".huddle", ".huddle/root"):
            (path / sub).mkdir()
        return path

    def run(self, files: Mapping[str, str], *, entry: str = "solution.py", tests: Sequence[str] = (),
            name: str = "exec") -> ExecResult:
        """Write ``files`` to a new workspace and run ``entry``, or the ``tests`` against it.

        Args:
            files: file name (relative) to text.
            entry: the file to run as ``__main__``; with tests, the module the tests import as ``solution``.
            tests: test files among ``files``; their ``test_*`` functions and top-level asserts run, and
                so do ``test_*`` functions in ``entry``.
            name: a label for the workspace folder.

        Raises:
            SandboxError: a file name leaves the workspace, ``entry`` is missing, or isolation is required
                and this machine cannot provide it.
        """
        if entry not in files or any(t not in files for t in tests):
            raise SandboxError(f"entry {entry!r} and tests {list(tests)} must be among the files {sorted(files)}")
        if self.spec.require_isolation:
            _require_isolation(self.spec)
        workspace = self._workspace(name)
        for rel, text in files.items():
            path = _inside(workspace, rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return self._spawn(workspace, entry, list(tests), harness=bool(tests) or _has_tests(files[entry]))

    def _config(self, workspace: Path, entry: str, tests: list[str], harness: bool) -> dict:
        s = self.spec
        return {
            "workspace": str(workspace), "entry": entry, "tests": tests,
            "harness": str(_HARNESS) if harness else None,
            "cut_network": not s.network,
            "read": list(_read_paths(s.site_packages)), "write": [str(workspace), "/dev/null"],
            "new_root": str(workspace / ".huddle" / "root"),
            "limits": {"RLIMIT_CPU": s.cpu_s, "RLIMIT_AS": s.memory_mb << 20, "RLIMIT_FSIZE": s.file_size_mb << 20,
                       "RLIMIT_NOFILE": s.open_files, "RLIMIT_NPROC": s.processes, "RLIMIT_CORE": 0},
        }

    def _spawn(self, workspace: Path, entry: str, tests: list[str], harness: bool) -> ExecResult:
        cfg = self._config(workspace, entry, tests, harness)
        out, err = workspace / ".huddle" / "stdout.txt", workspace / ".huddle" / "stderr.txt"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        argv = [sys.executable, "-I", "-B", "-u", "-X", "utf8", *([] if self.spec.site_packages else ["-S"]),
                str(_BOOT), marshal.dumps(cfg).hex()]
        read_end, write_end = os.pipe()
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, str(out), flags, 0o600),
                   (os.POSIX_SPAWN_OPEN, 2, str(err), flags, 0o600),
                   (os.POSIX_SPAWN_DUP2, write_end, 3)]
        start = time.perf_counter()
        try:
            pid = os.posix_spawn(sys.executable, argv, _env(workspace), file_actions=actions, setsid=True)
        finally:
            os.close(write_end)
        try:
            lines, timed_out, killed_peak = _collect(read_end, pid, start + self.spec.timeout_s)
        finally:
            os.close(read_end)
        _kill_group(pid)  # anything left in its process group (only possible without a PID namespace)
        os.waitpid(pid, 0)
        duration = time.perf_counter() - start
        return self._result(workspace, cfg, pid, lines, timed_out, duration, killed_peak)

    def _result(self, workspace: Path, cfg: dict, pid: int, lines: list[dict], timed_out: bool,
                duration: float, killed_peak: float | None) -> ExecResult:
        cap = self.spec.max_output_kb << 10
        stdout, cut_out = _read_capped(workspace / ".huddle" / "stdout.txt", cap)
        stderr, cut_err = _read_capped(workspace / ".huddle" / "stderr.txt", cap)
        setup = lines[0] if lines else {}
        exit_code = next((line["exit_code"] for line in lines if "exit_code" in line), None)
        output_full = any((workspace / ".huddle" / f).stat().st_size >= cfg["limits"]["RLIMIT_FSIZE"]
                          for f in ("stdout.txt", "stderr.txt"))
        limit = _limit(exit_code, timed_out, output_full, stderr)
        tests = _tests(workspace, limit) if cfg["harness"] else None
        peak = next((line["peak_rss"] for line in lines if "peak_rss" in line), killed_peak or 0)
        rss_mb = peak / (1 << 20 if sys.platform == "darwin" else 1 << 10)
        return ExecResult(exit_code=exit_code, stdout=stdout, stderr=stderr, duration_s=duration,
                          peak_memory_mb=round(rss_mb, 1), limit=limit, tests=tests, truncated=cut_out or cut_err,
                          network=setup.get("network", "open") if not self.spec.network else "open",
                          filesystem=setup.get("filesystem", "open"),
                          processes_contained=bool(setup.get("pid_namespace")), workspace=workspace, pid=pid)


def _has_tests(source: str) -> bool:
    """Whether the code defines pytest-style ``test_*`` functions (then they run through the harness)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.FunctionDef) and n.name.startswith("test") for n in tree.body)


def _collect(fd: int, pid: int, deadline: float) -> tuple[list[dict], bool, float | None]:
    """Read the sandbox's report lines until it exits; at ``deadline``, kill the code and everything it started.

    The code's first process is killed, not the sandbox's: the sandbox reaps it, which (as PID 1 of its
    namespace) happens only once every process it started is gone, then exits. Only if that takes
    longer than :data:`_TEARDOWN_S` is the whole process group killed.

    Returns (lines, timed_out, peak memory in KiB of the killed code).
    """
    data, ended = _read_until(fd, deadline, b"")
    if ended:
        return _lines(data), False, None
    child = next((line["child"] for line in _lines(data) if "child" in line), None)
    peak = _peak_kib(child) if child else None
    if child:
        _signal(child, signal.SIGKILL)
        data, ended = _read_until(fd, time.perf_counter() + _TEARDOWN_S, data)
    if not ended:
        _kill_group(pid)
    return _lines(data), True, peak


def _read_until(fd: int, deadline: float, data: bytes) -> tuple[bytes, bool]:
    """Append what arrives on ``fd`` to ``data`` until it closes (True) or ``deadline`` passes (False).

    ``poll``, not ``select``: a long-lived parent (the studio, a test session) may hold more than 1024 files.
    """
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    while True:
        left = deadline - time.perf_counter()
        if left <= 0 or not waiting.poll(max(1, int(left * 1000))):
            return data, False
        chunk = os.read(fd, 65536)
        if not chunk:
            return data, True
        data += chunk


def _lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


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


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _limit(exit_code: int | None, timed_out: bool, output_full: bool, stderr: str) -> Limit | None:
    if timed_out:
        return "timeout"
    if exit_code in (-signal.SIGXCPU, -signal.SIGKILL):  # the soft CPU limit, or the hard one a second later
        return "cpu"
    if output_full:
        return "output"
    if exit_code != 0:
        tail = stderr[-4000:]
        return next((limit for sign, limit in _STDERR_SIGNS if sign in tail), None)
    return None


def _tests(workspace: Path, limit: Limit | None) -> list[TestOutcome]:
    try:
        raw = json.loads((workspace / ".huddle" / "tests.json").read_text(encoding="utf-8"))
        return [TestOutcome(str(r["name"]), bool(r["ok"]), str(r.get("message", ""))) for r in raw]
    except (OSError, ValueError, KeyError, TypeError):
        reason = f"stopped: {limit}" if limit else "the test run ended before it reported"
        return [TestOutcome("tests", False, reason)]


@cache
def isolation_report(network: bool = False) -> ExecResult:
    """Run a trivial snippet once per process to see what isolation this machine gives."""
    import tempfile

    box = Sandbox(SandboxSpec(network=network, timeout_s=10), tempfile.mkdtemp(prefix="huddle-probe-"))
    return box.run({"probe.py": "pass\n"}, entry="probe.py", name="probe")


def _require_isolation(spec: SandboxSpec) -> None:
    probe = isolation_report(spec.network)
    missing = [what for what, ok in (("filesystem (private root and Landlock)", probe.filesystem == "isolated"),
                                     ("network", spec.network or probe.network_isolated),
                                     ("processes (PID namespace)", probe.processes_contained)) if not ok]
    if missing:
        raise SandboxError(f"sandbox.require_isolation is set but this machine cannot isolate: {', '.join(missing)}; "
                           "run Huddle on Linux 5.13+ with user namespaces enabled, or unset require_isolation")
