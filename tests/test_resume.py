"""A run killed with SIGKILL continues with ``huddle run --resume``: nothing lost, nothing twice.

Every test runs on the SQLite store and on Postgres (``$HUDDLE_STORE_URL``, a private cluster); on Postgres the
killed run is resumed from another ``$HUDDLE_HOME``, as another machine would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import _postgres_server
import pytest
from _procs import ctrl_c_as_in_a_terminal
from _replies import approve, code, decide, plan

from studio.bus import RunStore, open_store, store_url

HUDDLE = str(Path(sys.executable).parent / "huddle")
postgres_server = _postgres_server.postgres_server  # the session's PostgreSQL server (a fixture)


@pytest.fixture(autouse=True, params=["sqlite", "postgres"])
def store(request, monkeypatch) -> str | None:
    """The store of this test's runs: SQLite in ``$HUDDLE_HOME``, or a Postgres schema of its own."""
    if request.param == "sqlite":
        monkeypatch.delenv("HUDDLE_STORE_URL", raising=False)
        return None
    url = _postgres_server.schema_url(request.getfixturevalue("postgres_server"))
    monkeypatch.setenv("HUDDLE_STORE_URL", url)  # for this process and the `huddle` processes it starts
    return url


def _log(home: Path) -> RunStore:
    return open_store(home, store_url())


def _script(script):
    return script({
        "orchestrator": [decide("planner"), decide("coder"), decide("critic")],
        "planner": [plan("write it")],
        "coder": [{"content": code("x = 42"), "delay_s": 2.0}],
        "critic": [approve()],
    })


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "HUDDLE_HOME": str(home)}


def _check_complete(home: Path, run_id: str, before_kill: list[dict]) -> None:
    messages = _log(home).messages(run_id)
    ids = [m.id for m in messages]
    assert len(ids) == len(set(ids)), "a message was published twice"
    assert ids[: len(before_kill)] == [m["id"] for m in before_kill], "a message published before the kill was lost"
    assert [m.kind for m in messages] == ["task", "decision", "plan", "decision", "code", "execution", "decision",
                                          "review", "reflection", "reflection", "final"]  # the lesson, the episode
    assert messages[-1].approved and messages[-1].code == "x = 42"
    assert _log(home).get_run(run_id).status == "done"


def test_sigkill_mid_call_then_resume(script, home, dev_team_file, store, tmp_path):
    model = _script(script)
    proc = subprocess.Popen([HUDDLE, "run", str(dev_team_file), "answer", "--model", model, "--json"],
                            stdout=subprocess.PIPE, text=True, env=_env(home), start_new_session=True)
    before: list[dict] = []
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        before.append(json.loads(line))
        if before[-1]["kind"] == "decision" and before[-1]["next_speaker"] == "coder":
            break
        assert time.monotonic() < deadline
    time.sleep(0.5)  # the coder is now inside its 2 s model call
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    run_id = before[0]["run_id"]
    assert _log(home).get_run(run_id).status == "running"

    elsewhere = tmp_path / "another-machine" if store else home  # Postgres: any machine resumes it
    resumed = subprocess.run([HUDDLE, "run", "--resume", run_id, "--json"], capture_output=True, text=True,
                             env=_env(elsewhere), timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "unregistered type" not in resumed.stderr  # our message types are allowed out of checkpoints
    printed = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert [m["kind"] for m in printed] == ["code", "execution", "decision", "review", "reflection", "reflection",
                                              "final"]  # only what is new
    _check_complete(home, run_id, before)


def test_crash_after_publish_before_checkpoint_is_not_replayed(script, home, tmp_path, dev_team_file):
    """The node published its message, then the process died before LangGraph saved the checkpoint."""
    model = _script(script)
    crasher = tmp_path / "crash.py"
    crasher.write_text(textwrap.dedent(f"""
        import os
        from studio.runner import run_team
        from studio.spec import load_spec

        def die_after_code(message):
            if message.kind == "code":
                os._exit(9)

        run_team(load_spec({str(dev_team_file)!r}), "answer", model={model!r}, on_message=die_after_code)
    """))
    crashed = subprocess.run([sys.executable, str(crasher)], env=_env(home), timeout=60)
    assert crashed.returncode == 9
    log = _log(home)
    run = log.runs()[0]
    before = [m.model_dump(mode="json") for m in log.messages(run.run_id)]
    assert before[-1]["kind"] == "code"

    resumed = subprocess.run([HUDDLE, "run", "--resume", run.run_id[:10], "--json"], capture_output=True,
                             text=True, env=_env(home), timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    # The coder is not called again (its one reply is used up; a second call would fail the run).
    printed = [json.loads(line)["kind"] for line in resumed.stdout.splitlines()]
    assert printed == ["execution", "decision", "review", "reflection", "reflection", "final"]
    _check_complete(home, run.run_id, before)


def test_resume_of_a_finished_run_changes_nothing(script, home, dev_team_file):
    done = subprocess.run([HUDDLE, "run", str(dev_team_file), "answer", "--model", _script(script), "--json"],
                          capture_output=True, text=True, env=_env(home), timeout=60)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout.splitlines()[0])["run_id"]
    again = subprocess.run([HUDDLE, "run", "--resume", run_id, "--json"], capture_output=True, text=True,
                           env=_env(home), timeout=60)
    assert again.returncode == 0 and again.stdout == ""
    assert len(_log(home).messages(run_id)) == 11


def test_ctrl_c_says_how_to_resume(script, home, dev_team_file):
    proc = subprocess.Popen([HUDDLE, "run", str(dev_team_file), "answer", "--model", _script(script), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(home),
                            preexec_fn=ctrl_c_as_in_a_terminal)
    for line in proc.stdout:
        message = json.loads(line)
        if message["kind"] == "decision" and message["next_speaker"] == "coder":
            break
    time.sleep(0.5)  # inside the coder's 2 s call
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    run_id = _log(home).runs()[0].run_id
    assert f"huddle run --resume {run_id}" in err and "Traceback" not in err
    resumed = subprocess.run([HUDDLE, "run", "--resume", run_id, "--json"], capture_output=True, text=True,
                             env=_env(home), timeout=60)
    assert resumed.returncode == 0 and json.loads(resumed.stdout.splitlines()[-1])["kind"] == "final"
