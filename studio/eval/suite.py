"""``evaluate``: run a team on each task (and the baselines asked for after it), here or on Ray.

Example:
    >>> from studio.spec import load_spec
    >>> from studio.eval import load_tasks
    >>> report = evaluate(load_spec("team.yaml"), load_tasks("tasks.jsonl"), baseline=True)  # doctest: +SKIP
    >>> report.summary()["ratio"]  # doctest: +SKIP
    1.5
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from studio.eval.baselines import run_named
from studio.eval.harness import baseline_model, run_task
from studio.eval.report import Baselines, EvalReport, TaskResult, baseline_names
from studio.eval.tasks import EvalTask
from studio.llm import CallSettings, Gateway
from studio.spec import Budget, TeamSpec

__all__ = ["evaluate"]

def evaluate(spec: TeamSpec, tasks: Iterable[EvalTask], model: str | None = None, baseline: Baselines = False,
             home: str | Path | None = None, on_result: Callable[[TaskResult], None] | None = None, *,
             on_start: Callable[[EvalTask, str], None] | None = None,
             gateway: Gateway | None = None, ray: bool | str = False,
             budget_tokens: int | None = None) -> EvalReport:
    """Run the team on each task in order, and each baseline asked for on it right after.

    One gateway serves the whole evaluation, so a scripted model's queues run on from task to
    task (the team's roles, and ``baseline``). The sampled baselines get the team's tokens on
    the task as their budget (see :mod:`studio.eval.baselines`), unless ``budget_tokens`` gives every
    system the same budget per task.

    Args:
        spec: the team.
        tasks: the tasks, in order.
        model: a model for every role and the baselines; ``None``: each role's own (the baselines: the coder's).
        baseline: the baselines to run: ``True`` for ``single-call``, or names (``"single-call,retry"``,
            ``["sample-vote", "retry"]``) from :data:`studio.eval.report.BASELINES`.
        home: the state folder (``$HUDDLE_HOME`` by default).
        on_result: called with each result as it is made (team, then each baseline, per task).
        on_start: called with the task and the system about to run (not on Ray).
        gateway: the gateway to use (tests pass one to inspect the scripted calls; not on Ray).
        ray: ``True`` runs the tasks at once on a local Ray instance, an address (``auto``,
            ``ray://head:10001``) on that cluster (see :mod:`studio.eval.on_ray`); the report is the same,
            in task order.
        budget_tokens: the tokens each system may spend on each task: the team runs under
            ``Budget(tokens=budget_tokens)`` (set over its own budget; a run it stops is graded on its best
            work so far), the single call's ``max_tokens`` is capped to fit, and the sampled baselines draw
            within it instead of within the team's tokens. ``None``: as without it.

    Raises:
        ValueError: an unknown baseline name, or a ``budget_tokens`` below 1.
    """
    names = baseline_names(baseline)
    if budget_tokens is not None and budget_tokens < 1:
        raise ValueError(f"budget_tokens: expected a number of tokens of at least 1, got {budget_tokens}")
    d = spec.defaults
    settings = CallSettings(temperature=d.temperature, max_tokens=d.max_tokens, timeout_s=d.timeout_s,
                            retries=d.retries, retry_backoff_s=d.retry_backoff_s, api_base=d.api_base,
                            api_key_env=d.api_key_env)
    base = baseline_model(spec, model) if names else None
    if ray is not False:
        from studio.eval.on_ray import evaluate_on_ray

        return evaluate_on_ray(spec, list(tasks), model, base, settings, home, on_result,
                               address=None if ray is True else ray, baselines=names, budget_tokens=budget_tokens)
    gateway = gateway or Gateway(d.max_concurrency, limits=d.providers)
    report = EvalReport(spec.name, model, base, baselines=names, budget_tokens=budget_tokens)
    budget = Budget(tokens=budget_tokens) if budget_tokens is not None else None
    for task in tasks:
        team: TaskResult | None = None
        for system in report.systems:
            if on_start is not None:
                on_start(task, system)
            if team is None:
                result = team = run_task(spec, task, model, home, gateway=gateway, budget=budget)
            else:
                assert base is not None  # a baseline runs only when there is one
                result = run_named(system, task, base, home, budget=budget_tokens or team.tokens,
                                   fallback=spec.flow.candidates, gateway=gateway, settings=settings,
                                   sandbox=spec.sandbox, strict=budget_tokens is not None,
                                   hotter=spec.flow.candidate_temperature)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    return report
