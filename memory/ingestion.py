"""Ingest files and folders into a team's ``knowledge``: read, chunk, embed, store.

Ingested text is ``external`` (nobody on the team vouches for it): prompts mark
it as untrusted data and it can never become a reflection.

Example:
    >>> from memory.embedder import get_embedder
    >>> mem = VectorMemory("ingest-demo", embedder=get_embedder("hash"), ephemeral=True)
    >>> report = ingest(mem, ["README.md"])  # doctest: +SKIP
    >>> report.files, report.chunks  # doctest: +SKIP
    (1, 42)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from memory.items import MemoryItem
from memory.readers import Skipped, discover, read_chunks
from memory.store import VectorMemory

__all__ = ["IngestReport", "ingest"]

Progress = Callable[[str, int, int], None]
"""``(current file, files done, files in all)``, called as ingestion moves on."""


@dataclass
class IngestReport:
    """What an ingestion did."""

    files: int = 0
    """Files read."""
    chunks: int = 0
    """Chunks produced from them."""
    added: int = 0
    """Chunks stored now."""
    duplicates: int = 0
    """Chunks already in memory (same text): left as they were."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """``(path, reason)`` of every file left out."""
    ids: list[str] = field(default_factory=list)
    """Ids of the chunks stored now."""

    def as_dict(self) -> dict:
        """JSON-ready counts, with the skipped files as ``{"path", "reason"}`` records."""
        return {"files": self.files, "chunks": self.chunks, "added": self.added, "duplicates": self.duplicates,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


def ingest(memory: VectorMemory, paths: Iterable[str | Path], *, writer: str = "user", size: int = 1000,
           overlap: int = 150, on_progress: Progress | None = None, batch_files: int = 16) -> IngestReport:
    """Read ``paths`` (files and folders, recursively) into ``memory``'s knowledge.

    Unreadable, binary, empty and unsupported files are skipped with a reason; nothing raises for bad content.

    Args:
        memory: where to store.
        paths: files and folders.
        writer: who asked for it (recorded as the writer).
        size: chunk size in characters.
        overlap: characters each chunk shares with the one before.
        on_progress: called before each file and once at the end.
        batch_files: files whose chunks are embedded and stored together.
    """
    files, skipped = discover(paths)
    report = IngestReport(skipped=[(str(p), reason) for p, reason in skipped])
    pending: list[MemoryItem] = []
    for done, path in enumerate(files):
        if on_progress is not None:
            on_progress(str(path), done, len(files))
        try:
            chunks = read_chunks(path, size=size, overlap=overlap)
        except Skipped as exc:
            report.skipped.append((str(path), str(exc)))
            continue
        report.files += 1
        report.chunks += len(chunks)
        pending += [MemoryItem(text=c.text, collection="knowledge", source=c.source, writer=writer, trust="external",
                               extra={"locator": c.locator, "chunk": str(c.index), "format": c.kind})
                    for c in chunks]
        if (done + 1) % batch_files == 0:
            _store(memory, pending, report)
            pending = []
    _store(memory, pending, report)
    if on_progress is not None:
        on_progress("", len(files), len(files))
    return report


def _store(memory: VectorMemory, items: list[MemoryItem], report: IngestReport) -> None:
    if not items:
        return
    result = memory.add(items)
    report.added += len(result.added)
    report.duplicates += len(result.duplicates) + (len(items) - len({i.id for i in items}))
    report.ids += result.added
