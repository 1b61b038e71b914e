"""Does the Run page stay fast with a long run loaded? Wall time of a rerun of the page, in Streamlit's AppTest.

A run of ``--messages`` messages (2,000 by default: decisions, plans, code,
execution results with failures and output, reviews, tool calls, reflections,
the odd error, a final result) is published through the bus into the run log
of a temporary ``HUDDLE_HOME``, then the Run page is opened on it
(``?run=ID``) and rerun. The first run reads and parses the whole log; every
rerun after it reads only new rows, and renders a window of the newest 50
messages. Each row reports the median and the p95 over ``--reruns`` reruns
(after 3 warm-up ones), against a baseline measured in the same process: the
same page showing a 20-message run. Target: median <= 300 ms with 2,000
messages.

Run: ``make bench-ui`` (or ``python benchmarks/bench_ui.py --messages 5000 --reruns 40``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from studio.bus import Bus
from studio.bus.sqlite import RunLog
from studio.messages import (
    Code,
    Decision,
    Error,
    Execution,
    Final,
    Message,
    Plan,
    PlanStep,
    Reflection,
    Review,
    Task,
    ToolCall,
    ToolResult,
    Usage,
)
from studio.runner import shared_store
from studio.spec import load_spec

TARGET_MS = 300.0
WARMUP = 3
BASELINE_MESSAGES = 20
ROOT = Path(__file__).resolve().parents[1]
TEAM = load_spec(ROOT / "examples" / "teams" / "dev_team.yaml")
CODE = "\n".join([
    "def fizzbuzz(n):",
    '    """Fizz for multiples of 3, Buzz for 5, both for 15, else the number."""',
    '    word = "Fizz" * (n % 3 == 0) + "Buzz" * (n % 5 == 0)',
    "    return word or str(n)",
    "",
    "",
    "def test_fizzbuzz():",
    '    assert [fizzbuzz(n) for n in (3, 5, 15)] == ["Fizz", "Buzz", "FizzBuzz"]',
    '    assert fizzbuzz(7) == "7"',
])


def _usage(i: int) -> Usage:
    return Usage(prompt_tokens=200 + i % 97, completion_tokens=40 + i % 31, latency_ms=800.0 + i % 400,
                 model="bench/model", calls=1)


def turn(run_id: str, i: int) -> list[Message]:
    """One round of a busy team: about ten messages of the kinds a real run publishes."""
    code = Code(run_id=run_id, sender="coder", content=f"Version {i}: numbers fall back to themselves.\n"
                f"```python\n{CODE}\n```\n", code=CODE, usage=_usage(i), memory_ids=["k-0123456789abcdef"])
    ok = i % 3 == 0
    ran = Execution(run_id=run_id, sender="coder", parent_id=code.id, exit_code=0 if ok else 1,
                    content=f"{'OK' if ok else 'FAILED'}: tests: {1 if ok else 0} passed, {0 if ok else 1} failed; "
                            f"exit {0 if ok else 1}, 41 ms.", passed=int(ok), failed=int(not ok), tests_run=True,
                    failures=[] if ok else ['test_fizzbuzz: line 6: assert fizzbuzz(7) == "7"\n  AssertionError\n'
                                            "  where fizzbuzz(7) = ''"],
                    stdout="\n".join(f"line {k}" for k in range(40)), stderr="warning: slow\n" * 3,
                    duration_ms=41.0, peak_memory_mb=10.5, network="cut", filesystem="isolated")
    return [
        Decision(run_id=run_id, sender="orchestrator", content=f"next: coder — round {i}", next_speaker="coder",
                 instruction=f"Fix what round {i} found.", usage=_usage(i), memory_ids=["e-0123456789abcdef"]),
        Plan(run_id=run_id, sender="planner", content="s1. Write it\ns2. Test it", usage=_usage(i),
             steps=[PlanStep(id="s1", description="Write fizzbuzz(n)"),
                    PlanStep(id="s2", description="Test 3, 5, 15 and 7", depends_on=["s1"])]),
        ToolCall(run_id=run_id, sender="coder", content="memory_search: fizzbuzz", tool="memory_search",
                 arguments={"query": f"fizzbuzz round {i}"}),
        ToolResult(run_id=run_id, sender="coder", content="[r-1] test the plain-number case", tool="memory_search",
                   memory_ids=["r-0123456789abcdef"]),
        code, ran,
        Review(run_id=run_id, sender="critic", content=f"REVISE: round {i}", verdict="revise", usage=_usage(i),
               feedback=f"Round {i}: *almost*; cover `fizzbuzz(0)` too.", lessons=["test zero"]),
        Error(run_id=run_id, sender="critic", error_type="parse", content="no JSON object in the reply"),
        Reflection(run_id=run_id, sender="critic", content="fizzbuzz: test zero", memory_ids=["r-fedcba9876543210"]),
        Task(run_id=run_id, sender="user", content=f"Also handle **negative** numbers (round {i})."),
    ]


def write_run(log: RunLog, run_id: str, count: int) -> None:
    """A finished run of exactly ``count`` messages, published through the bus (persisted, then delivered)."""
    log.create_run(run_id, team=TEAM.name, task="Write fizzbuzz", spec=TEAM.model_dump(mode="json", by_alias=True),
                   model="bench/model")
    bus = Bus(log)
    messages: list[Message] = [Task(run_id=run_id, sender="user", content="Write fizzbuzz")]
    i = 0
    while len(messages) < count - 1:
        messages += turn(run_id, i)
        i += 1
    messages = messages[:count - 1] + [Final(run_id=run_id, sender="system", content="The critic approved it.",
                                             code=CODE, approved=True, executed=True, exit_code=0, passed=1)]
    for start in range(0, len(messages), 500):
        bus.publish_many(messages[start:start + 500])
    log.set_status(run_id, "done")


def run_page_app() -> None:
    """The script AppTest runs: the Run page alone."""
    from studio.ui import run_page

    run_page.page()


def timed_reruns(run_id: str, reruns: int) -> tuple[float, float, int]:
    """Median and p95 in ms of a rerun of the Run page showing ``run_id``, and the chat bubbles it shows."""
    app = AppTest.from_function(run_page_app, default_timeout=120)
    app.query_params["run"] = run_id
    for _ in range(WARMUP):
        app.run()
    assert not app.exception, app.exception
    times = []
    for _ in range(reruns):
        started = time.perf_counter()
        app.run()
        times.append((time.perf_counter() - started) * 1000)
    assert not app.exception, app.exception
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], len(app.chat_message)


def first_render_ms(run_id: str) -> float:
    """The first render of the page on ``run_id`` in a fresh session: the whole log is read and parsed."""
    app = AppTest.from_function(run_page_app, default_timeout=120)
    app.query_params["run"] = run_id
    started = time.perf_counter()
    app.run()
    assert not app.exception, app.exception
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages in the long run")
    parser.add_argument("--reruns", type=int, default=20, help="timed reruns per row (after 3 warm-up ones)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="huddle-bench-ui-") as home:
        os.environ["HUDDLE_HOME"] = home  # the page reads the run log of $HUDDLE_HOME
        log = shared_store(home)
        write_run(log, "bench-short", BASELINE_MESSAGES)
        write_run(log, "bench-long", args.messages)
        assert log.get_run("bench-long").messages == args.messages
        base = timed_reruns("bench-short", args.reruns)
        long = timed_reruns("bench-long", args.reruns)
        first = first_render_ms("bench-long")
    verdict = "PASS" if long[0] <= TARGET_MS else "MISS"
    print("| measure | median | p95 | vs baseline | target |\n|---|---|---|---|---|")
    print(f"| Run page rerun, {BASELINE_MESSAGES}-message run ({base[2]} bubbles shown) | {base[0]:.1f} ms | "
          f"{base[1]:.1f} ms | baseline |  |")
    print(f"| Run page rerun, {args.messages:,}-message run ({long[2]} bubbles shown, window of 50) | "
          f"{long[0]:.1f} ms | {long[1]:.1f} ms | {long[0] / base[0]:.2f}x | <= {TARGET_MS:.0f} ms {verdict} |")
    print(f"| first render of the {args.messages:,}-message run (whole log read and parsed) | {first:.1f} ms |  | "
          f"{first / base[0]:.2f}x | reference |")
    print(f"\n{args.reruns} timed reruns per row after {WARMUP} warm-up ones (streamlit.testing AppTest, in process); "
          f"{os.cpu_count()} CPUs, {platform.platform()}, Python {sys.version.split()[0]}, "
          f"streamlit {importlib.metadata.version('streamlit')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
