"""A role's view of the shared memory: only the collections its spec grants.

Example:
    >>> from memory.embedder import get_embedder
    >>> mem = VectorMemory("scoped-demo", embedder=get_embedder("hash"), ephemeral=True)
    >>> planner = ScopedMemory(mem, "planner", read=("knowledge",), write=())
    >>> try:
    ...     planner.write("a lesson", "reflections")
    ... except ScopeError as exc:
    ...     print(exc)
    role 'planner' may not write to reflections (it may write to: nothing); grant it in the role's memory.write
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from memory.items import Hit, ScopeError
from memory.store import VectorMemory, shared_hits

__all__ = ["ScopedMemory"]

_RECALLS_KEPT = 256
"""Searches one view remembers (the least recently asked go first)."""
class ScopedMemory:
    """Reads and writes of one role, limited to its scopes.

    It remembers the untrusted items it showed the role, so a lesson the role
    writes later cannot copy them into ``reflections``. It also remembers its searches: the same query
    (collections, ``k`` and ``min_score`` too) is searched once, however many candidates of a step ask it,
    at the same time or after each other, until anything is written through any view of the same memory.
    Writes made straight to the :class:`VectorMemory` (the runner's episode at the end of a run, the CLI's
    ``forget``) are not seen: a view belongs to one run.

    Args:
        memory: the team's memory.
        role: the role's name (recorded as the writer).
        read: collections it may read.
        write: collections it may write.
        run_id: the run, recorded on what it writes.
        shared: where the views of one run leave each collection's hits for the others (see
            :func:`memory.store.shared_hits`); a view of its own by default.
    """

    def __init__(self, memory: VectorMemory, role: str, *, read: Sequence[str], write: Sequence[str],
                 run_id: str = "", shared: dict[tuple[Any, ...], Any] | None = None):
        self.memory, self.role, self.run_id = memory, role, run_id
        self.read, self.write_scopes = tuple(read), tuple(write)
        self._seen: dict[str, str] = {}
        self._shown: dict[str, Hit] = {}  # every item its searches returned, as returned
        self._recalls: OrderedDict[tuple[Any, ...], tuple[int, Future[list[Hit]]]] = OrderedDict()
        self._lock = threading.Lock()
        self._shared = shared if shared is not None else {}  # hits per collection, shared by a run's views

    def search(self, query: str, k: int = 3, *, collections: Sequence[str] | None = None,
               min_score: float | None = None) -> list[Hit]:
        """Search the readable collections (or those of ``collections`` it may read).

        Raises:
            ScopeError: ``collections`` names one the role may not read.
        """
        wanted = tuple(collections) if collections is not None else self.read
        denied = [c for c in wanted if c not in self.read]
        if denied:
            raise ScopeError(f"role {self.role!r} may not read {', '.join(denied)} (it may read: "
                             f"{', '.join(self.read) or 'nothing'}); grant it in the role's memory.read")
        if not wanted:
            return []
        hits = list(self._recall(query, k, wanted, min_score))
        with self._lock:
            self._seen.update({h.id: h.text for h in hits if h.untrusted})
            self._shown.update((h.id, h) for h in hits)
        return hits

    def _recall(self, query: str, k: int, wanted: tuple[str, ...], min_score: float | None) -> list[Hit]:
        """The store's hits for the query: searched by the first caller, shared with those asking meanwhile."""
        key, writes = (wanted, query, k, min_score), self.memory.writes
        with self._lock:
            known = self._recalls.get(key)
            first = known is None or known[0] != writes
            if first:
                known = self._recalls[key] = (writes, Future())
            assert known is not None  # set just above when it was not
            self._recalls.move_to_end(key)
            while len(self._recalls) > _RECALLS_KEPT:
                self._recalls.popitem(last=False)
        future = known[1]
        if first:
            try:
                with shared_hits(self._shared):
                    future.set_result(self.memory.search(query, k, collections=wanted, min_score=min_score))
            except BaseException as exc:  # not remembered: the next caller asks the store again
                with self._lock:
                    if self._recalls.get(key) is known:
                        del self._recalls[key]
                future.set_exception(exc)
        return future.result()

    def seen(self) -> list[tuple[str, str]]:
        """``(id, text)`` of the untrusted items this role was shown so far."""
        with self._lock:
            return list(self._seen.items())

    def shown(self) -> dict[str, Hit]:
        """Every item this view's searches returned so far, by id, as they were returned."""
        with self._lock:
            return dict(self._shown)

    def write(self, text: str, collection: str, *, trust: str = "agent", source: str = "",
              extra: dict[str, Any] | None = None, authored: str | None = None,
              shown: Sequence[tuple[str, str]] = ()) -> str:
        """Store ``text`` as written by this role and return its id.

        ``authored`` is the part the role wrote itself when ``text`` also quotes trusted context (the task);
        the poisoning guard checks that part. ``shown`` is ``(id, text)`` of the untrusted items in the turn
        that wrote it: the guard checks against them too, and they taint it (see
        :attr:`~memory.items.MemoryItem.tainted_by`), as does anything untrusted this view showed the role in
        this run.

        Raises:
            ScopeError: the role may not write ``collection``.
            PoisonError: a reflection the guard refused (untrusted, injected or copied text).
        """
        if collection not in self.write_scopes:
            raise ScopeError(f"role {self.role!r} may not write to {collection} (it may write to: "
                             f"{', '.join(self.write_scopes) or 'nothing'}); grant it in the role's memory.write")
        seen = list(dict([*self.seen(), *shown]).items())
        # the memory counts the write: every view of it searches again (VectorMemory.writes)
        return self.memory.remember(text, collection, seen=seen, source=source or f"run:{self.run_id}",
                                    writer=self.role, trust=trust, run_id=self.run_id, extra=dict(extra or {}),
                                    authored=authored, tainted_by=tuple(i for i, _ in seen))
