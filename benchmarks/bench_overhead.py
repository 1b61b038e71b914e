"""How much does Huddle add on top of LangGraph + litellm? And how fast is the persisted bus?

1. Time per agent turn of a scripted dev-team run (zero latency; bus, run log
   and checkpoints all on disk; memory off, as the chain has none) against a
   bare LangGraph chain of the same four nodes calling
   ``litellm.completion(..., mock_response=...)``, both measured here, in this
   process. Target: ratio <= 1.3. The sandbox is off there too (the chain runs
   no code). For reference, the same run with the team's memory on (MiniLM
   retrieval before every call, reflection at the end), and with execution on
   (every piece of code run in the sandbox, its failing first version retried).
   Huddle's own share of a turn is the turn less the litellm mock call; the
   scripted model makes no litellm call, so it is the whole scripted turn.
   Target: <= 0.5 ms. Memory on costs at most 5 ms a turn over memory off.
   The scripted turn on the Postgres store against the SQLite store's, timed
   alternately (``_store_turn.py``: ``$HUDDLE_STORE_URL``, else a private
   cluster on loopback). Target: <= 2x.
2. Bus publish throughput with persistence (one SQLite transaction per
   message) against an in-memory bus, the median of 5 rounds. Target:
   >= 20,000 messages/s.

Run: ``make bench`` (or ``python benchmarks/bench_overhead.py --runs 20``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import operator
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, TypedDict

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
from _store_turn import store_turns  # noqa: E402
from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402

from studio.bus import Bus  # noqa: E402
from studio.bus.checkpoints import LogSaver  # noqa: E402
from studio.bus.sqlite import RunLog  # noqa: E402
from studio.messages import Task  # noqa: E402
from studio.runner import run_team  # noqa: E402
from studio.spec import load_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEAM = ROOT / "examples" / "teams" / "dev_team.yaml"
SCRIPT = ROOT / "examples" / "scripts" / "dev_team.yaml"
BARE_INVOKES = 3  # 12 node turns per bare run, close to the scripted run's 10


class _State(TypedDict):
    transcript: list[str]


def _bare_chain(checkpointer=None):
    def node(name: str):
        def call(state: _State) -> _State:
            reply = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": name}],
                                       mock_response=f"{name} says hi")
            return {"transcript": [*state["transcript"], reply.choices[0].message.content]}
        return call

    graph = StateGraph(_State)
    names = ["orchestrator", "planner", "coder", "critic"]
    for name in names:
        graph.add_node(name, node(name))
    graph.add_edge(START, names[0])
    for a, b in zip(names, names[1:], strict=False):
        graph.add_edge(a, b)
    graph.add_edge(names[-1], END)
    return graph.compile(checkpointer=checkpointer)


def _time_bare(chain, config_of) -> float:
    started = time.perf_counter()
    for _ in range(BARE_INVOKES):
        config = config_of()
        chain.invoke({"transcript": []}, config, **({"durability": "sync"} if config else {}))
    return (time.perf_counter() - started) * 1000 / (4 * BARE_INVOKES)


class _Steps(TypedDict):
    transcript: Annotated[list[str], operator.add]


def floor_turn(nodes: int, turns: int, home: Path, runs: int = 200) -> float:
    """Median ms per turn of LangGraph alone on a run's shape: ``nodes`` empty nodes in a row, checkpointed
    after every step (``durability="sync"``) into a run log's database by our ``LogSaver``, as a Huddle run is
    (inside ``LogSaver.steps``: one commit a step).

    No Huddle code runs in the nodes: this is the least a checkpointed run of that many steps can cost.
    """
    graph = StateGraph(_Steps)
    names = [f"n{i}" for i in range(nodes)]
    for name in names:
        graph.add_node(name, lambda state, name=name: {"transcript": [name]})
    graph.add_edge(START, names[0])
    for a, b in zip(names, names[1:], strict=False):
        graph.add_edge(a, b)
    graph.add_edge(names[-1], END)
    saver = LogSaver(RunLog(home / "floor.db"))
    chain = graph.compile(checkpointer=saver)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        thread = uuid.uuid4().hex
        with saver.steps(thread):  # as a run's graph runs: a step's checkpoint commits with the next writes
            chain.invoke({"transcript": ["task"]}, {"configurable": {"thread_id": thread}}, durability="sync")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times) / turns


def litellm_call_ms(calls: int = 200) -> float:
    """Median ms of one ``litellm.completion(..., mock_response=...)``: the bare chain's model call."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], mock_response="hi")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _turns(result) -> int:
    """Model calls behind a run's messages: its agent turns."""
    return sum(m.usage.calls for m in result.messages)


