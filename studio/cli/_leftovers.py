"""What ``huddle gc`` may remove: old run workspaces and the temporary folders Huddle's processes left behind.

A workspace (``HUDDLE_HOME/workspaces/<run id>/``, ``eval-<run id>/``) goes once
its run finished (``done`` or ``failed``) longer ago than the retention; a run that is
``running`` or ``waiting`` for approval keeps its workspace whatever its age, since it
can still be resumed. A folder there that no run owns (``cli/``, a run the log no
longer has) goes once nothing in it changed for the retention. Temporary folders
(:data:`TEMP_PREFIXES` in the system's temp folder) go once nothing in them changed
for an hour (or the retention, when shorter): only folders this user owns, never
through a symbolic link. Removal never follows links out of the folder.

Example:
    >>> import tempfile
    >>> found = find_leftovers(Path(tempfile.mkdtemp()), 7 * 86400, {}, temp_dir=Path(tempfile.mkdtemp()))
    >>> found.remove, found.kept
    ([], [])
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KEEP_STATUSES", "TEMP_IDLE_S", "TEMP_PREFIXES", "Found", "Leftover", "find_leftovers", "remove",
           "size_of"]

TEMP_PREFIXES = ("huddle-check-", "huddle-probe-", "huddle-team-", "huddle-upload-", "huddle-ray-")
"""Prefixes of the temporary folders Huddle makes (``huddle sandbox check``, the sandbox probe, notebooks' team
folders, the studio's uploads, Ray workers' scratch homes)."""
KEEP_STATUSES = frozenset({"running", "waiting"})
"""Runs in these states keep their workspace: they can still be resumed or approved."""
TEMP_IDLE_S = 3600.0
"""A temporary folder is left alone while anything in it changed within this many seconds (its process may be
alive)."""


@dataclass(frozen=True)
class Leftover:
    """A folder to remove, its size on disk, and why it may go."""

    path: Path
    size: int
    why: str


@dataclass
class Found:
    """What :func:`find_leftovers` found."""

    remove: list[Leftover] = field(default_factory=list)
    """Folders that may go."""
    kept: list[tuple[Path, str]] = field(default_factory=list)
    """Workspaces kept because their run is still running or waiting, with the run's status."""


def _newest_change(folder: Path) -> float:
    """The latest modification time of ``folder`` and everything under it (links not followed)."""
    newest = folder.lstat().st_mtime
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            try:
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
            except OSError:
                continue
    return newest


def size_of(folder: Path) -> int:
    """Bytes ``folder`` takes on disk (allocated blocks, each hard-linked file once, links not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            total += getattr(info, "st_blocks", 0) * 512 or info.st_size
    return total


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds / 3600:.1f} hours"


def _workspaces(home: Path, older_than_s: float, runs: Mapping[str, tuple[str, float]], now: float,
                found: Found) -> None:
    spaces = home / "workspaces"
    if not spaces.is_dir() or spaces.is_symlink():
        return
    for folder in sorted(spaces.iterdir()):
        if folder.is_symlink() or not folder.is_dir():
            continue
        run_id = folder.name.removeprefix("eval-")
        if run_id in runs:
            status, finished = runs[run_id]
            if status in KEEP_STATUSES:
                found.kept.append((folder, status))
                continue
            age, why = now - finished, f"run {run_id} {status} {{age}} ago"
        else:
            age, why = now - _newest_change(folder), "no run owns it; unchanged for {age}"
        if age >= older_than_s:
            found.remove.append(Leftover(folder, size_of(folder), why.format(age=_days(age))))


def _temporary(temp_dir: Path, idle_s: float, now: float, found: Found) -> None:
    uid = os.getuid() if hasattr(os, "getuid") else None
    for entry in sorted(temp_dir.iterdir()) if temp_dir.is_dir() else ():
        if not entry.name.startswith(TEMP_PREFIXES):
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid):
            continue  # a link, a file, or another user's folder: not ours to remove
        age = now - _newest_change(entry)
        if age >= idle_s:
            found.remove.append(Leftover(entry, size_of(entry), f"temporary folder, unchanged for {_days(age)}"))


def find_leftovers(home: Path, older_than_s: float, runs: Mapping[str, tuple[str, float]], *,
                   temp_dir: Path, now: float | None = None) -> Found:
    """The workspaces under ``home`` and the temporary folders in ``temp_dir`` that may be removed.

    Args:
        home: the state folder (``HUDDLE_HOME``).
        older_than_s: the retention, in seconds.
        runs: every run in the run log: its status and when it last changed (seconds since the epoch).
        temp_dir: the system's temporary folder.
        now: the time to measure ages from (now when omitted).
    """
    now = time.time() if now is None else now
    found = Found()
    _workspaces(home, older_than_s, runs, now, found)
    _temporary(temp_dir, min(TEMP_IDLE_S, older_than_s), now, found)
    return found


def _chmod_dir(path: str) -> None:
    info = os.lstat(path)
    if stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) & stat.S_IRWXU != stat.S_IRWXU:
        os.chmod(path, stat.S_IMODE(info.st_mode) | stat.S_IRWXU)


def _make_writable(folder: Path) -> None:
    """Give back to this user the folders that sandboxed code left without read, write or search permission.

    Links are never followed: only real folders are changed.
    """
    _chmod_dir(str(folder))
    for root, dirs, _ in os.walk(folder, followlinks=False):
        for name in dirs:  # before os.walk descends into them
            try:
                _chmod_dir(os.path.join(root, name))
            except OSError:
                continue


def remove(leftovers: list[Leftover]) -> list[tuple[Leftover, str]]:
    """Remove each folder; the ones that could not be removed (fully), with the reason."""
    failed = []
    for leftover in leftovers:
        try:
            shutil.rmtree(leftover.path)  # never follows links (fd-based on Linux)
        except OSError:
            try:
                _make_writable(leftover.path)
                shutil.rmtree(leftover.path)
            except OSError as exc:
                failed.append((leftover, f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)))
    return failed
