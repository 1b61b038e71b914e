r"""Run untrusted code: a fresh workspace, a scrubbed environment, limits, isolation, a hard deadline.

The parent side of the sandbox. :class:`Sandbox` writes the files into a new
folder, starts ``_boot.py`` with ``posix_spawn`` (cheap even from a large
process) in a session of its own, waits for its report or the deadline, and
reads back at most ``max_output_kb`` of each stream.

The parent never opens a path inside the workspace once the code has run: the
code could have replaced any file there with a link (to ``/etc/shadow``, to
``/dev/zero``), a FIFO, or nothing. Stdout and stderr are unlinked files the
parent opened before the spawn, read back through its own descriptors; the
status and the test verdicts come on pipes it created (:mod:`sandbox._channels`).

Example:
    >>> import tempfile
    >>> box = Sandbox(SandboxSpec(timeout_s=5), tempfile.mkdtemp())
    >>> box.run({"main.py": "print(6 * 7)"}, entry="main.py").stdout
    '42\n'
"""

from __future__ import annotations

import fcntl
import itertools
import marshal
import os
import signal
import sys
import sysconfig
import threading
import time
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path, PurePosixPath

from sandbox._channels import collect, kill_group, lines, output_file, read_capped
from sandbox._verdicts import expected_tests, has_tests, outcomes
from sandbox.result import ExecResult, Limit
from studio.spec.sandbox import SandboxSpec

__all__ = ["Sandbox", "SandboxError", "isolation_report"]

_HERE = Path(__file__).parent
_BOOT = _HERE / "_boot.py"
_HARNESS = tuple((f"sandbox.{name}", str(_HERE / f"{name}.py"))
                 for name in ("_wire", "_explain", "_proxy", "_server", "_harness"))
"""The test runner's modules, in the order they load inside the sandbox."""
_HARNESS_FD = 5
"""Where the sandbox finds the test runner's compiled modules (see :func:`_compiled_harness`)."""
_SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/localtime",
                "/dev/urandom", "/dev/zero")
_STDERR_SIGNS: tuple[tuple[str, Limit], ...] = (
    ("[Errno 28] No space left on device", "disk"),
    ("MemoryError", "memory"),
    ("Cannot allocate memory", "memory"),
    ("[Errno 27] File too large", "file_size"),
    ("[Errno 24] Too many open files", "open_files"),
    ("BlockingIOError: [Errno 11]", "processes"),
    ("can't start new thread", "processes"),
)


