"""``Team.optimize``: the notebook's door to :func:`studio.optimize.optimize`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from studio.eval import EvalTask, load_tasks
from studio.optimize import OptimizeError, OptimizeReport, optimize
from studio.spec import TeamSpec

__all__ = ["optimize_team"]


def _tasks(tasks: str | Path | Iterable[EvalTask | Mapping[str, Any]]) -> list[EvalTask]:
    if isinstance(tasks, (str, Path)):
        return load_tasks(tasks)
    return [t if isinstance(t, EvalTask) else EvalTask.model_validate(dict(t)) for t in tasks]


def optimize_team(spec: TeamSpec, tasks: Any, budget: Mapping[str, float] | int, out: str | Path | None,
                  home: str | Path | None, options: dict[str, Any]) -> tuple[TeamSpec, OptimizeReport]:
    """The chosen team's spec and the report; ``budget`` is tokens, or ``{"tokens": N, "hours": H}``."""
    limits = {"tokens": budget} if isinstance(budget, int) else dict(budget)
    unknown = sorted(set(limits) - {"tokens", "hours"})
    if unknown:
        raise OptimizeError(f"budget: unknown key(s) {', '.join(unknown)}; give tokens and/or hours")
    if not limits:
        raise OptimizeError("budget: give tokens and/or hours, e.g. budget={'tokens': 200_000}")
    tokens = limits.get("tokens")
    folder = Path(out) if out is not None else Path(home or ".") / "optimize" / spec.name
    report = optimize(spec, _tasks(tasks), folder, budget_tokens=int(tokens) if tokens is not None else None,
                      budget_hours=limits.get("hours"), home=home, **options)
    return report.team, report
