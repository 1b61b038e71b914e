"""Bus publish+deliver throughput and p99 latency: the SQLite run log (baseline) against Redis Streams.

Both backends measured here, in this process, one after the other, with the
same messages (a ``Task`` of about 300 bytes of JSON, one run):

1. In-process subscriber: ``Bus.publish`` one message at a time (persist, then
   call the subscriber). Throughput: messages / elapsed. Latency: from the call
   to ``publish`` to the subscriber's callback.
2. Consumer group: a publisher thread publishes one message at a time while a
   consumer thread reads them as a member of a group (``Bus.consumer``,
   blocking reads of up to 100, acknowledging each batch). Throughput: all
   messages published as fast as possible, first publish to last delivery.
   Latency: publish to read, with messages paced one per millisecond so that
   it measures delivery, not a queue.

SQLite: WAL, ``synchronous=NORMAL``, in a temporary folder; a blocked group read
is woken by appends in this process. Redis: a ``redis-server`` this script
starts on a free loopback port with ``appendonly yes, appendfsync everysec``
(like SQLite here, a killed server loses nothing the OS got), over TCP.

Run: ``python benchmarks/bench_bus.py`` (about 30 seconds; needs redis-server).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis

from studio.bus import Bus, RunStore
from studio.bus.redis import RedisRunLog
from studio.bus.sqlite import RunLog
from studio.messages import Task

CONTENT = "Write a Python function fizzbuzz(n) that returns Fizz, Buzz, FizzBuzz or the number as a string."


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server on a free loopback port, appending to a file in ``folder``; (process, URL) once it answers."""
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server is not installed: apt-get install redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                             "--appendfsync", "everysec", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("redis-server did not start")
            time.sleep(0.05)


def _messages(n: int, run_id: str) -> list[Task]:
    return [Task(run_id=run_id, sender="user", content=f"{CONTENT} #{i}") for i in range(n)]


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def subscriber(log: RunStore, n: int) -> tuple[float, list[float]]:
    """Publish ``n`` messages one by one to an in-process subscriber: (messages/s, latencies in ms)."""
    bus = Bus(log)
    started_at: dict[str, float] = {}
    latencies: list[float] = []
    bus.subscribe("*", lambda m: latencies.append((time.perf_counter() - started_at[m.id]) * 1000))
    messages = _messages(n, uuid.uuid4().hex)
    started = time.perf_counter()
    for message in messages:
        started_at[message.id] = time.perf_counter()
        bus.publish(message)
    elapsed = time.perf_counter() - started
    assert len(latencies) == n
    return n / elapsed, latencies


def consumer_group(log: RunStore, n: int, pace_s: float) -> tuple[float, list[float]]:
    """Publish ``n`` messages from one thread, read them as a consumer group from another."""
    bus = Bus(log)
    run_id = uuid.uuid4().hex
    reader = bus.consumer("bench", run_id, "c1")
    started_at: dict[str, float] = {}
    latencies: list[float] = []
    done = threading.Event()

    def consume() -> None:
        while len(latencies) < n:
            got = reader.read(count=100, block_ms=1000)
            now = time.perf_counter()
            latencies.extend((now - started_at[d.message.id]) * 1000 for d in got)
            reader.ack(*got)
        done.set()

    thread = threading.Thread(target=consume)
    thread.start()
    messages = _messages(n, run_id)
    started = time.perf_counter()
    for message in messages:
        started_at[message.id] = time.perf_counter()
        bus.publish(message)
        if pace_s:
            time.sleep(pace_s)
    done.wait(120)
    elapsed = time.perf_counter() - started
    thread.join()
    assert len(latencies) == n
    return n / elapsed, latencies


def measure(logs: dict[str, RunStore], n: int, paced: int, rounds: int) -> dict[tuple[str, str], tuple]:
    """(median throughput, p50 ms, p99 ms) per (backend, delivery), alternating the backends each round so that
    machine drift hits them alike; latencies of all rounds pooled."""
    rates: dict[tuple[str, str], list[float]] = {}
    lats: dict[tuple[str, str], list[float]] = {}
    for log in logs.values():
        subscriber(log, 200)  # warm-up: connections, scripts, page cache
    for _ in range(rounds):
        for name, log in logs.items():
            rate, lat = subscriber(log, n)
            rates.setdefault((name, "subscriber"), []).append(rate)
            lats.setdefault((name, "subscriber"), []).extend(lat)
            rate, _ = consumer_group(log, n, 0)
            rates.setdefault((name, "group"), []).append(rate)
            _, lat = consumer_group(log, paced, 0.001)
            lats.setdefault((name, "group"), []).extend(lat)
    return {key: (statistics.median(rates[key]), _p(lats[key], 50), _p(lats[key], 99)) for key in rates}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10000, help="messages per throughput measure")
    parser.add_argument("--paced", type=int, default=1000, help="messages, one per ms, for consumer-group latency")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the backends")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        proc, url = start_redis(folder)
        try:
            logs = {"sqlite": RunLog(folder / "runs.db"), "redis": RedisRunLog(f"{url}?namespace=bench")}
            results = measure(logs, args.messages, args.paced, args.rounds)
            server = redis.Redis.from_url(url).info("server")["redis_version"]
            for log in logs.values():
                log.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    what = {"subscriber": "in-process subscriber: publish() to callback",
            "group": "consumer group, another thread: publish() to read() (paced 1/ms for latency)"}
    print("| backend | delivery (what is measured) | throughput | vs SQLite | p50 latency | p99 latency "
          "| p99 vs SQLite |\n|---|---|---|---|---|---|---|")
    for kind in ("subscriber", "group"):
        base = results["sqlite", kind]
        for name, row in (("SQLite run log (WAL)", base), ("Redis Streams", results["redis", kind])):
            ratio = "baseline" if row is base else f"{row[0] / base[0]:.2f}x"
            p99_ratio = "baseline" if row is base else f"{row[2] / base[2]:.2f}x"
            print(f"| {name} | {what[kind]} | {row[0]:,.0f} msg/s | {ratio} | {row[1]:.3f} ms | {row[2]:.3f} ms "
                  f"| {p99_ratio} |")
    print(f"\nMedian of {args.rounds} rounds; {args.messages} messages per throughput measure, {args.paced} paced "
          f"per round for consumer-group latency; "
          f"Python {sys.version.split()[0]}, redis-server {server}, redis-py {importlib.metadata.version('redis')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
