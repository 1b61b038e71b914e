"""``evaluate`` on Ray: each task (the team's run, its grading, and the baseline's call) is one job of a batch.

The report is the sequential loop's: the same results, in task order, whatever
order the tasks finished in; ``on_result`` hears each task's results (team,
then baseline) as the task finishes. See :mod:`studio.batch`.

Example:
    >>> from studio.eval import evaluate, load_tasks
    >>> report = evaluate(spec, load_tasks("tasks.jsonl"), ray=True)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from studio.batch import RUNS_PER_WORKER, run_batch
from studio.eval.harness import run_baseline, run_task
from studio.eval.report import EvalReport, TaskResult
from studio.eval.tasks import EvalTask
from studio.llm import CallSettings, Gateway
from studio.spec import TeamSpec

__all__ = ["evaluate_on_ray", "eval_job"]

_Item = tuple[EvalTask, str | None, str | None, CallSettings]


def eval_job(spec: TeamSpec, item: _Item, *, home: Path, gateway: Gateway) -> tuple[list[TaskResult], list[str]]:
    """One task, in a worker: the team's run graded on the hidden tests, then the baseline's when asked."""
    task, model, base, settings = item
    results = [run_task(spec, task, model, home, gateway=gateway)]
    if base is not None:
        results.append(run_baseline(task, base, home, gateway=gateway, settings=settings, sandbox=spec.sandbox))
    return results, [r.run_id for r in results]


def evaluate_on_ray(spec: TeamSpec, tasks: Sequence[EvalTask], model: str | None, base: str | None,
                    settings: CallSettings, home: str | Path | None = None,
                    on_result: Callable[[TaskResult], None] | None = None, *, address: str | None = None,
                    workers: int | None = None, runs_per_worker: int = RUNS_PER_WORKER) -> EvalReport:
    """Evaluate on Ray (a local instance when ``address`` is ``None``); see :func:`studio.eval.suite.evaluate`.

    Raises:
        RayUnavailable: Ray cannot be reached at ``address``.
        ModelConfigError, ScriptError: a model cannot be used, before anything runs.
    """
    tasks = list(tasks)
    report = EvalReport(spec.name, model, base)
    models = {spec.model_for(r.name, model) for r in spec.roles} | ({base} if base else set())

    def finished(index: int, results: list[TaskResult]) -> None:
        report.results.extend(results)
        if on_result is not None:
            for result in results:
                on_result(result)

    batch = run_batch(spec, eval_job, [(task, model, base, settings) for task in tasks], models=models, home=home,
                      address=address, on_result=finished, workers=workers, runs_per_worker=runs_per_worker)
    report.results = [r for results in batch.values for r in results]
    report.workers = batch.workers
    return report
