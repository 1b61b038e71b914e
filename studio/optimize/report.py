"""What an optimisation found: the front, the chosen team, its held-out score, the spec diff.

The held-out split is graded once, after the search: the chosen team (with the single-call and
``sample-vote`` baselines at its budget, as ``huddle eval`` runs them), the starting team and any
team given to compare with. ``write_report`` leaves ``report.md``, ``report.json`` and
``front.png`` in the output folder.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.eval import EvalTask, evaluate
from studio.llm import Gateway
from studio.optimize.front import front
from studio.optimize.journal import Journal, spec_hash
from studio.optimize.search import Stats
from studio.spec import TeamSpec, dump_spec

__all__ = ["HELD_OUT_BASELINES", "HeldOut", "OptimizeReport", "grade_held_out", "write_report"]

HELD_OUT_BASELINES = ("single-call", "sample-vote")


@dataclass(frozen=True)
class HeldOut:
    """One system's totals on the held-out split."""

    system: str
    passed: int
    tasks: int
    tokens: int
    seconds: float
    cost_usd: float

    def row(self) -> str:
        """A markdown table row."""
        n = max(1, self.tasks)
        return (f"| {self.system} | {self.passed} / {self.tasks} | {self.tokens / n:,.0f} | {self.seconds / n:.1f} | "
                f"{self.cost_usd:.4f} |")


@dataclass
class OptimizeReport:
    """The search's outcome (see :func:`studio.optimize.optimize`)."""

    team: TeamSpec
    """The chosen team."""
    start: Stats
    chosen: Stats
    evaluated: list[Stats]
    stopped: str
    prefer: str
    search_tasks: list[str]
    held_out_tasks: list[str]
    held_out: dict[str, HeldOut] = field(default_factory=dict)
    rejected: int = 0
    diff: str = ""
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def front(self) -> list[Stats]:
        """The cost–accuracy front of the evaluated teams (search split)."""
        return front(self.evaluated)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        def point(s: Stats) -> dict[str, Any]:
            return {"hash": s.hash, "change": s.change, "family": s.family, "parent": s.parent, "passed": s.passed,
                    "tasks": s.tasks, "tokens_per_task": round(s.tokens_per_task, 1),
                    "seconds_per_task": round(s.seconds_per_task, 2), "cost_usd": s.cost_usd}
        return {"team": self.team.name, "prefer": self.prefer, "stopped": self.stopped,
                "start": point(self.start), "chosen": point(self.chosen),
                "front": [point(s) for s in self.front], "evaluated": [point(s) for s in self.evaluated],
                "rejected_proposals": self.rejected, "search_tasks": self.search_tasks,
                "held_out_tasks": self.held_out_tasks,
                "held_out": {k: {"passed": v.passed, "tasks": v.tasks, "tokens": v.tokens,
                                 "seconds": round(v.seconds, 2), "cost_usd": v.cost_usd}
                             for k, v in self.held_out.items()},
                "diff": self.diff}

    def markdown(self) -> str:
        """The report as Markdown: held-out table, the front, every variant, the spec diff."""
        lines = [f"# huddle optimize: {self.team.name}", "",
                 f"Search split: {len(self.search_tasks)} tasks; held-out split: {len(self.held_out_tasks)} tasks "
                 f"(never seen by the search). The search stopped: {self.stopped}. Chosen (`--prefer {self.prefer}`): "
                 f"{self.chosen.change} ({self.chosen.hash}).", "",
                 "## Held-out split", "", "| system | passed | tokens / task | seconds / task | dollars |",
                 "|---|---|---|---|---|", *[v.row() for v in self.held_out.values()], "",
                 "## The front (search split)", "", "| team | change | passed | tokens / task | seconds / task |",
                 "|---|---|---|---|---|"]
        for s in self.front:
            lines.append(f"| {s.hash} | {s.change} | {s.passed} / {s.tasks} | {s.tokens_per_task:,.0f} | "
                         f"{s.seconds_per_task:.1f} |")
        lines += ["", f"Every team graded on the whole search split ({len(self.evaluated)}; "
                      f"{self.rejected} proposals refused by validation): `journal.jsonl`.", "",
                  "## The chosen team against the starting one", "", "```diff", self.diff.rstrip() or "(no change)",
                  "```", ""]
        return "\n".join(lines)


