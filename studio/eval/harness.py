"""Evaluate a team on tasks with hidden tests, and compare it with one plain model call.

The team sees only each task's prompt. Its final code then runs against the
task's hidden tests in the sandbox (the team's limits, always enabled); the
task passes when every hidden assert ran and passed. ``run_baseline`` asks the
same model once, with a plain prompt, and grades its code the same way.
``studio.eval.suite.evaluate`` runs both over a task file, here or on Ray.

With a token budget per task (``huddle eval --budget-tokens N``), the team runs
under ``Budget(tokens=N)`` (set over its own budget) and a run stopped by it is
graded on its final's code (the best work so far); the single call's
``max_tokens`` is capped so that its prompt plus ``max_tokens`` fits in N.

Example:
    >>> baseline_model(TeamSpec(name="solo", roles=[RoleSpec(name="coder", kind="coder", model="m")]))
    'm'
"""

from __future__ import annotations

import ast
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from roles._parse import ParseError, extract_code
from sandbox import LIMIT_TEXT, ExecResult, Sandbox
from studio.bus import Bus
from studio.eval.report import BASELINES, TaskResult
from studio.eval.tasks import EvalTask
from studio.home import huddle_home
from studio.llm import CallSettings, Gateway, ModelCallError, check_model
from studio.llm.budget import count_prompt_tokens
from studio.llm.scripted import ScriptExhausted
from studio.messages import Code, Error, Task, new_id
from studio.redact import redact
from studio.runner import run_team, shared_store
from studio.spec import Budget, RoleSpec, SandboxSpec, TeamSpec

__all__ = ["BASELINE_ROLE", "BASELINE_SYSTEM", "BASELINE_TEAM", "BASELINE_TEAMS", "baseline_model", "baseline_team",
           "grade", "run_baseline", "run_task"]

BASELINE_TEAM = "single-call baseline"
"""The team name the single call's runs carry in the run log (``<name> baseline`` for each baseline)."""
BASELINE_TEAMS = frozenset(f"{name} baseline" for name in BASELINES)
"""The team names of every baseline's runs (a reader of the run log skips these for the team's runs)."""
BASELINE_ROLE = "baseline"
"""The role a baseline's calls are made as (a script's ``baseline:`` queue answers them)."""
BASELINE_SYSTEM = "You are a Python programmer. Reply with one ```python code block that defines the function."
HIDDEN = "test_hidden.py"

