"""Do parallel flows pay off? Wall time of ``run_team`` on scripted models that take ``--latency`` per call.

Every reply of every script waits ``--latency`` seconds (200 ms by default), so a
row's time is mostly the model calls it makes one after another. The sandbox is
on (default spec: every piece of code runs); memory is off (retrieval is the
same per call in every row, and would hide the flow behind the embedder). Each
row runs ``--runs`` times, each in a fresh Huddle home, after one untimed
warm-up run, and reports the median, min and max.

Part A: a plan of 8 independent steps (``fK() returns K``, each with its test).

1. Baseline: the sequential flow of the default team (orchestrator, planner,
   coder, critic): the orchestrator routes the planner, then the coder once per
   step (its code grows by one function a turn), then the critic, who approves.
2. ``parallel_plan`` with ``max_parallel: 1``: the same steps, one at a time,
   each on its own coder branch (``coder.s1`` ...), joined, then approved.
3. ``parallel_plan`` with ``max_parallel: 8``. Target: >= 5x faster than row 1
   (LLMCompiler reports up to 3.7x). Its ratio to row 2 is shown too, and how
   many step branches really overlapped in time.

Part B: best_of_n on a small task, every candidate passing its tests.

4. Baseline: ``best_of_n`` with 1 candidate, ranked and approved by the critic.
5. ``best_of_n`` with 4 candidates (``coder.c1`` ... ``coder.c4``) in parallel.
   Target: <= 1.3x row 4's time. Adaptive N is off (``agree: 0``): every
   candidate is written, run and probed, so the row measures the parallel
   branches, not candidates left out. Their code differs (``a + b``,
   ``b + a``...): copies of one code would be probed once.

Every run must end ``done`` with the result approved, and use every scripted reply.

Run: ``make bench-parallel`` (or ``python benchmarks/bench_parallel.py --runs 5 --latency 0.2``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from studio.llm import Gateway
from studio.messages import Error
from studio.runner import RunResult, run_team
from studio.spec import TeamSpec, parse_spec

STEPS = 8
CANDIDATES = 4
SPEEDUP_TARGET = 5.0
BEST_OF_N_TARGET = 1.3
PLAN_TASK = f"Write functions f1 .. f{STEPS}; fK() returns K.\nassert f1() == 1"
ADD_TASK = "Write add(a, b) returning the sum.\nassert add(2, 3) == 5"
ADD_BODIES = ("a + b", "b + a", "sum((a, b))", "a - (-b)")
"""What each candidate returns: right alike but different code, so each is run and probed (copies of one
code are probed once)."""


def add_code(i: int) -> str:
    """Candidate ``i``'s reply (``i`` from 1): an ``add`` with its own test, fenced as a coder replies."""
    body = ADD_BODIES[(i - 1) % len(ADD_BODIES)]
    return f"```python\ndef add(a, b):\n    return {body}\n\ndef test_add():\n    assert add(-1, 1) == 0\n```"
APPROVE = {"verdict": "approve", "feedback": "Correct, and the tests pass.", "lessons": []}
Case = tuple[TeamSpec, dict[str, list]]


def _functions(ks: range) -> str:
    """Python code defining ``fK`` and ``test_fK`` for each K, fenced as a coder replies."""
    body = "\n\n".join(f"def f{k}():\n    return {k}\n\ndef test_f{k}():\n    assert f{k}() == {k}" for k in ks)
    return f"```python\n{body}\n```"


def _ledger(speaker: str, instruction: str) -> str:
    return json.dumps({"is_request_satisfied": False, "is_in_loop": False, "is_progress_being_made": True,
                       "next_speaker": speaker, "instruction_or_question": instruction})


PLAN = json.dumps({"steps": [{"id": f"s{k}", "description": f"write function f{k}", "depends_on": []}
                             for k in range(1, STEPS + 1)]})


def _spec(name: str, roles: list[str], flow: dict, concurrency: int = 4) -> TeamSpec:
    return parse_spec({"version": 1, "name": name, "defaults": {"max_concurrency": concurrency},
                       "roles": [{"name": r, "kind": r} for r in roles], "flow": flow,
                       "memory": {"enabled": False}})


def sequential_case() -> Case:
    spec = _spec("bench-sequential", ["orchestrator", "planner", "coder", "critic"], {
        "type": "sequential", "entry": "planner", "max_rounds": 20,
        "edges": [{"from": "planner", "to": "coder"}, {"from": "coder", "to": "critic"},
                  {"from": "critic", "to": "coder"}]})
    steps = [_ledger("coder", f"Do step s{k}") for k in range(1, STEPS + 1)]
    return spec, {"orchestrator": [_ledger("planner", "Plan the work."), *steps, _ledger("critic", "Review it.")],
                  "planner": [PLAN],
                  "coder": [_functions(range(1, k + 1)) for k in range(1, STEPS + 1)],
                  "critic": [json.dumps(APPROVE)]}


def plan_case(parallel: int) -> Case:
    spec = _spec(f"bench-plan-{parallel}", ["planner", "coder", "critic"], {
        "type": "parallel_plan", "max_parallel": parallel, "max_rounds": 20,
        "edges": [{"from": "coder", "to": "critic"}, {"from": "critic", "to": "coder"}]}, concurrency=8)
    steps = {f"coder.s{k}": [_functions(range(k, k + 1))] for k in range(1, STEPS + 1)}
    return spec, {"planner": [PLAN], **steps, "critic": [json.dumps(APPROVE)]}


