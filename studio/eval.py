"""Evaluate a team on tasks with hidden tests, and compare it with one plain model call.

The team sees only each task's prompt. Its final code then runs against the
task's hidden tests in the sandbox (the team's limits, always enabled); the
task passes when every hidden assert ran and passed. ``run_baseline`` asks the
same model once, with a plain prompt, and grades its code the same way.
``evaluate(..., ray=True)`` runs the tasks at once on Ray (:mod:`studio.ray_eval`).

Example:
    >>> from studio.spec import load_spec
    >>> tasks = load_tasks("tasks.jsonl")  # doctest: +SKIP
    >>> report = evaluate(load_spec("team.yaml"), tasks, baseline=True)  # doctest: +SKIP
    >>> report.summary()["ratio"]  # doctest: +SKIP
    1.5
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from roles._parse import ParseError, extract_code
from sandbox import LIMIT_TEXT, ExecResult, Sandbox
from studio.bus import Bus
from studio.eval_io import EvalError, EvalTask, load_tasks, write_outputs
from studio.home import huddle_home
from studio.llm import CallSettings, Gateway, ModelCallError, check_model
from studio.messages import Code, Error, Task, new_id
from studio.redact import redact
from studio.runner import open_log, run_team
from studio.scripted import ScriptExhausted
from studio.spec import RoleSpec, SandboxSpec, TeamSpec

__all__ = ["BASELINE_TEAM", "EvalError", "EvalReport", "EvalTask", "TaskResult", "baseline_model", "evaluate",
           "grade", "load_tasks", "run_baseline", "run_task", "write_outputs"]

BASELINE_TEAM = "single-call baseline"
"""The team name the baseline's runs carry in the run log."""
BASELINE_SYSTEM = "You are a Python programmer. Reply with one ```python code block that defines the function."
HIDDEN = "test_hidden.py"

System = Literal["team", "baseline"]


@dataclass(frozen=True)
class TaskResult:
    """How one system (the team, or the single-call baseline) did on one task."""

    task_id: str
    system: System
    passed: bool
    tests_passed: int = 0
    tests_total: int = 0
    attempts: int = 0
    """Code messages written (the baseline: 1)."""
    tokens: int = 0
    """Prompt plus completion tokens over the whole run."""
    cost_usd: float = 0.0
    seconds: float = 0.0
    """Wall time: the run and its hidden tests."""
    run_id: str = ""
    reason: str = ""
    """Why it failed, in a few words (empty when it passed)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``task`` for the id, seconds rounded to ms)."""
        data = asdict(self)
        return {"task": data.pop("task_id"), **data, "seconds": round(self.seconds, 3)}


@dataclass
class EvalReport:
    """The results of an evaluation, in the order they were made.

    A task counts once every system asked for has a result for it (an interrupted
    evaluation's last task may not).
    """

    team_name: str
    model: str | None = None
    """The ``--model`` override; ``None`` when each role used the spec's model."""
    baseline_model: str | None = None
    """The baseline's model; ``None`` when no baseline ran."""
    results: list[TaskResult] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    """The Ray worker processes (``host:pid``) the tasks ran in; empty when they ran here."""

    def pairs(self) -> list[tuple[TaskResult, TaskResult | None]]:
        """(team, baseline) for each finished task, in order."""
        team = [r for r in self.results if r.system == "team"]
        base = {r.task_id: r for r in self.results if r.system == "baseline"}
        if self.baseline_model is None:
            return [(r, None) for r in team]
        return [(r, base[r.task_id]) for r in team if r.task_id in base]

    def task_objects(self) -> list[dict[str, Any]]:
        """One JSON-ready object per finished task, with both systems' results."""
        return [{"task": t.task_id, "team": t.to_dict(), "baseline": b.to_dict() if b else None}
                for t, b in self.pairs()]

    def summary(self) -> dict[str, Any]:
        """Totals for the team and the baseline, and the ratio of their pass rates."""
        pairs = self.pairs()
        total = len(pairs)
        out: dict[str, Any] = {"summary": True, "team": self.team_name, "total": total}
        for name, results in (("team", [t for t, _ in pairs]), ("baseline", [b for _, b in pairs if b])):
            ran = name == "team" or self.baseline_model is not None
            passed = sum(r.passed for r in results)
            out[f"{name}_passed"] = passed if ran else None
            out[f"{name}_pass_rate"] = round(passed / total, 4) if ran and total else None
            out[f"{name}_tokens"] = sum(r.tokens for r in results) if ran else None
            out[f"{name}_seconds"] = round(sum(r.seconds for r in results), 3) if ran else None
            out[f"{name}_cost_usd"] = round(sum(r.cost_usd for r in results), 6) if ran else None
        base_rate = out["baseline_pass_rate"]
        out["ratio"] = round(out["team_pass_rate"] / base_rate, 4) if base_rate else None
        out["model"], out["baseline_model"] = self.model, self.baseline_model
        return out


