"""LangGraph's checkpoints in the run log's own database: a step's messages and its writes commit together.

:class:`LogSaver` is a ``BaseCheckpointSaver`` on a :class:`~studio.bus.sqlite.RunLog`'s connection. A node
does not append its messages itself: it stages them (:meth:`~LogSaver.stage`) under its task, and when LangGraph
saves that task's writes, the messages and the writes go into ``runs.db`` in one transaction; only then do
subscribers see the messages. So a run killed at any point has either both or neither.

The graph's state is the logged messages: a checkpoint or a write whose value is a list of messages that are
all in the log keeps their ids only (``refs``), and loading reads them back from the log. The transcript is
not encoded again at every step. Anything else (and a message not in the log, as with the Redis bus, whose log
is elsewhere) goes through the serialiser it is given.

While a run's graph runs (:meth:`LogSaver.steps`), a step's checkpoint commits with the thread's next transaction
(the next task's writes, or the end of the run): one commit a step instead of two. A run killed in between resumes
from the checkpoint before it, whose pending writes hold the step that followed: LangGraph applies them and does
not run that task again. Anything that reads the thread saves what waits first.

Example:
    >>> from studio.bus.sqlite import RunLog
    >>> saver = LogSaver(RunLog(":memory:"))
    >>> saver.get_tuple({"configurable": {"thread_id": "r1"}}) is None
    True
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite.utils import search_where, writes_sort_key

from studio.bus._inline import inline_saves
from studio.bus._legacy import adopt_legacy, legacy_threads
from studio.bus.sqlite import RunLog, stored
from studio.messages import MESSAGE_TYPES, Message, message_from_json

__all__ = ["LogSaver"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    thread_id TEXT NOT NULL, checkpoint_ns TEXT NOT NULL DEFAULT '', checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT, type TEXT, checkpoint BLOB, metadata BLOB, refs TEXT,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);
CREATE TABLE IF NOT EXISTS checkpoint_writes (
    thread_id TEXT NOT NULL, checkpoint_ns TEXT NOT NULL DEFAULT '', checkpoint_id TEXT NOT NULL,
    task_id TEXT NOT NULL, task_path TEXT NOT NULL DEFAULT '', idx INTEGER NOT NULL, channel TEXT NOT NULL,
    type TEXT, value BLOB, PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);
"""
_REF = "huddle.log-ids"
"""The type of a write kept as the ids of logged messages (its value is their JSON list)."""
_CHECKPOINT_COLUMNS = "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata, refs"
_INSERT_CHECKPOINT = f"INSERT OR REPLACE INTO checkpoints ({_CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit
_KEEP = 20_000  # logged messages remembered (id -> message) before the memo starts again

Deliver = Callable[[list[Message]], None]
Sent = list[tuple[Message, Any]]  # a task's messages and their inserts' cursors (``RunLog.send``)
Db = Any  # the log's connection: ``sqlite3.Connection``, or ``studio.bus._pg_sql.PgConnection`` on Postgres


