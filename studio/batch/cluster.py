"""Reach Ray for a batch: a local instance started here, or an existing cluster by address.

``connect()`` starts a small local Ray instance (no dashboard, loopback only,
a 200 MB object store: a batch ships messages, not tensors) unless this process
is connected already or ``RAY_ADDRESS`` names a cluster, and then reuses it for
every later batch of the process.
``connect("auto")`` joins the cluster ``ray start --head`` started on this
machine; ``connect("ray://head:10001")`` a remote one through Ray Client;
``connect("head:6379")`` a cluster's head node directly.

An address that does not answer fails within seconds with :class:`RayUnavailable`
(Ray itself retries an unreachable head for minutes, then exits the process).
Workers get ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so litellm never reaches for
the network; nothing is installed on them (no pip or conda runtime
environments): every node needs ``huddle-studio`` installed in the Python that
runs Ray.

Example:
    >>> connect("not an address")
    Traceback (most recent call last):
    ...
    studio.batch.cluster.RayUnavailable: Ray address 'not an address': expected auto, ray://HOST:PORT or HOST:PORT
"""

from __future__ import annotations

import logging
import os
import re
import socket
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LOCAL", "RayUnavailable", "connect", "describe"]

LOCAL = "local"
"""The address meaning "a Ray instance of this process's own" (``--ray`` without an address)."""
OBJECT_STORE_BYTES = 200 * 1024**2
WORKER_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
PROBE_TIMEOUT_S = 3.0
_ADDRESS = re.compile(r"^(?:ray://)?(?P<host>\[[0-9a-fA-F:]+\]|[\w.-]+):(?P<port>\d{1,5})$")
_HINT = "start one with `ray start --head` (then --ray auto), or leave the address out for a local instance"
_AUTH = ("A cluster with token authentication (Ray's default for `ray start` since 2.59) also needs "
         "RAY_AUTH_MODE=token here, and its token (~/.ray/auth_token or RAY_AUTH_TOKEN)")


class RayUnavailable(ConnectionError):
    """Ray cannot be reached at the address given (or the address is malformed): a user error."""


def is_address(text: str) -> bool:
    """Whether ``text`` reads as a Ray address (``auto``, ``local``, ``ray://HOST:PORT`` or ``HOST:PORT``).

    Example:
        >>> [is_address(t) for t in ("auto", "ray://head:10001", "10.0.0.5:6379", "team.yaml")]
        [True, True, True, False]
    """
    return text in ("auto", LOCAL) or bool(_ADDRESS.match(text))


def _probe(address: str) -> None:
    """Fail fast when nothing listens at ``address``'s host and port."""
    match = _ADDRESS.match(address)
    assert match is not None, address  # connect() checked it with is_address
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayUnavailable(f"cannot reach Ray at {address} ({reason}); {_HINT}") from None


def connect(address: str | None = None) -> None:
    """Connect this process to Ray at ``address``; without one, at ``$RAY_ADDRESS``, else a new local instance.

    A process already connected (a notebook's own ``ray.init``, an earlier batch) keeps its connection,
    whatever ``address`` says.

    Raises:
        RayUnavailable: the address is malformed, or Ray does not answer there.
    """
    if address in (None, LOCAL) and os.environ.get("RAY_ADDRESS"):
        address = os.environ["RAY_ADDRESS"]
    if address is not None and address != LOCAL and not is_address(address):
        raise RayUnavailable(f"Ray address {address!r}: expected auto, ray://HOST:PORT or HOST:PORT")
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine on its own
    store = os.environ.get("HUDDLE_STORE_URL", "").strip()
    # Workers on every machine write their runs to the Postgres store too (its password stays out of Ray's
    # runtime env: each node reads $PGPASSWORD or ~/.pgpass); the driver's ingest then finds them there.
    secret = urlsplit(store).password is not None or "password=" in store
    shared = {"HUDDLE_STORE_URL": store} if store and not secret else {}
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False,
                             "runtime_env": {"env_vars": {**WORKER_ENV, **shared}}}
    # "local": a new instance even where `ray start` runs a cluster on this machine
    if address is None or address == LOCAL:
        ray.init(address=LOCAL, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
                 _node_ip_address="127.0.0.1", **quiet)
        return
    if address != "auto":
        _probe(address)
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError, SystemExit) as exc:
        # Ray exits the process (SystemExit) when a head node stops answering mid-handshake
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayUnavailable(f"cannot connect to Ray at {address}: {detail}; {_HINT}. {_AUTH}") from None


def describe() -> str:
    """Where this process's batches run, in a few words (``2 CPUs on 1 node``)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = ray.cluster_resources().get("CPU", 0)
    return f"{cpus:g} CPUs on {len(nodes)} node{'s' * (len(nodes) != 1)}"
