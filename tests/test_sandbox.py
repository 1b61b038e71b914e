"""The sandbox on its own: running code and tests, limits, output capping, workspaces and errors."""

from __future__ import annotations

import sys
import threading

import pytest

from sandbox import Sandbox, SandboxError
from studio.spec.sandbox import SandboxSpec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")


@pytest.fixture
def box(tmp_path) -> Sandbox:
    return Sandbox(SandboxSpec(timeout_s=5), tmp_path / "ws")


def test_runs_a_script_and_captures_output(box):
    result = box.run({"main.py": "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)"},
                     entry="main.py")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert result.tests is None and not result.ok and result.limit is None
    assert result.duration_s > 0 and result.peak_memory_mb > 1


def test_a_crash_shows_the_traceback(box):
    result = box.run({"main.py": "def f():\n    return 1 / 0\nf()\n"}, entry="main.py")
    assert result.exit_code == 1
    assert "ZeroDivisionError" in result.stderr and 'main.py", line 2' in result.stderr


def test_tests_from_a_file_and_from_the_code_are_counted_with_reasons(box):
    solution = "def add(a, b):\n    return a + b\n\ndef test_own():\n    assert add(1, 1) == 3\n"
    tests = "assert add(2, 3) == 5\nassert add(1, 2) == 4\n\ndef test_more():\n    assert add(0, 0) == 0\n"
    result = box.run({"solution.py": solution, "test_task.py": tests}, tests=["test_task.py"])
    assert (result.passed, result.failed, result.exit_code) == (2, 2, 1)
    failures = {t.name: t.message for t in result.tests if not t.ok}
    assert set(failures) == {"test_own", "test_task.py:2"}
    assert [t.name for t in result.tests if t.ok] == ["test_task.py:1", "test_task.py:test_more"]
    assert [t.name for t in result.tests if t.from_code] == ["test_own"]
    assert [t.name for t in result.tests if t.of_file("test_task.py")] == ["test_task.py:1", "test_task.py:2",
                                                                            "test_task.py:test_more"]
    assert "add(1, 1) = 2" in failures["test_own"]  # both sides of a failed comparison
    assert "add(1, 2) = 3" in failures["test_task.py:2"]


def test_code_with_its_own_test_functions_runs_them(box):
    result = box.run({"solution.py": "def sq(x):\n    return x * x\n\ndef test_sq():\n    assert sq(3) == 9\n"})
    assert [(t.name, t.ok) for t in result.tests] == [("test_sq", True)] and result.ok


def test_a_solution_that_does_not_import_fails_every_test(box):
    result = box.run({"solution.py": "def broken(:\n", "t.py": "assert broken() == 1\n"}, tests=["t.py"])
    assert result.failed == 1 and result.passed == 0
    assert result.tests[0].name == "import solution" and "SyntaxError" in result.tests[0].message
    assert result.tests[0].import_failed and not result.tests[0].from_code and not result.tests[0].of_file("t.py")


def test_system_exit_inside_a_test_is_a_failure_not_an_escape(box):
    result = box.run({"solution.py": "import sys\ndef test_exit():\n    sys.exit(0)\n"})
    assert result.failed == 1 and "SystemExit" in result.tests[0].message and not result.ok


def test_environment_is_clean_and_home_is_in_the_workspace(box, monkeypatch):
    monkeypatch.setenv("HUDDLE_TEST_TOKEN", "tok-123")
    code = "import os, tempfile\nprint(sorted(os.environ))\nprint(os.environ['HOME'])\nprint(tempfile.gettempdir())"
    result = box.run({"main.py": code}, entry="main.py")
    names, home, tmp = result.stdout.splitlines()
    assert "HUDDLE_TEST_TOKEN" not in names and "tok-123" not in result.stdout
    assert home == str(result.workspace / ".home") and tmp == str(result.workspace / ".tmp")


def test_each_run_gets_a_fresh_workspace_that_keeps_only_the_files_given(box):
    # What the code writes lives in the workspace's tmpfs (the disk quota) and is gone with the run.
    writes = "open('made.txt', 'w').write('x')\nprint(open('made.txt').read())"
    first = box.run({"main.py": writes}, entry="main.py")
    second = box.run({"main.py": "import os\nprint(os.path.exists('made.txt'))"}, entry="main.py")
    assert first.workspace != second.workspace
    assert first.stdout == "x\n" and second.stdout == "False\n"
    assert (first.workspace / "main.py").read_text() == writes
    assert not (first.workspace / "made.txt").exists()


def test_output_is_cut_in_the_middle_with_a_marker(tmp_path):
    box = Sandbox(SandboxSpec(max_output_kb=1), tmp_path)
    result = box.run({"main.py": "print('HEAD'); print('x' * 50_000); print('TAIL')"}, entry="main.py")
    assert result.truncated and result.ok
    assert result.stdout.startswith("HEAD") and result.stdout.rstrip().endswith("TAIL")
    assert "bytes cut by Huddle's sandbox" in result.stdout and len(result.stdout) < 1200


def test_standard_library_only_unless_site_packages_are_allowed(tmp_path):
    code = "import yaml\nprint(yaml.safe_dump({'a': 1}).strip())"
    closed = Sandbox(SandboxSpec(), tmp_path / "a").run({"main.py": code}, entry="main.py")
    assert closed.exit_code == 1 and "ModuleNotFoundError: No module named 'yaml'" in closed.stderr
    opened = Sandbox(SandboxSpec(site_packages=True), tmp_path / "b").run({"main.py": code}, entry="main.py")
    assert opened.stdout == "a: 1\n", opened.stderr


@pytest.mark.parametrize("name", ["../evil.py", "/etc/passwd", ".huddle/stdout.txt", ""])
def test_file_names_must_stay_inside_the_workspace(box, name):
    with pytest.raises(SandboxError, match="relative path inside the workspace"):
        box.run({"main.py": "pass", name: "x"}, entry="main.py")


def test_the_entry_and_tests_must_be_among_the_files(box):
    with pytest.raises(SandboxError, match="must be among the files"):
        box.run({"main.py": "pass"}, entry="other.py")


def test_runs_from_several_threads_do_not_mix(box):
    results = {}

    def work(i):
        results[i] = box.run({"main.py": f"print({i} * {i})"}, entry="main.py", name=f"t{i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert {i: r.stdout for i, r in results.items()} == {i: f"{i * i}\n" for i in range(6)}
    assert len({r.workspace for r in results.values()}) == 6


def test_isolation_is_reported(box):
    result = box.run({"main.py": "pass"}, entry="main.py")
    # CI runs on Linux with Landlock and user namespaces: all of it must hold there.
    assert (result.network, result.filesystem, result.processes_contained) == ("cut", "isolated", True)
    assert result.network_isolated


def test_network_can_be_allowed(tmp_path):
    result = Sandbox(SandboxSpec(network=True), tmp_path).run({"main.py": "pass"}, entry="main.py")
    assert result.network == "open" and result.ok


def test_required_isolation_is_checked_before_running(tmp_path):
    result = Sandbox(SandboxSpec(require_isolation=True), tmp_path).run({"main.py": "print(1)"}, entry="main.py")
    assert result.stdout == "1\n"  # this machine isolates, so the run goes ahead


def test_a_parent_holding_many_files_can_still_run_code(tmp_path):
    # A long-lived parent (the studio, a test session) can hold more than select()'s 1024 descriptors.
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(4096, hard)), hard))  # raised, never lowered
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        result = Sandbox(SandboxSpec(), tmp_path).run({"main.py": "print('ok')"}, entry="main.py")
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert result.stdout == "ok\n" and result.ok
