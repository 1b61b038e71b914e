"""Batch runs on Ray: a local Ray instance, every result in the driver's run log, provider limits across workers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import _postgres_server
import pytest
from _procs import ctrl_c_as_in_a_terminal
from _replies import approve, code
from conftest import duo_team
from typer.testing import CliRunner

from studio.api import Team
from studio.batch import run_batch, run_job, shutdown_workers
from studio.batch.cluster import RayUnavailable, connect
from studio.batch.limits import ProviderLimiter
from studio.bus.postgres import PostgresRunLog
from studio.cli import app
from studio.eval import EvalTask
from studio.runner import shared_store
from studio.spec import dump_spec, parse_spec
from studio.spec.flow import ProviderLimits

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-only")

HUDDLE = str(Path(sys.executable).parent / "huddle")
GOOD_ADD = "def add(a, b):\n    return a + b"
WRONG_ADD = "def add(a, b):\n    return a - b"


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (starting one takes seconds), shut down at its end."""
    import ray

    connect()
    yield
    shutdown_workers()
    ray.shutdown()


@pytest.fixture
def duo():
    """Coder and critic, no memory, the sandbox on."""
    return duo_team(timeout_s=5)


def slow(reply: str, delay_s: float) -> dict:
    return {"content": reply, "delay_s": delay_s}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- reaching Ray (first: a process connected to Ray already keeps its connection) -----------------------------


