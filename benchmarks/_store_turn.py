"""The scripted turn on the Postgres store against the SQLite store's, for ``bench_overhead.py``.

Postgres is ``$HUDDLE_STORE_URL`` when set, else a private cluster started here as the tests start theirs
(``tests/_postgres_server.py``: initdb into a temporary folder, a free loopback port), with
``synchronous_commit=off``: a commit survives the process being killed but not a power cut, as the SQLite log's
WAL with ``synchronous=NORMAL``. The two stores are timed alternately, run by run, in one process.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def postgres_url() -> Iterator[tuple[str, str]]:
    """``(URL, where it came from)``: ``$HUDDLE_STORE_URL``, else a private cluster for the duration."""
    given = os.environ.get("HUDDLE_STORE_URL", "").strip()
    if given:
        yield given, "$HUDDLE_STORE_URL"
        return
    sys.path.insert(0, str(ROOT / "tests"))
    import _postgres_server  # the tests' cluster: one way to start one

    proc, url, folder = _postgres_server.start_postgres("fsync=on", "synchronous_commit=off")
    try:
        yield _postgres_server.schema_url(url), "private cluster, loopback, synchronous_commit=off"
    finally:
        _postgres_server.stop_postgres(proc, folder)


@contextmanager
def _store(url: str | None) -> Iterator[None]:
    before = os.environ.pop("HUDDLE_STORE_URL", None)
    if url:
        os.environ["HUDDLE_STORE_URL"] = url
    try:
        yield
    finally:
        os.environ.pop("HUDDLE_STORE_URL", None)
        if before is not None:
            os.environ["HUDDLE_STORE_URL"] = before


def store_turns(runs: int, home: Path, run: Callable[[Path, int], Any], turns: Callable[[Any], int]
                ) -> tuple[float, float, str]:
    """Median ms per turn on (SQLite, Postgres), and where Postgres was; ``run(home, i)`` makes one run."""
    sqlite_home, pg_home = home / "store-sqlite", home / "store-postgres"
    sqlite_times: list[float] = []
    pg_times: list[float] = []
    with postgres_url() as (url, where):
        for i in range(-1, runs):  # run -1 warms each store up
            for store, folder, times in ((None, sqlite_home, sqlite_times), (url, pg_home, pg_times)):
                with _store(store):
                    started = time.perf_counter()
                    result = run(folder, i)
                    if i >= 0:
                        times.append((time.perf_counter() - started) * 1000 / turns(result))
        from studio._run_state import release

        release(pg_home)  # its connection closed before the cluster stops
    return statistics.median(sqlite_times), statistics.median(pg_times), where
