"""A memory's recent embeddings, and those being computed now: a text asked for again is not embedded again.

The roles of a run search for the same task, one after another or at once (the candidates of a step), and the
runner asks for the task's vector while the run starts (:meth:`~memory.store.VectorMemory.prefetch`): whoever
asks while another thread embeds a text waits for that thread's vector instead of computing it too.

Example:
    >>> import numpy as np
    >>> calls = []
    >>> recent = RecentVectors(lambda texts: calls.append(texts) or np.ones((len(texts), 2), np.float32), size=8)
    >>> recent.get(["a", "b"]).shape, recent.get(["b", "a"]).shape, calls
    ((2, 2), (2, 2), [['a', 'b']])
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future

import numpy as np

__all__ = ["RecentVectors"]

Vectors = dict[str, np.ndarray]
"""Texts and their vectors (each a ``(1, dim)`` row)."""


class RecentVectors:
    """The last ``size`` texts' vectors (least recently asked go first), and the texts being embedded now.

    Args:
        encode: the embedder's ``encode``: texts to one unit vector a row.
        size: how many texts to keep.
    """

    def __init__(self, encode: Callable[[list[str]], np.ndarray], size: int):
        self._encode, self._size = encode, size
        self._kept: OrderedDict[str, np.ndarray] = OrderedDict()
        self._embedding: dict[str, Future[Vectors]] = {}
        self._lock = threading.Lock()

    def get(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text: a kept one as it is, one another thread is embedding from it, the rest in a batch."""
        known, elsewhere, missing, mine = self._claim(texts)
        if missing:
            known.update(self._compute(missing, mine))
        for text, future in elsewhere.items():
            known[text] = future.result()[text]
        return np.concatenate([known[t] for t in texts])

    def start(self, texts: Sequence[str], pool: Executor) -> None:
        """Embed on ``pool`` those of ``texts`` not kept: from now on, whoever asks for them waits for that."""
        _, _, missing, mine = self._claim(texts)
        if missing:
            pool.submit(self._compute, missing, mine)

    def _claim(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, Future[Vectors]], list[str],
                                                    Future[Vectors]]:
        """(kept vectors, futures of those being embedded, the texts this caller is to embed, its future)."""
        wanted = list(dict.fromkeys(texts))
        with self._lock:
            known = {t: self._kept[t] for t in wanted if t in self._kept}
            for text in known:
                self._kept.move_to_end(text)
            elsewhere = {t: self._embedding[t] for t in wanted if t not in known and t in self._embedding}
            missing = [t for t in wanted if t not in known and t not in elsewhere]
            mine: Future[Vectors] = Future()
            self._embedding.update(dict.fromkeys(missing, mine))
        return known, elsewhere, missing, mine

    def _compute(self, missing: list[str], mine: Future[Vectors]) -> Vectors:
        try:
            fresh = {t: v[None, :] for t, v in zip(missing, self._encode(missing), strict=True)}
        except BaseException as exc:
            self._done(missing, {})
            mine.set_exception(exc)  # those waiting for it fail as this caller does
            raise
        self._done(missing, fresh)
        mine.set_result(fresh)
        return fresh

    def _done(self, texts: list[str], fresh: dict[str, np.ndarray]) -> None:
        with self._lock:
            for text in texts:
                self._embedding.pop(text, None)
            self._kept.update(fresh)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