def _defines(code: str, name: str) -> bool:
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


def _short(text: str, limit: int = 160) -> str:
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
        reason = f"the code fails on import: {_short(broken.message)}"
    elif ok == total and total and not any(not t.ok for t in hidden):
        return ok, total, ""
    else:
        first = next((t for t in hidden if not t.ok), None)
        detail = _short(first.message) if first else "the hidden tests did not report"
        reason = f"hidden tests: {total - ok} of {total} failed: {detail}"
    if not _defines(code, task.entry_point):
        reason = f"{task.entry_point} is not defined in the code ({reason})"
    return ok, total, reason


def grade(task: EvalTask, code: str, box: SandboxSpec, home: Path, run_id: str) -> tuple[int, int, str]:
    """Run ``task``'s hidden tests against ``code`` in the sandbox (``box``'s limits), in the workspace
    ``home/workspaces/eval-<run_id>``: (hidden tests passed, hidden tests in all, why it failed or "")."""
    sandbox = Sandbox(box.model_copy(update={"enabled": True}), home / "workspaces" / f"eval-{run_id}")
    result = sandbox.run({"solution.py": code, HIDDEN: "\n".join(task.tests) + "\n"}, entry="solution.py",
                         tests=[HIDDEN], name="hidden-tests")
    return _verdict(task, code, result, box.timeout_s)


def run_task(spec: TeamSpec, task: EvalTask, model: str | None = None, home: str | Path | None = None, *,
             gateway: Gateway | None = None) -> TaskResult:
    """Run the team on ``task.prompt`` (never its tests), then its final code against the hidden tests.

    An evaluation has nobody to approve, so the spec's approval points are turned off. The run
    stays in the run log like any other.

    Raises:
        ModelConfigError, EmbedderError, MemoryStoreError: as :func:`studio.runner.run_team`.
        SandboxError: the sandbox cannot run code here.
    """
    home = huddle_home(home)
    started = time.monotonic()
    result = run_team(spec.model_copy(update={"approval": []}), task.prompt, model=model, home=home,
                      gateway=gateway)
    messages = result.messages
    code = result.final.code if result.final is not None else ""
    if result.status != "done":
        graded = (0, task.hidden_tests(), f"run failed: {_short(result.error or result.status)}")
    elif not code.strip():
        graded = (0, task.hidden_tests(), "no code")
    else:
        graded = grade(task, code, spec.sandbox, home, result.run_id)
    return TaskResult(task.id, "team", passed=not graded[2], tests_passed=graded[0], tests_total=graded[1],
                      attempts=sum(_written(m) for m in messages),
                      tokens=sum(m.usage.prompt_tokens + m.usage.completion_tokens for m in messages),
                      cost_usd=sum(m.usage.cost_usd for m in messages), seconds=time.monotonic() - started,
                      run_id=result.run_id, reason=graded[2])


def _written(message) -> bool:
    """Code a model wrote (not a copy the flow made, like a chosen candidate or joined steps)."""
    return isinstance(message, Code) and bool(message.code.strip()) and message.usage.calls > 0


def _baseline_spec(model: str, box: SandboxSpec) -> dict[str, Any]:
    """A one-role team standing for the baseline in the run log (so the studio can show its runs)."""
    spec = TeamSpec(name=BASELINE_TEAM, roles=[RoleSpec(name="baseline", kind="coder", model=model)],
                    sandbox=box, memory={"enabled": False})
    return spec.model_dump(mode="json", by_alias=True)