_NO_QUOTA = ("no disk quota: the workspace could not be a size-limited tmpfs here (it needs the private root), "
             "so only sandbox.file_size_mb bounds each file the code writes")


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
        size = sum(len(text.encode("utf-8", "surrogatepass")) for text in files.values())
        if size >= self.spec.disk_mb << 20:
            raise SandboxError(f"the files ({size:,} bytes) do not fit in the workspace: raise sandbox.disk_mb "
                               f"(now {self.spec.disk_mb} MiB)")
        if self.spec.require_isolation:
            _require_isolation(self.spec)
        workspace = self._workspace(name)
        for rel, text in files.items():
            path = _inside(workspace, rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        harness = bool(tests) or has_tests(files[entry])
        expected = expected_tests(files, entry, tests) if harness else None
        return self._spawn(workspace, entry, list(tests), expected)

    def _config(self, workspace: Path, entry: str, tests: list[str], harness: bool) -> dict:
        s = self.spec
        return {
            "workspace": str(workspace), "entry": entry, "tests": tests, "parent": os.getpid(),
            "harness": _harness_config() if harness else None, "disk_mb": s.disk_mb,
            "cut_network": not s.network,
            "read": list(_read_paths(s.site_packages)), "write": [str(workspace), "/dev/null"],
            "new_root": str(workspace / ".huddle" / "root"),
            "limits": {"RLIMIT_CPU": s.cpu_s, "RLIMIT_AS": s.memory_mb << 20, "RLIMIT_FSIZE": s.file_size_mb << 20,
                       "RLIMIT_NOFILE": s.open_files, "RLIMIT_NPROC": s.processes, "RLIMIT_CORE": 0},
        }

    def _spawn(self, workspace: Path, entry: str, tests: list[str], expected: list[str] | None) -> ExecResult:
        cfg = self._config(workspace, entry, tests, expected is not None)
        argv = [sys.executable, "-I", "-B", "-u", "-X", "utf8", *([] if self.spec.site_packages else ["-S"]),
                str(_BOOT), marshal.dumps(cfg).hex()]
        outputs = (_high(output_file()), _high(output_file()))
        pipes = [_high_pipe() for _ in range(1 if expected is None else 2)]  # status; verdicts
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, outputs[0], 1), (os.POSIX_SPAWN_DUP2, outputs[1], 2),
                   *((os.POSIX_SPAWN_DUP2, write_end, fd) for fd, (_, write_end) in enumerate(pipes, 3))]
        if expected is not None and (harness := _compiled_harness()) is not None:
            actions.append((os.POSIX_SPAWN_DUP2, harness[0], _HARNESS_FD))
        start = time.perf_counter()
        try:
            try:
                pid = os.posix_spawn(sys.executable, argv, _env(workspace), file_actions=actions, setsid=True)
            finally:
                for _, write_end in pipes:
                    os.close(write_end)
            status, verdicts, timed_out, killed_peak = collect(
                pipes[0][0], pipes[1][0] if expected is not None else None, pid, start + self.spec.timeout_s)
            kill_group(pid)  # anything left in its process group (only possible without a PID namespace)
            os.waitpid(pid, 0)
            duration = time.perf_counter() - start
            return self._result(workspace, cfg, pid, (lines(status), lines(verdicts), expected), outputs,
                                timed_out, duration, killed_peak)
        finally:
            for fd in (*outputs, *(read_end for read_end, _ in pipes)):
                os.close(fd)

    def _result(self, workspace: Path, cfg: dict, pid: int, reports: tuple, outputs: tuple[int, int],
                timed_out: bool, duration: float, killed_peak: float | None) -> ExecResult:
        status, verdicts, expected = reports
        cap = self.spec.max_output_kb << 10
        stdout, cut_out, out_size = read_capped(outputs[0], cap)
        stderr, cut_err, err_size = read_capped(outputs[1], cap)
        setup = status[0] if status else {}
        exit_code = next((line["exit_code"] for line in status if "exit_code" in line), None)
        output_full = max(out_size, err_size) >= cfg["limits"]["RLIMIT_FSIZE"]
        limit = _limit(exit_code, timed_out, output_full, stderr)
        tests = outcomes(verdicts, expected, limit) if expected is not None else None
        peak = next((line["peak_rss"] for line in status if "peak_rss" in line), killed_peak or 0)
        rss_mb = peak / (1 << 20 if sys.platform == "darwin" else 1 << 10)
        return ExecResult(exit_code=exit_code, stdout=stdout, stderr=stderr, duration_s=duration,
                          peak_memory_mb=round(rss_mb, 1), limit=limit, tests=tests, truncated=cut_out or cut_err,
                          network=setup.get("network", "open") if not self.spec.network else "open",
                          filesystem=setup.get("filesystem", "open"),
                          processes_contained=bool(setup.get("pid_namespace")), workspace=workspace, pid=pid,
                          notes=[] if setup.get("disk") == "quota" else [_NO_QUOTA])


@cache
def _compiled_harness() -> tuple[int, list[list]] | None:
    """The test runner's modules compiled once per process: (descriptor, [[name, path, offset, size], ...]).

    They sit in a memory file the sandbox reads before its lockdown (compiling them in every run cost ~5 ms).
    """
    if not hasattr(os, "memfd_create"):
        return None
    blobs, index, offset = [], [], 0
    for name, path in _HARNESS:
        blob = marshal.dumps(compile(Path(path).read_text(encoding="utf-8"), path, "exec"))
        index.append([name, path, offset, len(blob)])
        blobs.append(blob)
        offset += len(blob)
    fd = _high(os.memfd_create("huddle-harness", os.MFD_CLOEXEC))
    os.write(fd, b"".join(blobs))
    return fd, index


def _harness_config() -> list[list]:
    compiled = _compiled_harness()
    return [[name, path, -1, 0] for name, path in _HARNESS] if compiled is None else compiled[1]


def _high(fd: int) -> int:
    """``fd`` moved to 10 or above, so that no file action of the spawn overwrites it before using it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


def _high_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    return read_end, _high(write_end)


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
