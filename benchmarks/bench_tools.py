"""What calling a tool costs over calling the function: a function tool, and an MCP tool over stdio and HTTP.

Measured here, in this process, alternating in blocks so that drift hits them all alike:

1. ``add(**args)`` called directly: the baseline.
2. ``function_tool(add).call(args)``: pydantic validation of the arguments, the call, the result as text.
   Target: <= 0.2 ms over the direct call (p50).
3. The same ``add`` served by an MCP server (``tests/mcp_servers/notes_like.py``, the SDK's ``MCPServer``)
   over stdio, called through ``McpPool``'s tool: JSON schema validation, the hop to the pool's event loop
   thread, the JSON-RPC round trip through the child's pipes, the server's own dispatch. Target: p50 <= 3 ms.
4. For reference: the same over streamable HTTP on loopback, and what connecting costs (start, handshake,
   listing the tools).

Run: ``python benchmarks/bench_tools.py`` (about 15 seconds; ``--calls`` per measure).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from studio.spec import McpServer
from studio.tools import function_tool
from studio.tools.mcp import McpPool

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "mcp_servers" / "notes_like.py"
ARGS = {"a": 2, "b": 40}


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _times(call: Callable[[], object], n: int) -> list[float]:
    """Seconds per call of ``n`` calls, each timed on its own."""
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def _pct(times: list[float], q: float) -> float:
    """The ``q`` quantile of ``times``, in ms."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _http_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(SERVER), "--http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the test MCP server did not start over HTTP within 30 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls timed per measure")
    parser.add_argument("--blocks", type=int, default=10, help="alternating blocks the calls are split into")
    args = parser.parse_args(argv)
    proc, url = _http_server()
    try:
        started = time.perf_counter()
        pool = McpPool({"stdio": McpServer(command=sys.executable, args=[str(SERVER)]), "http": McpServer(url=url)})
        over_stdio = {t.name: t for t in pool.tools("stdio")}["add"]
        connect_ms = (time.perf_counter() - started) * 1000
        over_http = {t.name: t for t in pool.tools("http")}["add"]
        tool = function_tool(add)
        measures: dict[str, Callable[[], object]] = {
            "direct": lambda: add(**ARGS), "function": lambda: tool.call(ARGS),
            "stdio": lambda: over_stdio.call(ARGS), "http": lambda: over_http.call(ARGS)}
        assert tool.call(ARGS).text == over_stdio.call(ARGS).text == over_http.call(ARGS).text == "42"
        for call in measures.values():  # warm up
            _times(call, 50)
        times: dict[str, list[float]] = {name: [] for name in measures}
        per_block = max(1, args.calls // args.blocks)
        for _ in range(args.blocks):
            for name, call in measures.items():
                times[name] += _times(call, per_block)
        pool.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    p50 = {name: _pct(t, 0.5) for name, t in times.items()}
    p95 = {name: _pct(t, 0.95) for name, t in times.items()}
    direct = p50["direct"]
    over = p50["function"] - direct
    rows = [
        ("`add(**args)`, direct", p50["direct"], p95["direct"], "baseline", ""),
        ("`function_tool(add).call(args)`", p50["function"], p95["function"], f"+{over:.3f} ms",
         "<= +0.2 ms " + ("OK" if over <= 0.2 else "MISSED")),
        ("MCP tool over stdio, `Tool.call` round trip", p50["stdio"], p95["stdio"], f"+{p50['stdio'] - direct:.3f} ms",
         "p50 <= 3 ms " + ("OK" if p50["stdio"] <= 3 else "MISSED")),
        ("MCP tool over streamable HTTP (loopback)", p50["http"], p95["http"], f"+{p50['http'] - direct:.3f} ms",
         "reference"),
    ]
    print("| call | p50 (ms) | p95 (ms) | over direct (p50) | target |\n|---|---|---|---|---|")
    for name, mid, high, vs, target in rows:
        print(f"| {name} | {mid:.4f} | {high:.4f} | {vs} | {target} |")
    print(f"\nconnecting over stdio (start the server, handshake, list tools): {connect_ms:.0f} ms")
    print(f"{per_block * args.blocks} calls per row in {args.blocks} alternating blocks; Python "
          f"{sys.version.split()[0]}, mcp {importlib.metadata.version('mcp')}, "
          f"pydantic {importlib.metadata.version('pydantic')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