def run_baseline(task: EvalTask, model: str, home: str | Path | None = None, *, gateway: Gateway | None = None,
                 settings: CallSettings | None = None, sandbox: SandboxSpec | None = None) -> TaskResult:
    """One model call with a plain prompt, its code graded on the hidden tests like the team's.

    The call is recorded as a run of its own (team ``single-call baseline``): the task, then the
    reply as a ``code`` message from ``baseline`` (a scripted model answers from ``baseline:``).

    Args:
        task: the task (only its prompt goes to the model).
        model: the model to call.
        home: state folder; ``$HUDDLE_HOME`` by default.
        gateway: the gateway to call through (an evaluation shares one, so scripts continue).
        settings: temperature, max tokens, timeout, retries.
        sandbox: limits for the hidden tests; the defaults when omitted.

    Raises:
        ModelConfigError: the model cannot be used (unknown, missing key or file).
    """
    check_model(model, api_base=settings.api_base if settings else None)
    home, box = huddle_home(home), sandbox or SandboxSpec()
    started = time.monotonic()
    log = open_log(home)
    bus, run_id = Bus(log), new_id()
    log.create_run(run_id, team=BASELINE_TEAM, task=task.prompt, model=model, spec=_baseline_spec(model, box))
    first = Task(run_id=run_id, sender="user", content=task.prompt)
    bus.publish(first)
    failed = TaskResult(task.id, "baseline", passed=False, tests_total=task.hidden_tests(), attempts=1,
                        run_id=run_id)
    prompt = [{"role": "system", "content": BASELINE_SYSTEM}, {"role": "user", "content": task.prompt}]
    try:
        reply = (gateway or Gateway()).complete(model, prompt, role="baseline", settings=settings or CallSettings())
    except (ModelCallError, ScriptExhausted) as exc:
        text = redact(str(exc))
        bus.publish(Error(run_id=run_id, sender="system", error_type="provider", fatal=True, content=text))
        log.set_status(run_id, "failed", text)
        return _replace(failed, reason=f"model call failed: {_short(text)}", seconds=time.monotonic() - started)
    usage = {"tokens": reply.usage.prompt_tokens + reply.usage.completion_tokens, "cost_usd": reply.usage.cost_usd}
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


def evaluate(spec: TeamSpec, tasks: Iterable[EvalTask], model: str | None = None, baseline: bool = False,
             home: str | Path | None = None, on_result: Callable[[TaskResult], None] | None = None, *,
             on_start: Callable[[EvalTask, System], None] | None = None,
             gateway: Gateway | None = None, ray: bool | str = False) -> EvalReport:
    """Run the team on each task in order, and the baseline on it right after when ``baseline`` is set.

    One gateway serves the whole evaluation, so a scripted model's queues run on from task to
    task (the team's roles, and ``baseline``).

    Args:
        on_result: called with each result as it is made (team, then baseline, per task).
        on_start: called with the task and the system about to run (not on Ray).
        gateway: the gateway to use (tests pass one to inspect the scripted calls; not on Ray).
        ray: ``True`` runs the tasks at once on a local Ray instance, an address (``auto``,
            ``ray://head:10001``) on that cluster (see :mod:`studio.ray_eval`); the report is the same,
            in task order.
    """
    d = spec.defaults
    settings = CallSettings(temperature=d.temperature, max_tokens=d.max_tokens, timeout_s=d.timeout_s,
                            retries=d.retries, retry_backoff_s=d.retry_backoff_s, api_base=d.api_base,
                            api_key_env=d.api_key_env)
    base = baseline_model(spec, model) if baseline else None
    if ray is not False:
        from studio.ray_eval import evaluate_on_ray

        return evaluate_on_ray(spec, list(tasks), model, base, settings, home, on_result,
                               address=None if ray is True else ray)
    gateway = gateway or Gateway(d.max_concurrency, limits=d.providers)
    report = EvalReport(spec.name, model, base)
    for task in tasks:
        for system in ("team", "baseline") if base else ("team",):
            if on_start is not None:
                on_start(task, system)
            if system == "team":
                result = run_task(spec, task, model, home, gateway=gateway)
            else:
                result = run_baseline(task, base, home, gateway=gateway, settings=settings, sandbox=spec.sandbox)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    return report
