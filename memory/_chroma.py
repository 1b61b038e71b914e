"""chromadb plumbing: clients (embedded, in-memory, server) and the embedding function every collection gets.

Chroma's default embedding function downloads a model, so every collection is
opened with ours, explicitly; telemetry is off.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from memory.embedder import Embedder, get_embedder
from memory.items import MemoryStoreError

__all__ = ["TOKEN_ENV", "chroma_embedding_function", "collection_name", "open_client", "retry_transient"]

TOKEN_ENV = "HUDDLE_MEMORY_TOKEN"
"""The token a client sends to a Chroma server that asks for one (``huddle memory serve --token-env``)."""

T = TypeVar("T")
_LOCK = threading.Lock()
_CLIENTS: dict[str, Any] = {}
_BAD = re.compile(r"[^A-Za-z0-9_-]+")
_RETRY_DELAYS_S = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
"""Waits between tries of a read that hit a Chroma server's transient error (about 3 s in all)."""


def _settings():
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def open_client(*, path: str | Path | None = None, url: str | None = None, ephemeral: bool = False,
                token: str | None = None):
    """A chromadb client: ``HttpClient`` for ``url``, ``PersistentClient`` for ``path``, or an in-memory one.

    Clients are shared per location (and token) within the process.

    Args:
        path: folder of an embedded ``PersistentClient`` (used when there is no ``url``).
        url: address of a Chroma server; it wins over ``path``.
        ephemeral: an in-memory client when neither ``url`` nor ``path`` is given.
        token: sent to the server at ``url`` as ``Authorization: Bearer``; ``$HUDDLE_MEMORY_TOKEN`` when
            omitted, nothing when neither is set.

    Raises:
        MemoryStoreError: the server cannot be reached or refuses the token, or the folder cannot be used.
    """
    import chromadb

    token = (token or os.environ.get(TOKEN_ENV, "")).strip() if url else ""
    key = f"url:{url}" if url else (f"path:{Path(path).resolve()}" if path else "ephemeral")
    if token:  # a client per token, keyed by a digest: the token itself is kept only inside the client
        key += "#" + hashlib.sha256(token.encode()).hexdigest()[:16]
    with _LOCK:
        if key in _CLIENTS and not ephemeral:
            return _CLIENTS[key]
        try:
            if url:
                parts = urlparse(url)
                client = chromadb.HttpClient(host=parts.hostname or "localhost",
                                             port=parts.port or (443 if parts.scheme == "https" else 8000),
                                             ssl=parts.scheme == "https", settings=_settings(),
                                             headers={"Authorization": f"Bearer {token}"} if token else None)
                client.heartbeat()
            elif path:
                Path(path).mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(path), settings=_settings())
            else:
                client = chromadb.EphemeralClient(settings=_settings())
        except Exception as exc:
            raise MemoryStoreError(_open_failure(exc, path, url, token)) from None
        if not ephemeral:
            _CLIENTS[key] = client
        return client


def _open_failure(exc: Exception, path: str | Path | None, url: str | None, token: str) -> str:
    """What to tell a person whose client could not be opened."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if url and ("401" in first or "403" in first or "Unauthorized" in first or "AuthError" in type(exc).__name__):
        told = "refused the token this client sent" if token else "asks for a token and this client sent none"
        return (f"the Chroma server at {url} {told}: set ${TOKEN_ENV} (or memory.token_env in the team file) to "
                "the token `huddle memory serve` printed or was given")
    where = f"the Chroma server at {url}" if url else f"the memory folder {path}" if path else "memory"
    hint = " (is `chroma run` or `huddle memory serve` up there?)" if url else ""
    return f"cannot open {where}{hint}: {first}"


def _transient(exc: Exception) -> bool:
    """Whether ``exc`` is a Chroma server error that goes away by itself.

    That is a query that reached a collection whose vector index another client was writing for the first
    time ("Error creating hnsw segment reader: Nothing found on disk").
    """
    return type(exc).__name__ == "InternalError" and "hnsw segment reader" in str(exc)


def retry_transient(call: Callable[[], T], where: str) -> T:
    """``call()``, tried again after a short wait while it fails with a transient server error.

    Raises:
        MemoryStoreError: the error was still there after the last try (it names ``where``).
    """
    for delay in (*_RETRY_DELAYS_S, None):
        try:
            return call()
        except Exception as exc:
            if not _transient(exc):
                raise
            if delay is None:
                raise MemoryStoreError(f"{where} kept failing a search: {str(exc).splitlines()[0]}") from None
        time.sleep(delay)
    raise AssertionError("not reached: the last try returns or raises")


def collection_name(namespace: str, collection: str) -> str:
    """A valid chroma collection name for ``collection`` of ``namespace`` (``huddle.<ns>.<collection>``).

    Names chroma would refuse are slugged and given a short hash, so two namespaces never collide.
    """
    slug = _BAD.sub("-", namespace).strip("-_") or "team"
    if slug != namespace:
        slug = f"{slug[:40]}-{hashlib.sha256(namespace.encode()).hexdigest()[:8]}"
    return f"huddle.{slug}.{collection}"


def _ef_class():
    """Build (once) and register with chroma the embedding-function class that wraps our embedders."""
    from chromadb.api.types import Documents, EmbeddingFunction
    from chromadb.utils.embedding_functions import register_embedding_function

    class _HuddleEF(EmbeddingFunction[Documents]):
        def __init__(self, model: str = "hash", device: str = "auto", batch_size: int = 64,
                     embedder: Embedder | None = None):
            self.model, self.device, self.batch_size = model, device, batch_size
            self._embedder = embedder

        def __call__(self, input: Documents):  # noqa: A002 - chroma's protocol names it so
            if self._embedder is None:
                self._embedder = get_embedder(self.model, self.device, self.batch_size)
            return list(self._embedder.encode(list(input)))

        @staticmethod
        def name() -> str:
            return "huddle"

        def get_config(self) -> dict[str, Any]:
            return {"model": self.model, "device": self.device, "batch_size": self.batch_size}

        @staticmethod
        def build_from_config(config: dict[str, Any]):
            return _HuddleEF(config.get("model", "hash"), config.get("device", "auto"),
                             int(config.get("batch_size", 64)))

        def default_space(self):
            return "cosine"

        def supported_spaces(self):
            return ["cosine"]

    return register_embedding_function(_HuddleEF)


_EF: list[type] = []


def chroma_embedding_function(embedder: Embedder, device: str = "auto", batch_size: int = 64):
    """A chroma embedding function backed by ``embedder`` (so chroma never loads its own model)."""
    with _LOCK:
        if not _EF:
            _EF.append(_ef_class())
    return _EF[0](embedder.name, device, batch_size, embedder=embedder)
