"""VectorMemory: a team's knowledge, episodes and reflections in chromadb.

Embedded ``PersistentClient`` under ``$HUDDLE_HOME/memory`` by default, a Chroma
server when given a URL, or in memory. Vectors come from our embedder (passed
to every collection explicitly); ids are content hashes, so adding the same
text twice stores it once, also when several processes add at once: each new
text is reported as added by exactly one of the writers, and as a duplicate by
the others (see :class:`AddResult`).

Example:
    >>> mem = VectorMemory("demo", embedder=get_embedder("hash"), ephemeral=True)
    >>> mem.add([MemoryItem("Use sorted() with a key to order records.", "knowledge", source="notes.md")]).added
    ['k-...']
    >>> mem.search("how to order records", k=1)[0].source
    'notes.md'
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from memory._chroma import chroma_embedding_function, collection_name, open_client, retry_transient
from memory._claim import write_batch
from memory._recent import RecentVectors
from memory.embedder import Embedder, get_embedder
from memory.guard import check_lesson
from memory.items import COLLECTIONS, Hit, MemoryItem, MemoryStoreError, PoisonError, collection_of
from studio.redact import redact_data

__all__ = ["AddResult", "VectorMemory", "shared_hits"]

_INCLUDE = ["documents", "metadatas"]
_QUERY_CACHE = 256


@dataclass
class _Remembered:
    """The store's embedder as the poisoning guard sees it: texts embedded lately are not embedded again."""

    name: str
    encode: Callable[[Sequence[str]], np.ndarray]


_SHARING: ContextVar[dict[tuple[Any, ...], tuple[int, list[Hit]]] | None] = ContextVar("huddle_memory_sharing",
                                                                                     default=None)
"""A run's collection hits by (memory, collection, query, k, filter): (the memory's writes then, the hits)."""


@contextmanager
def shared_hits(hits: dict[tuple[Any, ...], Any]) -> Iterator[None]:
    """Searches made within it take a collection's hits from ``hits`` and leave theirs there.

    One dict per run (:func:`memory.team.role_scopes`): the roles search for the same task with different
    collections (the orchestrator reads ``episodes``, the planner all three, the critic two), and the
    collections they share are queried once for a query, ``k`` and filter, until the memory is next written.
    What another process writes meanwhile is seen from the next run on.
    """
    token = _SHARING.set(hits)
    try:
        yield
    finally:
        _SHARING.reset(token)


_POOL = ThreadPoolExecutor(max_workers=len(COLLECTIONS), thread_name_prefix="huddle-memory")


@dataclass
class AddResult:
    """What :meth:`VectorMemory.add` did with each item.

    Concurrent writers (threads, processes, machines sharing one Chroma server) agree: the record
    chroma keeps under an id is the first one written, and exactly one ``add`` reports that id in
    ``added``: the one whose record it is (its provenance is the one stored). Every other writer of
    the same text reports it in ``duplicates``. So the ``added`` of all writers together are the new
    records, each once. (A concurrent :meth:`VectorMemory.forget` of the same ids voids this count.)
    """

    added: list[str] = field(default_factory=list)
    """Ids stored now, by this call: the stored record is this call's."""
    duplicates: list[str] = field(default_factory=list)
    """Ids stored already (same text in the same collection), before this call or by a concurrent writer."""
    refused: list[tuple[str, str]] = field(default_factory=list)
    """``(id, reason)`` of reflections the poisoning guard refused."""


def _redacted(item: MemoryItem) -> MemoryItem:
    """``item`` with secrets redacted from its text and from its metadata (source, task and the other extras)."""
    parts = (item.text, item.authored, item.source, item.extra)
    clean = redact_data(parts)
    if clean is parts:
        return item
    text, authored, source, extra = clean
    return replace(item, text=text, authored=authored, source=source, extra=extra)