def turn_times(runs: int, home: Path) -> tuple[float, float, float, float, float, tuple[int, int]]:
    """Median ms per turn of (Huddle, bare chain, bare chain with SQLite checkpoints, Huddle with memory,
    Huddle with execution), measured alternately so that drift hits them all alike."""
    team = load_spec(TEAM)
    team = team.model_copy(update={"defaults": team.defaults.model_copy(update={"retry_backoff_s": 0}),
                                   "sandbox": team.sandbox.model_copy(update={"enabled": False})})
    with_memory = team
    spec = team.model_copy(update={"memory": team.memory.model_copy(update={"enabled": False})})
    executing = spec.model_copy(update={"sandbox": spec.sandbox.model_copy(update={"enabled": True})})
    path = home / "script.yaml"
    path.write_text(SCRIPT.read_text().replace("delay_s: 0.2", "delay_s: 0"))
    model = f"scripted:{path}"
    conn = sqlite3.connect(home / "bare-checkpoints.db", check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    saver = SqliteSaver(conn)
    warm = run_team(spec, "warm-up", model=model, home=home)
    shape = (len(warm.messages) - 1, _turns(warm))  # the run's graph steps (one per message after the task), turns
    run_team(with_memory, "warm-up", model=model, home=home)
    run_team(executing, "warm-up", model=model, home=home)
    _bare_chain().invoke({"transcript": []})
    huddle, bare, saved, remembering, running = [], [], [], [], []
    for i in range(runs):
        for team, times in ((spec, huddle), (with_memory, remembering), (executing, running)):
            started = time.perf_counter()
            result = run_team(team, f"Write fizzbuzz, take {i}", model=model, home=home)
            times.append((time.perf_counter() - started) * 1000 / _turns(result))
            assert result.status == "done", result.error
        bare.append(_time_bare(_bare_chain(), lambda: None))
        saved.append(_time_bare(_bare_chain(saver), lambda: {"configurable": {"thread_id": uuid.uuid4().hex}}))
    return (statistics.median(huddle), statistics.median(bare), statistics.median(saved),
            statistics.median(remembering), statistics.median(running), shape)


def _store_times(runs: int, home: Path) -> tuple[float, float, str]:
    """The memory-off scripted run on each store (``_store_turn.store_turns``)."""
    team = load_spec(TEAM)
    spec = team.model_copy(update={"defaults": team.defaults.model_copy(update={"retry_backoff_s": 0}),
                                   "sandbox": team.sandbox.model_copy(update={"enabled": False}),
                                   "memory": team.memory.model_copy(update={"enabled": False})})
    model = f"scripted:{home / 'script.yaml'}"  # written by turn_times: no delays

    def run(folder: Path, i: int):
        result = run_team(spec, f"Write fizzbuzz, store take {i}", model=model, home=folder)
        assert result.status == "done", result.error
        return result

    return store_turns(runs, home, run, _turns)


def bus_rate(n: int, log: RunLog | None) -> float:
    bus = Bus(log)
    seen = []
    bus.subscribe("*", seen.append)
    messages = [Task(run_id="bench", sender="user", content=f"message {i}") for i in range(n)]
    started = time.perf_counter()
    for message in messages:
        bus.publish(message)
    elapsed = time.perf_counter() - started
    assert len(seen) == n
    return n / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="scripted runs to time (median per turn)")
    parser.add_argument("--messages", type=int, default=20000, help="messages to publish for the bus rate")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        huddle, bare, saved, remembering, running, (steps, turns) = turn_times(args.runs, home)
        on_sqlite, on_postgres, where = _store_times(args.runs, home)
        floor = floor_turn(steps, turns, home)
        # the median of 5 rounds, alternating, each on a fresh log: one load spike on a busy machine moves one round
        rounds = [(bus_rate(args.messages // 5, RunLog(home / f"bus{i}.db")), bus_rate(args.messages // 5, None))
                  for i in range(5)]
        persisted = statistics.median(r[0] for r in rounds)
        memory = statistics.median(r[1] for r in rounds)
    mock = litellm_call_ms()
    ratio = huddle / bare
    like_for_like = huddle / saved
    rows = [
        ("bare LangGraph chain + litellm mock_response, per turn", f"{bare:.2f} ms", "baseline", ""),
        ("same chain + SqliteSaver checkpoints (sync), per turn", f"{saved:.2f} ms", f"{saved / bare:.2f}x",
         "reference"),
        ("Huddle scripted run (bus + run log + checkpoints), per turn", f"{huddle:.2f} ms", f"{ratio:.2f}x",
         "<= 1.3x " + ("OK" if ratio <= 1.3 else "MISSED")),
        ("Huddle vs the checkpointed chain", f"{like_for_like:.2f}x", "", "like for like"),
        ("litellm.completion(mock_response=...) alone, per call", f"{mock:.2f} ms", f"{mock / bare:.2f}x",
         "reference"),
        ("bare chain less its litellm call (LangGraph's own share), per turn", f"{bare - mock:.2f} ms", "",
         "reference"),
        ("Huddle's own share (its scripted model calls no litellm), per turn", f"{huddle:.2f} ms", "",
         "<= 0.5 ms " + ("OK" if huddle <= 0.5 else "MISSED")),
        (f"LangGraph's floor: {steps} empty nodes, checkpointed each step (LogSaver, sync), per turn of {turns}",
         f"{floor:.2f} ms", "", "reference: " + ("below" if floor < 0.5 else "above") + " 0.5 ms"),
        ("Huddle with memory on (MiniLM retrieval per call, reflection), per turn", f"{remembering:.2f} ms",
         f"{remembering / bare:.2f}x", "reference"),
        ("memory on less memory off, per turn", f"{remembering - huddle:.2f} ms", "",
         "<= 5 ms " + ("OK" if remembering - huddle <= 5 else "MISSED")),
        ("Huddle with execution on (each code run in the sandbox), per turn", f"{running:.2f} ms",
         f"{running / bare:.2f}x", "reference"),
        ("Huddle scripted run, SQLite store (runs.db), per turn", f"{on_sqlite:.2f} ms", "baseline", ""),
        (f"Huddle scripted run, Postgres store ({where}), per turn", f"{on_postgres:.2f} ms",
         f"{on_postgres / on_sqlite:.2f}x", "<= 2x " + ("OK" if on_postgres <= 2 * on_sqlite else "MISSED")),
        ("bus publish, in memory (no log)", f"{memory:,.0f} msg/s", "baseline", ""),
        ("bus publish, persisted to SQLite (WAL)", f"{persisted:,.0f} msg/s", f"{persisted / memory:.2f}x",
         ">= 20,000 msg/s " + ("OK" if persisted >= 20000 else "MISSED")),
    ]
    print("| measure | value | vs baseline | target |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{args.runs} runs; Python {sys.version.split()[0]}, "
          f"litellm {importlib.metadata.version('litellm')}, langgraph {importlib.metadata.version('langgraph')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