def best_of_n_case(candidates: int) -> Case:
    spec = _spec(f"bench-best-of-{candidates}", ["coder", "critic"], {
        "type": "best_of_n", "candidates": candidates, "max_parallel": 8, "agree": 0,
        "edges": [{"from": "coder", "to": "critic"}, {"from": "critic", "to": "coder"}]}, concurrency=8)
    coders = {f"coder.c{i}": [add_code(i)] for i in range(1, candidates + 1)}
    return spec, {**coders, "critic": [json.dumps({"best": "c1", **APPROVE})]}


def _checked(result: RunResult, gateway: Gateway, label: str) -> RunResult:
    if result.status != "done" or result.final is None or not result.final.approved:
        errors = "\n".join(f"  {m.error_type}: {m.content}" for m in result.messages if isinstance(m, Error))
        reason = result.final.stop_reason if result.final else result.error
        raise SystemExit(f"{label}: run ended {result.status} ({reason}), not done and approved\n{errors}")
    for script in gateway.scripts.values():
        script.assert_complete()
    return result


def timed(label: str, case: Case, task: str, latency: float, runs: int, root: Path) -> tuple[list[float], list]:
    """Wall times (s) of ``runs`` runs of ``case`` after one warm-up run, and each timed run's messages."""
    spec, script = case
    path = root / f"{spec.name}.yaml"
    delayed = {key: [{"content": reply, "delay_s": latency} for reply in replies] for key, replies in script.items()}
    path.write_text(yaml.safe_dump(delayed, sort_keys=False))
    times, messages = [], []
    for i in range(runs + 1):
        gateway = Gateway(spec.defaults.max_concurrency, limits=spec.defaults.providers)
        started = time.perf_counter()
        result = run_team(spec, task, model=f"scripted:{path}", home=root / f"{spec.name}-{i}", gateway=gateway)
        elapsed = time.perf_counter() - started
        _checked(result, gateway, label)
        if i:  # the first run warms up imports and litellm
            times.append(elapsed)
            messages.append(result.messages)
    return times, messages


def overlap(messages: list) -> int:
    """The most step branches at work at one moment: each branch spans its first to its last message."""
    spans: dict[str, list] = {}
    for m in messages:
        if m.branch:
            spans.setdefault(m.branch, []).append(m.created_at)
    events = sorted([(min(t), 1) for t in spans.values()] + [(max(t), -1) for t in spans.values()],
                    key=lambda e: (e[0], -e[1]))
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per row (after one warm-up run)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds every scripted model call takes")
    args = parser.parse_args(argv)
    rows = [
        ("1. sequential flow, orchestrator + 8 coder turns", sequential_case(), PLAN_TASK),
        ("2. parallel_plan, 8 steps, max_parallel 1", plan_case(1), PLAN_TASK),
        ("3. parallel_plan, 8 steps, max_parallel 8", plan_case(8), PLAN_TASK),
        ("4. best_of_n, 1 candidate", best_of_n_case(1), ADD_TASK),
        (f"5. best_of_n, {CANDIDATES} candidates", best_of_n_case(CANDIDATES), ADD_TASK),
    ]
    measured = {}
    with tempfile.TemporaryDirectory(prefix="huddle-bench-parallel-") as tmp:
        for label, case, task in rows:
            measured[label] = timed(label, case, task, args.latency, args.runs, Path(tmp))
    medians = [statistics.median(times) for times, _ in measured.values()]
    calls = [sum(m.usage.calls for m in messages[0]) for _, messages in measured.values()]
    seq, one, eight, single, many = medians
    speedup, vs_one, slower = seq / eight, one / eight, many / single
    ratios = ["baseline", f"{seq / one:.2f}x faster", f"{speedup:.2f}x faster ({vs_one:.2f}x vs row 2)",
              "baseline", f"{slower:.2f}x the time"]
    targets = ["", "reference",
               f">= {SPEEDUP_TARGET:.0f}x faster: {'PASS' if speedup >= SPEEDUP_TARGET else 'MISS'}", "",
               f"<= {BEST_OF_N_TARGET}x the time: {'PASS' if slower <= BEST_OF_N_TARGET else 'MISS'}"]
    print("| row | median | min–max | model calls | vs baseline | target |\n|---|---|---|---|---|---|")
    for (label, (times, _)), median, n, ratio, target in zip(measured.items(), medians, calls, ratios, targets,
                                                             strict=True):
        print(f"| {label} | {median:.2f} s | {min(times):.2f}–{max(times):.2f} s | {n} | {ratio} | {target} |")
    overlaps = [overlap(messages) for messages in measured[rows[2][0]][1]]
    print(f"\nrow 3: at most {', '.join(map(str, overlaps))} of {STEPS} step branches at work at once (per run)")
    print(f"{args.runs} timed runs per row after 1 warm-up run; {args.latency * 1000:.0f} ms per model call; "
          f"{os.cpu_count()} CPUs, {platform.platform()}, Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
