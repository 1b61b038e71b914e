"""Secrets kept out of every store (issue 18, item 4): the run log, the checkpoints, the memory, the CLI's views
of runs, and exports; a team file can neither carry a secret nor send the user's provider key elsewhere."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import _redis_server
import pytest
from _replies import decide, plan

from studio.llm import Gateway
from studio.runner import open_team_memory, run_team

HUDDLE = str(Path(sys.executable).parent / "huddle")
ENV_KEY = "sk-proj-EnvKey0123456789abcdefXYZ"  # $OPENAI_API_KEY
DB_PASSWORD = "dbPassw0rd-4242"  # inside $DATABASE_URL
TASK_KEY = "ghp_TaskKey0123456789abcdefghijklmnopqr"  # a GitHub token pasted into the task
TASK_URL_PASSWORD = "cachePw-98765"  # redis://:PASSWORD@... in the task
TASK_ASSIGNED = "hunter2-sw0rdfish"  # password=... in the task
MODEL_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtb2RlbC13cm90ZS1pdCJ9.c2lnbmF0dXJlLXBhcnQtMTIz"  # a model wrote it
SECRETS = (ENV_KEY, DB_PASSWORD, TASK_KEY, TASK_URL_PASSWORD, TASK_ASSIGNED, MODEL_JWT)
TASK = (f"Write fizzbuzz. Our CI token is {TASK_KEY}, the cache is redis://:{TASK_URL_PASSWORD}@cache:6379/0, "
        f"the database postgresql://app:{DB_PASSWORD}@db.internal/prod with password={TASK_ASSIGNED}; the "
        f"OpenAI key is {ENV_KEY}.")
CODE = ('def fizzbuzz(n):\n    return "Fizz" * (n % 3 == 0) + "Buzz" * (n % 5 == 0) or str(n)\n\n\n'
        'def test_fizzbuzz():\n    assert fizzbuzz(15) == "FizzBuzz" and fizzbuzz(7) == "7"\n')


def _leaks(data: bytes | str) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [s for s in SECRETS if s in text]


def _files(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _huddle(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert out.returncode == 0, out.stderr
    return out


def test_no_secret_from_the_environment_or_the_task_is_stored_or_printed(dev_team, dev_team_file, script, home,
                                                                          tmp_path, monkeypatch):
    """The issue's test: the scripted dev team with memory on, secrets in the environment and in the task, and a
    model that echoes them back; then the raw bytes of every store and every view of the run."""
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://app:{DB_PASSWORD}@db.internal/prod")
    model = script({
        "orchestrator": [decide("planner"), decide("coder"), decide("critic")],
        "planner": [plan(f"Connect with token {TASK_KEY} to redis://:{TASK_URL_PASSWORD}@cache:6379/0",
                         f"Sign requests with Bearer {MODEL_JWT}")],
        "coder": [f"Connecting to postgresql://app:{DB_PASSWORD}@db.internal/prod as the task says.\n"
                  f"```python\n{CODE}```\n"],
        "critic": [json.dumps({"verdict": "approve", "feedback": f"Fine; never print {ENV_KEY}.",
                               "lessons": [f"Keep keys like {TASK_KEY} out of code, use password={TASK_ASSIGNED}"]})],
    })
    gateway = Gateway()
    result = run_team(dev_team, TASK, model=model, gateway=gateway)
    assert result.status == "done" and result.final.approved
    # Nor did the model see the task's: it was redacted when the run started (later prompts quote the replies).
    first = json.dumps(gateway.script(model).calls[0].messages)
    assert _leaks(first) == [] and "Our CI token is [redacted key]" in first
    assert open_team_memory(dev_team).count()["episodes"] >= 1  # memory was written

    # the checkpoints live in runs.db, beside the messages they refer to (studio.bus.checkpoints)
    assert not list(home.glob("checkpoints.db*"))
    db = sqlite3.connect(home / "runs.db")
    assert db.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] > 0
    db.close()
    stores = {"runs.db": home.glob("runs.db*")}
    for name, paths in stores.items():
        raw = b"".join(p.read_bytes() for p in paths)
        assert raw, name
        assert _leaks(raw) == [], name
        assert b"[redacted" in raw, name  # the text is there, redacted: the bytes were the right ones
    memory = _files(home / "memory")
    assert memory and _leaks(memory) == [] and b"[redacted" in memory

    views = [_huddle("runs", "show", result.run_id).stdout, _huddle("runs", "show", result.run_id, "--json").stdout,
             _huddle("runs", "list").stdout, _huddle("runs", "list", "--json").stdout]
    assert all(views) and _leaks("".join(views)) == []
    assert json.loads(views[3])["task"].startswith("Write fizzbuzz. Our CI token is [redacted key]")
    for target in ("team.py", "team.ipynb", "team.yaml"):
        _huddle("export", str(dev_team_file), "-o", str(tmp_path / target))
        assert _leaks((tmp_path / target).read_bytes()) == []


def test_runs_stored_before_the_redactor_are_redacted_when_shown(home, monkeypatch):
    """A run log written by an older Huddle (secrets stored raw) prints none in `runs show` / `runs list`."""
    import sqlite3

    from studio.bus.sqlite import RunLog
    from studio.messages import Task

    log = RunLog(home / "runs.db")
    log.create_run("old1", team="t", task="placeholder", spec={})
    log.append([Task(run_id="old1", sender="user", content="placeholder")])
    raw = sqlite3.connect(home / "runs.db")
    with raw:  # what an older version wrote: the task and its message verbatim
        raw.execute("UPDATE runs SET task = ?, error = ?", (TASK, f"auth failed for {ENV_KEY}"))
        body = json.loads(raw.execute("SELECT body FROM messages").fetchone()[0])
        raw.execute("UPDATE messages SET body = ?", (json.dumps({**body, "content": TASK}),))
    raw.close()
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    views = [_huddle("runs", "show", "old1").stdout, _huddle("runs", "show", "old1", "--json").stdout,
             _huddle("runs", "list", "--json").stdout, _huddle("runs", "list").stdout]
    assert "placeholder" not in "".join(views) and "Write fizzbuzz" in views[0]
    assert _leaks("".join(views)) == []


def test_secrets_in_memory_metadata_are_redacted(tmp_path):
    """An item's source and extras (a lesson's task, say) are redacted like its text."""
    from memory.embedder import get_embedder
    from memory.items import MemoryItem
    from memory.store import VectorMemory

    mem = VectorMemory("m", embedder=get_embedder("hash"), path=tmp_path / "mem")
    mem.add([MemoryItem("How to deploy the service", "knowledge", source=f"https://u:{DB_PASSWORD}@wiki/deploy",
                        extra={"task": TASK, "locator": "page 1"})])
    (hit,) = mem.search("deploy", k=1)
    assert _leaks(json.dumps(hit.metadata)) == [] and hit.metadata["locator"] == "page 1"
    assert hit.source == "https://u:[redacted]@wiki/deploy"
    assert _leaks(_files(tmp_path / "mem")) == []


def test_checkpoints_redact_parallel_branch_inputs(tmp_path):
    """Graph state reaches the checkpoints through the serialiser: messages, ``Send`` inputs of parallel branches
    and approval texts are redacted there, and load back as the same message types."""
    from langgraph.types import Interrupt, Send

    from studio._checkpoint_serde import RedactingSerializer
    from studio.messages import Code, PlanStep, Task, Usage

    serde = RedactingSerializer(allowed_msgpack_modules=[Task, Code, PlanStep, Usage])
    task = Task(run_id="r", sender="user", content=f"use {TASK_KEY}")
    state = {"channel_values": {"transcript": [task, Code(run_id="r", sender="coder", code=f"KEY = '{ENV_KEY}'")],
                                "__pregel_tasks": [Send("coder", {"transcript": [task], "branch": "s1"})]},
             "pending": Interrupt({"point": "after_plan", "text": f"Bearer {MODEL_JWT}"}, id="i1")}
    dumped = serde.dumps_typed(state)
    assert _leaks(dumped[1]) == [] and b"[redacted key]" in dumped[1]
    back = serde.loads_typed(dumped)
    assert back["channel_values"]["transcript"][0].id == task.id  # ids kept: a resume still matches its log
    assert back["channel_values"]["transcript"][0].content == "use [redacted key]"


redis_url = _redis_server.redis_url  # the session's redis-server (a fixture)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_both_bus_backends_store_and_deliver_messages_redacted(backend, request, tmp_path, monkeypatch):
    """Publishing is a write point: on SQLite and on Redis Streams the stored bytes, the run index and what
    subscribers receive are redacted, whoever published (a role, a tool, a surface)."""
    from studio.bus import Bus
    from studio.bus.redis import RedisRunLog
    from studio.bus.sqlite import RunLog
    from studio.messages import Code, Task

    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    if backend == "sqlite":
        log = RunLog(tmp_path / "runs.db")
    else:
        log = RedisRunLog(f"{request.getfixturevalue('redis_url')}?namespace=s-{tmp_path.name[-12:]}")
    seen = []
    bus = Bus(log)
    bus.subscribe("*", seen.append)
    log.create_run("r1", team="t", task=TASK, spec={"description": f"pasted {ENV_KEY}"})
    bus.publish_many([Task(run_id="r1", sender="user", content=TASK),
                      Code(run_id="r1", sender="coder", content=f"Bearer {MODEL_JWT}", code=f"K = '{TASK_KEY}'")])
    log.set_status("r1", "failed", f"auth failed for {ENV_KEY}")
    info = log.get_run("r1")
    stored = [m.model_dump_json() for m in log.messages("r1")]
    assert len(stored) == 2 and "[redacted" in stored[0]
    shown = json.dumps([info.task, info.error, info.spec, stored, [m.model_dump_json() for m in seen]])
    assert _leaks(shown) == []
    if backend == "sqlite":
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("runs.db*"))
    else:
        import redis

        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        read = {b"hash": client.hgetall, b"stream": client.xrange, b"set": client.smembers,
                b"zset": lambda k: client.zrange(k, 0, -1), b"string": client.get}
        raw = repr([read[client.type(key)](key) for key in client.scan_iter(f"s-{tmp_path.name[-12:]}:*")])
    assert "[redacted" in str(raw) and _leaks(raw) == []
    log.close()


def test_checkpoints_redact_each_message_once_but_notice_a_new_secret(monkeypatch):
    """The serialiser remembers messages it redacted (a checkpoint holds the whole transcript at every step);
    a secret set in the environment later is still redacted from them."""
    from studio._checkpoint_serde import RedactingSerializer
    from studio.messages import Task

    serde = RedactingSerializer(allowed_msgpack_modules=[Task])
    task = Task(run_id="r", sender="user", content="deploy with plainvalue-0042")
    assert b"plainvalue-0042" in serde.dumps_typed({"transcript": [task]})[1]
    monkeypatch.setenv("DEPLOY_TOKEN", "plainvalue-0042")
    dumped = serde.dumps_typed({"transcript": [task]})[1]
    assert b"plainvalue-0042" not in dumped and b"[redacted DEPLOY_TOKEN]" in dumped