def test_an_unreachable_address_is_a_user_error_named_at_once(duo, script, home, tmp_path):
    team_file = tmp_path / "duo.yaml"
    team_file.write_text(dump_spec(duo))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(EvalTask(id="a", prompt="p", entry_point="add", tests=["assert add(1, 1) == 2"])
                     .model_dump_json() + "\n")
    port = _free_port()
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    out = subprocess.run([HUDDLE, "eval", str(team_file), str(tasks), "-m", script({}), "--ray", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    assert f"error: cannot reach Ray at 127.0.0.1:{port}" in out.stderr and "ray start --head" in out.stderr
    assert "Traceback" not in out.stderr
    with pytest.raises(RayUnavailable, match=f"cannot reach Ray at ray://127.0.0.1:{port}"):
        connect(f"ray://127.0.0.1:{port}")
    with pytest.raises(RayUnavailable, match="expected auto, ray://HOST:PORT or HOST:PORT"):
        connect("head node")


# --- runs -----------------------------------------------------------------------------------------------------


def test_every_run_of_a_batch_reaches_the_drivers_run_log(duo, script, home, tmp_path, local_ray, capsys):
    alone = Team.from_spec(duo, home=tmp_path / "alone").run(
        "Write add(a, b).", script({"coder": [code(GOOD_ADD)], "critic": [approve()]}), display=None)
    model = script({"coder": [slow(code(GOOD_ADD), 0.1)] * 4, "critic": [slow(approve(), 0.1)] * 4})
    tasks = [f"Write add(a, b), take {i}." for i in range(4)]

    runs = Team.from_spec(duo, home=home).run_many(tasks, model, workers=2)

    log = shared_store(home)
    assert {info.run_id for info in log.runs()} == {run.run_id for run in runs}
    for run, task in zip(runs, tasks, strict=True):
        info = log.get_run(run.run_id)
        assert (info.team, info.task, info.status, info.model) == ("duo", task, "done", model)
        assert [m.kind for m in log.messages(run.run_id)] == [m.kind for m in alone.messages]
        assert run.messages == log.messages(run.run_id) and run.messages[0].content == task
        assert all(m.run_id == run.run_id for m in run.messages) and run.final.approved
        assert (home / "workspaces" / run.run_id / "01-coder" / "solution.py").read_text().strip() == GOOD_ADD
    # one copy of the script served the batch: each reply was used once, by one run
    assert sum(m.usage.calls for run in runs for m in run.messages) == 8
    err = capsys.readouterr().err
    assert "runs on Ray" in err and "4/4" in err and "done 4 · unsolved 0 · failed 0" in err


postgres_server = _postgres_server.postgres_server  # the session's PostgreSQL server (a fixture)
pg_url = _postgres_server.pg_url  # a schema of the test's own on it (a fixture)


def test_a_batchs_runs_land_in_the_postgres_store(duo, script, home, local_ray, pg_url, monkeypatch):
    monkeypatch.setenv("HUDDLE_STORE_URL", pg_url)
    model = script({"coder": [code(GOOD_ADD)] * 2, "critic": [approve()] * 2})
    runs = Team.from_spec(duo, home=home).run_many(["Write add(a, b).", "Write add(a, b) again."], model, workers=2)
    log = PostgresRunLog(pg_url)  # where any machine reads them
    assert {info.run_id: info.status for info in log.runs()} == {run.run_id: "done" for run in runs}
    assert all(log.messages(run.run_id) == run.messages for run in runs)
    assert not (home / "runs.db").exists()
    log.close()


def test_a_run_that_fails_on_its_worker_is_recorded_failed(duo, script, home, local_ray):
    model = script({"coder": [code(GOOD_ADD)]})  # no reply for the critic: the run fails on its worker
    (run,) = Team.from_spec(duo, home=home).run_many(["Write add(a, b)."], model, progress=False)
    assert run.status == "failed" and "critic" in run.error
    assert shared_store(home).get_run(run.run_id).status == "failed" and run.messages[-1].kind == "error"


def test_workers_read_the_team_memory_as_the_batch_found_it(duo, script, home, local_ray):
    from studio.messages import ToolResult
    from studio.runner import open_team_memory

    roles = [r.model_copy(update={"tools": ["memory_search"]}) if r.name == "coder" else r for r in duo.roles]
    spec = parse_spec({**duo.model_dump(mode="json", by_alias=True), "roles": [r.model_dump() for r in roles],
                       "memory": {"enabled": True, "embedder": {"model": "hash"}}})
    memory = open_team_memory(spec, home)
    fact = memory.remember("add(a, b) must also accept strings and join them.", "knowledge", writer="user",
                           trust="user")
    before = memory.count()
    search = json.dumps({"tool": "memory_search", "query": "what must add accept"})
    model = script({"coder": [search, code(GOOD_ADD)] * 2, "critic": [approve("always check strings")] * 2})

    # one run at a time, so each takes the search and then the code from the shared queue
    runs = Team.from_spec(spec, home=home).run_many(["Write add(a, b).", "Write add(a, b) again."], model,
                                                    progress=False, workers=1, runs_per_worker=1)

    for run in runs:
        assert run.status == "done"
        assert fact in next(m for m in run.messages if isinstance(m, ToolResult)).memory_ids
        assert shared_store(home).get_run(run.run_id).spec["memory"]["path"] is None  # the team's, not a worker's
    assert memory.count() == before  # lessons written on the workers stay there


# --- eval ------------------------------------------------------------------------------------------------------


def test_eval_on_ray_gives_the_sequential_loops_report(duo, script, home, tmp_path, local_ray):
    team_file = tmp_path / "duo.yaml"
    team_file.write_text(dump_spec(duo))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(EvalTask(id=f"add{i}", prompt=f"Write add(a, b) ({i}).", entry_point="add",
                                      tests=["assert add(2, 3) == 5", "assert add(0, 0) == 0"]).model_dump_json() + "\n"
                             for i in range(5)))
    # Runs of a batch take replies in the order they ask, so which task gets the wrong add depends on
    # timing; how many pass does not: team 3 of 4, the single call 2 of 4.
    model = script({"coder": [code(GOOD_ADD)] * 3 + [code(WRONG_ADD)], "critic": [approve()] * 4,
                    "baseline": [code(GOOD_ADD)] * 2 + [code(WRONG_ADD)] * 2})
    args = ["eval", str(team_file), str(tasks), "-m", model, "--baseline", "single-call", "--limit", "4", "--json"]

    here = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "here")])
    on_ray = CliRunner().invoke(app, [*args, "--ray", "--out", str(tmp_path / "ray")])

    assert here.exit_code == 0 and on_ray.exit_code == 0, on_ray.output
    lines = {name: [json.loads(line) for line in out.stdout.splitlines()] for name, out in
             (("here", here), ("ray", on_ray))}
    for name, objects in lines.items():
        *per_task, summary = objects
        assert sorted(o["task"] for o in per_task) == ["add0", "add1", "add2", "add3"], name
        assert (summary["total"], summary["team_passed"], summary["baseline_passed"], summary["ratio"],
                summary["complete"]) == (4, 3, 2, 1.5, True), name
        written = (tmp_path / name / "results.jsonl").read_text().splitlines()
        assert [(o["task"], o["system"]) for o in map(json.loads, written[:-1])] == [
            (f"add{i}", system) for i in range(4) for system in ("team", "single-call")], name  # in task order
        assert (tmp_path / name / "chart.png").stat().st_size > 0
        for obj in per_task:
            for system in ("team", "single-call"):
                assert shared_store(home).get_run(obj[system]["run_id"]).status == "done"
    assert set(lines["here"][-1]) == set(lines["ray"][-1])
    assert len(shared_store(home).runs()) == 16


