"""What the token asks of a shared memory: search latency on a Chroma server, straight and through the token proxy.

``huddle memory serve --token-env/--new-token`` puts Huddle's token-checking proxy
(``studio.cli._token_proxy``) in front of ``chroma run`` on loopback. This measures
``VectorMemory.search`` (hash embedder, all three collections, k=5) against one
server and one store, once straight to Chroma and once through the proxy,
alternated round by round; and the same for a bare heartbeat. Measured, not asserted.

Run: ``python benchmarks/bench_memory_token.py [--items 2000] [--rounds 300]``.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from memory import MemoryItem, VectorMemory, get_embedder
from studio.cli._token_proxy import token_proxy

TOKEN = "bench-token-0123456789abcdef"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_chroma(folder: Path) -> tuple[subprocess.Popen, int]:
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    port = _port()
    proc = subprocess.Popen([exe, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).read()
            return proc, port
        except OSError:
            time.sleep(0.2)
    raise SystemExit("chroma run did not start")


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-token-"))
    chroma, port = _start_chroma(folder)
    proxy = token_proxy("127.0.0.1", 0, upstream_port=port, token=TOKEN)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    urls = {"straight": f"http://127.0.0.1:{port}", "proxy": f"http://127.0.0.1:{proxy.server_address[1]}"}
    try:
        embedder = get_embedder("hash")
        mems = {"straight": VectorMemory("bench", embedder=embedder, url=urls["straight"]),
                "proxy": VectorMemory("bench", embedder=embedder, url=urls["proxy"], token=TOKEN)}
        mems["straight"].add(MemoryItem(f"note {i}: the cache times out on item {i * 7 % 101}", "knowledge")
                             for i in range(args.items))
        search = {name: [] for name in mems}
        beat = {name: [] for name in mems}
        heads = {"straight": {}, "proxy": {"Authorization": f"Bearer {TOKEN}"}}
        for r in range(args.rounds):
            for name, mem in mems.items():
                start = time.perf_counter()
                mem.search(f"cache times out on item {r % 101}", k=5)
                search[name].append(time.perf_counter() - start)
                start = time.perf_counter()
                request = urllib.request.Request(f"{urls[name]}/api/v2/heartbeat", headers=heads[name])
                urllib.request.urlopen(request, timeout=5).read()
                beat[name].append(time.perf_counter() - start)
    finally:
        proxy.shutdown()
        proxy.server_close()
        chroma.terminate()
        chroma.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.items} items, {args.rounds} rounds, alternated\n")
    print("| call | straight p50 / p95 (ms) | through the token proxy p50 / p95 (ms) | added p50 (ms) |")
    print("|---|---|---|---|")
    for label, data in (("search (3 collections, k=5)", search), ("heartbeat", beat)):
        (s50, s95), (p50, p95) = _ms(data["straight"]), _ms(data["proxy"])
        print(f"| {label} | {s50:.2f} / {s95:.2f} | {p50:.2f} / {p95:.2f} | {p50 - s50:+.2f} |")


if __name__ == "__main__":
    main()
