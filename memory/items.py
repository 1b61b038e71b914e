"""What the memory holds: items with provenance, search hits, and the errors it raises.

Example:
    >>> item_id("reflections", "Test the plain-number case.")[:2]
    'r-'
    >>> item_id("reflections", "Test  the plain-number case. ") == item_id("reflections", "Test the plain-number case.")
    True
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from studio.spec_memory import COLLECTIONS

__all__ = [
    "COLLECTIONS",
    "Hit",
    "MemoryStoreError",
    "MemoryItem",
    "PoisonError",
    "ScopeError",
    "Trust",
    "WRITE_ID",
    "collection_of",
    "content_hash",
    "item_id",
    "normalise",
]

Trust = Literal["user", "agent", "external"]
"""Who vouches for an item: a person, a role of the team, or nobody (ingested files, tool output)."""
WRITE_ID = "write_id"
"""Metadata key of the token naming the ``add`` call that stored a record (how concurrent writers tell whose
record was kept); internal, left out of :meth:`Hit.as_dict`."""
_HIDDEN = ("content_hash", WRITE_ID)
_PREFIX = {"knowledge": "k-", "episodes": "e-", "reflections": "r-"}
_SPACE = re.compile(r"\s+")


class MemoryStoreError(RuntimeError):
    """The memory cannot do what was asked; the message says what to change."""


class ScopeError(MemoryStoreError):
    """A role tried to read or write a collection its spec does not grant."""


class PoisonError(MemoryStoreError):
    """A write to ``reflections`` was refused: untrusted text, or text copied from an untrusted source."""


def normalise(text: str) -> str:
    """Whitespace-collapsed, stripped text: what the content hash is computed on."""
    return _SPACE.sub(" ", text).strip()


def content_hash(text: str) -> str:
    """SHA-256 of the normalised text, in hex."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def collection_of(item: str) -> str | None:
    """The collection an item id (or id prefix) belongs to, from its letter; ``None`` if it has none."""
    return next((name for name, prefix in _PREFIX.items() if item.startswith(prefix)), None)


def item_id(collection: str, text: str) -> str:
    """The id of ``text`` in ``collection``: a collection letter and 16 hex digits of its content hash.

    The same text always gets the same id, so adding it twice stores it once.
    """
    return _PREFIX[collection] + content_hash(text)[:16]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class MemoryItem:
    """One stored text and where it came from."""

    text: str
    collection: str
    source: str = ""
    """File path (with a locator such as ``#page 2``), ``run:<id>``, or free text."""
    writer: str = "user"
    """Role name, ``system`` (the runner) or ``user``."""
    trust: Trust = "user"
    run_id: str = ""
    created_at: str = field(default_factory=_now)
    extra: dict[str, str] = field(default_factory=dict)
    """More metadata (``task`` for lessons, ``locator`` for chunks)."""
    authored: str | None = None
    """The part of ``text`` its writer wrote (a lesson, without the user's task quoted after it): what the
    poisoning guard checks for a reflection; all of ``text`` when unset. Not stored."""

    @property
    def id(self) -> str:
        """The item's id (from its collection and content hash)."""
        return item_id(self.collection, self.text)

    def metadata(self) -> dict[str, Any]:
        """Flat metadata as stored in chromadb."""
        return {**self.extra, "source": self.source, "writer": self.writer, "trust": self.trust,
                "run_id": self.run_id, "created_at": self.created_at, "content_hash": content_hash(self.text)}


@dataclass(frozen=True)
class Hit:
    """A stored item, as search and list return it."""

    id: str
    collection: str
    text: str
    score: float
    """Cosine similarity to the query (1 is identical); 0 for listings."""
    metadata: dict[str, Any]

    @property
    def source(self) -> str:
        return str(self.metadata.get("source", ""))

    @property
    def trust(self) -> str:
        return str(self.metadata.get("trust", "external"))

    @property
    def writer(self) -> str:
        return str(self.metadata.get("writer", ""))

    @property
    def untrusted(self) -> bool:
        """Text no one on the team vouches for: never followed as instructions, never a lesson."""
        return self.trust == "external" or self.collection == "knowledge"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: id, collection, score, source, text and the provenance fields."""
        meta = {k: v for k, v in self.metadata.items() if k not in _HIDDEN}
        return {"id": self.id, "collection": self.collection, "score": round(self.score, 4), "source": self.source,
                "text": self.text, **{k: v for k, v in meta.items() if k != "source"}}
