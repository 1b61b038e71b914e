"""What an evaluation found: each system's result per task, the totals, and the files written out.

Example:
    >>> report = EvalReport("solo")
    >>> report.results.append(TaskResult("add", "team", passed=True, tests_passed=1, tests_total=1))
    >>> report.summary()["team_pass_rate"]
    1.0
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["EvalReport", "System", "TaskResult", "write_outputs"]

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


def write_outputs(report: EvalReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.jsonl`` (one object per task and system, then the summary) and ``chart.png``.

    Returns:
        ``{"results": path, "chart": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    lines = [json.dumps(r.to_dict()) for r in report.results] + [json.dumps(report.summary())]
    results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chart = out / "chart.png"
    _chart(report, chart)
    return {"results": results, "chart": chart}


def _chart(report: EvalReport, path: Path) -> None:
    """Three panels, team against baseline: pass rate, tokens per task, seconds per task."""
    # Imported here: matplotlib costs a second to import, and only --out needs it. A bare Figure on the
    # Agg canvas leaves pyplot's global backend alone (a notebook keeps its own).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s = report.summary()
    done = max(s["total"], 1)
    systems = [("team", "#3b6fb6")] + ([("baseline", "#c8843a")] if s["baseline_passed"] is not None else [])
    panels = [("pass rate", "{}_pass_rate", 1), ("tokens per task", "{}_tokens", done),
              ("seconds per task", "{}_seconds", done)]
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    names = {"team": report.team_name, "baseline": "single call"}
    for ax, (title, key, per) in zip(fig.subplots(1, 3), panels, strict=True):
        values = [(s[key.format(name)] or 0) / per for name, _ in systems]
        bars = ax.bar([names[n] for n, _ in systems], values, color=[c for _, c in systems])
        ax.bar_label(bars, labels=[f"{v:.0%}" if title == "pass rate" else f"{v:,.1f}" for v in values])
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
        if title == "pass rate":
            ax.set_ylim(0, 1.1)
    fig.suptitle(f"{report.team_name} on {s['total']} task(s)")
    fig.savefig(path, dpi=100)
