"""Live tokens: each model's reply reaches ``on_token`` piece by piece before its message is published, from the
scripted model, the embedded one and a provider, and the CLI, the notebook display and the exported script show it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import litellm
import pytest
from _notebook import fake_display
from conftest import DEV_SCRIPT, ROOT, hashed
from pydantic import BaseModel

from studio import Team
from studio.export import to_script
from studio.llm import CallSettings, Gateway
from studio.llm.role_model import RoleModel
from studio.messages import Error
from studio.runner import RunStopped, run_team
from studio.spec import load_spec

HUDDLE = str(Path(sys.executable).parent / "huddle")
ASK = [{"role": "user", "content": "Say hello to Ada in one sentence."}]
FAST = CallSettings(retries=0, retry_backoff_s=0.0, timeout_s=30)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _recorder():
    """An ``on_token`` and an ``on_message`` that write one list of events, in the order they happen."""
    events: list[tuple] = []
    lock = threading.Lock()

    def token(key: str, piece: str) -> None:
        with lock:
            events.append(("piece", key, piece))

    def message(m) -> None:
        with lock:
            events.append(("message", f"{m.sender}.{m.branch}" if m.branch else m.sender, m))

    return events, token, message


def test_a_scripted_run_streams_each_reply_before_its_message(home, dev_team):
    events, token, message = _recorder()
    gateway = Gateway()
    model = f"scripted:{DEV_SCRIPT}"
    result = run_team(dev_team, "Write fizzbuzz", model=model, home=home, gateway=gateway, on_token=token,
                      on_message=message)
    assert result.status == "done", result.error
    calls = gateway.script(model).calls
    for key in {c.role for c in calls}:  # every piece arrived, in order, for the key that asked
        said = "".join(e[2] for e in events if e[0] == "piece" and e[1] == key)
        assert said == "".join(c.reply or "" for c in calls if c.role == key)
        assert len([e for e in events if e[0] == "piece" and e[1] == key]) > len([c for c in calls if c.role == key])
    # Each message that a model call made comes after that call's pieces: none of its pieces come later.
    for i, (kind, key, m) in enumerate(events):
        if kind == "message" and m.usage.calls:
            assert any(e[0] == "piece" and e[1] == key for e in events[:i]), (key, m.kind)
            pending = [e for e in events[i + 1:] if e[0] == "piece" and e[1] == key]
            later = next((j for j, e in enumerate(events[i + 1:]) if e[0] == "message" and e[1] == key), None)
            assert later is not None or not pending, f"pieces of {key} after its last message"


def test_parallel_branches_stream_under_their_own_keys(home):
    spec = hashed(load_spec(ROOT / "examples" / "teams" / "parallel_team.yaml"))
    events, token, message = _recorder()
    model = f"scripted:{ROOT / 'examples' / 'scripts' / 'parallel_team.yaml'}"
    result = run_team(spec, "Write two helpers", model=model, home=home, on_token=token, on_message=message)
    assert result.status == "done", result.error
    branches = {m.branch for m in result.messages if m.branch and m.usage.calls}
    keys = {e[1] for e in events if e[0] == "piece"}
    assert branches and all(any(k.endswith(f".{b}") for k in keys) for b in branches), (branches, keys)


def test_a_scripted_reply_is_spread_over_its_delay(script):
    model = script({"coder": [{"content": "one two three four five", "delay_s": 0.4}]})
    arrived: list[tuple[float, str]] = []
    started = time.monotonic()
    reply = Gateway().complete(model, ASK, role="coder", settings=FAST,
                               on_token=lambda piece: arrived.append((time.monotonic() - started, piece)))
    assert [p for _, p in arrived] == ["one ", "two ", "three ", "four ", "five"]
    assert reply.text == "one two three four five"
    assert arrived[0][0] < 0.2 < 0.3 < arrived[-1][0]  # the words come over the delay, not all after it


def test_an_exception_from_on_token_stops_the_call_as_it_is(home, dev_team):
    """The studio's Stop raises from a callback: a run stopped while a role speaks fails as ``stopped``."""
    def stop(key: str, piece: str) -> None:
        if key == "coder":
            raise RunStopped("stopped by the user")

    result = run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}", home=home, on_token=stop)
    assert result.status == "failed" and result.error == "stopped by the user"
    assert [m.error_type for m in result.messages if isinstance(m, Error) and m.fatal] == ["stopped"]


class Verdict(BaseModel):
    verdict: str
    feedback: str


