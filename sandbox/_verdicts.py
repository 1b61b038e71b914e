"""The parent's side of the verdicts: which tests it expects, and the outcomes the test runner reported.

The test runner reports one line per test on a pipe only it holds, and a last
``{"done": n}`` line. Tests the parent expected (worked out here from the
files it wrote, before the code ran) but never heard of count as failed when
that last line is missing: a run stopped by a limit, or a runner that died,
never turns into fewer failures.
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Mapping, Sequence

from sandbox.result import Limit, TestOutcome

__all__ = ["expected_tests", "outcomes"]


def has_tests(source: str) -> bool:
    """Whether the code defines pytest-style ``test_*`` functions (then they run through the harness)."""
    return bool(_test_functions(source))


def _test_functions(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]


def expected_tests(files: Mapping[str, str], entry: str, tests: Sequence[str]) -> list[str]:
    """The names the test runner should report.

    These are the code's own ``test_*`` functions, then each test file's asserts and ``test_*`` functions
    (the file's own name when it does not parse).
    """
    names = list(dict.fromkeys(_test_functions(files[entry])))
    for test_file in tests:
        base = posixpath.basename(test_file)
        try:
            tree = ast.parse(files[test_file])
        except (SyntaxError, ValueError):
            names.append(base)
            continue
        names += [f"{base}:{n.lineno}" for n in tree.body if isinstance(n, ast.Assert)]
        names += [f"{base}:{n}" for n in dict.fromkeys(
            n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test"))]
    return names


def outcomes(lines: list[dict], expected: list[str], limit: Limit | None) -> list[TestOutcome]:
    """The reported outcomes; when the runner did not finish, every expected test it did not report fails."""
    found, done = [], False
    for line in lines:
        if "done" in line:
            done = True
        elif isinstance(line.get("test"), str) and isinstance(line.get("ok"), bool):
            found.append(TestOutcome(line["test"], line["ok"], str(line.get("message", ""))))
    if done:
        return found
    reason = f"stopped: {limit}" if limit else "the test run ended before it reported"
    seen = {t.name for t in found}
    found += [TestOutcome(name, False, f"not run: {reason}") for name in expected if name not in seen]
    return found or [TestOutcome("tests", False, reason)]
