"""A Ray worker's scratch Huddle home, and what it ships back into the driver's.

A worker never writes to the driver's state: SQLite files are not shared
across processes and machines. Each worker process gets a scratch home of its
own for the batch (``$TMPDIR/huddle-ray-*``, removed when the batch ends); a
finished job's runs are read out of it (the run row, every message, the
workspace files) and the driver writes them into its own home under the same
run ids (:func:`ingest`). Checkpoints stay behind: a batch run that failed
resumes from its start.

An embedded team memory reaches the workers as a snapshot of the driver's
(packed once per batch): runs read the knowledge, lessons and episodes there
were when the batch started; what they write stays in their worker. A Chroma
server (``memory.url``) is shared for real, reads and writes.

Example:
    >>> import tempfile
    >>> src, dst = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> _ = (src / "a.txt").write_text("hi")
    >>> unpack(pack(src), dst)
    >>> (dst / "a.txt").read_text()
    'hi'
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.bus.sqlite import RunLog
from studio.bus.store import RunStore
from studio.messages import message_from_json, message_to_json

__all__ = ["MEMORY_LIMIT", "WORKSPACE_LIMIT", "ShippedRun", "collect", "ingest", "pack", "unpack"]

WORKSPACE_LIMIT = 16 * 1024**2
"""Compressed bytes of one run's workspace files that come back to the driver; larger ones stay behind."""
MEMORY_LIMIT = 512 * 1024**2
"""Compressed bytes of an embedded memory a batch may snapshot; above it, use a Chroma server."""


@dataclass
class ShippedRun:
    """One run as a worker read it out of its scratch home."""

    run_id: str
    team: str
    task: str
    status: str
    model: str | None
    spec: dict[str, Any]
    error: str | None
    messages: list[str] = field(default_factory=list)
    """Each message as JSON (the run log's own format), in publication order."""
    workspace: bytes | None = None
    """The run's workspace folders (``<run id>``, ``eval-<run id>``), packed; ``None`` when there are none."""
    workspace_note: str = ""
    """Why the workspace did not come back, when it did not."""


def pack(folder: Path, names: list[str] | None = None) -> bytes:
    """``folder``'s files (or only its entries ``names``) as a gzipped tar, paths relative to ``folder``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names if names is not None else sorted(p.name for p in folder.iterdir()):
            if (folder / name).exists():
                tar.add(folder / name, arcname=name)
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    """Unpack what :func:`pack` made into ``folder`` (only plain files and folders inside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python 3.10.12+, 3.11.4+
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, **safe)


def collect(log: RunStore, home: Path, run_id: str) -> ShippedRun:
    """Read run ``run_id`` out of a scratch home: its row, its messages and its workspace files."""
    info = log.get_run(run_id)
    if info is None:
        raise LookupError(f"run {run_id} is not in the worker's run log {log.path}")
    shipped = ShippedRun(info.run_id, info.team, info.task, info.status, info.model, info.spec, info.error,
                         [message_to_json(m) for m in log.messages(run_id)])
    spaces = home / "workspaces"
    names = [n for n in (run_id, f"eval-{run_id}") if (spaces / n).exists()]
    if names:
        data = pack(spaces, names)
        if len(data) <= WORKSPACE_LIMIT:
            shipped.workspace = data
        else:
            shipped.workspace_note = (f"{len(data) / 1024**2:.0f} MB packed, over the {WORKSPACE_LIMIT // 1024**2} MB "
                                      "a batch brings back")
    return shipped


def ingest(log: RunLog, home: Path, run: ShippedRun) -> None:
    """Write a shipped run into the driver's run log and workspaces, under its own run id.

    Idempotent: messages already in the log are skipped, and a run row already there is updated.
    """
    known = log.get_run(run.run_id)
    if known is None or known.run_id != run.run_id:  # (a prefix of another run's id does not count)
        log.create_run(run.run_id, team=run.team, task=run.task, spec=run.spec, model=run.model)
    log.append([message_from_json(m) for m in run.messages])
    log.set_status(run.run_id, run.status, run.error)
    if run.workspace is not None:
        unpack(run.workspace, home / "workspaces")
    elif run.workspace_note:
        folder = home / "workspaces" / run.run_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "NOT_COPIED.txt").write_text(f"This run's files stayed on its Ray worker: {run.workspace_note}.\n",
                                               encoding="utf-8")
