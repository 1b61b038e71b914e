"""What a process keeps open across runs: the run log, the checkpoints, team memories and compiled graphs.

Opening SQLite, loading an embedder or compiling a graph costs more than a turn, so each is made once per
process and state folder.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from memory.store import VectorMemory
from memory.team import open_memory
from pipelines import build_graph
from studio._checkpoint_serde import RedactingSerializer
from studio.bus import RunStore, bus_url, open_store
from studio.home import huddle_home
from studio.llm import CallSettings
from studio.messages import MESSAGE_TYPES, PlanStep, Usage
from studio.spec import RoleSpec, TeamSpec

__all__ = ["call_settings", "compiled_graph", "open_pool", "open_team_memory", "release", "shared_store"]


_OPEN: dict[tuple[str, Path], object] = {}
_OPEN_LOCK = threading.RLock()


def _cached(kind: str, home: Path, make: Callable[[], object]):
    """One connection per state file per process: opening and closing SQLite costs more than a turn."""
    key = (kind, home.resolve())
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = make()
        return _OPEN[key]


def release(home: str | Path) -> None:
    """Close and forget what this process keeps open on ``home`` and the folders in it (a replay's scratch folder).

    Run logs and checkpoints are closed; graphs and memories are forgotten (a later run opens them again).
    """
    home = Path(home).resolve()
    with _OPEN_LOCK:
        gone = [key for key in _OPEN if key[1] == home or home in key[1].parents]
        found = [_OPEN.pop(key) for key in gone]
    for kind, thing in zip((key[0] for key in gone), found, strict=True):
        if kind == "checkpoints":
            thing.conn.close()  # type: ignore[attr-defined]  # a SqliteSaver: its connection
        elif kind.startswith("log:") and hasattr(thing, "close"):
            thing.close()


def shared_store(home: str | Path | None = None, url: str | None = None) -> RunStore:
    """The run log, shared within this process.

    It is the bus ``$HUDDLE_BUS_URL`` names, else ``url`` (a team's ``defaults.bus_url``), else SQLite in
    ``home`` (``$HUDDLE_HOME`` by default).

    Raises:
        BusUnavailable: the bus cannot be used (a Redis server down, a bad URL).
    """
    home = huddle_home(home)
    url = bus_url(url)
    return _cached(f"log:{url or ''}", home, lambda: open_store(home, url))


def _checkpointer(home: Path) -> SqliteSaver:
    def make() -> SqliteSaver:
        home.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(home / "checkpoints.db", check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process, no fsync per step
        # Allow exactly our message types back out of checkpoints (LangGraph blocks unlisted types).
        serde = RedactingSerializer(allowed_msgpack_modules=[*MESSAGE_TYPES, PlanStep, Usage])
        return SqliteSaver(conn, serde=serde)

    return _cached("checkpoints", home, make)


def open_team_memory(spec: TeamSpec, home: str | Path | None = None) -> VectorMemory | None:
    """The team's shared memory as its spec describes it (``None`` when ``memory.enabled`` is false).

    Opened once per process and location.

    Raises:
        EmbedderError: the embedder cannot be loaded.
        MemoryStoreError: the store cannot be opened, or was built with another embedder.
    """
    if not spec.memory.enabled:
        return None
    home = huddle_home(home)
    settings = spec.memory
    key = f"memory:{settings.model_dump_json()}:{spec.memory_namespace()}"
    return _cached(key, home, lambda: open_memory(settings, spec.memory_namespace(), home))


def compiled_graph(spec: TeamSpec, home: Path):
    """The team's compiled graph on ``home``'s checkpoints, built once per process."""
    key = spec.model_dump_json(by_alias=True)
    return _cached(f"graph:{key}", home, lambda: build_graph(spec).compile(checkpointer=_checkpointer(home)))


def call_settings(spec: TeamSpec, role: RoleSpec) -> CallSettings:
    """A role's call settings: its own limits, else the team's defaults."""
    d, lim = spec.defaults, role.limits
    return CallSettings(
        temperature=d.temperature if lim.temperature is None else lim.temperature,
        max_tokens=lim.max_tokens or d.max_tokens, timeout_s=lim.timeout_s or d.timeout_s,
        retries=d.retries, retry_backoff_s=d.retry_backoff_s, api_base=d.api_base, api_key_env=d.api_key_env,
        native_tools=d.native_tools,
    )


def open_pool(spec: TeamSpec):
    """The run's MCP connections (``None`` when the team lists no server); they open on first use."""
    if not spec.mcp_servers:
        return None
    from studio.tools.mcp import McpPool  # deferred: the MCP SDK loads only for teams that list servers

    return McpPool(dict(spec.mcp_servers))
