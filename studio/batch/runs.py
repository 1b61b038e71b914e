"""Batch runs on Ray: many runs of one team fanned out to Ray workers, every result in the driver's run log.

The driver (this process) hands each job (a team run, or an evaluation task)
to a worker of its pool (:mod:`studio.batch.pool`) as a Ray task, as workers have
room, and takes each result as it arrives (``ray.wait``): the job's runs are
written into the driver's run log under the run ids they had on the worker
(:func:`studio.batch.home.ingest`) before ``on_result`` hears of it. Model call
limits hold for the whole batch (:mod:`studio.batch.limits`), and a
``scripted:PATH`` model's queues run on from run to run as in the sequential
loop (:mod:`studio.batch.scripts`). One batch at a time per process.

Example:
    >>> from studio.spec import load_spec
    >>> ids = run_many(load_spec("team.yaml"), ["Write add(a, b)", "Write sub(a, b)"])  # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.batch.cluster import connect
from studio.batch.home import MEMORY_LIMIT, ShippedRun, ingest, pack
from studio.batch.limits import effective_limits
from studio.batch.pool import MAX_ROOM, Context, Shipped, pool, shutdown
from studio.home import huddle_home
from studio.llm import Gateway, ModelConfigError, check_model
from studio.llm.scripted import ScriptedModel
from studio.messages import new_id
from studio.runner import run_team, shared_store
from studio.spec import TeamSpec

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["RUNS_PER_WORKER", "BatchError", "BatchResult", "run_batch", "run_job", "run_many", "shutdown_workers"]

RUNS_PER_WORKER = 4
"""Jobs one worker process runs at once (on threads) unless told otherwise."""
Job = Callable[..., tuple[Any, list[str]]]
"""``job(spec, item, *, home, gateway) -> (value, run ids)``: a module-level function (workers import it)."""
_ONE_AT_A_TIME = threading.Lock()


class BatchError(RuntimeError):
    """A batch that cannot go on: one of its Ray workers died."""


@dataclass
class BatchResult:
    """What a batch returned: each job's value in the order of the items, and where they ran."""

    values: list[Any]
    workers: list[str] = field(default_factory=list)
    """The worker processes (``host:pid``) that ran at least one job."""
    seconds: float = 0.0


def shutdown_workers() -> None:
    """Give this process's batch workers back to Ray now (they otherwise wait for the next batch)."""
    shutdown()


def _memory(spec: TeamSpec, home: Path) -> bytes | None:
    """The embedded team memory, packed for the workers (``None`` when there is none to copy)."""
    from memory.items import MemoryStoreError

    memory = spec.memory
    if not memory.enabled or memory.url:
        return None
    folder = Path(memory.path).expanduser() if memory.path else home / "memory"
    if not folder.is_dir():
        return None
    data = pack(folder)
    if len(data) > MEMORY_LIMIT:
        raise MemoryStoreError(f"the team's memory in {folder} is {len(data) / 1024**2:.0f} MB packed, over the "
                               f"{MEMORY_LIMIT // 1024**2} MB a batch copies to its Ray workers; serve it with "
                               "`chroma run` and set memory.url")
    return data


def _scripts(models: Iterable[str]) -> dict[str, tuple[dict, str]]:
    """Each scripted model's replies, read here once (a broken script fails before anything runs)."""
    found = {}
    for model in models:
        if model.startswith("scripted:"):
            script = ScriptedModel.load(model.removeprefix("scripted:"))
            found[model] = (script.replies, script.source)
    return found


