"""The Ray side of batches: worker processes kept from batch to batch, and the coordinator they share.

A worker is a threaded Ray actor: one process that imports Huddle once (litellm
and LangGraph take seconds of CPU to import) and runs several jobs at once on
threads, since runs mostly wait on model calls. It keeps a scratch Huddle home
of its own (:mod:`studio.batch.home`) and stays up, reserving no CPU, so the next
batch of the same driver process starts at once; :func:`shutdown` ends them
(it runs at exit too).

The coordinator is one async actor beside them (:mod:`studio.batch.coordinator`).
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio._serial_ast import serial_ast
from studio.batch.coordinator import Coordinator
from studio.batch.home import ShippedRun, collect, unpack
from studio.batch.limits import SharedLimits
from studio.batch.scripts import SharedScript
from studio.llm import Gateway
from studio.llm.schedule import SCHEDULER
from studio.runner import shared_store
from studio.spec import TeamSpec, parse_spec

__all__ = ["BatchWorker", "Context", "Pool", "Shipped", "pool", "shutdown"]

SCRATCH_PREFIX = "huddle-ray-"
MAX_ROOM = 64
"""Threads of a worker actor: the most jobs a batch may give one worker at once."""
_STALE_S = 24 * 3600


@dataclass
class Context:
    """What every job of a batch carries to its worker (small: handles and the spec, no data)."""

    batch_id: str
    spec: dict[str, Any]
    """The team as JSON: a worker parses it with its own Huddle (a version apart fails as a spec error)."""
    limited: list[str]
    """Providers the coordinator limits for this batch."""
    scripted: list[str]
    """``scripted:PATH`` models the coordinator serves."""
    memory: Any = None
    """An object ref to the packed embedded memory, or ``None``."""


@dataclass
class Shipped:
    """A job's result as it comes back: its value, its runs, and where it ran."""

    value: Any
    runs: list[ShippedRun]
    worker: str


class BatchWorker:
    """One worker process (a threaded Ray actor) with a scratch Huddle home of its own."""

    def __init__(self, coordinator: Any):
        _sweep()
        serial_ast()
        self.coordinator = coordinator
        self.home = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
        os.environ["HUDDLE_HOME"] = str(self.home)  # this process serves batches only
        self.where = f"{socket.gethostname()}:{os.getpid()}"
        self.batch_id = ""
        self.spec: TeamSpec | None = None
        self._lock = threading.Lock()

    def _enter(self, ctx: Context) -> TeamSpec:
        """The batch's spec, setting the process up for the batch on its first job here."""
        import ray

        with self._lock:
            if ctx.batch_id != self.batch_id:
                for old in self.home.glob("memory-*"):
                    shutil.rmtree(old, ignore_errors=True)
                spec = parse_spec(ctx.spec, f"batch {ctx.batch_id[:8]}")
                if spec.memory.enabled and not spec.memory.url:  # the snapshot, or an empty memory of its own
                    folder = self.home / f"memory-{ctx.batch_id[:8]}"
                    if ctx.memory is not None:
                        unpack(ray.get(ctx.memory), folder)
                    spec = spec.model_copy(update={"memory": spec.memory.model_copy(update={"path": str(folder)})})
                SCHEDULER.share(SharedLimits(self.coordinator, ctx.limited) if ctx.limited else None)
                self.batch_id, self.spec = ctx.batch_id, spec
            assert self.spec is not None  # set on the batch's first job, above
            return self.spec

    def run(self, ctx: Context, job: Any, item: Any) -> Shipped:
        """Run one job in the scratch home; read its runs out for the driver and drop their files here."""
        spec = self._enter(ctx)
        gateway = Gateway(spec.defaults.max_concurrency, limits=spec.defaults.providers)
        for model in ctx.scripted:
            # SharedScript stands in for a ScriptedModel: the same calls, answered by the coordinator
            gateway.scripts[model] = SharedScript(self.coordinator, model)  # type: ignore[assignment]
        value, run_ids = job(spec, item, home=self.home, gateway=gateway)
        log = shared_store(self.home)
        runs = [collect(log, self.home, run_id) for run_id in run_ids]
        for run_id in run_ids:
            for name in (run_id, f"eval-{run_id}"):
                shutil.rmtree(self.home / "workspaces" / name, ignore_errors=True)
        return Shipped(value, runs, self.where)

    def close(self) -> None:
        """Stop sharing limits and remove the scratch home."""
        SCHEDULER.share(None)
        shutil.rmtree(self.home, ignore_errors=True)


def _sweep() -> None:
    """Remove scratch homes a day old (left by workers that were killed)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        try:
            if time.time() - folder.stat().st_mtime > _STALE_S:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


@dataclass
class Pool:
    """This driver process's workers on one Ray connection."""

    job_id: str
    coordinator: Any
    workers: list[Any] = field(default_factory=list)


_POOL: Pool | None = None
_AT_EXIT: list[bool] = []


def pool(needed: int, room: int, workers: int | None = None) -> tuple[Pool, list[Any]]:
    """The pool, grown for a batch of ``needed`` jobs, ``room`` at once per worker; and the workers to use.

    Without ``workers``: one worker per CPU of the cluster, no more than the batch keeps busy. Workers
    reserve no CPU (their runs mostly wait on model calls, and a pool kept between batches must not
    starve the process's other Ray work) and are spread over the nodes.
    """
    global _POOL
    import ray

    job_id = ray.get_runtime_context().get_job_id()
    if _POOL is not None and _POOL.job_id != job_id:  # Ray was shut down and started again
        _POOL = None
    if _POOL is None:
        coordinator = ray.remote(Coordinator).options(num_cpus=0, max_concurrency=10_000).remote()
        _POOL = Pool(job_id, coordinator)
        if not _AT_EXIT:  # before Ray's own exit handler (registered earlier, so run later)
            atexit.register(shutdown)
            _AT_EXIT.append(True)
    cpus = int(ray.cluster_resources().get("CPU", 1)) or 1
    want = workers or max(1, min(math.ceil(needed / room), cpus))
    if want > len(_POOL.workers):
        make = ray.remote(BatchWorker).options(num_cpus=0, max_concurrency=MAX_ROOM, scheduling_strategy="SPREAD")
        _POOL.workers += [make.remote(_POOL.coordinator) for _ in range(want - len(_POOL.workers))]
    return _POOL, _POOL.workers[:want]


def shutdown(graceful: bool = True) -> None:
    """End the pool's workers (removing their scratch homes first when ``graceful``: a few seconds at most)."""
    global _POOL
    import ray

    found, _POOL = _POOL, None
    if found is None or not ray.is_initialized():
        return
    if graceful:
        try:
            ray.get([w.close.remote() for w in found.workers], timeout=5)
        except Exception:  # a worker that is gone or stuck: it is killed below all the same
            pass
    for actor in [*found.workers, found.coordinator]:
        ray.kill(actor)
