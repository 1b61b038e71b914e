"""``evaluate`` on Ray: each task (the team's run, its grading, and the baselines') is one job of a batch.

The report is the sequential loop's: the same results, in task order, whatever
order the tasks finished in; ``on_result`` hears each task's results (team,
then each baseline) as the task finishes. See :mod:`studio.batch`.

Example:
    >>> from studio.eval import evaluate, load_tasks
    >>> report = evaluate(spec, load_tasks("tasks.jsonl"), ray=True)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from studio.batch import RUNS_PER_WORKER, run_batch
from studio.eval.baselines import run_named
from studio.eval.harness import run_task
from studio.eval.report import EvalReport, TaskResult
from studio.eval.tasks import EvalTask
from studio.llm import CallSettings, Gateway
from studio.spec import Budget, TeamSpec

__all__ = ["evaluate_on_ray", "eval_job"]

_Item = tuple[Any, ...]
"""(task, model override, baseline model or None, call settings[, baseline names[, token budget per task]]);
without the names a baseline model means the single call; without a budget, as ``budget_tokens=None``."""


def eval_job(spec: TeamSpec, item: _Item, *, home: Path, gateway: Gateway) -> tuple[list[TaskResult], list[str]]:
    """One task, in a worker: the team's run graded on the hidden tests, then each baseline asked for."""
    task, model, base, settings, *rest = item
    names: Sequence[str] = rest[0] if rest else (("single-call",) if base is not None else ())
    tokens: int | None = rest[1] if len(rest) > 1 else None
    team = run_task(spec, task, model, home, gateway=gateway, budget=Budget(tokens=tokens) if tokens else None)
    results = [team]
    for system in names if base is not None else ():
        results.append(run_named(system, task, base, home, budget=tokens or team.tokens,
                                 fallback=spec.flow.candidates, gateway=gateway, settings=settings,
                                 sandbox=spec.sandbox, strict=tokens is not None,
                                 hotter=spec.flow.candidate_temperature))
    return results, [r.run_id for r in results]


def evaluate_on_ray(spec: TeamSpec, tasks: Sequence[EvalTask], model: str | None, base: str | None,
                    settings: CallSettings, home: str | Path | None = None,
                    on_result: Callable[[TaskResult], None] | None = None, *, address: str | None = None,
                    workers: int | None = None, runs_per_worker: int = RUNS_PER_WORKER,
                    baselines: Sequence[str] | None = None, budget_tokens: int | None = None) -> EvalReport:
    """Evaluate on Ray (a local instance when ``address`` is ``None``); see :func:`studio.eval.suite.evaluate`.

    ``baselines`` names the baselines to run with model ``base`` (``None``: the single call when
    ``base`` is given); ``budget_tokens`` is the token budget per task of every system.

    Raises:
        RayUnavailable: Ray cannot be reached at ``address``.
        ModelConfigError, ScriptError: a model cannot be used, before anything runs.
    """
    tasks = list(tasks)
    names = tuple(baselines) if baselines is not None and base is not None else ()
    report = EvalReport(spec.name, model, base, baselines=names, budget_tokens=budget_tokens)
    models = {spec.model_for(r.name, model) for r in spec.roles} | ({base} if base else set())

    def finished(index: int, results: list[TaskResult]) -> None:
        report.results.extend(results)
        if on_result is not None:
            for result in results:
                on_result(result)

    items = [(task, model, base, settings, report.baselines, budget_tokens) for task in tasks]
    batch = run_batch(spec, eval_job, items, models=models, home=home, address=address, on_result=finished,
                      workers=workers, runs_per_worker=runs_per_worker)
    report.results = [r for results in batch.values for r in results]
    report.workers = batch.workers
    return report
