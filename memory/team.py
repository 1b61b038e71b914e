"""A team's memory as its spec describes it, and each role's scoped view of it."""

from __future__ import annotations

import os
from pathlib import Path

from memory._chroma import open_client
from memory.embedder import get_embedder
from memory.items import MemoryStoreError
from memory.scoped import ScopedMemory
from memory.store import VectorMemory
from studio.spec import MemorySpec, TeamSpec

__all__ = ["open_memory", "role_scopes"]


def open_memory(settings: MemorySpec, namespace: str, home: str | Path) -> VectorMemory:
    """The memory ``settings`` describe: a Chroma server at ``url``, or the folder ``path`` (``home/memory``).

    Raises:
        EmbedderError: the embedder cannot be loaded.
        MemoryStoreError: the store cannot be opened or refuses the token, was built with another embedder, or
            ``token_env`` names a variable that is not set.
    """
    token = os.environ.get(settings.token_env, "").strip() if settings.token_env else None
    if settings.url and settings.token_env and not token:
        raise MemoryStoreError(f"memory.token_env names ${settings.token_env}, which is not set here: export it "
                               f"with the token of the Chroma server at {settings.url}")
    if settings.url:
        open_client(url=settings.url, token=token)  # a server that is down is reported before a model loads
    emb = settings.embedder
    embedder = get_embedder(emb.model, emb.device, emb.batch_size)
    path = None if settings.url else Path(settings.path).expanduser() if settings.path else Path(home) / "memory"
    return VectorMemory(namespace, embedder=embedder, path=path, url=settings.url, device=emb.device,
                        batch_size=emb.batch_size, token=token)


def role_scopes(spec: TeamSpec, memory: VectorMemory, run_id: str) -> dict[str, ScopedMemory]:
    """A :class:`ScopedMemory` per role, with the read and write scopes its spec grants (and the run's hits)."""
    shared: dict = {}
    return {r.name: ScopedMemory(memory, r.name, read=r.reads(), write=r.writes(), run_id=run_id, shared=shared)
            for r in spec.roles}
