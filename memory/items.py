"""What the memory holds: items with provenance, search hits, and the errors it raises.

Example:
    >>> item_id("reflections", "Test the plain-number case.")[:2]
    'r-'
    >>> item_id("reflections", "Test  the plain-number case. ") == item_id("reflections", "Test the plain-number case.")
    True
    >>> canonical("IG\u200bNORE  the Ｐrevious\u00adrules")
    'ignore the previousrules'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from studio.spec.memory import COLLECTIONS

__all__ = [
    "COLLECTIONS",
    "Hit",
    "MemoryStoreError",
    "MemoryItem",
    "PoisonError",
    "ScopeError",
    "TAINTED_BY",
    "Trust",
    "WRITE_ID",
    "canonical",
    "collection_of",
    "content_hash",
    "item_id",
    "normalise",
    "strip_invisible",
]

Trust = Literal["user", "agent", "external"]
"""Who vouches for an item: a person, a role of the team, or nobody (ingested files, tool output)."""
WRITE_ID = "write_id"
"""Metadata key of the token naming the ``add`` call that stored a record (how concurrent writers tell whose
record was kept); internal, left out of :meth:`Hit.as_dict`."""
TAINTED_BY = "tainted_by"
"""Metadata key of the comma-separated ids in :attr:`MemoryItem.tainted_by`."""
_HIDDEN = ("content_hash", WRITE_ID)
_PREFIX = {"knowledge": "k-", "episodes": "e-", "reflections": "r-"}
_SPACE = re.compile(r"\s+")
# Invisible characters outside category Cf (which is stripped whole): the combining grapheme joiner, Hangul
# and halfwidth fillers, Khmer inherent vowels, variation selectors. Each renders as nothing, so each can
# hide inside a word.
_INVISIBLE = frozenset([0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0xFE00, 0xFE10),
                        *range(0xE0100, 0xE01F0)])
# Latin look-alikes that NFKC leaves alone (Cyrillic and Greek letters, curly apostrophes), folded for checks only.
_LOOKALIKES = str.maketrans("аеорсухіјѕԁɡοανιρκтмнв\u2018\u2019\u02bc", "aeopcyxijsdgoavipktmhb'''")


class MemoryStoreError(RuntimeError):
    """The memory cannot do what was asked; the message says what to change."""


class ScopeError(MemoryStoreError):
    """A role tried to read or write a collection its spec does not grant."""


class PoisonError(MemoryStoreError):
    """A write to ``reflections`` was refused.

    The text was untrusted, held an injection, or was copied or paraphrased from an untrusted source.
    """


def normalise(text: str) -> str:
    """Whitespace-collapsed, stripped text: what the content hash is computed on."""
    return _SPACE.sub(" ", text).strip()


def strip_invisible(text: str, replacement: str = "") -> str:
    """``text`` without the characters that render as nothing; each becomes ``replacement``.

    These are the format characters (category Cf: zero-width spaces and joiners, soft hyphens, bidi controls,
    tags) and the other invisible ones.
    """
    if text.isascii():  # no ASCII character is a format character or one of the others: the common case, at once
        return text
    return "".join(replacement if ord(c) in _INVISIBLE or unicodedata.category(c) == "Cf" else c for c in text)


def canonical(text: str) -> str:
    """The form every poisoning check reads: what a reader sees, not how it is spelled.

    Invisible characters are stripped, accents dropped, compatibility forms folded (NFKC: fullwidth and
    styled letters become plain ones), common Cyrillic and Greek look-alikes mapped to Latin, case folded
    and whitespace collapsed. Only checks use it; stored text and content hashes keep :func:`normalise`,
    so ids of stored items never change.
    """
    bare = strip_invisible(unicodedata.normalize("NFKD", text))
    bare = "".join(c for c in bare if not unicodedata.combining(c))
    folded = strip_invisible(unicodedata.normalize("NFKC", bare)).casefold().translate(_LOOKALIKES)
    return normalise(folded)


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
    tainted_by: tuple[str, ...] = ()
    """Ids of the untrusted items its writer was shown in the turn that wrote it. A tainted item written with
    trust ``agent`` is stored with trust ``external`` (shown fenced, as data), until a person approves it."""
    key: str = ""
    """The text the item is found by: its embedding is the item's vector. The item's own text when empty; an
    episode is found by its task (:mod:`memory.reflection`), whose vector the run's searches computed already.
    Not stored."""

    @property
    def id(self) -> str:
        """The item's id (from its collection and content hash)."""
        return item_id(self.collection, self.text)

    def metadata(self) -> dict[str, Any]:
        """Flat metadata as stored in chromadb."""
        meta = {**self.extra, "source": self.source, "writer": self.writer, "trust": self.trust,
                "run_id": self.run_id, "created_at": self.created_at, "content_hash": content_hash(self.text)}
        if self.tainted_by:
            meta[TAINTED_BY] = ",".join(self.tainted_by)
        return meta


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
        """Where the text came from: a file path (with a locator), ``run:<id>``, or free text."""
        return str(self.metadata.get("source", ""))

    @property
    def trust(self) -> str:
        """``user``, ``agent`` or ``external`` (how far the team vouches for the text); ``external`` when unset."""
        return str(self.metadata.get("trust", "external"))

    @property
    def writer(self) -> str:
        """Who stored the item: a role name, ``system`` (the runner) or ``user``."""
        return str(self.metadata.get("writer", ""))

    @property
    def tainted_by(self) -> list[str]:
        """Ids of the untrusted items its writer had been shown (empty for items stored before taint existed)."""
        return [i for i in str(self.metadata.get(TAINTED_BY, "")).split(",") if i]

    @property
    def untrusted(self) -> bool:
        """Whether no one on the team vouches for the text (ingested, tool output, a tainted lesson).

        Such text is shown fenced as data, never followed as instructions.
        """
        return self.trust == "external" or self.collection == "knowledge"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: id, collection, score, source, text and the provenance fields."""
        meta = {k: v for k, v in self.metadata.items() if k not in _HIDDEN}
        return {"id": self.id, "collection": self.collection, "score": round(self.score, 4), "source": self.source,
                "text": self.text, **{k: v for k, v in meta.items() if k != "source"}}
