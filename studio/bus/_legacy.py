"""Runs started before the one store: their checkpoints are in ``checkpoints.db`` (LangGraph's ``SqliteSaver``).

:class:`~studio.bus.checkpoints.LogSaver` copies such a run's checkpoints and pending writes into ``runs.db``
the first time it is asked for them, so the run resumes, is approved or forked as before. The old file is only
read.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

__all__ = ["adopt_legacy", "legacy_threads"]


def legacy_threads(path: Path) -> set[str]:
    """The thread (run) ids that have checkpoints in the old file (none when it cannot be read)."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return {row[0] for row in db.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    except sqlite3.Error:
        return set()


def adopt_legacy(saver: BaseCheckpointSaver, path: Path, thread_id: str) -> int:
    """Copy ``thread_id``'s checkpoints and writes from the old file into ``saver``, oldest first; return how many."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)) as db:
        old = SqliteSaver(db, serde=saver.serde)
        old.is_setup = True  # read only: no tables to create
        found = list(old.list({"configurable": {"thread_id": thread_id}}))
    for item in reversed(found):
        conf = item.config["configurable"]
        parent = item.parent_config["configurable"]["checkpoint_id"] if item.parent_config else None
        at: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": conf["checkpoint_ns"],
                                               "checkpoint_id": parent}}
        saved = saver.put(at, item.checkpoint, item.metadata, {})
        by_task: dict[str, list[tuple[str, object]]] = {}
        for task_id, channel, value in item.pending_writes or []:
            by_task.setdefault(task_id, []).append((channel, value))
        for task_id, writes in by_task.items():
            saver.put_writes(saved, writes, task_id)
    return len(found)
