"""Writing a batch of new items and learning which of them this writer stored.

Chroma's ``add`` keeps the record first stored under an id and ignores later
ones (embedded, in memory and on a server alike). Ids are content hashes, so the
store itself never holds a text twice; what a writer cannot know from ``add``
alone is whether its record or a concurrent writer's was kept. Each write
carries a token in its metadata; reading the records back after the write
tells: the id is this writer's addition if the kept record has its token, a
duplicate otherwise. The server orders writes to an id, so exactly one writer
finds its token.
"""

from __future__ import annotations

from typing import Any

from memory.items import WRITE_ID, MemoryItem

__all__ = ["write_batch"]


def write_batch(col: Any, ids: list[str], vectors: Any, items: dict[str, MemoryItem], token: str,
                written: list[tuple[list[str], list[str]]], failure: list[BaseException]) -> None:
    """Add ``ids`` of ``items`` to ``col``; append ``(added, duplicates)`` to ``written``, or the error to ``failure``.

    Runs on a writer thread (while the caller embeds the next batch), so it reports through the lists.
    An id that is gone when read back (forgotten meanwhile) counts as added: the write itself succeeded.
    """
    try:
        col.add(ids=ids, embeddings=vectors, documents=[items[i].text for i in ids],
                metadatas=[{**items[i].metadata(), WRITE_ID: token} for i in ids])
        kept = col.get(ids=ids, include=["metadatas"])
        theirs = {i for i, meta in zip(kept["ids"], kept["metadatas"], strict=True)
                  if (meta or {}).get(WRITE_ID) != token}
        written.append(([i for i in ids if i not in theirs], [i for i in ids if i in theirs]))
    except BaseException as exc:  # reported by the caller's thread
        failure.append(exc)
