"""Open the run log a URL names: SQLite in ``$HUDDLE_HOME`` (the default) or Redis Streams.

:func:`open_store` opens a new store for exactly the URL it is given;
``studio.runner.shared_store`` is the one a process shares, with the URL taken
from ``$HUDDLE_BUS_URL`` or the team.

Example:
    >>> import tempfile
    >>> open_store(tempfile.mkdtemp()).runs()
    []
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from studio.bus.sqlite import RunLog
from studio.bus.store import BUS_URL_ENV, BusUnavailable, RunStore, is_postgres, safe_url

__all__ = ["open_store"]

_SCHEMES = ("redis", "rediss", "sqlite", "postgresql", "postgres")


def open_store(home: str | Path, url: str | None = None) -> RunStore:
    """Open the run log ``url`` names: Redis, Postgres, else SQLite in ``home``.

    Args:
        home: the state folder; the SQLite log is ``home/runs.db``.
        url: ``None`` or ``sqlite://`` for that file, ``sqlite:///PATH`` for another one,
            ``redis://[:PASSWORD@]HOST[:PORT][/DB][?namespace=NAME]`` for Redis Streams,
            ``postgresql://USER@HOST[:PORT]/DB`` for Postgres (``studio.bus.postgres``).

    Raises:
        BusUnavailable: an unknown scheme, or a server that cannot be reached or refuses the login.
    """
    scheme = urlsplit(url).scheme if url else "sqlite"
    if scheme not in _SCHEMES:
        raise BusUnavailable(f"bus URL {safe_url(url or '')!r}: expected redis://HOST:PORT, rediss://…, "
                             f"postgresql://USER@HOST:PORT/DB or sqlite:// "
                             f"(check ${BUS_URL_ENV} or the team's defaults.bus_url)")
    if scheme == "sqlite":
        path = urlsplit(url).path if url else ""
        return RunLog(path or Path(home) / "runs.db")
    if is_postgres(url):
        from studio.bus.postgres import PostgresRunLog  # deferred: psycopg only when a Postgres URL is used

        assert url is not None
        return PostgresRunLog(url)
    from studio.bus.redis import RedisRunLog  # deferred: the redis client only when a Redis URL is used

    assert url is not None  # only a URL names a scheme other than sqlite
    return RedisRunLog(url)
