"""The test runner T that runs inside the sandbox (standard library only; started by ``_boot.py``).

Tests are written pytest style: ``test_*`` functions without arguments, in the
solution itself or in the test files, and top-level ``assert`` lines in the
test files, each counted as one test. Test files run in a namespace that
already holds the solution's names, so ``assert add(1, 2) == 3`` works as is.
Names say where a test came from: ``test_add`` is the solution's own function,
``test_task.py:4`` and ``test_task.py:test_add`` an assert line and a function
of a test file, ``test_task.py`` the file itself failing, ``import solution``
the solution failing to import. A failing ``assert a == b`` reports both sides.

Threat model: the solution is hostile and may try to forge its verdicts. So T
never imports it. T reads the solution and the test files (and keeps them: S
can rewrite them on disk), keeps the workspace off its import path (only the
read-only standard library is there), makes itself undumpable (``PR_SET_DUMPABLE`` 0: the solution, running as
the same user, cannot ptrace it or write its memory) and only then forks the
solution's process S (:mod:`sandbox._server`), which gets two pipes and
nothing else: not the verdict pipe (fd 4), which T alone holds. In T the
solution's names are handles (:mod:`sandbox._proxy`): values come back as
plain data built by T, so a custom ``__eq__`` never decides a comparison, and a
solution that exits, hangs or dies fails the tests still waiting on it. T is
PID 1 of the sandbox's PID namespace, so S cannot kill it either. Each verdict
is one JSON line on fd 4; a last ``{"done": n}`` line says that T finished.
The solution's own ``test_*`` functions run in S (they are the solution's own
claims) and are reported under their bare names, as before.
"""

import ast
import ctypes
import json
import linecache
import os
import signal
import sys

from sandbox._explain import explain
from sandbox._proxy import Link
from sandbox._server import serve

VERDICT_FD = 4
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
MAX_MESSAGE = 2000


class _Verdicts:
    """Writes each verdict as one JSON line on the verdict pipe as soon as it is known."""

    def __init__(self, fd):
        self.fd, self.count, self.all_ok = fd, 0, True

    def add(self, name, ok, message=""):
        self.count += 1
        self.all_ok = self.all_ok and ok
        line = json.dumps({"test": name, "ok": bool(ok), "message": str(message)[:MAX_MESSAGE]}) + "\n"
        self._write(line.encode())

    def done(self):
        self._write((json.dumps({"done": self.count}) + "\n").encode())

    def _write(self, data):
        while data:
            data = data[os.write(self.fd, data):]

    def check(self, name, call, filename):
        try:
            call()
        except BaseException as exc:  # SystemExit and KeyboardInterrupt count as failures too
            self.add(name, False, explain(exc, filename))
        else:
            self.add(name, True)


def _own_tests(source):
    """The solution's top-level ``test*`` functions, by where they are last defined (what an import would keep)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = {n.name: n.lineno for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")}
    return sorted(found, key=found.__getitem__)


def _run_file(verdicts, path, source, base):
    """Run one test file: its statements in order, each top-level assert as a test, then its test functions."""
    namespace = dict(base)
    namespace.update({"__name__": os.path.splitext(os.path.basename(path))[0], "__file__": path})
    tree = ast.parse(source, path)
    for node in tree.body:
        code = compile(ast.Module(body=[node], type_ignores=[]), path, "exec")
        if isinstance(node, ast.Assert):
            verdicts.check(f"{os.path.basename(path)}:{node.lineno}", lambda c=code: exec(c, namespace), path)
        else:
            exec(code, namespace)
    functions = [v for k, v in namespace.items() if k.startswith("test") and callable(v)
                 and getattr(getattr(v, "__code__", None), "co_filename", None) == path]
    for fn in sorted(functions, key=lambda f: f.__code__.co_firstlineno):
        verdicts.check(f"{os.path.basename(path)}:{fn.__name__}", fn, path)


def _prctl(libc, option, value):
    if libc is not None:
        libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                   ctypes.c_ulong(0))


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _start_solution(path, source, libc):
    """Fork S with its two pipes; returns T's :class:`Link` to it."""
    to_s, requests = os.pipe()
    replies, from_s = os.pipe()
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(VERDICT_FD)
        os.close(requests)
        os.close(replies)
        _prctl(libc, PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != me:
            os._exit(1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        serve(path, source, to_s, from_s, os.getcwd())
    os.close(to_s)
    os.close(from_s)
    return Link(pid, requests, replies)


def main(cfg, libc=None):
    """Run every test and report each verdict on fd 4; the exit status is 1 when any test failed."""
    _prctl(libc, PR_SET_DUMPABLE, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a signal from S must not interrupt a verdict
    verdicts = _Verdicts(VERDICT_FD)
    workspace = cfg["workspace"]
    solution = os.path.join(workspace, cfg["entry"])
    tests = []
    source = ""
    try:
        source = _read(solution)
        for test_file in cfg["tests"]:
            path = os.path.join(workspace, test_file)
            try:
                text = _read(path)
                # Failure messages quote the line from this copy: S can rewrite the file on disk, and the
                # quoted comparison is evaluated again here to show both sides.
                linecache.cache[path] = (len(text), None, text.splitlines(True), path)
                tests.append((test_file, path, text))
            except (OSError, UnicodeDecodeError) as exc:
                tests.append((test_file, path, exc))
    except (OSError, UnicodeDecodeError) as exc:
        verdicts.add("import solution", False, f"{type(exc).__name__}: {exc}")
    if source:
        _run(verdicts, solution, source, tests, libc)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    verdicts.done()
    return 0 if verdicts.count and verdicts.all_ok else 1


def _run(verdicts, solution, source, tests, libc):
    link = _start_solution(solution, source, libc)
    try:
        kind, found = link.first()
    except RuntimeError as exc:
        kind, found = "import", str(exc)
    if kind == "import":
        verdicts.add("import solution", False, found)
        link.close()
        return
    module = type(sys)("solution")
    module.__file__ = solution
    vars(module).update(found)
    sys.modules["solution"] = module
    for name in _own_tests(source):
        try:
            failure = link.ask(["test", name])
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        verdicts.add(name, failure is None, failure if type(failure) is str else "")
    for test_file, path, text in tests:
        try:
            if isinstance(text, Exception):
                raise text
            _run_file(verdicts, path, text, found)
        except BaseException as exc:  # the test file itself broke (syntax, a failing setup line)
            verdicts.add(test_file, False, explain(exc, path))
    link.close()
