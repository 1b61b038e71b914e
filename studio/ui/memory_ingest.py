r"""The Memory page's "Add files" part: uploaded files into the team's knowledge, with a progress bar.

The upload handling is a plain function (:func:`ingest_uploads`), so it runs and
is tested without a browser; :func:`upload_section` is the widget around it.

Example:
    >>> from memory import VectorMemory, get_embedder
    >>> class Upload:
    ...     name, data = "notes.md", b"# Notes\n\nStore timestamps in UTC."
    ...     def getvalue(self):
    ...         return self.data
    >>> mem = VectorMemory("upload-demo", embedder=get_embedder("hash"), ephemeral=True)
    >>> ingest_uploads(mem, [Upload()]).files
    1
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import streamlit as st

from memory.readers import SUPPORTED

if TYPE_CHECKING:
    from memory.ingestion import IngestReport
    from memory.store import VectorMemory

__all__ = ["ACCEPTED", "Upload", "ingest_uploads", "show_report", "upload_section"]

ACCEPTED: tuple[str, ...] = tuple(sorted(kind.lstrip(".") for kind in SUPPORTED))
"""File types the uploader takes: those ingestion can read."""
_ROUND = "memory_upload_round"  # bumped after each ingestion: a new key empties the uploader
_REPORT = "memory_ingest_report"


class Upload(Protocol):
    """What the uploader hands over (Streamlit's ``UploadedFile`` is one)."""

    name: str

    def getvalue(self) -> bytes:
        """The file's content."""
        ...


def ingest_uploads(memory: VectorMemory, uploads: Sequence[Upload], *,
                   on_progress: Callable[[str, int, int], None] | None = None, writer: str = "user") -> IngestReport:
    """Write ``uploads`` to a temporary folder under their own names and ingest them into ``memory``'s knowledge.

    The chunks' ``source`` is the file's path in that folder, so it ends with the uploaded
    name; skipped files are reported by their uploaded name. The folder is removed afterwards.

    Args:
        memory: where to store.
        uploads: the uploaded files.
        on_progress: ``(file name, files done, files in all)``, as ingestion moves on.
        writer: who asked for it (recorded as the writer).
    """
    from memory.ingestion import ingest

    with tempfile.TemporaryDirectory(prefix="huddle-upload-") as folder:
        root = Path(folder).resolve()
        names: dict[str, str] = {}  # written path -> uploaded name
        for index, upload in enumerate(uploads):
            name = Path(upload.name.replace("\\", "/")).name or f"upload-{index}"  # never outside the folder
            target = root / name
            if str(target) in names:  # two uploads with one name: both kept, each in a folder of its own
                target = root / str(index) / name
                target.parent.mkdir()
            target.write_bytes(upload.getvalue())
            names[str(target)] = upload.name

        def moved(current: str, done: int, total: int) -> None:
            if on_progress is not None:
                on_progress(names.get(current, Path(current).name if current else ""), done, total)

        report = ingest(memory, list(names), writer=writer, on_progress=moved)
    return replace(report, skipped=[(names.get(path, path), reason) for path, reason in report.skipped])


def show_report(report: IngestReport) -> None:
    """What an ingestion did: files, chunks (new and already stored), and each skipped file with its reason."""
    summary = (f"Ingested **{report.files}** file(s) into knowledge: **{report.chunks}** chunk(s), "
               f"**{report.added}** new, **{report.duplicates}** already stored.")
    if report.files:
        st.success(summary)
    else:
        st.warning(summary + " Nothing could be read.")
    if report.skipped:
        st.markdown(f"Skipped **{len(report.skipped)}** file(s):")
        st.table([{"file": path, "reason": reason} for path, reason in report.skipped])


def upload_section(memory: VectorMemory, guard: Callable[[str], AbstractContextManager[object]]) -> None:
    """The uploader, the ingest button with its progress bar, and the last ingestion's report.

    Args:
        memory: the team's memory.
        guard: a context manager factory that shows store errors as an ``st.error`` (see ``memory_page``).
    """
    st.caption("Files are chunked, embedded locally and stored in **knowledge** as untrusted reference data "
               "(`trust: external`). Text already stored is not stored twice.")
    round_ = st.session_state.setdefault(_ROUND, 0)
    uploads = st.file_uploader("Files to ingest", type=list(ACCEPTED), accept_multiple_files=True,
                               key=f"memory_upload_{round_}")
    if uploads and st.button(f"Ingest {len(uploads)} file(s)", type="primary", key="memory_ingest"):
        bar = st.progress(0.0, text="starting…")

        def moved(name: str, done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0,
                         text=f"{done}/{total} files" + (f" · {name}" if name else " · storing"))

        with guard("Ingesting the files"), st.spinner("Embedding and storing…"):
            st.session_state[_REPORT] = (memory.namespace, ingest_uploads(memory, uploads, on_progress=moved))
            st.session_state[_ROUND] = round_ + 1
            st.rerun()  # the counts and the listing above were drawn before these items existed
    namespace, report = st.session_state.get(_REPORT, (None, None))
    if report is not None and namespace == memory.namespace:
        show_report(report)
