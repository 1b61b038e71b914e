"""``huddle gc``: remove old run workspaces and leftover temporary folders; print what went and the space freed."""

from __future__ import annotations

import re
import tempfile
from datetime import datetime
from pathlib import Path

import typer

from studio.cli._common import fail

__all__ = ["gc", "parse_age"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_age(text: str) -> float:
    """Seconds in ``text``: a number with a unit (``90s``, ``30m``, ``12h``, ``7d``, ``2w``); no unit means days.

    Raises:
        ValueError: ``text`` is not such an age.
    """
    match = _AGE.match(text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2) or "d"]


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("not reached")


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:  # an unreadable time: treat the run as changed now, so it is kept
        return datetime.now().timestamp()


def _runs() -> dict[str, tuple[str, float]]:
    """Every run in the run log: its status and when it last changed."""
    from studio.bus import BusUnavailable, bus_url, open_store, store_url
    from studio.home import huddle_home

    try:
        log = open_store(huddle_home(), bus_url() or store_url())
        try:
            return {r.run_id: (r.status, _epoch(r.updated_at)) for r in log.runs(limit=2**62)}
        finally:
            log.close()
    except BusUnavailable as exc:
        fail(f"{exc} (gc reads the run log to keep the workspaces of runs still running or waiting)")


def gc(
    older_than: str | None = typer.Option(None, "--older-than", metavar="AGE",
                                          help="Remove workspaces of runs that finished longer ago than this (90m, "
                                               "12h, 7d, 2w); $HUDDLE_RETENTION_DAYS or 7d when omitted."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be removed; remove nothing."),
) -> None:
    """Remove run workspaces older than the retention and leftover temporary folders; print the space freed.

    A run that is still running or waiting for approval keeps its workspace whatever its age; the run log and
    the checkpoints are never touched.
    """
    from studio.cli._leftovers import find_leftovers, remove
    from studio.home import RETENTION_ENV, RetentionError, huddle_home, retention_days

    if older_than is not None:
        try:
            seconds, label = parse_age(older_than), older_than.strip()
        except ValueError:
            fail(f"--older-than {older_than!r}: expected an age such as 90m, 12h, 7d or 2w")
    else:
        try:
            days = retention_days()
        except RetentionError as exc:
            fail(str(exc))
        seconds, label = days * 86400, f"{days:g}d (${RETENTION_ENV})" if days != 7 else "7d"
    found = find_leftovers(huddle_home(), seconds, _runs(), temp_dir=Path(tempfile.gettempdir()))
    failed = {} if dry_run else {f.path: why for f, why in remove(found.remove)}
    verb = "would remove" if dry_run else "removed"
    freed = 0
    for leftover in found.remove:
        if leftover.path in failed:
            typer.echo(f"could not remove {leftover.path}: {failed[leftover.path]}", err=True)
            continue
        freed += leftover.size
        typer.echo(f"{verb} {leftover.path}  {_size(leftover.size)}  ({leftover.why})")
    for path, status in found.kept:
        typer.echo(f"kept {path}  (its run is {status})")
    done = len(found.remove) - len(failed)
    typer.echo(f"{'would free' if dry_run else 'freed'} {_size(freed)} in {done} folder(s); workspaces older than "
               f"{label} go, temporary folders once idle an hour")
    if failed:
        raise typer.Exit(1)
