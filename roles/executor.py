"""Code as action: run the coder's latest code in the sandbox, with the tests the task, plan or coder gave.

Tests come from the task and the plan (fenced Python blocks with ``assert`` or
``def test_``, and bare ``assert`` lines) and from ``test_*`` functions in the
code itself. The result is published as an :class:`~studio.messages.Execution`
that the coder revises from and the critic judges with.
"""

from __future__ import annotations

import re
from typing import Any

from roles._parse import fenced_blocks
from roles.base import RoleContext, TeamState, last, task_of
from roles.designed import designed_results
from roles.examples import bare_asserts, example_asserts
from sandbox import LIMIT_TEXT, ExecResult
from studio.messages import Code, DesignedTests, Execution, Message, Plan, ToolCall, ToolResult
from studio.redact import redact

__all__ = ["attempts_in_step", "execute", "execution_of", "execution_report", "extract_tests", "given_tests",
           "run_code", "task_counts"]

SOLUTION, TESTS = "solution.py", "test_task.py"
_PROMPT_OUTPUT_CHARS = 1200
"""How much of stdout/stderr a prompt gets (the message keeps the sandbox's full, capped output)."""


def extract_tests(text: str) -> str:
    r"""Test code given in a task or plan: Python blocks with asserts or test functions, and bare assert lines.

    Example:
        >>> extract_tests("Write add(a, b).\nassert add(1, 2) == 3")
        'assert add(1, 2) == 3'
    """
    blocks = [code for lang, code in fenced_blocks(text) if lang in ("", "python", "py")
              and ("assert " in code or "def test" in code)]
    outside = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    lines = bare_asserts(outside)
    parts = [b.strip() for b in blocks] + (["\n".join(lines)] if lines else [])
    return "\n\n".join(parts)


def task_counts(ran: Execution) -> tuple[int, int]:
    """``(passed, failed)`` of the task's tests in a run: its tests less the ones the code brought itself."""
    return ran.passed - ran.own_passed, ran.failed - ran.own_failed


def given_tests(task: str, edge_cases: bool = True) -> str:
    r"""The tests a task gives: its test code (:func:`extract_tests`), then its other worked examples as asserts.

    Those are ``>>>`` lines in a docstring and sentences such as ``f(2) should return 4``
    (:mod:`roles.examples`); a plan's text is not read this way (a model's prose is no evidence). Without
    ``edge_cases``, what the task says of empty input ("an empty list gives 0") is left out: the worked
    examples alone, that show what the function is for.

    Example:
        >>> given_tests("Write inc(n); inc(1) should return 2.")
        'assert inc(1) == 2'
    """
    code = extract_tests(task)
    more = [line for line in example_asserts(task, edge_cases) if line not in code]
    return "\n\n".join(part for part in (code, "\n".join(more)) if part)


def attempts_in_step(transcript: list[Message], coder: str) -> int:
    """Executions of ``coder``'s code since anyone else last spoke (its tries at the current step)."""
    count = 0
    for message in reversed(transcript):
        if isinstance(message, Execution) and message.sender == coder:
            count += 1
        elif message.sender != coder or not isinstance(message, (Code, ToolCall, ToolResult)) and \
                message.kind != "error":
            break
    return count


def execution_of(transcript: list[Message], code: Code | None) -> Execution | None:
    """The latest execution of ``code``, if it was run."""
    if code is None:
        return None
    return next((m for m in reversed(transcript) if isinstance(m, Execution) and m.parent_id == code.id), None)


def execution_report(execution: Execution, limit: int = _PROMPT_OUTPUT_CHARS) -> str:
    """What a prompt says about an execution: the outcome, the failures and the end of the output."""
    lines = [execution.content.splitlines()[0] if execution.content else ""]
    lines += [f"FAILED {f}" for f in execution.failures[:5]]
    if execution.designed_failed:
        shown = "; ".join(execution.designed_failed[:3])
        lines.append(f"designed tests (written from the task's text; they may be wrong): {execution.designed_passed} "
                     f"passed, {len(execution.designed_failed)} failed: {shown}")
    for name, text in (("stdout", execution.stdout), ("stderr", execution.stderr)):
        text = text.strip()
        if text:
            lines.append(f"{name} (end):\n{text[-limit:]}")
    return "\n".join(line for line in lines if line)


