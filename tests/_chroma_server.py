"""What the separate processes sharing one Chroma server run, and how the tests start them.

Each worker is a fresh interpreter (multiprocessing ``spawn``): its own chromadb
client, its own embedder, nothing shared with the test process but the server.
Workers put one dict on the results queue: what they saw, or ``{"error": ...}``.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queues
import sys
import time
import types
from collections.abc import Callable, Sequence

from memory import MemoryItem, VectorMemory, get_embedder
from memory.embedder import HashEmbedder

_SPAWN = multiprocessing.get_context("spawn")


class SmallBatches(HashEmbedder):
    """The hash embedder in batches of 2, so one ``add`` of 40 texts is three writes of 16 ids (each written
    while the next is embedded), not one."""

    batch_size = 2


def _embedder(model: str):
    return SmallBatches() if model == "small-batches" else get_embedder(model)


def add_texts(results, start, url: str, namespace: str, texts: Sequence[str], writer: str, model: str) -> None:
    """Open the memory at ``url``, wait for the other writers, add ``texts`` as ``writer``; report ids."""
    try:
        mem = VectorMemory(namespace, embedder=_embedder(model), url=url)
        start.wait(timeout=120)
        result = mem.add(MemoryItem(t, "knowledge", source=f"{writer}.md", writer=writer) for t in texts)
        results.put({"writer": writer, "pid": os.getpid(), "added": result.added, "duplicates": result.duplicates})
    except BaseException as exc:
        start.abort()  # the others stop waiting for this one
        results.put({"writer": writer, "error": f"{type(exc).__name__}: {exc}"})


def search(results, start, url: str, namespace: str, query: str, model: str) -> None:
    """Search the memory at ``url`` for ``query``; report the hits (id, source, text, score)."""
    try:
        mem = VectorMemory(namespace, embedder=_embedder(model), url=url)
        start.wait(timeout=120)
        hits = mem.search(query, k=3)
        results.put({"pid": os.getpid(), "hits": [{"id": h.id, "source": h.source, "text": h.text,
                                                   "score": h.score} for h in hits]})
    except BaseException as exc:
        start.abort()
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def race_first_write(results, start, url: str, prefix: str, rounds: int, role: str) -> None:
    """``writer`` or ``searcher`` on a fresh namespace each round, both released together: the searcher queries
    for 150 ms while the writer stores the collection's first vectors; report how many searches it made."""
    try:
        searches = 0
        for round_ in range(rounds):
            mem = VectorMemory(f"{prefix}-{round_}", embedder=get_embedder("hash"), url=url)
            mem.collection("knowledge")
            start.wait(timeout=120)
            if role == "writer":
                mem.add(MemoryItem(f"fact {round_}.{i}", "knowledge", source="w.md") for i in range(3))
                continue
            until = time.monotonic() + 0.15
            while time.monotonic() < until:
                mem.search(f"fact {round_}", k=1, collections=["knowledge"])
                searches += 1
        results.put({"pid": os.getpid(), "role": role, "searches": searches})
    except BaseException as exc:
        start.abort()
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def run_together(target: Callable, jobs: Sequence[tuple], timeout: float = 240) -> list[dict]:
    """Run ``target(results, start, *job)`` for each job in its own process, all released at once; their reports.

    Fails (never hangs) when a process dies or does not report in time.
    """
    results, start = _SPAWN.Queue(), _SPAWN.Barrier(len(jobs))
    procs = [_SPAWN.Process(target=target, args=(results, start, *job), daemon=True) for job in jobs]
    # A spawned child first re-runs the parent's __main__; after a Streamlit AppTest in this process that is
    # the page script it left behind, which fails outside AppTest. The workers need none of it.
    main, sys.modules["__main__"] = sys.modules["__main__"], types.ModuleType("__main__")
    try:
        for proc in procs:
            proc.start()
    finally:
        sys.modules["__main__"] = main
    reports: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while len(reports) < len(jobs):
            try:
                reports.append(results.get(timeout=1))
                continue
            except queues.Empty:
                pass
            codes = [p.exitcode for p in procs]
            if time.monotonic() > deadline or any(code not in (None, 0) for code in codes):
                # a child that died before reporting left its traceback on stderr
                raise AssertionError(f"only {len(reports)} of {len(jobs)} processes reported; exit codes {codes}")
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    errors = [r["error"] for r in reports if "error" in r]
    assert not errors, errors
    assert len({r["pid"] for r in reports}) == len(jobs)  # separate processes, really
    return reports
