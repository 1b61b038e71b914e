"""Cheaper best-of-N: the solver team with 16 candidates on the embedded model, with and without the savings.

The solver team (``examples/teams/solver_team.yaml``: coder candidates, here up to
16, and a critic the evidence leaves unasked) on the first
``--tasks`` tasks of ``benchmarks/data/eval_tasks.jsonl``, each graded on its hidden tests. Four rows,
the same tasks, in this process:

1. Baseline: no prompt reuse beyond llama-cpp-python's own (a prompt evaluated
   only from where it departs from the previous call's; ``HUDDLE_LOCAL_PROMPT_CACHE=0``),
   and all 16 candidates written (``flow.agree: 0``, ``flow.give_up_after: 0``).
2. Prompt reuse: saved llama.cpp states; a prompt starts from the one sharing
   the longest token prefix with it (the coders' system prompt and worked
   examples are read once, not once per task).
3. Adaptive N: ``flow.agree`` and ``flow.give_up_after`` as the solver team has
   them (3 and 8): candidates stop once the evidence decides, or leads nowhere.
4. Both. Target: >= 2x faster than row 1.

With ``--cold`` a fifth row evaluates every prompt in full (no reuse at all), for
reference. Before each row the model forgets its saved states, its context and
its per-call seeds, so every row starts alike; rows 1 and 2 write the same code
(prompt reuse changes no reply), which the table checks. Each task runs in a
fresh Huddle home (empty memory). Seconds are the run and its grading; tokens
are the runs' usage (prompt plus completion); "evaluated" is the prompt tokens
the model evaluated (the rest came from its context or a saved state).

Run: ``make bench-best-of-n`` (or ``python benchmarks/bench_best_of_n.py --tasks 3``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from studio.eval.harness import run_task
from studio.eval.tasks import EvalTask, load_tasks
from studio.llm.local import get_local_model
from studio.spec import TeamSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
TEAM = ROOT / "examples" / "teams" / "solver_team.yaml"
TASKS = ROOT / "benchmarks" / "data" / "eval_tasks.jsonl"
TARGET = 2.0


@dataclass
class Row:
    """One configuration and what it measured, per task."""

    label: str
    reuse: str
    """``HUDDLE_LOCAL_PROMPT_CACHE``: ``0``, ``on`` or ``cold``."""
    adaptive: bool
    seconds: list[float]
    tokens: list[int]
    evaluated: list[int]
    calls: list[int]
    passed: list[bool]
    codes: list[str]


def team(candidates: int, adaptive: bool) -> TeamSpec:
    """The solver team with ``candidates``; without ``adaptive``, every one written (no agreement, no giving up)."""
    spec = load_spec(TEAM)
    flow = {"candidates": candidates} if adaptive else {"candidates": candidates, "agree": 0, "give_up_after": 0}
    return spec.model_copy(update={"flow": spec.flow.model_copy(update=flow)})


def final_code(home: Path, run_id: str) -> str:
    """The chosen code of a run, from its run log."""
    from studio.bus.sqlite import RunLog
    from studio.messages import Final

    finals = [m for m in RunLog(home / "runs.db").messages(run_id) if isinstance(m, Final)]
    return finals[-1].code if finals else ""


def measure(label: str, reuse: str, adaptive: bool, spec: TeamSpec, tasks: list[EvalTask], root: Path) -> Row:
    """Run every task with prompt reuse ``reuse`` (``adaptive``: adaptive N on), the model reset first."""
    os.environ["HUDDLE_LOCAL_PROMPT_CACHE"] = reuse
    model = get_local_model("smollm2")
    model.reset()
    row = Row(label, reuse, adaptive, [], [], [], [], [], [])
    for task in tasks:
        home = root / f"{label[:2].strip('.')}-{task.id}"
        before = model.work
        started = time.perf_counter()
        result = run_task(spec, task, home=home)
        row.seconds.append(time.perf_counter() - started)
        after = model.work
        row.tokens.append(result.tokens)
        row.evaluated.append(after.evaluated_tokens - before.evaluated_tokens)
        row.calls.append(after.calls - before.calls)
        row.passed.append(result.passed)
        row.codes.append(final_code(home, result.run_id))
        print(f"  {label} · {task.id}: {row.seconds[-1]:.1f} s, {row.calls[-1]} calls, "
              f"{'pass' if result.passed else 'fail: ' + result.reason}", file=sys.stderr, flush=True)
    return row


def warm_up(tasks: list[EvalTask], root: Path) -> None:
    """One untimed one-candidate run: loads the model, the embedder, litellm and the sandbox."""
    os.environ["HUDDLE_LOCAL_PROMPT_CACHE"] = "0"
    run_task(team(1, False), tasks[0], home=root / "warm-up")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3, help="how many tasks of the set to run (from the first)")
    parser.add_argument("--candidates", type=int, default=16, help="flow.candidates (the most written)")
    parser.add_argument("--data", type=Path, default=TASKS, help="the tasks (JSONL, as huddle eval reads)")
    parser.add_argument("--cold", action="store_true", help="add a row with no prompt reuse at all")
    args = parser.parse_args(argv)
    tasks = load_tasks(args.data)[: args.tasks]
    flow = load_spec(TEAM).flow
    plan = [("1. baseline: no prompt reuse, agree 0", "0", False), ("2. prompt reuse", "on", False),
            (f"3. adaptive N (agree {flow.agree}, give up after {flow.give_up_after})", "0", True),
            ("4. both", "on", True)]
    if args.cold:
        plan.append(("5. no reuse at all (cold), agree 0", "cold", False))
    with tempfile.TemporaryDirectory(prefix="huddle-bench-best-of-n-") as tmp:
        warm_up(tasks, Path(tmp))
        rows = [measure(label, reuse, n, team(args.candidates, n), tasks, Path(tmp)) for label, reuse, n in plan]
    report(rows, tasks, args.candidates)
    return 0


def report(rows: list[Row], tasks: list[EvalTask], candidates: int) -> None:
    base = sum(rows[0].seconds)
    same = {1: 0, 3: 2}  # the row whose code a row should repeat: prompt reuse changes no reply
    print("| row | seconds | vs baseline | tokens | prompt tokens evaluated | model calls | passed | "
          "same code as |\n|---|---|---|---|---|---|---|---|")
    for i, row in enumerate(rows):
        total = sum(row.seconds)
        speedup = base / total
        ratio = "baseline" if i == 0 else f"{speedup:.2f}x faster" if speedup >= 1 else f"{1 / speedup:.2f}x slower"
        if i == 3:
            ratio += f" (target >= {TARGET:.0f}x: {'PASS' if speedup >= TARGET else 'MISS'})"
        twin = ""
        if i in same:
            match = sum(a == b for a, b in zip(row.codes, rows[same[i]].codes, strict=True))
            twin = f"row {same[i] + 1}: {match}/{len(tasks)}"
        print(f"| {row.label} | {total:.1f} s | {ratio} | {sum(row.tokens)} | {sum(row.evaluated)} | "
              f"{sum(row.calls)} | {sum(row.passed)}/{len(tasks)} | {twin} |")
    print("\nper task (seconds / model calls / pass):")
    print("| task | " + " | ".join(r.label.split(".")[0] for r in rows) + " |\n|---|" + "---|" * len(rows))
    for t, task in enumerate(tasks):
        cells = [f"{r.seconds[t]:.1f} s / {r.calls[t]} / {'pass' if r.passed[t] else 'fail'}" for r in rows]
        print(f"| {task.id} | " + " | ".join(cells) + " |")
    print(f"\n{len(tasks)} tasks, {candidates} candidates, local/smollm2; {os.cpu_count()} CPUs, "
          f"{platform.platform()}, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    sys.exit(main())
