"""What an evaluation found: each system's result per task, the totals, and the files written out.

The systems are the team and the baselines asked for (``single-call``, ``sample-vote``, ``retry``:
see :mod:`studio.eval.baselines`).

Example:
    >>> report = EvalReport("solo")
    >>> report.results.append(TaskResult("add", "team", passed=True, tests_passed=1, tests_total=1))
    >>> report.summary()["team_pass_rate"]
    1.0
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["BASELINES", "Baselines", "EvalReport", "System", "TaskResult", "baseline_names", "markdown",
           "write_outputs"]

System = Literal["team", "single-call", "sample-vote", "retry"]
BASELINES: tuple[str, ...] = ("single-call", "sample-vote", "retry")
"""The baselines ``huddle eval --baseline`` takes, in the order they run on each task."""
Baselines = bool | str | Sequence[str] | None
"""What ``evaluate`` takes for ``baseline``: ``True`` (the single call), a name, a comma-separated list or names."""


def baseline_names(baseline: Baselines) -> tuple[str, ...]:
    """The baselines ``baseline`` asks for, in order and once each.

    Example:
        >>> baseline_names("single-call,retry"), baseline_names(True)
        (('single-call', 'retry'), ('single-call',))

    Raises:
        ValueError: a name that is not one of :data:`BASELINES`.
    """
    if baseline is None or baseline is False:
        return ()
    if baseline is True:
        return ("single-call",)
    given = [baseline] if isinstance(baseline, str) else list(baseline)
    names = [n.strip() for item in given for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r}: expected {', '.join(BASELINES)}")
    return tuple(dict.fromkeys(names))


_STATS = ("passed", "pass_rate", "tokens", "cost_usd", "seconds")


@dataclass(frozen=True)
class TaskResult:
    """How one system (the team, or a baseline) did on one task."""

    task_id: str
    system: System
    """``team``, or the baseline's name (``single-call``, ``sample-vote``, ``retry``)."""
    passed: bool
    tests_passed: int = 0
    tests_total: int = 0
    attempts: int = 0
    """Code messages written (a baseline: the samples it drew)."""
    tokens: int = 0
    """Prompt plus completion tokens over the whole run."""
    cost_usd: float = 0.0
    seconds: float = 0.0
    """Wall time: the run and its hidden tests."""
    run_id: str = ""
    reason: str = ""
    """Why it failed, in a few words (empty when it passed)."""
    budget_stop: bool = False
    """The token budget stopped it before it was done: the team's run ended with status ``budget``; with
    ``--budget-tokens``, a baseline whose budget left no room for its call (or cut its reply), or ``retry``
    out of budget before a sample passed."""

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
    """The baselines' model; ``None`` when no baseline ran."""
    results: list[TaskResult] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    """The Ray worker processes (``host:pid``) the tasks ran in; empty when they ran here."""
    baselines: tuple[str, ...] = ()
    """The baselines that ran, in order; ``("single-call",)`` when only ``baseline_model`` is given."""
    budget_tokens: int | None = None
    """The token budget each system had on each task (``--budget-tokens``); ``None``: the team ran on its own
    budget and the sampled baselines on the team's tokens."""

    def __post_init__(self) -> None:
        if self.baseline_model is not None and not self.baselines:
            self.baselines = ("single-call",)
        if self.baseline_model is None:
            self.baselines = ()
        self.baselines = tuple(self.baselines)

    @property
    def systems(self) -> tuple[str, ...]:
        """``team``, then each baseline."""
        return ("team", *self.baselines)

    def rows(self) -> list[dict[str, TaskResult]]:
        """For each finished task, in order: system name -> its result."""
        by_task: dict[str, dict[str, TaskResult]] = {}
        for result in self.results:
            by_task.setdefault(result.task_id, {})[result.system] = result
        team = [r.task_id for r in self.results if r.system == "team"]
        return [by_task[t] for t in team if all(s in by_task[t] for s in self.systems)]

    def task_objects(self) -> list[dict[str, Any]]:
        """One JSON-ready object per finished task: ``task``, then each system's result under its name."""
        return [{"task": row["team"].task_id, **{s: row[s].to_dict() for s in self.systems}}
                for row in self.rows()]

    def summary(self) -> dict[str, Any]:
        """Totals per system, and the team's pass rate over each baseline's.

        ``systems`` maps each system to its ``passed``, ``pass_rate``, ``tokens``, ``cost_usd``,
        ``seconds`` and ``budget_stops`` (the tasks the token budget stopped it on; a baseline also its
        ``ratio``: the team's pass rate over its own, ``None`` when it passed nothing). The flat ``team_*``
        keys repeat the team's; ``baseline_*`` and ``ratio`` are the single call's (``None`` when it did
        not run), as before there were several baselines. ``budget_tokens`` is the budget per task.
        """
        rows = self.rows()
        total = len(rows)
        systems: dict[str, dict[str, Any]] = {}
        for name in self.systems:
            results = [row[name] for row in rows]
            passed = sum(r.passed for r in results)
            systems[name] = {"passed": passed, "pass_rate": round(passed / total, 4) if total else None,
                             "tokens": sum(r.tokens for r in results),
                             "cost_usd": round(sum(r.cost_usd for r in results), 6),
                             "seconds": round(sum(r.seconds for r in results), 3),
                             "budget_stops": sum(r.budget_stop for r in results)}
        team_rate = systems["team"]["pass_rate"]
        for name in self.baselines:
            rate = systems[name]["pass_rate"]
            systems[name]["ratio"] = round(team_rate / rate, 4) if rate else None
        single = systems.get("single-call", {})
        out: dict[str, Any] = {"summary": True, "team": self.team_name, "total": total}
        for key in _STATS:
            out[f"team_{key}"] = systems["team"][key]
        for key in _STATS:
            out[f"baseline_{key}"] = single.get(key)
        out["ratio"] = single.get("ratio")
        out["systems"], out["baselines"] = systems, list(self.baselines)
        out["model"], out["baseline_model"] = self.model, self.baseline_model
        out["budget_tokens"] = self.budget_tokens
        return out