class LogSaver(BaseCheckpointSaver[str]):
    """Checkpoints and pending writes in the run log's database (see the module's docstring).

    Args:
        log: the run log whose connection, lock and ``messages`` table it shares: SQLite, or Postgres
            (``studio.bus.postgres``, the same SQL spoken to it by ``studio.bus._pg_sql``).
        serde: the serialiser for everything that is not a list of logged messages (LangGraph's by default).
        legacy: a ``checkpoints.db`` from before this store: a thread found only there is copied in on first use.
    """

    huddle_inline_saves = True
    """LangGraph runs this saver's saves in the thread that asks, not on its pool (``studio.bus._inline``)."""

    def __init__(self, log: RunLog, *, serde: SerializerProtocol | None = None, legacy: Path | None = None):
        super().__init__(serde=serde)
        inline_saves()
        self.log = log
        self._known: dict[str, Message] = {}  # logged messages by id: a checkpoint can name them
        with log.transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
        self._staged: dict[tuple[str, str], tuple[list[Message], Deliver]] = {}
        self._staging = threading.Lock()
        self._ordered = threading.RLock()  # see _save
        self._running: set[str] = set()  # threads inside steps(): their checkpoints wait for the next commit
        self._waiting: dict[str, list[tuple[Any, ...]]] = {}  # those checkpoints' rows, by thread
        self._legacy = legacy if legacy is not None and legacy.exists() else None
        self._old_threads = legacy_threads(self._legacy) if self._legacy is not None else set()

    # -- staging: a node's messages wait for its writes -------------------------------------------------------

    def stage(self, thread_id: str, task_id: str, messages: list[Message], deliver: Deliver) -> None:
        """Keep ``messages`` of task ``task_id`` until its writes are saved; then log them and ``deliver`` them."""
        with self._staging:
            self._staged.setdefault((thread_id, task_id), ([], deliver))[0].extend(messages)

    def flush(self, thread_id: str) -> None:
        """Log and deliver what tasks of ``thread_id`` staged and never wrote; save its checkpoints that wait."""
        if (left := self._take(thread_id)) or thread_id in self._waiting:
            self._save(thread_id, left)

    @contextmanager
    def steps(self, thread_id: str) -> Iterator[None]:
        """While ``thread_id``'s graph runs: a step's checkpoint commits with the thread's next transaction.

        On leaving (an exception, an interrupt included) what waits is saved, with what tasks staged and never
        wrote (:meth:`flush`).
        """
        with self._staging:
            self._running.add(thread_id)
        try:
            yield
        finally:
            with self._staging:
                self._running.discard(thread_id)
            self.flush(thread_id)

    @contextmanager
    def _commit(self, thread_id: str | None) -> Iterator[Db]:
        """A write transaction that first saves what waits for ``thread_id`` (``None``: any); kept on failure."""
        with self._staging:
            threads = [thread_id] if thread_id is not None else list(self._waiting)
            waiting = [row for thread in threads for row in self._waiting.pop(thread, [])]
        try:
            with self._transaction() as db:
                for row in waiting:
                    db.execute(_INSERT_CHECKPOINT, row)
                yield db
        except BaseException:
            with self._staging:
                for row in reversed(waiting):
                    self._waiting.setdefault(row[0], []).insert(0, row)
            raise

    def _save_waiting(self, thread_id: str | None) -> None:
        """Save the checkpoints that wait for ``thread_id`` (``None``: for any thread) before reading."""
        if self._waiting and (thread_id is None or thread_id in self._waiting):
            with self._commit(thread_id):
                pass

    def _take(self, thread_id: str, task_id: str | None = None) -> list[tuple[list[Message], Deliver]]:
        """Staged messages of a task, or of every task of the thread (``task_id=None``), taken out."""
        with self._staging:
            keys = [key for key in self._staged if key[0] == thread_id and task_id in (None, key[1])]
            return [self._staged.pop(key) for key in keys]

    def _save(self, thread_id: str, taken: list[tuple[list[Message], Deliver]],
              write: Callable[[Db], None] | None = None) -> None:
        """Log ``taken``'s messages, then what ``write`` writes, in one transaction; then deliver the messages."""
        with self._ordered:  # commit and delivery together: parallel tasks' messages reach subscribers in log order
            with self._commit(thread_id) as db:
                sent = [self._log(db, messages) for messages, _ in taken]
                if write is not None:
                    write(db)
            fresh = [stored(s) for s in sent]  # (after the commit: Postgres's answers are in)
            if any(fresh):
                self.log.groups.appended()
            for (_, deliver), messages in zip(taken, fresh, strict=True):
                if messages:
                    deliver(messages)

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[Db]:
        """The log's transaction; if it rolls back, forget which ids are logged (it may have added some)."""
        try:
            with self.log.transaction(write) as db:
                yield db
        except BaseException:
            self._known.clear()
            raise

    def _log(self, db: Db, messages: list[Message]) -> Sent:
        sent = self.log.send(db, messages)
        self._remember([m for m, _ in sent])  # in the log once this commits: now, or from before (same id)
        return sent

    def _remember(self, messages: list[Message]) -> None:
        """Note messages as logged (their ids can stand for them), and keep them to read back."""
        if len(self._known) > _KEEP:
            self._known.clear()
        self._known.update((m.id, m) for m in messages)

    # -- messages by reference --------------------------------------------------------------------------------

    def _refs(self, db: Db | None, value: Any) -> list[str] | None:
        """The ids of ``value``'s messages when it is a non-empty list of messages all in the log, else ``None``.

        Raises:
            LookupError: ``db`` is ``None`` and some of them are not known to be logged (the log must be read).
        """
        if not isinstance(value, list) or not value or not all(isinstance(m, MESSAGE_TYPES) for m in value):
            return None
        ids = [m.id for m in value]
        missing = [i for i in ids if i not in self._known]
        if missing and db is None:
            raise LookupError("messages not known to be logged")
        if missing:
            self._remember(list(self._fetch(db, missing).values()))
        return ids if all(i in self._known for i in ids) else None

    def _fetch(self, db: Db, ids: list[str]) -> dict[str, Message]:
        found: dict[str, Message] = {}
        for start in range(0, len(ids), _CHUNK):
            part = ids[start:start + _CHUNK]
            rows = db.execute(f"SELECT id, body FROM messages WHERE id IN ({','.join('?' * len(part))})", part)
            found.update((i, message_from_json(body)) for i, body in rows)
        return found

    def _messages(self, db: Db, ids: list[str]) -> list[Message]:
        missing = [i for i in ids if i not in self._known]
        if missing:
            self._remember(list(self._fetch(db, missing).values()))
        lost = [i for i in ids if i not in self._known]
        if lost:
            raise LookupError(f"checkpoint refers to messages missing from {self.log.path}: {', '.join(lost[:5])}")
        return [self._known[i] for i in ids]

    # -- the saver --------------------------------------------------------------------------------------------

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        """Save a checkpoint; its lists of logged messages as their ids (inside :meth:`steps`: with the next commit)."""
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), conf.get("checkpoint_ns", "")
        meta = json.dumps(get_checkpoint_metadata(config, metadata), ensure_ascii=False).encode("utf-8", "ignore")
        saved: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns,
                                                  "checkpoint_id": checkpoint["id"]}}
        # The step is over: what its tasks staged and did not write yet commits with its checkpoint (LangGraph
        # may save the checkpoint before a task's writes; the next step waits for the checkpoint only).
        taken, parent = self._take(thread_id), conf.get("checkpoint_id")
        if not taken and thread_id in self._running:
            with suppress(LookupError):  # it names messages this saver has not seen logged: saved now, below
                row = self._checkpoint_row(None, thread_id, ns, parent, checkpoint, meta)
                with self._staging:
                    self._waiting.setdefault(thread_id, []).append(row)
                return saved
        self._save(thread_id, taken, lambda db: db.execute(
            _INSERT_CHECKPOINT, self._checkpoint_row(db, thread_id, ns, parent, checkpoint, meta)))
        return saved

    def _checkpoint_row(self, db: Db | None, thread_id: str, ns: str, parent: str | None, checkpoint: Checkpoint,
                        meta: bytes) -> tuple[Any, ...]:
        """The ``checkpoints`` row of ``checkpoint`` (``db``: see :meth:`_refs`)."""
        values = dict(checkpoint["channel_values"])
        refs = {}
        for channel, value in checkpoint["channel_values"].items():
            ids = self._refs(db, value)
            if ids is not None:
                refs[channel] = ids
                del values[channel]
        type_, blob = self.serde.dumps_typed({**checkpoint, "channel_values": values})
        return (thread_id, ns, checkpoint["id"], parent, type_, blob, meta, json.dumps(refs) if refs else None)

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        """Save a task's writes, with the messages it staged, in one transaction; then deliver those messages."""
        conf = config["configurable"]
        thread_id = str(conf["thread_id"])
        taken = self._take(thread_id, task_id)
        verb = "REPLACE" if all(w[0] in WRITES_IDX_MAP for w in writes) else "IGNORE"
        def write(db: Db) -> None:
            rows = []
            for idx, (channel, value) in enumerate(writes):
                ids = self._refs(db, value)
                type_, blob = (_REF, json.dumps(ids).encode()) if ids is not None else self.serde.dumps_typed(value)
                rows.append((thread_id, str(conf.get("checkpoint_ns", "")), str(conf["checkpoint_id"]), task_id,
                             task_path, WRITES_IDX_MAP.get(channel, idx), channel, type_, blob))
            db.executemany(f"INSERT OR {verb} INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id,"
                           " task_id, task_path, idx, channel, type, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

        self._save(thread_id, taken, write)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names, else the thread's latest."""
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), conf.get("checkpoint_ns", "")
        self._save_waiting(thread_id)
        self._adopt(thread_id)
        where, params = "thread_id = ? AND checkpoint_ns = ?", [thread_id, ns]
        if checkpoint_id := get_checkpoint_id(config):
            where, params = where + " AND checkpoint_id = ?", [*params, checkpoint_id]
        query = f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints WHERE {where} ORDER BY checkpoint_id DESC LIMIT 1"
        with self._transaction(write=False) as db:
            row = db.execute(query, params).fetchone()
            return self._tuple(db, row) if row else None

    def list(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
             before: RunnableConfig | None = None, limit: int | None = None) -> Iterator[CheckpointTuple]:
        """Checkpoints, newest first, of a thread (``config``) or all, matching ``filter``'s metadata."""
        self._save_waiting(str(config["configurable"]["thread_id"]) if config is not None else None)
        if config is not None:
            self._adopt(str(config["configurable"]["thread_id"]))
        where, params = getattr(self.log, "search_where", search_where)(config, filter, before)  # Postgres: its own
        query = f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints {where} ORDER BY checkpoint_id DESC"
        if limit is not None:
            query, params = query + " LIMIT ?", [*params, limit]
        with self._transaction(write=False) as db:
            found = [self._tuple(db, row) for row in db.execute(query, params).fetchall()]
        yield from found

    def _tuple(self, db: Db, row: tuple) -> CheckpointTuple:
        thread_id, ns, checkpoint_id, parent_id, type_, blob, meta, refs = row
        checkpoint = self.serde.loads_typed((type_, blob))
        for channel, ids in json.loads(refs or "{}").items():
            checkpoint["channel_values"][channel] = self._messages(db, ids)
        writes = db.execute("SELECT task_id, channel, type, value, task_path, idx FROM checkpoint_writes"
                            " WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                            (thread_id, ns, checkpoint_id)).fetchall()
        pending = [(task, channel, self._messages(db, json.loads(value)) if kind == _REF
                    else self.serde.loads_typed((kind, value)))
                   for task, channel, kind, value, _, _ in sorted(writes, key=lambda r: writes_sort_key(r[4], r[0],
                                                                                                        r[5]))]
        return CheckpointTuple(
            {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}},
            checkpoint, json.loads(meta) if meta is not None else {},
            {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": parent_id}}
            if parent_id else None,
            pending,
        )

    def delete_thread(self, thread_id: str) -> None:
        """Forget a thread's checkpoints and writes (its messages stay in the log)."""
        with self._commit(str(thread_id)) as db:
            db.execute("DELETE FROM checkpoints WHERE thread_id = ?", (str(thread_id),))
            db.execute("DELETE FROM checkpoint_writes WHERE thread_id = ?", (str(thread_id),))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's checkpoints and writes to another thread id."""
        self._save_waiting(str(target_thread_id))
        with self._commit(str(source_thread_id)) as db:
            for table, columns in (("checkpoints", _CHECKPOINT_COLUMNS),
                                   ("checkpoint_writes", "thread_id, checkpoint_ns, checkpoint_id, task_id,"
                                                         " task_path, idx, channel, type, value")):
                rest = columns.split(", ", 1)[1]
                db.execute(f"INSERT OR REPLACE INTO {table} ({columns}) SELECT ?, {rest} FROM {table}"
                           " WHERE thread_id = ?", (str(target_thread_id), str(source_thread_id)))

    def _adopt(self, thread_id: str) -> None:
        """Copy a thread that only the old ``checkpoints.db`` has into this store (once)."""
        if thread_id in self._old_threads:
            self._old_threads.discard(thread_id)
            with self._transaction(write=False) as db:
                have = db.execute("SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1", (thread_id,)).fetchone()
            if not have and self._legacy is not None:
                adopt_legacy(self, self._legacy, thread_id)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Monotonic channel versions, as LangGraph's own savers make them."""
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # -- async: SQLite calls are short, so they run inline ----------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """:meth:`get_tuple`."""
        return self.get_tuple(config)

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
                    before: RunnableConfig | None = None, limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
        """:meth:`list`."""
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> RunnableConfig:
        """:meth:`put`."""
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        """:meth:`put_writes`."""
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """:meth:`delete_thread`."""
        self.delete_thread(thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """:meth:`copy_thread`."""
        self.copy_thread(source_thread_id, target_thread_id)
