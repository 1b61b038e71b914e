r"""Run model-written code safely: limits, isolation, a hard deadline and a pytest-style test harness.

Example:
    >>> import tempfile
    >>> from studio.spec.sandbox import SandboxSpec
    >>> box = Sandbox(SandboxSpec(), tempfile.mkdtemp())
    >>> result = box.run({"solution.py": "def add(a, b):\n    return a + b\n",
    ...                   "test_solution.py": "assert add(2, 3) == 5\n"}, tests=["test_solution.py"])
    >>> result.passed, result.failed, result.ok
    (1, 0, True)
"""

from sandbox.result import LIMIT_TEXT, ExecResult, Limit, TestOutcome
from sandbox.run import Sandbox, SandboxError, isolation_report

__all__ = ["LIMIT_TEXT", "ExecResult", "Limit", "Sandbox", "SandboxError", "TestOutcome", "isolation_report"]
