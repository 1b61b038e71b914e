"""What a process keeps open across runs: the run log and its checkpoints, team memories and compiled graphs.

Opening SQLite, loading an embedder or compiling a graph costs more than a turn, so each is made once per
process and state folder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from langgraph._internal._constants import CONFIG_KEY_TASK_ID
from langgraph.config import get_config

from memory.store import VectorMemory
from memory.team import open_memory
from pipelines import build_graph
from studio._checkpoint_serde import RedactingSerializer
from studio.bus import Bus, RunLog, RunStore, bus_url, open_store, store_url
from studio.bus.checkpoints import LogSaver
from studio.home import huddle_home
from studio.llm import CallSettings
from studio.messages import MESSAGE_TYPES, Message, PlanStep, Usage
from studio.spec import RoleSpec, TeamSpec

__all__ = ["call_settings", "checkpointer", "compiled_graph", "keep_local", "open_pool", "open_team_memory", "release",
           "shared_store", "step_publisher"]


_OPEN: dict[tuple[str, Path], object] = {}
_OPEN_LOCK = threading.RLock()
_LOCAL: set[Path] = set()  # scratch folders whose runs stay in their own runs.db, whatever the URLs say


def _cached(kind: str, home: Path, make: Callable[[], object]):
    """One connection per state file per process: opening and closing SQLite costs more than a turn."""
    key = (kind, home.resolve())
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = make()
        return _OPEN[key]


def release(home: str | Path) -> None:
    """Close and forget what this process keeps open on ``home`` and the folders in it (a replay's scratch folder).

    Run logs (and so the checkpoints in them) are closed; graphs and memories are forgotten (a later run opens
    them again).
    """
    home = Path(home).resolve()
    with _OPEN_LOCK:
        _LOCAL.discard(home)
        gone = [key for key in _OPEN if key[1] == home or home in key[1].parents]
        found = [_OPEN.pop(key) for key in gone]
    for kind, thing in zip((key[0] for key in gone), found, strict=True):
        if kind.startswith("log:") and hasattr(thing, "close"):
            thing.close()


def keep_local(home: str | Path) -> None:
    """Keep the runs of ``home`` (a replay's scratch folder) in its own SQLite log until :func:`release`.

    A replay that keeps nothing must not write its run to the Redis bus or the Postgres store the URLs name.
    """
    with _OPEN_LOCK:
        _LOCAL.add(Path(home).resolve())


def shared_store(home: str | Path | None = None, url: str | None = None, store: str | None = None) -> RunStore:
    """The run log, shared within this process.

    It is the bus ``$HUDDLE_BUS_URL`` names, else ``url`` (a team's ``defaults.bus_url``), else the store
    ``$HUDDLE_STORE_URL`` names, else ``store`` (a team's ``defaults.store_url``: Postgres), else SQLite in
    ``home`` (``$HUDDLE_HOME`` by default).

    Raises:
        BusUnavailable: the bus or store cannot be used (a server down, a refused login, a bad URL).
    """
    home = huddle_home(home)
    url = None if home.resolve() in _LOCAL else bus_url(url) or store_url(store)
    return _cached(f"log:{url or ''}", home, lambda: open_store(home, url))


def checkpointer(home: Path, url: str | None = None, store: str | None = None) -> LogSaver:
    """The graph's checkpoints, in the run log's own database (``studio.bus.checkpoints``), shared in the process.

    On SQLite (the default) or Postgres (``store`` or ``$HUDDLE_STORE_URL``) that is the run log the bus writes,
    so a step's messages and its checkpoint commit together. With a Redis bus (``url`` or ``$HUDDLE_BUS_URL``) the
    messages live in Redis and the checkpoints in the Postgres store if there is one, else in ``runs.db`` in
    ``home``, with the messages kept in them whole. A ``checkpoints.db`` from before is read for the runs it holds.
    """
    bus_log = shared_store(home, url, store)
    where = "" if home.resolve() in _LOCAL else store_url(store) or ""
    if isinstance(bus_log, RunLog):
        log = bus_log
    else:
        log = _cached(f"log:{where}", home, lambda: open_store(home, where or None))
    assert isinstance(log, RunLog)  # SQLite or Postgres: a Redis URL is never a store URL

    def make() -> LogSaver:
        # Allow exactly our message types back out of checkpoints (LangGraph blocks unlisted types).
        serde = RedactingSerializer(allowed_msgpack_modules=[*MESSAGE_TYPES, PlanStep, Usage])
        return LogSaver(log, serde=serde, legacy=None if where else home / "checkpoints.db")

    return _cached(f"checkpoints:{log.path}", home, make)


def step_publisher(saver: LogSaver, bus: Bus, run_id: str) -> Callable[[list[Message]], None]:
    """How the nodes of run ``run_id`` publish: with their step's checkpoint writes when the saver is on the bus's log.

    A node's messages are then staged under its task and logged in the transaction of its writes (or of the step's
    checkpoint), and delivered after it commits. Elsewhere (a Redis bus, outside a graph step) they are published
    at once.
    """
    if saver.log is not bus.log:
        return bus.publish_many

    def publish(messages: list[Message]) -> None:
        try:
            conf = get_config()["configurable"]
        except RuntimeError:  # not inside a graph step
            conf = {}
        task_id = conf.get(CONFIG_KEY_TASK_ID)
        if task_id is None or conf.get("thread_id") != run_id:
            bus.publish_many(messages)
        else:
            saver.stage(run_id, task_id, list(messages), bus.deliver)

    return publish


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
    """The team's compiled graph on ``home``'s checkpoints (:func:`checkpointer`), built once per process."""
    d = spec.defaults
    key = f"{bus_url(d.bus_url) or ''}:{store_url(d.store_url) or ''}:{spec.model_dump_json(by_alias=True)}"
    return _cached(f"graph:{key}", home,
                   lambda: build_graph(spec).compile(checkpointer=checkpointer(home, d.bus_url, d.store_url)))


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
