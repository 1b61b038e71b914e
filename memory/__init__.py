"""Shared vector memory for a team: local embeddings, chromadb, ingestion, reflection.

Names are imported lazily, so ``import memory`` loads neither chromadb nor torch.

Example:
    >>> from memory import VectorMemory, get_embedder
    >>> mem = VectorMemory("notebook", embedder=get_embedder("hash"), ephemeral=True)
    >>> mem.remember("Dates are stored in UTC.", source="notes")
    'k-...'
"""

from __future__ import annotations

from studio._lazy import lazy_exports

__all__ = [
    "COLLECTIONS",
    "AddResult",
    "EmbedderError",
    "Hit",
    "IngestReport",
    "MemoryItem",
    "MemoryStoreError",
    "PoisonError",
    "ScopeError",
    "ScopedMemory",
    "VectorMemory",
    "get_embedder",
    "ingest",
    "open_memory",
    "pick_device",
    "reflect",
    "role_scopes",
]

_WHERE = {
    "COLLECTIONS": "memory.items",
    "AddResult": "memory.store",
    "EmbedderError": "memory.embedder",
    "Hit": "memory.items",
    "IngestReport": "memory.ingestion",
    "MemoryItem": "memory.items",
    "MemoryStoreError": "memory.items",
    "PoisonError": "memory.items",
    "ScopeError": "memory.items",
    "ScopedMemory": "memory.scoped",
    "VectorMemory": "memory.store",
    "get_embedder": "memory.embedder",
    "ingest": "memory.ingestion",
    "open_memory": "memory.team",
    "pick_device": "memory.embedder",
    "reflect": "memory.reflection",
    "role_scopes": "memory.team",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