def _result(ref: Any) -> Shipped:
    """A job's result, or the exception the job raised in its worker (unwrapped)."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise
    except RayActorError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BatchError(f"a Ray worker of the batch died: {first}") from None


def _restored(run: ShippedRun, spec: TeamSpec) -> ShippedRun:
    """The run as the driver records it: with the team's own memory path, not the worker's copy."""
    if run.spec.get("name") == spec.name and isinstance(run.spec.get("memory"), dict):
        run.spec["memory"]["path"] = spec.memory.path
    return run


def run_batch(spec: TeamSpec, job: Job, items: Sequence[Any], *, models: Iterable[str],
              home: str | Path | None = None, address: str | None = None,
              on_result: Callable[[int, Any], None] | None = None, workers: int | None = None,
              runs_per_worker: int = RUNS_PER_WORKER) -> BatchResult:
    """Run ``job`` on every item on Ray; write every run into ``home``'s run log as its job finishes.

    Args:
        spec: the team (every worker gets it once).
        job: a module-level function ``job(spec, item, *, home, gateway) -> (value, run ids)``.
        items: one job each.
        models: every model string the jobs call (checked here; scripted ones are served batch-wide).
        home: the driver's state folder (``$HUDDLE_HOME`` by default).
        address: a Ray address (``auto``, ``ray://head:10001``, ``head:6379``); a local instance when ``None``.
        on_result: called with (item index, value) once the job's runs are in the run log.
        workers: worker processes (default: one per free CPU, no more than the batch keeps busy).
        runs_per_worker: jobs each worker runs at once.

    Raises:
        RayUnavailable: Ray cannot be reached at ``address``.
        ModelConfigError, ScriptError, MemoryStoreError: raised before anything runs.
        BatchError: a worker died.
        Exception: whatever a job raised in its worker (the rest of the batch is stopped).
    """
    import ray

    if not 1 <= runs_per_worker <= MAX_ROOM:
        raise ValueError(f"runs_per_worker: expected 1 to {MAX_ROOM}, got {runs_per_worker}")
    models = sorted(set(models))
    for model in models:
        check_model(model)
    scripts = _scripts(models)
    try:
        limits = effective_limits(spec.defaults.providers, os.environ)
    except ValueError as exc:
        raise ModelConfigError(str(exc)) from None
    home = huddle_home(home)
    log = shared_store(home)
    memory = _memory(spec, home)
    if not items:
        return BatchResult([])
    started = time.monotonic()
    connect(address)
    with _ONE_AT_A_TIME:
        batch, chosen = pool(len(items), runs_per_worker, workers)
        ray.get(batch.coordinator.start.remote(limits, scripts))
        ctx = Context(new_id(), spec.model_dump(mode="json", by_alias=True), sorted(limits), sorted(scripts),
                      ray.put(memory) if memory is not None else None)
        try:
            values, seen = _drive(chosen, runs_per_worker, job, items, ctx, log, home, spec, on_result)
        except BaseException:  # Ctrl-C or a failed job: jobs may still run on the workers, so they go
            shutdown()
            raise
    return BatchResult(values, sorted(seen), time.monotonic() - started)


def _drive(workers: list[Any], room: int, job: Job, items: Sequence[Any], ctx: Context, log, home: Path,
           spec: TeamSpec, on_result: Callable[[int, Any], None] | None) -> tuple[list[Any], set[str]]:
    """Hand out jobs as workers have room; ingest each result as it arrives."""
    import ray

    values: list[Any] = [None] * len(items)
    seen: set[str] = set()
    queue = deque(range(len(items)))
    load = [0] * len(workers)
    pending: dict[Any, tuple[int, int]] = {}
    while queue or pending:
        while queue and min(load) < room:
            worker = load.index(min(load))
            index = queue.popleft()
            pending[workers[worker].run.remote(ctx, job, items[index])] = (index, worker)
            load[worker] += 1
        done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)  # a timeout, so Ctrl-C gets through
        for ref in done:
            index, worker = pending.pop(ref)
            load[worker] -= 1
            shipped = _result(ref)
            for run in shipped.runs:
                ingest(log, home, _restored(run, spec))
            values[index] = shipped.value
            seen.add(shipped.worker)
            if on_result is not None:
                on_result(index, shipped.value)
    return values, seen


def run_job(spec: TeamSpec, item: tuple[str, str | None], *, home: Path,
            gateway: Gateway) -> tuple[tuple[str, str], list[str]]:
    """One team run (the job of :func:`run_many`): ``item`` is (task, model); the value is (run id, status)."""
    task, model = item
    result = run_team(spec, task, model=model, home=home, gateway=gateway)
    return (result.run_id, result.status), [result.run_id]


def run_many(spec: TeamSpec, tasks: Iterable[str], model: str | None = None, *, home: str | Path | None = None,
             address: str | None = None, progress: bool = True, workers: int | None = None,
             runs_per_worker: int = RUNS_PER_WORKER) -> list[str]:
    """Run ``spec`` once per task on Ray; returns the run ids in the order of ``tasks``.

    A batch has nobody to approve, so the spec's approval points are turned off. With ``progress``, a bar
    on stderr counts the runs done and failed.
    """
    tasks = list(tasks)
    spec = spec.model_copy(update={"approval": []})
    models = {spec.model_for(r.name, model) for r in spec.roles}
    ids: list[str] = [""] * len(tasks)
    with _Bar(len(tasks), enabled=progress) as bar:
        def finished(index: int, value: tuple[str, str]) -> None:
            ids[index], status = value
            bar.advance(status)

        run_batch(spec, run_job, [(task, model) for task in tasks], models=models, home=home, address=address,
                  on_result=finished, workers=workers, runs_per_worker=runs_per_worker)
    return ids


class _Bar:
    """A rich progress bar on stderr for a batch of runs (or nothing)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.counts = total, enabled, {"done": 0, "unsolved": 0,
                                                                       "failed": 0}
        self.progress: Progress | None = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("runs on Ray"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                                     console=Console(stderr=True))
            self.task = self.progress.add_task("runs", total=self.total, counts="")
            self.progress.start()
        return self

    def advance(self, status: str) -> None:
        self.counts[status if status in self.counts else "failed"] += 1
        if self.progress is not None:
            self.progress.update(self.task, advance=1,
                                 counts=" · ".join(f"{k} {n}" for k, n in self.counts.items()))

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