def grade_held_out(teams: dict[str, TeamSpec], chosen: str, tasks: list[EvalTask], journal: Journal, *,
                   model: str | None, home: Path, gateway: Gateway | None,
                   on_task: Callable[[str, str], None] = lambda *_: None) -> dict[str, HeldOut]:
    """Grade ``teams`` (by label) on the held-out ``tasks``; ``chosen`` also gets the baselines. Journalled."""
    rows: dict[str, list[dict[str, Any]]] = {}
    labels = [chosen, *HELD_OUT_BASELINES, *[label for label in teams if label != chosen]]
    graded = [(label, spec, spec_hash(spec), ["team", *HELD_OUT_BASELINES] if label == chosen else ["team"])
              for label, spec in teams.items()]
    for task in tasks:
        for label, spec, digest, systems in graded:
            if not all((s, digest, task.id) in journal.held_out for s in systems):
                on_task(label, task.id)
                report = evaluate(spec, [task], model, home=home, gateway=gateway, baseline=systems[1:] or False)
                for r in report.results:
                    journal.add_held_out(r.system, digest, task.id,
                                         {"passed": r.passed, "tokens": r.tokens, "seconds": r.seconds,
                                          "cost_usd": r.cost_usd, "run_id": r.run_id, "reason": r.reason})
            for system in systems:
                rows.setdefault(label if system == "team" else system, []).append(
                    journal.held_out[(system, digest, task.id)])
    return {name: HeldOut(name, sum(bool(r["passed"]) for r in rows[name]), len(rows[name]),
                          sum(int(r["tokens"]) for r in rows[name]), sum(float(r["seconds"]) for r in rows[name]),
                          sum(float(r["cost_usd"]) for r in rows[name])) for name in labels if name in rows}


def spec_diff(old: TeamSpec, new: TeamSpec) -> str:
    """A unified diff of the two teams' minimal files."""
    return "".join(difflib.unified_diff(dump_spec(old, minimal=True).splitlines(keepends=True),
                                        dump_spec(new, minimal=True).splitlines(keepends=True),
                                        "start.yaml", "chosen.yaml"))


def write_report(report: OptimizeReport, out: Path) -> dict[str, Path]:
    """``report.md``, ``report.json`` and ``front.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": out / "report.md", "json": out / "report.json", "chart": out / "front.png"}
    paths["report"].write_text(report.markdown(), encoding="utf-8")
    paths["json"].write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    _chart(report, paths["chart"])
    return paths


def _chart(report: OptimizeReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    every, edge = report.evaluated, report.front
    ax.scatter([s.tokens_per_task for s in every], [s.pass_rate * 100 for s in every], color="#bbbbbb",
               label="evaluated teams")
    ax.plot([s.tokens_per_task for s in edge], [s.pass_rate * 100 for s in edge], "-o", color="#1f77b4",
            label="front")
    for s, colour, label in ((report.start, "#d62728", "starting team"), (report.chosen, "#2ca02c", "chosen")):
        ax.scatter([s.tokens_per_task], [s.pass_rate * 100], s=120, facecolors="none", edgecolors=colour, linewidths=2,
                   label=label, clip_on=False)
    ax.margins(x=0.12, y=0.12)  # a ring at the edge of the data stays inside the axes
    ax.set_xlabel("tokens per task (search split)")
    ax.set_ylabel("search tasks passed (%)")
    ax.set_title(f"huddle optimize: {report.team.name}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)  # where it hides the fewest points (the starting team is often low right)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
