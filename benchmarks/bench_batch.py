"""Does a batch on Ray pay off? ``huddle eval`` of 32 scripted tasks, the sequential loop against ``--ray``.

The 32 tasks of ``benchmarks/data/eval_tasks.jsonl``, a planner -> coder ->
critic team (the sandbox on: each task's code runs there, then its hidden
tests), and a scripted model whose every reply waits ``--latency`` seconds
(200 ms by default): three model calls per task. The coder's reply is the whole
reference solution file (every task's function), so every task passes whichever
run takes which reply: both paths must pass 32 of 32, and they are checked to.

1. Baseline: ``evaluate(...)``, the sequential loop (one task after another), in this process.
2. ``evaluate(..., ray=True)`` from cold: starting a local Ray instance and the batch's
   worker processes is counted (what ``huddle eval ... --ray`` costs on a laptop).
3. The same again, Ray and its workers up (a standing cluster; a notebook's second batch).
4. For reference, the design not taken: a plain Ray task per eval task, in a process of its own
   (``num_cpus=0.25``, so 8 run at once on 2 CPUs), on the Ray instance already up; nothing is
   written to the driver's run log.

Why workers with threads (rows 2 and 3) and not a fractional CPU per task (row 4): a run spends
its time waiting on model latency, so a process per run is no faster than a thread per run, and
every new process imports Huddle (litellm, LangGraph: about 4.5 s of CPU), which on a small
machine costs more than the runs. One worker per CPU, each running ``--runs-per-worker`` runs at
once (4, the default: 8 at once on 2 CPUs), imports once and stays up for the next batch. More at
once gains little here (8 per worker: about 4.0 s against 4.5 s for row 3) and, run as root, starts
to fail code runs: every sandbox runs its code as ``nobody``, whose process limit
(``sandbox.processes``, 32) the kernel counts over all of them on the machine.

Run: ``make bench-batch`` (or ``python benchmarks/bench_batch.py --latency 0.2``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import yaml

from studio.batch.cluster import connect, describe
from studio.eval import EvalReport, evaluate, load_tasks
from studio.eval.on_ray import evaluate_on_ray
from studio.llm import CallSettings
from studio.runner import shared_store
from studio.spec import TeamSpec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "benchmarks" / "data" / "eval_tasks.jsonl"
SOLUTIONS = ROOT / "benchmarks" / "data" / "eval_solutions.py"
PLAN = json.dumps({"steps": [{"id": "s1", "description": "write the function", "depends_on": []}]})
APPROVE = json.dumps({"verdict": "approve", "feedback": "Correct.", "lessons": []})


def team() -> TeamSpec:
    return parse_spec({"version": 1, "name": "bench-batch", "defaults": {"retry_backoff_s": 0},
                       "roles": [{"name": "planner", "kind": "planner"}, {"name": "coder", "kind": "coder"},
                                 {"name": "critic", "kind": "critic"}],
                       "flow": {"entry": "planner", "max_rounds": 6,
                                "edges": [{"from": "planner", "to": "coder"}, {"from": "coder", "to": "critic"},
                                          {"from": "critic", "to": "coder"}]},
                       "memory": {"enabled": False}, "sandbox": {"timeout_s": 10, "max_attempts": 1}})


def script(path: Path, tasks: int, latency: float) -> str:
    """A script with a plan, a code reply (all reference solutions) and an approval per task, twice over.

    Twice: a run whose code hits a sandbox limit on a crowded machine asks the coder again.
    """
    code = f"Here it is.\n```python\n{SOLUTIONS.read_text()}\n```\n"
    replies = {"planner": [PLAN], "coder": [code], "critic": [APPROVE]}
    path.write_text(yaml.safe_dump({role: [{"content": text, "delay_s": latency} for text in texts] * tasks * 2
                                    for role, texts in replies.items()}, sort_keys=False))
    return f"scripted:{path}"


def checked(report: EvalReport, tasks: int, label: str) -> EvalReport:
    s = report.summary()
    if (s["total"], s["team_passed"]) != (tasks, tasks):
        failed = "\n".join(f"  {r.task_id}: {r.reason}" for r in report.results if not r.passed)
        raise SystemExit(f"{label}: {s['team_passed']} of {s['total']} passed, not {tasks} of {tasks}\n{failed}")
    return report


def _speedup(baseline: float, seconds: float) -> str:
    if seconds <= baseline:
        return f"{baseline / seconds:.2f}x faster"
    return f"{seconds / baseline:.2f}x slower"


def at_once(report: EvalReport, home: Path) -> int:
    """The most runs at work at one moment: each spans its first to its last message in the driver's run log."""
    log = shared_store(home)
    events = []
    for result in report.results:
        stamps = [m.created_at for m in log.messages(result.run_id)]
        events += [(min(stamps), 1), (max(stamps), -1)]
    best = current = 0
    for _, step in sorted(events, key=lambda e: (e[0], -e[1])):
        current += step
        best = max(best, current)
    return best


