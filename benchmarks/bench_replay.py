"""Replay of a recorded run against the live run it came from: what serving every call from a cassette costs.

1. A coder and a critic, scripted for a 20-turn run (the critic asks for changes nine times, then approves; memory
   and sandbox off, so the live run does only the framework's work: bus, run log, checkpoints, prompts, parsing).
   It is recorded once, then, alternately in this process, ``--runs`` times each: (a) the live scripted run, (b)
   its replay in the same run log (``replay(..., keep=True)``: like for like), (c) its replay as ``huddle replay``
   and ``huddle test`` run it (a scratch run log each time, left behind). Every replay is checked to be the
   recording (same transcript, every call served). Target: (b) costs at most 0.5 ms per turn more than (a), the
   bare framework cost.
2. One real run of a small team (coder and critic, ``max_tokens`` small) on the embedded model ``local/smollm2``,
   recorded once (the model loaded and warmed first), then replayed ``--runs`` times. Target: the replay is at
   least 100x faster than the recorded run. ``--no-local`` leaves this part out.

Run: ``make bench-replay`` (or ``python benchmarks/bench_replay.py --runs 20``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from studio.replay import Recording, load_recording, replay
from studio.runner import run_team
from studio.spec import TeamSpec, parse_spec

TURNS = 20
OVERHEAD_TARGET_MS = 0.5
SPEEDUP_TARGET = 100.0
TASK = "Write f(x), returning x plus the version number."


def loop_team(max_tokens: int | None = None) -> TeamSpec:
    """A coder and a critic routed by edges, enough rounds for 20 turns, no memory, no sandbox."""
    defaults: dict = {"retry_backoff_s": 0}
    if max_tokens is not None:
        defaults.update(max_tokens=max_tokens, temperature=0)
    return parse_spec({
        "name": "replay-bench",
        "roles": [{"name": "coder", "kind": "coder"}, {"name": "critic", "kind": "critic"}],
        "flow": {"edges": [{"from": "coder", "to": "critic"}, {"from": "critic", "to": "coder"}],
                 "max_rounds": TURNS + 10 if max_tokens is None else 3},
        "defaults": defaults, "memory": {"enabled": False}, "sandbox": {"enabled": False},
    })


def loop_script(folder: Path) -> str:
    """The scripted model for a 20-turn run: ten versions of the code, nine reviews asking for more, one approval."""
    code = [f"Version {i}.\n```python\ndef f(x):\n    return x + {i}\n```\n" for i in range(TURNS // 2)]
    reviews = [json.dumps({"verdict": "revise", "feedback": f"Not yet: version {i} is not the last.", "lessons": []})
               for i in range(TURNS // 2 - 1)]
    reviews.append(json.dumps({"verdict": "approve", "feedback": "Good.", "lessons": []}))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "loop_script.yaml"
    path.write_text(yaml.safe_dump({"coder": code, "critic": reviews}))
    return f"scripted:{path}"


def timed(work: Callable[[], object]) -> float:
    """Milliseconds ``work`` took."""
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def replayed(recording: Recording, **options) -> None:
    """Replay ``recording``; stop the benchmark unless it is the recording with every call served."""
    outcome = replay(recording, **options)
    assert outcome.same and outcome.served == len(recording.calls), (outcome.diverged, outcome.differences)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def scripted_part(runs: int, home: Path) -> dict[str, list[float]]:
    """Milliseconds of each live run, like-for-like replay and scratch replay, measured alternately."""
    spec, model = loop_team(), loop_script(home)
    recorded = run_team(spec, TASK, model=model, home=home)
    turns = sum(m.usage.calls for m in recorded.messages)
    assert recorded.status == "done" and turns == TURNS, (recorded.status, turns)
    recording = load_recording(recorded.run_id, home)
    replayed(recording, home=home, keep=True)  # warm-up: the graph compiled for this home, the modules loaded
    replayed(recording)
    times: dict[str, list[float]] = {"live": [], "kept": [], "scratch": []}
    for _ in range(runs):
        times["live"].append(timed(lambda: run_team(spec, TASK, model=model, home=home)))
        times["kept"].append(timed(lambda: replayed(recording, home=home, keep=True)))
        times["scratch"].append(timed(lambda: replayed(recording)))
    return times


def local_part(runs: int, home: Path) -> tuple[float, int, list[float]]:
    """(ms of the recorded embedded-model run, its turns, ms of each replay)."""
    from studio.llm.local import get_local_model

    get_local_model("smollm2").chat([{"role": "user", "content": "Hi"}], max_tokens=1)  # loaded and warm
    spec = loop_team(max_tokens=64)
    started = time.perf_counter()
    result = run_team(spec, "Write a Python function add(a, b) that returns a + b.", model="local/smollm2",
                      home=home)
    recorded_ms = (time.perf_counter() - started) * 1000
    assert result.status in ("done", "unsolved"), (result.status, result.error)
    recording = load_recording(result.run_id, home)
    replayed(recording)
    return recorded_ms, sum(m.usage.calls for m in result.messages), [timed(lambda: replayed(recording))
                                                                      for _ in range(runs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="repetitions of each timed run (median, p95)")
    parser.add_argument("--no-local", action="store_true", help="leave out the embedded-model run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        times = scripted_part(args.runs, Path(tmp) / "scripted")
        local = None if args.no_local else local_part(args.runs, Path(tmp) / "local")
    live, kept, scratch = (statistics.median(times[k]) for k in ("live", "kept", "scratch"))
    overhead = (kept - live) / TURNS
    rows = [
        (f"live scripted run ({TURNS} turns): the bare framework cost", live, p95(times["live"]), "baseline", ""),
        ("replay in the same run log (like for like)", kept, p95(times["kept"]), f"{kept / live:.2f}x",
         f"{overhead:+.3f} ms/turn (<= {OVERHEAD_TARGET_MS} ms/turn "
         + ("OK)" if overhead <= OVERHEAD_TARGET_MS else "MISSED)")),
        ("replay in a scratch run log (huddle replay, huddle test)", scratch, p95(times["scratch"]),
         f"{scratch / live:.2f}x", f"reference: +{scratch - kept:.0f} ms a replay for a fresh run log and graph"),
    ]
    if local is not None:
        recorded_ms, turns, replays = local
        speedup = recorded_ms / statistics.median(replays)
        rows += [
            (f"recorded local/smollm2 run ({turns} turns, max_tokens 64)", recorded_ms, recorded_ms, "", "once"),
            ("its replay (scratch run log)", statistics.median(replays), p95(replays), f"{speedup:,.0f}x faster",
             f">= {SPEEDUP_TARGET:.0f}x " + ("OK" if speedup >= SPEEDUP_TARGET else "MISSED")),
        ]
    print("| run | median | p95 | per turn | vs its live run | target |\n|---|---|---|---|---|---|")
    for label, median, high, ratio, target in rows:
        turns_of = local[1] if local is not None and ("smollm2" in label or label.startswith("its")) else TURNS
        print(f"| {label} | {median:,.1f} ms | {high:,.1f} ms | {median / turns_of:,.3f} ms | {ratio} | {target} |")
    print(f"\n{args.runs} runs of each, alternately; Python {sys.version.split()[0]}, "
          f"langgraph {importlib.metadata.version('langgraph')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
