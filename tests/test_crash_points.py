"""A run killed with SIGKILL at many random points, resumed after each: nothing lost, nothing twice (issue 26).

Each attempt is a real ``huddle run`` (then ``huddle run --resume``) in its own process. Starting Python and
importing Huddle takes seconds, so the processes are forked from one that imported it once (a zygote): a
child is the CLI from ``main()`` on, killed with SIGKILL at a random moment of its run. The same on the SQLite
store and on Postgres (``$HUDDLE_STORE_URL``, a private cluster: ``tests/_postgres_server.py``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import _postgres_server
import pytest
from _replies import approve, code, decide, plan

from studio.bus import open_store

postgres_server = _postgres_server.postgres_server  # the session's PostgreSQL server (a fixture)
KILLS = 22
KINDS = ["task", "decision", "plan", "decision", "code", "execution", "decision", "review", "final"]
"""The dev team's run, its reflections aside: a lesson and an episode before the final. A kill after the final
node wrote the lesson to memory, before its messages were logged, leaves the lesson out when it runs again (memory
already has it): memory is not in the run log's transaction."""

ZYGOTE = textwrap.dedent("""
    import json, os, sys
    import chromadb, litellm  # imported once, here: each takes a second or more
    import studio.cli, studio.cli.app, studio.runner, studio.render, studio.cli._budget
    from studio.cli import main

    for line in sys.stdin:
        argv, out = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 1)
                sys.stdout.reconfigure(line_buffering=True)
                sys.argv = ["huddle", *argv]
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                os._exit(code)
        print(pid, flush=True)
        print(os.waitpid(pid, 0)[1], flush=True)
""")


def _printed(path: Path) -> list[dict]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]


class _Zygote:
    """A process that imported Huddle once and forks a ``huddle`` CLI process on demand."""

    def __init__(self, home: Path, store: str | None):
        env = {**os.environ, "HUDDLE_HOME": str(home), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        if store:
            env["HUDDLE_STORE_URL"] = store
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)

    def run(self, argv: list[str], out: Path, kill_after: float | None) -> bool:
        """Run ``huddle ARGV`` (its stdout to ``out``), SIGKILL it after ``kill_after`` s; whether the kill landed."""
        self.proc.stdin.write(json.dumps([argv, str(out)]) + "\n")
        self.proc.stdin.flush()
        pid = int(self.proc.stdout.readline())
        if kill_after is not None:
            time.sleep(kill_after)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # it had ended already
                pass
        status = int(self.proc.stdout.readline())
        if os.WIFSIGNALED(status):
            assert os.WTERMSIG(status) == signal.SIGKILL
            return True
        assert os.WEXITSTATUS(status) == 0, out.read_text()[-2000:]
        return False

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _logged(home: Path, store: str | None, known: set[str]) -> tuple[str | None, list[str], str | None]:
    """The run not in ``known`` (the one being killed), its logged message ids and its status."""
    log = open_store(home, store)
    try:
        run = next((r for r in log.runs() if r.run_id not in known), None)
        return (run.run_id, [m.id for m in log.messages(run.run_id)], run.status) if run else (None, [], None)
    finally:
        log.close()


@pytest.mark.parametrize("where", ["sqlite", "postgres"])
def test_sigkill_at_random_points_loses_nothing_and_repeats_nothing(where, script, home, tmp_path, dev_team_file,
                                                                     request):
    store = _postgres_server.schema_url(request.getfixturevalue("postgres_server")) if where == "postgres" else None
    delay = 0.08  # every reply takes this long: the kills land inside calls, between them and in the writes

    def model(lesson: str) -> str:  # each run its own lesson (memory keeps a lesson it already has once)
        return script({
            "orchestrator": [{"content": decide(s), "delay_s": delay} for s in ("planner", "coder", "critic")],
            "planner": [{"content": plan("write it"), "delay_s": delay}],
            "coder": [{"content": code("x = 42"), "delay_s": delay}],
            "critic": [{"content": approve(lesson), "delay_s": delay}],
        })

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    zygote = _Zygote(home, store)
    finished: set[str] = set()
    kills = attempts = 0
    try:
        while kills < KILLS:  # runs, each killed at random points until one of its attempts ends it
            printed: list[dict] = []  # what this run's attempts printed: each was published (logged, then shown)
            run_id = None
            while True:
                attempts += 1
                assert attempts < 200, f"no progress (seed {seed})"
                argv = ["run", "--resume", run_id, "--json"] if run_id else \
                    ["run", str(dev_team_file), "answer", "--model", model(f"lesson {len(finished)}"), "--json"]
                out = tmp_path / f"out{attempts}.jsonl"
                kills += zygote.run(argv, out, rng.uniform(0.0, 0.9))
                printed += _printed(out)
                run_id, ids, status = _logged(home, store, finished)
                assert len(ids) == len(set(ids)), f"a message was logged twice (seed {seed})"
                lost = [m["kind"] for m in printed if m["id"] not in ids]
                assert lost == [], f"printed, then gone from the log: {lost} (seed {seed})"
                if status == "done":
                    break
            log = open_store(home, store)
            messages = log.messages(run_id)
            log.close()
            assert [m.kind for m in messages if m.kind != "reflection"] == KINDS, f"seed {seed}"
            assert [m.kind for m in messages[-3:]] in (["reflection", "reflection", "final"],
                                                        ["review", "reflection", "final"]), f"seed {seed}"
            assert messages[-1].approved and messages[-1].code == "x = 42"
            seen = [m["id"] for m in printed]
            assert len(seen) == len(set(seen)), f"a message was delivered twice across resumes (seed {seed})"
            assert set(seen) <= {m.id for m in messages}
            finished.add(run_id)
    finally:
        zygote.close()
    assert kills >= 20 and len(finished) >= 2
    print(f"{where}: {kills} kills in {attempts} attempts over {len(finished)} runs (seed {seed})")