def process_per_task(spec: TeamSpec, tasks, model: str, root: Path) -> tuple[float, int, int]:
    """Row 4: one Ray task per eval task, ``num_cpus=0.25``; (seconds, passed, processes)."""
    import ray

    @ray.remote(num_cpus=0.25)
    def one(spec_json: dict, task, home: str):
        from studio.eval.on_ray import eval_job
        from studio.llm import Gateway

        own = parse_spec(spec_json)
        (result,), _ = eval_job(own, (task, model, None, None), home=Path(home), gateway=Gateway())
        return result.passed, os.getpid()

    started = time.perf_counter()
    spec_json = spec.model_dump(mode="json", by_alias=True)
    done = ray.get([one.remote(spec_json, task, str(root / f"own-{i}")) for i, task in enumerate(tasks)])
    return time.perf_counter() - started, sum(passed for passed, _ in done), len({pid for _, pid in done})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=32, help="tasks from the public task set (at most 32)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds every scripted model call takes")
    parser.add_argument("--runs-per-worker", type=int, default=4, help="runs each Ray worker works on at once")
    parser.add_argument("--skip-reference", action="store_true", help="leave out row 4")
    args = parser.parse_args(argv)
    tasks = load_tasks(TASKS)[: args.tasks]
    n = len(tasks)
    spec = team()
    rows = []
    with tempfile.TemporaryDirectory(prefix="huddle-bench-batch-") as tmp:
        root = Path(tmp)
        model = script(root / "script.yaml", n, args.latency)

        started = time.perf_counter()
        report = checked(evaluate(spec, tasks, model, home=root / "seq"), n, "sequential")
        seq = time.perf_counter() - started
        rows.append(("1. sequential loop (baseline)", seq, n, "1 (this process)", at_once(report, root / "seq")))

        for label, home in (("2. --ray, cold: start local Ray + workers", root / "cold"),
                            ("3. --ray, warm: Ray and workers up", root / "warm")):
            started = time.perf_counter()
            if home.name == "cold":
                connect()
            report = checked(evaluate_on_ray(spec, tasks, model, None, CallSettings(), home,
                                             runs_per_worker=args.runs_per_worker), n, label)
            rows.append((label, time.perf_counter() - started, n, str(len(report.workers)), at_once(report, home)))
        where = describe()
        if not args.skip_reference:
            seconds, passed, processes = process_per_task(spec, tasks, model, root)
            if passed != n:
                raise SystemExit(f"row 4: {passed} of {n} passed")
            rows.append(("4. ref.: a Ray task per eval task (num_cpus=0.25), Ray up", seconds, passed,
                         str(processes), None))
    print("| row | tasks passed | wall time | vs sequential | Ray workers | most runs at once |")
    print("|---|---|---|---|---|---|")
    for label, seconds, passed, workers, most in rows:
        ratio = "baseline" if label.startswith("1.") else _speedup(seq, seconds)
        print(f"| {label} | {passed}/{n} | {seconds:.1f} s | {ratio} | {workers} | {most if most else 'n/a'} |")
    print(f"\n{n} tasks, 3 model calls each at {args.latency * 1000:.0f} ms, sandbox on; Ray: {where}, "
          f"{args.runs_per_worker} runs per worker; {os.cpu_count()} CPUs, {platform.platform()}, "
          f"Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