class VectorMemory:
    """One team's memory: three chromadb collections sharing one embedder.

    Args:
        namespace: whose memory (the team name by default in specs).
        embedder: the embedder; ``all-MiniLM-L6-v2`` when omitted.
        path: folder of an embedded persistent store.
        url: a Chroma server (``http://127.0.0.1:8000``); wins over ``path``.
        ephemeral: keep everything in this process only (tests, notebooks).
        device, batch_size: recorded with the collections' embedding function.
        token: the server's token (``$HUDDLE_MEMORY_TOKEN`` when omitted).
    """

    def __init__(self, namespace: str = "default", *, embedder: Embedder | None = None,
                 path: str | Path | None = None, url: str | None = None, ephemeral: bool = False,
                 device: str = "auto", batch_size: int = 64, token: str | None = None):
        if not (path or url or ephemeral):
            raise MemoryStoreError("VectorMemory needs a path, a url or ephemeral=True")
        self.namespace = namespace
        self.embedder = embedder or get_embedder()
        self.location = url or (str(path) if path else "in memory")
        self._client = open_client(path=path, url=url, ephemeral=ephemeral and not (path or url), token=token)
        self._ef = chroma_embedding_function(self.embedder, device, batch_size)
        self._collections: dict[str, Any] = {}
        self._recent = RecentVectors(lambda texts: self.embedder.encode(texts), _QUERY_CACHE)
        self._lock = threading.Lock()
        self._write_count = itertools.count(1)
        self.writes = 0
        """Writes made so far (adds and deletes): a search remembered before the latest one is stale."""

    # -- collections -------------------------------------------------------------------------------------------

    def collection(self, name: str):
        """The chromadb collection ``name`` (``knowledge``, ``episodes`` or ``reflections``)."""
        if name not in COLLECTIONS:
            raise MemoryStoreError(f"unknown memory collection {name!r}; expected one of: {', '.join(COLLECTIONS)}")
        with self._lock:
            if name not in self._collections:
                col = self._client.get_or_create_collection(
                    collection_name(self.namespace, name), embedding_function=self._ef,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"huddle_embedder": self.embedder.name, "huddle_dim": self.embedder.dim},
                )
                built_with = (col.metadata or {}).get("huddle_embedder", self.embedder.name)
                if built_with != self.embedder.name:
                    raise MemoryStoreError(
                        f"memory {self.namespace!r} ({name}) at {self.location} was built with embedder "
                        f"{built_with!r}, but this team uses {self.embedder.name!r}; vectors of different models "
                        "cannot be compared: set memory.embedder.model back, or use another memory.namespace")
                self._collections[name] = col
            return self._collections[name]

    def count(self) -> dict[str, int]:
        """Items per collection."""
        return {name: self.collection(name).count() for name in COLLECTIONS}

    # -- writing -----------------------------------------------------------------------------------------------

    def add(self, items: Iterable[MemoryItem], *, seen: Sequence[tuple[str, str]] = (),
            on_progress: Callable[[int], None] | None = None) -> AddResult:
        """Store items; texts already stored in their collection are skipped (no-op).

        Secrets (API keys, passwords, secret environment values) are redacted first, from the text and the
        metadata.
        Reflections pass the poisoning guard: untrusted text, instruction
        injections and text copied or paraphrased from untrusted items (``seen``
        and the nearest ingested items) are refused and reported in ``refused``.
        An item with ``tainted_by`` written with trust ``agent`` is stored with
        trust ``external``.

        Args:
            items: what to store.
            seen: ``(id, text)`` of untrusted items the writer was shown.
            on_progress: called with the number of items handled after each batch.
        """
        result = AddResult()
        by_collection: dict[str, dict[str, MemoryItem]] = {}
        for item in items:
            if not item.text.strip():
                continue
            item = _redacted(item)  # secrets never reach the store (text or metadata), and so never a prompt
            if item.collection == "reflections":
                try:
                    self._guard(item, seen)
                except PoisonError as exc:
                    result.refused.append((item.id, str(exc)))
                    continue
            if item.tainted_by and item.trust == "agent":  # written after seeing untrusted data: nobody vouches
                item = replace(item, trust="external")
            by_collection.setdefault(item.collection, {}).setdefault(item.id, item)
        for name, fresh in by_collection.items():
            self._add_to(self.collection(name), fresh, result, on_progress)
        self.writes = next(self._write_count)
        return result

    def remember(self, text: str, collection: str = "knowledge", *, seen: Sequence[tuple[str, str]] = (),
                 **provenance: Any) -> str:
        """Store one text (see :class:`MemoryItem` for ``provenance``) and return its id.

        ``seen`` is as for :meth:`add`.

        Raises:
            PoisonError: a reflection the guard refused.
        """
        item = MemoryItem(text=text, collection=collection, **provenance)
        result = self.add([item], seen=seen)
        if result.refused:
            raise PoisonError(result.refused[0][1])
        return item.id

    def _add_to(self, col, fresh: dict[str, MemoryItem], result: AddResult,
                on_progress: Callable[[int], None] | None) -> None:
        ids = list(fresh)
        batch = max(1, min(self._client.get_max_batch_size(), 8 * getattr(self.embedder, "batch_size", 64)))
        token = uuid.uuid4().hex  # marks this call's records, to tell which writer's record the store kept
        pending: threading.Thread | None = None
        written: list[tuple[list[str], list[str]]] = []
        failure: list[BaseException] = []
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            # stored already: not embedded again (a keyed item's vector is a query's, at hand: the write's read-back
            # tells its duplicates)
            known = set(col.get(ids=chunk, include=[])["ids"]) if any(not fresh[i].key for i in chunk) else set()
            new = [i for i in chunk if i not in known]
            result.duplicates += [i for i in chunk if i in known]
            vectors = self._item_vectors([fresh[i] for i in new]) if new else None
            if pending is not None:  # the previous batch was written while this one was embedded
                pending.join()
            if failure:
                break
            if new and start + batch >= len(ids):  # the last batch: nothing left to embed meanwhile, written here
                write_batch(col, new, vectors, fresh, token, written, failure)
            elif new:
                pending = threading.Thread(target=write_batch, args=(col, new, vectors, fresh, token, written, failure),
                                           daemon=True)
                pending.start()
            if on_progress is not None:
                on_progress(len(chunk))
        if pending is not None:
            pending.join()
        for added, lost in written:
            result.added += added
            result.duplicates += lost
        if failure:
            if not isinstance(failure[0], Exception):  # Ctrl-C during a write made here: as it is
                raise failure[0]
            raise MemoryStoreError(f"memory {self.namespace!r}: storing failed: {failure[0]}") from failure[0]

    def _item_vectors(self, items: list[MemoryItem]) -> np.ndarray:
        """The vectors ``items`` are stored under: of their ``key``, else of their text.

        A key is embedded as a query is (so a run's own searches are reused); texts go in a plain batch (an
        ingest does not fill the cache of queries).
        """
        out = np.zeros((len(items), self.embedder.dim), dtype=np.float32)
        keyed = [n for n, item in enumerate(items) if item.key]
        plain = [n for n, item in enumerate(items) if not item.key]
        if keyed:
            out[keyed] = self._vectors([items[n].key for n in keyed])
        if plain:
            out[plain] = self.embedder.encode([items[n].text for n in plain])
        return out

    def _guard(self, item: MemoryItem, seen: Sequence[tuple[str, str]]) -> None:
        probe = item.authored or item.text
        nearest = [(h.id, h.text) for h in self.search(probe, k=3, collections=("knowledge",))]
        external = [(h.id, h.text) for h in self.search(probe, k=3, where={"trust": "external"},
                                                        collections=("episodes",))]
        # An untrusted reflection is a tainted lesson: it taints what is written after it is shown (see
        # memory.reflection), but is not itself a source to refuse; the texts that tainted it are.
        sources = [(i, text) for i, text in [*seen, *nearest, *external] if collection_of(i) != "reflections"]
        check_lesson(probe, trust=item.trust, source=item.source or item.writer, untrusted=sources,
                     embedder=_Remembered(self.embedder.name, self.embed))  # the probe was embedded above

    def forget(self, ids: Sequence[str] = (), *, source: str | None = None, run_id: str | None = None) -> int:
        """Delete items by id (or unique id prefix), by source, or by run; return how many went."""
        gone = 0
        for name in COLLECTIONS:
            col = self.collection(name)
            where = {"source": source} if source else {"run_id": run_id} if run_id else None
            if where is not None:
                matched = col.get(where=where, include=[])["ids"]
            else:
                mine = [i for i in ids if collection_of(i) == name]
                matched = self._resolve(col, mine) if mine else []
            if matched:
                col.delete(ids=matched)
                gone += len(matched)
        self.writes = next(self._write_count)
        return gone

    @staticmethod
    def _resolve(col, ids: Sequence[str]) -> list[str]:
        exact = set(col.get(ids=list(ids), include=[])["ids"])
        prefixes = [i for i in ids if i not in exact]
        if prefixes:
            every = col.get(include=[])["ids"]
            exact |= {known for p in prefixes for known in every if known.startswith(p)}
        return sorted(exact)

    # -- reading -----------------------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5, *, collections: Sequence[str] = COLLECTIONS,
               where: dict[str, Any] | None = None, min_score: float | None = None) -> list[Hit]:
        """The ``k`` items most similar to ``query`` across ``collections``, best first."""
        if k <= 0 or not query.strip():
            return []
        vector = self._query_vector(query)

        def query_one(name: str) -> list[Hit]:
            col = self.collection(name)
            found = retry_transient(lambda: col.query(query_embeddings=vector, n_results=k, where=where,
                                                      include=["documents", "metadatas", "distances"]),
                                    f"memory {self.namespace!r} at {self.location}")
            return [Hit(i, name, doc or "", 1.0 - float(dist), dict(meta or {}))
                    for i, doc, meta, dist in zip(found["ids"][0], found["documents"][0], found["metadatas"][0],
                                                  found["distances"][0], strict=True)]

        names = list(collections)
        shared, writes = _SHARING.get(), self.writes  # (the count before querying: a write meanwhile makes it stale)
        keys = {n: (id(self), n, query, k, json.dumps(where, sort_keys=True) if where else "") for n in names}
        got = {n: e[1] for n in names if shared is not None and (e := shared.get(keys[n])) and e[0] == writes}
        missing = [n for n in names if n not in got]
        # The collections are queried at once: chromadb's native code runs them in parallel.
        found = list(_POOL.map(query_one, missing)) if len(missing) > 1 else [query_one(n) for n in missing]
        for name, part in zip(missing, found, strict=True):
            got[name] = part
            if shared is not None:
                shared[keys[name]] = (writes, part)
        hits = [hit for name in names for hit in got[name]]
        hits.sort(key=lambda h: -h.score)
        if min_score is not None:
            hits = [h for h in hits if h.score >= min_score]
        return hits[:k]

    def _query_vector(self, query: str) -> np.ndarray:
        """The query's embedding; recent ones are kept, since the roles of a run search for the same task."""
        return self._vectors([query])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The embedder's unit vectors of ``texts``, one row each; a text embedded lately is not embedded again."""
        return self._vectors(list(texts)) if texts else np.zeros((0, self.embedder.dim), dtype=np.float32)

    def prefetch(self, query: str) -> None:
        """Embed ``query`` on a pool thread now: a search for it meanwhile waits for that, and one after finds it.

        A run's roles search for its task first; the runner asks for it while the run starts.
        """
        if query.strip():
            self._recent.start([query], _POOL)

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``: those embedded lately (or being embedded) are not embedded again."""
        return self._recent.get(texts)

    def get(self, ids: Sequence[str]) -> list[Hit]:
        """Items by id, in the order asked (unknown ids are left out)."""
        found: dict[str, Hit] = {}
        for name in COLLECTIONS:
            mine = [i for i in ids if collection_of(i) == name]
            if mine:
                got = self.collection(name).get(ids=mine, include=_INCLUDE)
                for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                    found[i] = Hit(i, name, doc or "", 0.0, dict(meta or {}))
        return [found[i] for i in ids if i in found]

    def list(self, collection: str | None = None, *, limit: int = 50, offset: int = 0,
             where: dict[str, Any] | None = None) -> list[Hit]:
        """Stored items, newest first within each collection."""
        out: list[Hit] = []
        for name in [collection] if collection else COLLECTIONS:
            got = self.collection(name).get(where=where, include=_INCLUDE)
            rows = [Hit(i, name, doc or "", 0.0, dict(meta or {}))
                    for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)]
            out += sorted(rows, key=lambda h: str(h.metadata.get("created_at", "")), reverse=True)
        return out[offset:offset + limit]

