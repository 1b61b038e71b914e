"""How fast and how good is the shared memory? Measured on the device the embedder picks (cuda, mps or cpu).

1. Ingest throughput: ``VectorMemory.add`` (embed, de-duplicate, store in
   chromadb) against raw ``SentenceTransformer.encode`` of the same texts with
   the same model, alternated in this process. Target: ratio >= 0.9.
2. Retrieval latency, p50 and p95, of ``VectorMemory.search`` (query embedding
   included, all three collections, k=5) with 10k and 100k items stored.
   Target: p95 <= 20 ms on CPU.
3. recall@5 (and recall@1) on the labelled set in ``benchmarks/data/recall_set.json``,
   for the MiniLM embedder against the hash (bag-of-words) embedder as a baseline.

Run: ``make bench-memory`` (or ``python benchmarks/bench_memory.py --sizes 10000,100000``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from memory import MemoryItem, VectorMemory, get_embedder

DATA = Path(__file__).resolve().parent / "data" / "recall_set.json"
_SUBJECTS = ["the parser", "the HTTP client", "the cache", "the scheduler", "the CSV exporter", "the date helper",
             "the test suite", "the retry loop", "the logger", "the config loader", "the sorter", "the uploader"]
_VERBS = ["fails", "slows down", "retries", "drops rows", "times out", "returns None", "leaks memory",
          "raises KeyError", "double counts", "skips the header"]
_WHEN = ["on empty input", "with unicode names", "after midnight UTC", "under load", "when the file is missing",
         "on the first call", "with nested lists", "if the server answers 503", "on Windows paths", "with duplicates"]


def corpus(n: int, seed: int = 7) -> list[str]:
    """``n`` distinct short engineering notes, deterministic."""
    rng = random.Random(seed)
    return [f"Note {i}: {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_WHEN)}; "
            f"fix {rng.randrange(1000)} in {rng.choice(_SUBJECTS)}." for i in range(n)]


def ingest_rates(embedder, n: int, rounds: int, tmp: Path) -> tuple[float, float]:
    """Median texts/s of raw encode and of VectorMemory.add, alternated; fresh texts and store each round."""
    raw, ours = [], []
    model = embedder._model
    for r in range(rounds):
        texts = corpus(n, seed=100 + r)
        started = time.perf_counter()
        model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False)
        raw.append(n / (time.perf_counter() - started))
        mem = VectorMemory(f"ingest-{uuid.uuid4().hex[:8]}", embedder=embedder, path=tmp / "ingest")
        items = [MemoryItem(t, "knowledge", source="bench", trust="external") for t in corpus(n, seed=200 + r)]
        started = time.perf_counter()
        result = mem.add(items)
        ours.append(n / (time.perf_counter() - started))
        assert len(result.added) == n
    return statistics.median(raw), statistics.median(ours)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def search_latency(mem: VectorMemory, queries: int, salt: int) -> tuple[float, float]:
    """p50 and p95 in ms of search (query embedding included) over query strings never asked before."""
    rng = random.Random(salt)
    times = []
    for i in range(queries + 10):
        query = f"why does {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_WHEN)} #{salt}.{i}"
        started = time.perf_counter()
        hits = mem.search(query, k=5)
        elapsed = (time.perf_counter() - started) * 1000
        assert len(hits) == 5
        if i >= 10:  # the first few warm caches up
            times.append(elapsed)
    return _percentiles(times)


def embed_latency(embedder, queries: int) -> tuple[float, float]:
    times = []
    for i in range(queries):
        started = time.perf_counter()
        embedder.encode([f"how to fix the parser on empty input, case {i}"])
        times.append((time.perf_counter() - started) * 1000)
    return _percentiles(times)


def recall(embedder) -> tuple[float, float]:
    """Mean recall@5 and recall@1 over the labelled queries (each document stored in its collection with its
    trust); recall@1 counts the top hit being one of the relevant documents."""
    data = json.loads(DATA.read_text())
    mem = VectorMemory(f"recall-{uuid.uuid4().hex[:8]}", embedder=embedder, ephemeral=True)
    for doc in data["documents"]:
        trust = "external" if doc["collection"] == "knowledge" else "agent"
        mem.add([MemoryItem(doc["text"], doc["collection"], source=doc["id"], trust=trust, writer="bench")])
    at5, at1 = [], []
    for q in data["queries"]:
        found = [h.source for h in mem.search(q["query"], k=5)]
        at5.append(len(set(found) & set(q["relevant"])) / len(q["relevant"]))
        at1.append(float(bool(found) and found[0] in q["relevant"]))
    return statistics.mean(at5), statistics.mean(at1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest", type=int, default=2000, help="texts per ingest round")
    parser.add_argument("--rounds", type=int, default=3, help="ingest rounds (median)")
    parser.add_argument("--sizes", default="10000,100000", help="store sizes for the latency rows")
    parser.add_argument("--queries", type=int, default=200, help="searches per size")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    args = parser.parse_args(argv)
    embedder = get_embedder("all-MiniLM-L6-v2", args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        raw, ours = ingest_rates(embedder, args.ingest, args.rounds, tmp_path)
        ratio = ours / raw
        rows += [
            (f"raw SentenceTransformer.encode, {args.ingest} texts", f"{raw:,.0f} texts/s", "baseline", ""),
            (f"VectorMemory.add (embed + dedup + chromadb), {args.ingest} texts", f"{ours:,.0f} texts/s",
             f"{ratio:.2f}x", ">= 0.9x " + ("OK" if ratio >= 0.9 else "MISSED")),
        ]
        p50, p95 = embed_latency(embedder, args.queries)
        rows.append(("query embedding alone", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", "", "reference"))
        mem = VectorMemory("latency", embedder=embedder, path=tmp_path / "latency")
        stored = 0
        for size in sorted(int(s) for s in args.sizes.split(",")):
            texts = corpus(size, seed=1)[stored:]
            started = time.perf_counter()
            mem.add(MemoryItem(t, "knowledge", source="bench", trust="external") for t in texts)
            print(f"stored {size:,} items ({len(texts):,} added in {time.perf_counter() - started:.0f}s)",
                  file=sys.stderr)
            stored = size
            p50, p95 = search_latency(mem, args.queries, salt=size)
            target = "p95 <= 20 ms " + ("OK" if p95 <= 20 else "MISSED") if embedder.device == "cpu" else ""
            rows.append((f"search at {size:,} items (embed + query, k=5)", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
                         "", target))
    (hashed5, hashed1), (minilm5, minilm1) = recall(get_embedder("hash")), recall(embedder)
    rows += [("recall@5, hash embedder (bag of words)", f"{hashed5:.3f}", "baseline", ""),
             ("recall@5, all-MiniLM-L6-v2", f"{minilm5:.3f}", f"{minilm5 / hashed5:.2f}x", "reported"),
             ("recall@1 (top hit relevant), hash embedder", f"{hashed1:.3f}", "baseline", ""),
             ("recall@1 (top hit relevant), all-MiniLM-L6-v2", f"{minilm1:.3f}", f"{minilm1 / hashed1:.2f}x", "")]
    print("| measure | value | vs baseline | target |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    data = json.loads(DATA.read_text())
    print(f"\ndevice {embedder.device}; {len(data['documents'])} documents, {len(data['queries'])} labelled queries; "
          f"Python {sys.version.split()[0]}, chromadb {importlib.metadata.version('chromadb')}, "
          f"sentence-transformers {importlib.metadata.version('sentence-transformers')}, "
          f"torch {importlib.metadata.version('torch')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
