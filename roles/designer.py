"""The test designer: asserts written from the task's text before any code, as in AgentCoder.

The tests are evidence, not a verdict: a flow weighs each one by how many
candidates pass it (:func:`roles.vote.trust`), and a run's outcome is decided
by the task's own tests only. The designer sees the task, never code, so its
tests do not inherit the coder's mistakes.
"""

from __future__ import annotations

import ast

from roles._parse import ParseError, fenced_blocks
from roles.base import RoleContext, TeamState, ask, task_of
from roles.examples import example_asserts
from roles.inputs import signature
from studio.messages import DesignedTests, Message

__all__ = ["DESIGNED_TESTS", "design_tests", "parse_tests"]

DESIGNED_TESTS = 5
"""Assert lines asked for."""


def _calls(node: ast.AST, function: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == function
               for n in ast.walk(node))


def parse_tests(text: str, function: str | None = None, most: int = DESIGNED_TESTS * 2) -> list[str]:
    r"""The distinct, well-formed assert lines of a reply that call ``function`` (any call without one).

    Example:
        >>> parse_tests("```python\nassert inc(1) == 2\nassert inc(1) == 2\nx = 1\nassert 1 == 1\n```", "inc")
        ['assert inc(1) == 2']

    Raises:
        ParseError: no such assert line in the reply.
    """
    blocks = [code for lang, code in fenced_blocks(text) if lang in ("", "python", "py")] or [text]
    found: list[str] = []
    for line in (ln.strip() for block in blocks for ln in block.splitlines()):
        if not line.startswith("assert ") or line in found:
            continue
        try:
            node = ast.parse(line).body[0]
        except (SyntaxError, ValueError, RecursionError, IndexError):
            continue
        if isinstance(node, ast.Assert) and (_calls(node, function) if function else
                                             any(isinstance(n, ast.Call) for n in ast.walk(node))):
            found.append(line)
    if not found:
        raise ParseError(f"no assert line calling {function or 'the function'}")
    return found[:most]


def design_tests(state: TeamState, ctx: RoleContext) -> list[Message]:
    """Ask the model for assert lines from the task's text; none (and no message) when it writes none usable."""
    task = task_of(state["transcript"])
    found = signature(task)
    function = found[0] if found else None
    answer = ask(ctx, {"task": task, "function": function or "", "count": DESIGNED_TESTS},
                 lambda t: parse_tests(t, function), query=task)
    given = set(example_asserts(task))
    tests = [t for t in answer.parsed or [] if t not in given]  # the task's own examples are counted already
    content = "\n".join(tests) if tests else "No usable test was written."
    return [*answer.notes, DesignedTests(run_id=ctx.run_id, sender=ctx.role.name, content=content, tests=tests,
                                 usage=answer.usage, memory_ids=answer.memory_ids)]