def test_a_providers_json_reply_comes_whole_after_one_empty_piece(monkeypatch):
    """Structured output is not streamed (its guarantee holds): ``on_token("")`` says the call started."""
    sent: list[dict] = []
    real = litellm.completion

    def completion(**kwargs):
        sent.append(kwargs)
        return real(**{**kwargs, "mock_response": '{"verdict": "approve", "feedback": "fine"}'})

    monkeypatch.setattr(litellm, "completion", completion)
    pieces: list[str] = []
    reply = Gateway().complete("openai/gpt-4o-mini", ASK, settings=FAST, schema=Verdict, on_token=pieces.append)
    assert pieces == [""] and Verdict.model_validate_json(reply.text).verdict == "approve"
    assert "response_format" in sent[0] and not sent[0].get("stream")
    sent.clear()
    plain = Gateway().complete("openai/gpt-4o-mini", ASK, settings=FAST, on_token=pieces.append)
    assert sent[0]["stream"] is True and len(pieces) > 2 and "".join(pieces[1:]) == plain.text


@pytest.mark.slow
def test_the_embedded_model_streams_plain_and_json_replies():
    said: list[tuple[str, str]] = []
    model = RoleModel(Gateway(), "local/smollm2", "coder", CallSettings(max_tokens=12, temperature=0.0),
                      on_token=lambda key, piece: said.append((key, piece)))
    plain = model(ASK)
    assert len(said) > 1 and {key for key, _ in said} == {"coder"} and "".join(p for _, p in said) == plain.text
    assert plain.usage.prompt_tokens > 0 and 0 < plain.usage.completion_tokens <= 12
    said.clear()
    constrained = model([{"role": "user", "content": "Review: def add(a, b): return a + b"}], schema=Verdict)
    assert len(said) > 1 and "".join(p for _, p in said) == constrained.text
    assert constrained.text.lstrip().startswith("{")  # the grammar held while it streamed


def _huddle(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "HUDDLE_HOME": str(home), "COLUMNS": "100", **env}
    return subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=full, timeout=120)


def test_the_cli_shows_the_speaking_roles_tokens_on_a_terminal(home, dev_team_file):
    out = _huddle("run", str(dev_team_file), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}", home=home,
                  TTY_COMPATIBLE="1")  # rich takes stdout for a terminal
    assert out.returncode == 0, out.stderr
    screen = [line.strip() for line in ANSI.sub("", out.stdout).replace("\r", "\n").splitlines()]
    live = next(i for i, line in enumerate(screen) if re.search(r"planner · \d+ tok · \d+s  \{\"steps\":", line))
    panel = next(i for i, line in enumerate(screen) if "planner · plan" in line)
    assert live < panel  # the tokens showed before the message was printed
    assert any(re.search(r"coder · \d+ tok · \d+s  Here\b", line) for line in screen)


def test_the_cli_prints_nothing_live_off_a_terminal_nor_with_json(home, dev_team_file):
    plain = _huddle("run", str(dev_team_file), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}", home=home)
    assert plain.returncode == 0 and "planner · plan" in plain.stdout
    assert " tok · " not in plain.stdout and "\x1b" not in plain.stdout
    as_json = _huddle("run", str(dev_team_file), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}", "--json",
                      home=home, TTY_COMPATIBLE="1")
    assert as_json.returncode == 0
    assert all(json.loads(line)["kind"] for line in as_json.stdout.splitlines())  # messages only
    assert " tok · " not in as_json.stderr


def test_the_exported_script_prints_each_reply_as_it_streams(tmp_path, dev_team):
    path = tmp_path / "dev_team.py"
    path.write_text(to_script(dev_team))
    env = {**os.environ, "HUDDLE_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, str(path), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}"],
                         capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert '\nplanner > {"steps": [{"id": "s1", ' in "\n" + out.stderr
    assert "coder > Here is a first version, with a test.\n```python\ndef fizzbuzz(n):" in out.stderr
    lines = out.stdout.splitlines()  # the messages whole: the coder's code indented under its first line
    start = lines.index("[coder · code] Here is a first version, with a test.")
    assert lines[start + 1:start + 3] == ["  ```python", "  def fizzbuzz(n):"]
    env["HUDDLE_HOME"] = str(tmp_path / "quiet")  # a fresh memory: the same run again
    quiet = subprocess.run([sys.executable, str(path), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}",
                            "--quiet"], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert quiet.returncode == 0 and "planner >" not in quiet.stderr
    assert [ln[:20] for ln in quiet.stdout.splitlines() if ln[:1] == "["] == [ln[:20] for ln in lines if ln[:1] == "["]


def test_the_notebook_display_shows_the_speaking_role_as_it_streams(home, dev_team):
    display, shown = fake_display()

    pieces: list[tuple[str, str]] = []
    run = Team.from_spec(dev_team, home=home).run("Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}", display=display,
                                                  on_token=lambda key, piece: pieces.append((key, piece)))
    assert run.status == "done" and {key for key, _ in pieces} == {"orchestrator", "planner", "coder", "critic"}
    speaking = next(html for html in shown if "<i>is speaking…</i><pre>Here " in html)
    assert "coder is speaking…" in speaking
    before = speaking.split('<div class="huddle-live">')[0]
    assert "Here is a first version" not in before  # the coder's message is not published yet
    assert "huddle-live" not in shown[-1] and "done" in shown[-1]
