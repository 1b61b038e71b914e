"""``huddle eval``: a team against hidden tests, and against one plain model call.

``tasks`` reads the task file, ``harness`` runs and grades one task (team or
baseline), ``suite`` runs them all (``on_ray``: at once on Ray), ``report`` holds
the results and writes them out.

Example:
    >>> from studio.eval import EvalTask
    >>> EvalTask(id="add", prompt="Write add.", entry_point="add", tests=["assert add(1, 2) == 3"]).hidden_tests()
    1
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from studio._lazy import lazy_exports

if TYPE_CHECKING:  # the names for type checkers; at run time each resolves on first use (imports stay light)
    from studio.eval.harness import BASELINE_TEAM, BASELINE_TEAMS, baseline_model, grade, run_baseline, run_task
    from studio.eval.report import BASELINES, EvalReport, TaskResult, write_outputs
    from studio.eval.suite import evaluate
    from studio.eval.tasks import EvalError, EvalTask, load_tasks

__all__ = [
    "BASELINES",
    "BASELINE_TEAM",
    "BASELINE_TEAMS",
    "EvalError",
    "EvalReport",
    "EvalTask",
    "TaskResult",
    "baseline_model",
    "evaluate",
    "grade",
    "load_tasks",
    "run_baseline",
    "run_task",
    "write_outputs",
]

_WHERE = {
    **dict.fromkeys(["BASELINE_TEAM", "BASELINE_TEAMS", "baseline_model", "grade", "run_baseline", "run_task"],
                    "studio.eval.harness"),
    **dict.fromkeys(["BASELINES", "EvalReport", "TaskResult", "write_outputs"], "studio.eval.report"),
    **dict.fromkeys(["evaluate"], "studio.eval.suite"),
    **dict.fromkeys(["EvalError", "EvalTask", "load_tasks"], "studio.eval.tasks"),
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