def markdown(report: EvalReport) -> str:
    """The summary as Markdown: the token budget per task, then one table row per system.

    Example:
        >>> report = EvalReport("solo", budget_tokens=2000)
        >>> report.results.append(TaskResult("add", "team", passed=True, tokens=1500, budget_stop=True))
        >>> print(markdown(report).splitlines()[2])
        Token budget per task: 2,000, the same for every system.
    """
    s = report.summary()
    done = max(s["total"], 1)
    budget = f"{s['budget_tokens']:,}, the same for every system" if s["budget_tokens"] else \
        "none set (the team's own budget; sample-vote and retry: the team's tokens on each task)"
    lines = [f"# {report.team_name} on {s['total']} task(s)", "", f"Token budget per task: {budget}.", "",
             "| system | passed | pass rate | tokens/task | seconds/task | stopped by budget | team's ratio |",
             "|---|---|---|---|---|---|---|"]
    for name, stats in s["systems"].items():
        rate = "n/a" if stats["pass_rate"] is None else f"{stats['pass_rate']:.0%}"
        ratio = "" if name == "team" else "n/a" if stats["ratio"] is None else f"{stats['ratio']:.2f}×"
        lines.append(f"| {name} | {stats['passed']}/{s['total']} | {rate} | {stats['tokens'] / done:,.0f} | "
                     f"{stats['seconds'] / done:,.1f} | {stats['budget_stops']} | {ratio} |")
    return "\n".join(lines) + "\n"


def write_outputs(report: EvalReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.jsonl`` (one object per task and system, then the summary), ``summary.md`` and ``chart.png``.

    Returns:
        ``{"results": path, "summary": path, "chart": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    lines = [json.dumps(r.to_dict()) for r in report.results] + [json.dumps(report.summary())]
    results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = out / "summary.md"
    summary.write_text(markdown(report), encoding="utf-8")
    chart = out / "chart.png"
    _chart(report, chart)
    return {"results": results, "summary": summary, "chart": chart}


def _chart(report: EvalReport, path: Path) -> None:
    """Cost against accuracy: one point per system, tokens per task (log scale) by pass rate, and the budget."""
    # Imported here: matplotlib costs a second to import, and only --out needs it. A bare Figure on the
    # Agg canvas leaves pyplot's global backend alone (a notebook keeps its own).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s = report.summary()
    done = max(s["total"], 1)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    colours = {"team": "#3b6fb6", "single-call": "#c8843a", "sample-vote": "#5a9e5a", "retry": "#a8558f"}
    points = sorted(((max(stats["tokens"] / done, 1.0), stats["pass_rate"] or 0.0, name, stats["seconds"] / done,
                      stats["budget_stops"]) for name, stats in s["systems"].items()),
                    key=lambda p: p[0])  # a log axis has no 0 tokens
    for tokens, rate, name, seconds, stops in points:
        label = f"{report.team_name} (team)" if name == "team" else name
        stopped = f", {stops} stopped by budget" if stops else ""
        # a legend, not labels by the points: systems of the same cost sit on top of each other
        ax.scatter([tokens], [rate], s=70, color=colours.get(name, "#777777"), zorder=3,
                   label=f"{label}: {rate:.0%}, {tokens:,.0f} tokens, {seconds:,.1f} s per task{stopped}")
    low, high = points[0][0], points[-1][0]
    if report.budget_tokens:
        ax.axvline(report.budget_tokens, color="#999999", linestyle="--", linewidth=1, zorder=1,
                   label=f"budget: {report.budget_tokens:,} tokens per task")
        low, high = min(low, report.budget_tokens), max(high, report.budget_tokens)
    ax.set_xlim(low / 2, high * 2)
    ax.set_xscale("log")
    ax.set_xlabel("tokens per task (log scale)")
    ax.set_ylabel("pass rate")
    ax.set_ylim(-0.05, 1.15)
    ax.grid(True, which="major", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    budget = f", budget {report.budget_tokens:,} tokens per task" if report.budget_tokens else ""
    ax.set_title(f"{report.team_name} on {s['total']} task(s){budget}: cost against accuracy")
    fig.savefig(path, dpi=100)
