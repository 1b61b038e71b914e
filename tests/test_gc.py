"""``huddle gc`` (issue 18, item 6): old run workspaces and leftover temporary folders go, with the space freed;
a run still running or waiting for approval keeps its workspace; ``--dry-run`` removes nothing; links are never
followed out of a folder being removed."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from studio.bus.sqlite import RunLog
from studio.cli import app as cli
from studio.cli.gc import parse_age

DAY = 86400


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """The system temp folder, as gc sees it: a folder of this test's own."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _age(path: Path, days: float) -> None:
    """Make ``path`` and everything in it look last changed ``days`` ago."""
    when = time.time() - days * DAY
    for root, dirs, files in os.walk(path, topdown=False):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (when, when), follow_symlinks=False)
    os.utime(path, (when, when), follow_symlinks=False)


def _workspace(home: Path, name: str, kb: int = 64) -> Path:
    folder = home / "workspaces" / name / "01-exec"
    folder.mkdir(parents=True)
    (folder / "solution.py").write_bytes(os.urandom(kb * 1024))
    return folder.parent


def _run(home: Path, run_id: str, status: str, days_ago: float) -> Path:
    """A run in the run log with ``status``, last changed ``days_ago``, and its workspace."""
    log = RunLog(home / "runs.db")
    log.create_run(run_id, team="dev-team", task="Write fizzbuzz", spec={})
    log.set_status(run_id, status)
    log.close()
    stamp = (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat()
    with sqlite3.connect(home / "runs.db") as db:  # the clock cannot be turned back: the row is aged instead
        db.execute("UPDATE runs SET updated_at = ?, created_at = ? WHERE run_id = ?", (stamp, stamp, run_id))
    return _workspace(home, run_id)


def gc(*args: str):
    out = CliRunner().invoke(cli, ["gc", *args])
    assert "Traceback" not in out.output
    return out


def test_old_workspaces_go_and_live_runs_keep_theirs(home, temp_dir):
    old_done = _run(home, "run-old-done", "done", 10)
    old_failed = _run(home, "run-old-failed", "failed", 30)
    recent = _run(home, "run-recent", "done", 1)
    waiting = _run(home, "run-waiting", "waiting", 60)  # an approval nobody answered for two months
    running = _run(home, "run-running", "running", 60)  # killed mid-run, or still going: either way resumable
    eval_waiting = _workspace(home, "eval-run-waiting")
    (old_done / "01-exec" / "locked").mkdir()
    (old_done / "01-exec" / "locked" / "f").write_text("x")
    (old_done / "01-exec" / "locked").chmod(0o500)  # code in the sandbox may leave a folder read-only

    out = gc()

    assert out.exit_code == 0, out.output
    assert not old_done.exists() and not old_failed.exists()
    assert recent.exists() and waiting.exists() and running.exists() and eval_waiting.exists()
    assert f"removed {old_done}" in out.output and "run run-old-done done 10.0 days ago" in out.output
    assert f"kept {waiting}  (its run is waiting)" in out.output
    assert f"kept {running}  (its run is running)" in out.output
    freed = [line for line in out.output.splitlines() if line.startswith("freed ")]
    amount, unit = freed[0].split()[1:3]
    assert unit == "kB" and 131 <= float(amount) < 200 and "in 2 folder(s)" in freed[0]  # 2 x 64 KiB and folders

    again = gc("--older-than", "12h")  # a shorter retention reaches the day-old run, never the live ones
    assert again.exit_code == 0 and not recent.exists() and waiting.exists() and running.exists()
    assert RunLog(home / "runs.db").get_run("run-old-done").status == "done"  # the run log itself is kept


def test_dry_run_removes_nothing(home, temp_dir):
    old = _run(home, "run-old", "done", 10)
    scratch = temp_dir / "huddle-check-abc123"
    scratch.mkdir()
    _age(scratch, 1)
    out = gc("--dry-run")
    assert out.exit_code == 0, out.output
    assert old.exists() and scratch.exists()
    assert f"would remove {old}" in out.output and f"would remove {scratch}" in out.output
    assert "would free" in out.output and "in 2 folder(s)" in out.output


def test_temporary_folders_go_once_idle_and_links_are_never_followed(home, temp_dir, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("the user's own file")
    stale = {}
    for prefix in ("huddle-check-", "huddle-probe-", "huddle-team-", "huddle-upload-", "huddle-ray-"):
        folder = temp_dir / f"{prefix}x1y2"
        (folder / ".tmp").mkdir(parents=True)
        (folder / ".tmp" / "out.bin").write_bytes(b"0" * 5000)
        (folder / "escape").symlink_to(precious)  # written by code in the sandbox
        _age(folder, 2)
        stale[prefix] = folder
    busy = temp_dir / "huddle-check-busy"  # a check running right now
    busy.mkdir()
    (busy / "check.py").write_text("pass\n")
    planted = temp_dir / "huddle-probe-planted"  # another user's trick: a link that looks like our folder
    planted.symlink_to(precious)
    other = temp_dir / "pytest-of-someone"
    other.mkdir()
    _age(other, 30)

    out = gc()

    assert out.exit_code == 0, out.output
    assert not any(f.exists() for f in stale.values()), out.output
    assert busy.exists() and planted.is_symlink() and other.exists()
    assert (precious / "keep.txt").read_text() == "the user's own file"  # not reached through either link
    assert out.output.count("temporary folder, unchanged for 2.0 days") == 5


def test_the_retention_setting_is_the_default(home, temp_dir, monkeypatch):
    two_days = _run(home, "run-two-days", "done", 2)
    assert gc().exit_code == 0 and two_days.exists()  # 7 days unless told
    monkeypatch.setenv("HUDDLE_RETENTION_DAYS", "1.5")
    out = gc()
    assert out.exit_code == 0 and not two_days.exists() and "older than 1.5d ($HUDDLE_RETENTION_DAYS)" in out.output


@pytest.mark.parametrize("value", ["a week", "-1", "nan", "inf"])
def test_a_bad_retention_setting_exits_2_naming_it(home, temp_dir, monkeypatch, value):
    keep = _run(home, "run-old", "done", 100)
    monkeypatch.setenv("HUDDLE_RETENTION_DAYS", value)
    out = gc()
    assert out.exit_code == 2 and "$HUDDLE_RETENTION_DAYS=" in out.output and keep.exists()


@pytest.mark.parametrize("value", ["soon", "7x", "-2d", "d"])
def test_a_bad_older_than_exits_2(home, temp_dir, value):
    out = gc("--older-than", value)
    assert out.exit_code == 2 and f"--older-than {value!r}" in out.output


def test_ages():
    assert [parse_age(a) for a in ("90s", "30m", "12h", "7d", "2w", "3", "0.5d")] == \
        [90, 1800, 43200, 7 * DAY, 14 * DAY, 3 * DAY, DAY / 2]


def test_a_workspace_no_run_owns_goes_by_its_files_age(home, temp_dir):
    cli_space = _workspace(home, "cli")  # `huddle sandbox run` writes here; no run in the log
    orphan = _workspace(home, "run-gone-from-the-log")
    _age(orphan, 9)
    out = gc()
    assert out.exit_code == 0 and cli_space.exists() and not orphan.exists()
    assert "no run owns it; unchanged for 9.0 days" in out.output


def test_nothing_to_do_says_so(home, temp_dir):
    out = gc()
    assert out.exit_code == 0 and "freed 0 B in 0 folder(s)" in out.output