def defines(code: str, name: str) -> bool:
    """Whether ``code`` binds ``name`` at the top level (def, class, assignment or import)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                (a.asname or a.name.split(".")[0]) == name for a in node.names):
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store) for n in ast.walk(node)):
            return True
    return False


def short_text(text: str, limit: int = 160) -> str:
    flat = " · ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _verdict(task: EvalTask, code: str, result: ExecResult, timeout_s: float) -> tuple[int, int, str]:
    """(hidden tests passed, hidden tests in all, why it failed or "").

    Only the hidden asserts count: ``test_*`` functions in the code itself run too (the harness
    runs them) but neither pass nor fail the task.
    """
    total = task.hidden_tests()
    hidden = [t for t in result.tests or [] if t.of_file(HIDDEN)]
    ok = sum(t.ok for t in hidden if t.name != HIDDEN)
    broken = next((t for t in result.tests or [] if t.import_failed), None)
    if result.limit == "timeout":
        reason = f"timeout: the hidden tests ran past {timeout_s:g} s"
    elif result.limit:
        reason = f"hidden tests stopped: {LIMIT_TEXT[result.limit]}"
    elif broken is not None:
        reason = f"the code fails on import: {short_text(broken.message)}"
    elif ok == total and total and not any(not t.ok for t in hidden):
        return ok, total, ""
    else:
        first = next((t for t in hidden if not t.ok), None)
        detail = short_text(first.message) if first else "the hidden tests did not report"
        reason = f"hidden tests: {total - ok} of {total} failed: {detail}"
    if not defines(code, task.entry_point):
        reason = f"{task.entry_point} is not defined in the code ({reason})"
    return ok, total, reason


def grade(task: EvalTask, code: str, box: SandboxSpec, home: Path, run_id: str) -> tuple[int, int, str]:
    """Run ``task``'s hidden tests against ``code`` in the sandbox, with ``box``'s limits.

    The workspace is ``home/workspaces/eval-<run_id>``.

    Returns:
        (hidden tests passed, hidden tests in all, why it failed or "").
    """
    sandbox = Sandbox(box.model_copy(update={"enabled": True}), home / "workspaces" / f"eval-{run_id}")
    result = sandbox.run({"solution.py": code, HIDDEN: task.hidden_file()}, entry="solution.py",
                         tests=[HIDDEN], name="hidden-tests")
    return _verdict(task, code, result, box.timeout_s)


def run_task(spec: TeamSpec, task: EvalTask, model: str | None = None, home: str | Path | None = None, *,
             gateway: Gateway | None = None, budget: Budget | None = None) -> TaskResult:
    """Run the team on ``task.prompt`` (never its tests), then its final code against the hidden tests.

    An evaluation has nobody to approve, so the spec's approval points are turned off. The run
    stays in the run log like any other. ``budget`` is set over the team's own (``--budget-tokens``
    gives ``Budget(tokens=N)``); a run stopped by a budget is graded on its final's code, the best
    work so far, and its result has ``budget_stop`` set.

    Raises:
        ModelConfigError, EmbedderError, MemoryStoreError: as :func:`studio.runner.run_team`.
        SandboxError: the sandbox cannot run code here.
    """
    home = huddle_home(home)
    started = time.monotonic()
    result = run_team(spec.model_copy(update={"approval": []}), task.prompt, model=model, home=home,
                      gateway=gateway, budget=budget)
    messages = result.messages
    code = result.final.code if result.final is not None else ""
    stopped = result.status == "budget"
    if result.status not in ("done", "unsolved", "budget"):  # unsolved and stopped runs' code is graded too
        graded = (0, task.hidden_tests(), f"run failed: {short_text(result.error or result.status)}")
    elif not code.strip():
        graded = (0, task.hidden_tests(), "no code (stopped by the budget)" if stopped else "no code")
    else:
        graded = grade(task, code, spec.sandbox, home, result.run_id)
    return TaskResult(task.id, "team", passed=not graded[2], tests_passed=graded[0], tests_total=graded[1],
                      attempts=sum(_written(m) for m in messages),
                      tokens=sum(m.usage.prompt_tokens + m.usage.completion_tokens for m in messages),
                      cost_usd=sum(m.usage.cost_usd for m in messages), seconds=time.monotonic() - started,
                      run_id=result.run_id, reason=graded[2], budget_stop=stopped)


def _written(message) -> bool:
    """Code a model wrote (not a copy the flow made, like a chosen candidate or joined steps)."""
    return isinstance(message, Code) and bool(message.code.strip()) and message.usage.calls > 0


def baseline_team(system: str) -> str:
    """The team name a baseline's runs carry in the run log: ``single-call baseline`` and so on."""
    return f"{system} baseline"


def baseline_spec(model: str, box: SandboxSpec, team: str = BASELINE_TEAM) -> dict[str, Any]:
    """A one-role team standing for a baseline in the run log (so the studio can show its runs)."""
    spec = TeamSpec(name=team, roles=[RoleSpec(name=BASELINE_ROLE, kind="coder", model=model)],
                    sandbox=box, memory={"enabled": False})
    return spec.model_dump(mode="json", by_alias=True)


