"""How long does a ``huddle`` command take from a cold start? Wall time of fresh processes, against ``python -c pass``.

Each row starts the installed ``huddle`` console script ``--repeats`` times in a
new process (after one warm-up round, so that the files are in the OS cache, as
they are for someone who used the command a minute ago; the rows take turns, so
that drift on shared cores hits them alike) and reports the median and the
slowest. The baseline is the bare interpreter, ``python -c pass``,
measured in the same run. Targets:

- ``huddle run`` of the scripted dev team (``examples/scripts/dev_team.yaml``, as
  shipped: its 0.2 s of simulated latency and its sandbox runs included) with
  memory off: <= 2 s;
- ``huddle memory search`` with the bundled MiniLM on a store holding
  ``examples/knowledge``: <= 3 s.

For reference: ``--help``, ``runs list`` on a log of a few runs, ``teams
validate``, the same scripted run with memory on (MiniLM retrieval before each
call, an episode and a lesson written after), and ``import torch`` and
``import litellm`` alone, which the commands above no longer pay for.

Run: ``python benchmarks/bench_cli.py`` (``--repeats 10`` for steadier numbers).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEAM = ROOT / "examples" / "teams" / "dev_team.yaml"
SCRIPT = ROOT / "examples" / "scripts" / "dev_team.yaml"
KNOWLEDGE = ROOT / "examples" / "knowledge"
HUDDLE = str(Path(sys.executable).parent / "huddle")
RUN_TARGET_S, SEARCH_TARGET_S = 2.0, 3.0


def start(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``argv`` in a fresh process; a failure stops the benchmark with its output."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def timed(commands: list[list[str]], env: dict[str, str], repeats: int) -> list[tuple[float, float]]:
    """Median and slowest wall seconds of each command, started in turn ``repeats`` times after one warm-up round.

    Alternating the commands spreads the machine's drift (other processes on shared cores) over all of them.
    """
    times: list[list[float]] = [[] for _ in commands]
    for round_ in range(repeats + 1):
        for command, seen in zip(commands, times, strict=True):
            elapsed = start(command, env)
            if round_:
                seen.append(elapsed)
    return [(statistics.median(seen), max(seen)) for seen in times]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed starts per row (after one warm-up round)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="huddle-bench-cli-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "HUDDLE_HOME": str(home), "COLUMNS": "120"}
        quiet = Path(tmp) / "dev_team_memory_off.yaml"
        quiet.write_text(yaml.safe_dump({**yaml.safe_load(TEAM.read_text()), "memory": {"enabled": False}},
                                        sort_keys=False))
        ingest = subprocess.run([HUDDLE, "memory", "ingest", str(KNOWLEDGE), "--team", str(TEAM)], env=env,
                                capture_output=True, text=True, timeout=600)
        if ingest.returncode != 0:
            raise SystemExit(f"huddle memory ingest failed:\n{ingest.stderr[-2000:]}")
        model = f"scripted:{SCRIPT}"
        python = [sys.executable, "-c"]
        rows: list[tuple[str, list[str], float | None]] = [
            ("`python -c pass` (the interpreter alone)", [*python, "pass"], None),
            ("`huddle run` scripted dev team, memory off", [HUDDLE, "run", str(quiet), "Write fizzbuzz", "--model",
                                                            model], RUN_TARGET_S),
            ("`huddle memory search` (bundled MiniLM, examples/knowledge)",
             [HUDDLE, "memory", "search", "which time zone should timestamps use", "--team", str(TEAM)],
             SEARCH_TARGET_S),
            ("`huddle --help`", [HUDDLE, "--help"], None),
            ("`huddle runs list`", [HUDDLE, "runs", "list"], None),
            ("`huddle teams validate` dev team", [HUDDLE, "teams", "validate", str(TEAM)], None),
            ("`huddle run` scripted dev team, memory on (MiniLM)",
             [HUDDLE, "run", str(TEAM), "Write fizzbuzz", "--model", model], None),
            ("`import torch` alone (not paid above)", [*python, "import torch"], None),
            ("`import litellm` alone (not paid above)",
             [*python, "import os; os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'; import litellm"], None),
        ]
        measured = timed([command for _, command, _ in rows], env, args.repeats)
        results = [(label, times, target) for (label, _, target), times in zip(rows, measured, strict=True)]
    base = results[0][1][0]
    print("| command (fresh process) | median | slowest | vs baseline | target |\n|---|---|---|---|---|")
    for row, (label, (median, slowest), target) in enumerate(results):
        ratio = f"{median / base:.1f}x" if row else "baseline"
        goal = f"<= {target:g} s " + ("PASS" if median <= target else "MISS") if target else "reference" if row else ""
        print(f"| {label} | {median:.2f} s | {slowest:.2f} s | {ratio} | {goal} |")
    print(f"\n{args.repeats} timed starts per row, in turns, after one warm-up round; {os.cpu_count()} CPUs "
          f"(load average {os.getloadavg()[0]:.1f} at the end), "
          f"{platform.platform()}, Python {sys.version.split()[0]}, huddle-studio "
          f"{importlib.metadata.version('huddle-studio')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