def _content(result: ExecResult, tests_given: bool) -> str:
    if result.tests is not None:
        what = f"{result.passed} passed, {result.failed} failed"
        what = f"tests{' (from the task)' if tests_given else ''}: {what}"
    else:
        what = "ran as a script"
    # no duration in the text: prompts quote it, and a prompt that differs run to run is neither reproducible nor
    # a prefix the embedded model can reuse (the duration is the message's duration_ms)
    head = f"{'OK' if result.ok else 'FAILED'}: {what}; exit {result.exit_code}"
    if result.limit:
        head += f". Stopped: {LIMIT_TEXT[result.limit]}"
    return head + "."


def execute(state: TeamState, ctx: RoleContext, *, task_tests: bool = True, prelude: str = "") -> list[Message]:
    """Run the latest code of the role ``ctx`` belongs to; one execution message (or none without a sandbox).

    ``task_tests=False`` runs only the tests in the code (a plan step is a part: the task's tests need the
    whole). ``prelude`` is code run before it in the same file (the steps a plan step depends on).

    What the code printed is redacted like everything else Huddle stores: a key the code found or
    was given never reaches the run log.
    """
    transcript = state["transcript"]
    code = last(transcript, Code)
    if ctx.sandbox is None or code is None or not code.code:
        return []
    plan = last(transcript, Plan)
    given = "\n\n".join(t for t in (given_tests(task_of(transcript)),
                                    extract_tests(plan.content) if plan else "") if t) if task_tests else ""
    source = f"{prelude}\n\n{code.code}" if prelude else code.code
    name = f"{ctx.role.name}-{ctx.branch}" if ctx.branch else ctx.role.name
    ran = run_code(ctx.sandbox, source, given, run_id=ctx.run_id, sender=ctx.role.name, parent_id=code.id, name=name)
    designed = last(transcript, DesignedTests) if task_tests else None
    if designed is not None and designed.tests and ran.exit_code == 0:
        rows = designed_results(source, designed.tests, ctx.sandbox, name=f"{name}-designed")
        failing = [t for t, ok in zip(designed.tests, rows, strict=True) if not ok]
        ran = ran.model_copy(update={"designed_passed": sum(rows), "designed_failed": failing})
    return [ran]


def run_code(sandbox: Any, source: str, tests: str, *, run_id: str, sender: str, parent_id: str | None = None,
             name: str = "run") -> Execution:
    """Run ``source`` in ``sandbox`` with ``tests`` (assert lines or test functions; may be empty) as an Execution.

    What the code printed is redacted like everything else Huddle stores.
    """
    files = {SOLUTION: source, **({TESTS: tests} if tests else {})}
    result = sandbox.run(files, entry=SOLUTION, tests=[TESTS] if tests else [], name=name)
    own = [t for t in result.tests or [] if t.from_code]
    return Execution(
        run_id=run_id, sender=sender, parent_id=parent_id, content=_content(result, bool(tests)),
        exit_code=result.exit_code, stdout=redact(result.stdout), stderr=redact(result.stderr),
        passed=result.passed, failed=result.failed, tests_run=result.tests is not None,
        failures=[redact(f"{t.name}: {t.message}") for t in result.tests or [] if not t.ok],
        own_passed=sum(t.ok for t in own), own_failed=sum(not t.ok for t in own),
        limit=result.limit, duration_ms=round(result.duration_s * 1000, 1), peak_memory_mb=result.peak_memory_mb,
        network=result.network, filesystem=result.filesystem, workspace=str(result.workspace or ""),
    )