def run_baseline(task: EvalTask, model: str, home: str | Path | None = None, *, gateway: Gateway | None = None,
                 settings: CallSettings | None = None, sandbox: SandboxSpec | None = None,
                 budget_tokens: int | None = None) -> TaskResult:
    """One model call with a plain prompt, its code graded on the hidden tests like the team's.

    The call is recorded as a run of its own (team ``single-call baseline``): the task, then the
    reply as a ``code`` message from ``baseline`` (a scripted model answers from ``baseline:``).

    With ``budget_tokens``, the call's ``max_tokens`` is capped so that its prompt plus ``max_tokens``
    fits in the budget (its own ``max_tokens`` when that fits); when the prompt alone leaves no room,
    no call is made. Either way, a reply cut by the cap or no call at all sets ``budget_stop``.

    Args:
        task: the task (only its prompt goes to the model).
        model: the model to call.
        home: state folder; ``$HUDDLE_HOME`` by default.
        gateway: the gateway to call through (an evaluation shares one, so scripts continue).
        settings: temperature, max tokens, timeout, retries.
        sandbox: limits for the hidden tests; the defaults when omitted.
        budget_tokens: the most tokens (prompt plus completion) the call may take; ``None``: no limit.

    Raises:
        ModelConfigError: the model cannot be used (unknown, missing key or file).
    """
    check_model(model, api_base=settings.api_base if settings else None)
    home, box, settings = huddle_home(home), sandbox or SandboxSpec(), settings or CallSettings()
    started = time.monotonic()
    log = shared_store(home)
    bus, run_id = Bus(log), new_id()
    log.create_run(run_id, team=BASELINE_TEAM, task=task.prompt, model=model, spec=baseline_spec(model, box))
    first = Task(run_id=run_id, sender="user", content=task.prompt)
    bus.publish(first)
    failed = TaskResult(task.id, "single-call", passed=False, tests_total=task.hidden_tests(), attempts=1,
                        run_id=run_id)
    prompt = [{"role": "system", "content": BASELINE_SYSTEM}, {"role": "user", "content": task.prompt}]
    room = settings.max_tokens
    if budget_tokens is not None:
        prompt_tokens = count_prompt_tokens(model, prompt)
        room = budget_tokens - prompt_tokens
    if room < 1:
        text = f"the token budget ({budget_tokens:,}) is reached: the prompt alone takes {prompt_tokens:,}"
        bus.publish(Error(run_id=run_id, sender="system", error_type="budget", fatal=True, content=text))
        log.set_status(run_id, "failed", text)
        return _replace(failed, reason=f"no call: {text}", attempts=0, budget_stop=True,
                        seconds=time.monotonic() - started)
    capped = room < settings.max_tokens
    try:
        reply = (gateway or Gateway()).complete(model, prompt, role=BASELINE_ROLE,
                                                settings=replace(settings, max_tokens=room) if capped else settings)
    except (ModelCallError, ScriptExhausted) as exc:
        text = redact(str(exc))
        bus.publish(Error(run_id=run_id, sender="system", error_type="provider", fatal=True, content=text))
        log.set_status(run_id, "failed", text)
        return _replace(failed, reason=f"model call failed: {short_text(text)}", seconds=time.monotonic() - started)
    usage = {"tokens": reply.usage.prompt_tokens + reply.usage.completion_tokens, "cost_usd": reply.usage.cost_usd,
             "budget_stop": capped and reply.usage.completion_tokens >= room}
    try:
        code = extract_code(reply.text)
    except ParseError as exc:
        bus.publish(Error(run_id=run_id, sender="baseline", error_type="parse", fatal=True, parent_id=first.id,
                          content=redact(f"{exc}: {reply.text}"), usage=reply.usage))
        log.set_status(run_id, "failed", str(exc))
        return _replace(failed, reason="no code block", seconds=time.monotonic() - started, **usage)
    bus.publish(Code(run_id=run_id, sender="baseline", content=redact(reply.text), code=code, parent_id=first.id,
                     usage=reply.usage))
    log.set_status(run_id, "done")
    passed, total, reason = grade(task, code, box, home, run_id)
    return _replace(failed, passed=not reason, tests_passed=passed, tests_total=total, reason=reason,
                    seconds=time.monotonic() - started, **usage)


def _replace(result: TaskResult, **changes: Any) -> TaskResult:
    return TaskResult(**{**asdict(result), **changes})


def baseline_model(spec: TeamSpec, model: str | None = None) -> str:
    """The baseline's model: ``model`` if given, else the team coder's model (the spec's default without one)."""
    coder = next((r for r in spec.roles if r.behaviour == "coder"), None)
    return model or (spec.model_for(coder.name) if coder else spec.defaults.model)