def test_ctrl_c_stops_an_eval_on_ray_with_what_was_done(duo, script, home, tmp_path):
    team_file = tmp_path / "duo.yaml"
    team_file.write_text(dump_spec(duo))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(EvalTask(id=f"add{i}", prompt=f"Write add(a, b) ({i}).", entry_point="add",
                                      tests=["assert add(2, 3) == 5"]).model_dump_json() + "\n" for i in range(4)))
    # the first run to ask gets a quick reply; the others wait a minute on theirs
    model = script({"coder": [code(GOOD_ADD)] + [slow(code(GOOD_ADD), 60)] * 3, "critic": [approve()] * 4})
    env = {**os.environ, "HUDDLE_HOME": str(home)}
    proc = subprocess.Popen([HUDDLE, "eval", str(team_file), str(tasks), "-m", model, "--ray", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=ctrl_c_as_in_a_terminal)
    first = json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and first["team"]["passed"]
    summary = json.loads(rest)
    assert summary["complete"] is False and summary["total"] == 1
    assert "interrupted after 1 of 4 tasks" in err
    assert shared_store(home).get_run(first["team"]["run_id"]).status == "done"


def test_eval_on_ray_from_python_keeps_task_order(duo, script, home, local_ray):
    from studio.eval import evaluate

    tasks = [EvalTask(id=f"t{i}", prompt=f"Write add(a, b) ({i}).", entry_point="add", tests=["assert add(1, 1) == 2"])
             for i in range(3)]
    model = script({"coder": [code(GOOD_ADD)] * 3, "critic": [approve()] * 3})
    seen = []
    report = evaluate(duo, tasks, model, home=home, on_result=seen.append, ray=True)
    assert [r.task_id for r in report.results] == ["t0", "t1", "t2"] and all(r.passed for r in report.results)
    assert sorted(r.task_id for r in seen) == ["t0", "t1", "t2"] and report.workers


# --- limits ----------------------------------------------------------------------------------------------------


def test_the_limiter_counts_calls_in_flight_and_spaces_starts():
    async def scenario() -> None:
        limiter = ProviderLimiter()
        limiter.set_limits({"openai": ProviderLimits(max_concurrency=1),
                            "anthropic": ProviderLimits(requests_per_minute=1200)})  # a start every 50 ms
        await limiter.acquire("openai")
        second = asyncio.ensure_future(limiter.acquire("openai"))
        await asyncio.sleep(0.1)
        assert not second.done()
        await limiter.release("openai")
        assert await second >= 0.1
        starts = []
        for _ in range(4):
            await limiter.acquire("anthropic")
            starts.append(time.monotonic())
        assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 0.045
        assert limiter.stats() == {"calls": 6, "peak": {"openai": 1, "anthropic": 4}}

    asyncio.run(scenario())



def _held(messages) -> list[tuple[float, float]]:
    """When each model call held its provider slot: it ended as its message was made, after ``latency - queue``."""
    spans = []
    for m in messages:
        if m.usage.calls:
            end = m.created_at.timestamp()
            spans.append((end - timedelta(milliseconds=m.usage.latency_ms - m.usage.queue_ms).total_seconds(), end))
    return spans


def _most_at_once(spans: list[tuple[float, float]], slack: float = 0.05) -> int:
    events = sorted([(start + slack, 1) for start, _ in spans] + [(end - slack, -1) for _, end in spans])
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def test_a_provider_limit_holds_across_workers(duo, script, home, local_ray):
    model = script({"coder": [slow(code(GOOD_ADD), 0.3)] * 8, "critic": [slow(approve(), 0.3)] * 8})
    no_sandbox = duo.model_copy(update={"sandbox": duo.sandbox.model_copy(update={"enabled": False})})
    limited = parse_spec({**no_sandbox.model_dump(mode="json", by_alias=True),
                          "defaults": {"retry_backoff_s": 0, "providers": {"scripted": {"max_concurrency": 1}}}})
    seen = {}
    for name, spec in (("limited", limited), ("free", no_sandbox)):
        batch = run_batch(spec, run_job, [(f"Write add(a, b) ({i}).", model) for i in range(4)], models=[model],
                          home=home / name, workers=2)
        assert len(batch.workers) == 2 and [status for _, status in batch.values] == ["done"] * 4
        log = shared_store(home / name)
        seen[name] = _most_at_once([s for run_id, _ in batch.values for s in _held(log.messages(run_id))])
    assert seen == {"limited": 1, "free": seen["free"]} and seen["free"] >= 2
