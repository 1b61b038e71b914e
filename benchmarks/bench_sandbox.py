"""What does one sandboxed execution cost to start? Wall time of ``Sandbox.run``, end to end.

Each row is timed over ``--runs`` executions (after 3 warm-up runs) and reports
the median, the p95 and the median against the baseline measured in this run:

1. Baseline: a bare interpreter, ``python -I -S -c pass``, the floor any
   process-based sandbox pays.
2. A trivial snippet (``pass``) with the default ``SandboxSpec`` (network cut, private root,
   Landlock, PID namespace, rlimits): workspace, spawn, isolation, report.
   Target: median <= 50 ms.
3. A snippet that prints 1,000 lines (output captured and read back).
4. A small solution and 5 asserts run through the test harness.
5. The trivial snippet again from a parent holding ~1.5 GiB: the sandbox starts
   with ``posix_spawn``, not ``fork``, so the cost should not grow with the parent.

Run: ``make bench-sandbox`` (or ``python benchmarks/bench_sandbox.py --runs 100``).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from sandbox import ExecResult, Sandbox
from studio.spec.sandbox import SandboxSpec

TARGET_MS = 50.0
WARMUP = 3
PARENT_MIB = 1536
PRINTS = "for i in range(1000):\n    print(f'line {i}')\n"
SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = ("from solution import add\n\nassert add(2, 3) == 5\nassert add(-1, 1) == 0\nassert add(0, 0) == 0\n"
         "assert add(10, 32) == 42\nassert add('a', 'b') == 'ab'\n")


def timed(call, runs: int) -> tuple[float, float]:
    """Median and p95 in ms of ``call()`` over ``runs`` calls, after ``WARMUP`` untimed ones."""
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def bare_interpreter() -> None:
    subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)


def checked(box: Sandbox, files: dict[str, str], **kwargs) -> ExecResult:
    result = box.run(files, **kwargs)
    assert result.ok, result.summary() + "\n" + result.stderr
    return result


def hold_memory(mib: int) -> bytearray:
    """A ``mib`` MiB buffer with every page written, so the parent really holds it."""
    buf = bytearray(mib << 20)
    chunk = b"\x5a" * (64 << 20)
    for offset in range(0, len(buf), len(chunk)):
        buf[offset:offset + len(chunk)] = chunk
    return buf


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20 if sys.platform == "darwin" else 1 << 10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="timed executions per row (after 3 warm-up runs)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="huddle-bench-sandbox-") as root:
        box = Sandbox(SandboxSpec(), root)
        trivial = {"main.py": "pass\n"}
        probe = checked(box, trivial, entry="main.py")
        base = timed(bare_interpreter, args.runs)
        plain = timed(lambda: checked(box, trivial, entry="main.py"), args.runs)
        printed = checked(box, {"main.py": PRINTS}, entry="main.py")
        assert printed.stdout.count("\n") == 1000 and not printed.truncated
        prints = timed(lambda: checked(box, {"main.py": PRINTS}, entry="main.py"), args.runs)
        tested = checked(box, {"solution.py": SOLUTION, "test_task.py": TESTS}, tests=["test_task.py"])
        assert (tested.passed, tested.failed) == (5, 0), tested.tests
        tests = timed(lambda: checked(box, {"solution.py": SOLUTION, "test_task.py": TESTS},
                                      tests=["test_task.py"]), args.runs)
        buf = hold_memory(PARENT_MIB)
        held = peak_rss_mib()
        big = timed(lambda: checked(box, trivial, entry="main.py"), args.runs)
        del buf
    verdict = "PASS" if plain[0] <= TARGET_MS else "MISS"
    measured = [
        ("bare interpreter (python -I -S -c pass), subprocess.run", base, "baseline", ""),
        ("sandbox, trivial snippet (pass), default spec", plain, None, f"<= {TARGET_MS:.0f} ms {verdict}"),
        ("sandbox, snippet printing 1,000 lines", prints, None, "reference"),
        ("sandbox, solution + 5 asserts through the harness", tests, None, "reference"),
        (f"sandbox, trivial snippet, parent holding {PARENT_MIB / 1024:.1f} GiB (peak RSS {held:,.0f} MiB)", big,
         None, f"{big[0] / plain[0]:.2f}x the trivial row"),
    ]
    print("| measure | median | p95 | vs baseline | target |\n|---|---|---|---|---|")
    for label, (median, p95), ratio, target in measured:
        ratio = ratio or f"{median / base[0]:.2f}x"
        print(f"| {label} | {median:.1f} ms | {p95:.1f} ms | {ratio} | {target} |")
    print(f"\nisolation: network {probe.network}, filesystem {probe.filesystem}, "
          f"pid namespace {'yes' if probe.processes_contained else 'no'}")
    print(f"{args.runs} timed runs per row after {WARMUP} warm-up runs; {os.cpu_count()} CPUs, "
          f"{platform.platform()}, Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
