"""Ray batch runs: ``Team.run_many`` and ``huddle eval --ray`` spread runs over worker processes.

``runs`` is the driver (``run_many``, ``run_batch``); ``cluster`` connects to Ray,
``pool`` keeps the workers, ``home`` ships each run's records back, ``limits`` and
``coordinator`` share provider limits and scripted replies across workers,
``scripts`` holds the shared script.

Example:
    >>> from studio.batch import RUNS_PER_WORKER
    >>> RUNS_PER_WORKER
    4
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from studio._lazy import lazy_exports

if TYPE_CHECKING:  # the names for type checkers; at run time each resolves on first use (imports stay light)
    from studio.batch.runs import (
        RUNS_PER_WORKER,
        BatchError,
        BatchResult,
        run_batch,
        run_job,
        run_many,
        shutdown_workers,
    )

__all__ = ["BatchError", "BatchResult", "RUNS_PER_WORKER", "run_batch", "run_job", "run_many", "shutdown_workers"]

_WHERE = {
    **dict.fromkeys(
        ["BatchError", "BatchResult", "RUNS_PER_WORKER", "run_batch", "run_job", "run_many", "shutdown_workers"],
        "studio.batch.runs",
    ),
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
