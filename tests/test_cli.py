"""The ``huddle`` command: output formats, exit codes and clear errors for user mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEV_SCRIPT, DEV_TEAM

HUDDLE = str(Path(sys.executable).parent / "huddle")


def huddle(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HUDDLE_HOME": str(home), **env}
    full_env.pop("OPENAI_API_KEY", None)
    return subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=full_env, timeout=120)


def test_run_json_prints_each_message_and_runs_show_repeats_it(home, dev_team_file):
    out = huddle("run", str(dev_team_file), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}", "--json", home=home)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[0]["kind"] == "task" and lines[-1]["kind"] == "final"
    assert {"id", "run_id", "kind", "sender", "topic", "content", "parent_id", "created_at", "usage"} <= set(lines[1])
    assert set(lines[1]["usage"]) >= {"prompt_tokens", "completion_tokens", "cost_usd", "latency_ms"}
    run_id = lines[0]["run_id"]

    shown = huddle("runs", "show", run_id, "--json", home=home)
    assert shown.returncode == 0 and shown.stdout == out.stdout

    listed = huddle("runs", "list", "--json", home=home)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["run_id"] for r in rows] == [run_id]
    assert rows[0]["status"] == "done" and rows[0]["task"] == "Write fizzbuzz" and rows[0]["messages"] == len(lines)


def test_run_readable_output_and_runs_views(home):
    """The example team as shipped: its memory on the bundled MiniLM embedder, offline."""
    out = huddle("run", str(DEV_TEAM), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}", home=home)
    assert out.returncode == 0, out.stderr
    assert "planner · plan" in out.stdout and "critic · review" in out.stdout and "approved" in out.stdout
    assert "def fizzbuzz" in out.stdout
    listed = huddle("runs", "list", home=home)
    assert "dev-team" in listed.stdout and "done" in listed.stdout
    run_id = json.loads(huddle("runs", "list", "--json", home=home).stdout)["run_id"]
    assert run_id[:12] in listed.stdout
    shown = huddle("runs", "show", run_id[:8], home=home)  # a unique prefix is enough
    assert shown.returncode == 0 and "coder · code" in shown.stdout


def test_a_failed_run_exits_1(home, script, dev_team_file):
    model = script({"orchestrator": [json.dumps({"is_request_satisfied": False, "next_speaker": "coder"})]})
    out = huddle("run", str(dev_team_file), "x", "--model", model, home=home)
    assert out.returncode == 1
    assert "no replies for role 'coder'" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.parametrize("args, expected", [
    (["run", "missing.yaml", "task"], "missing.yaml"),
    (["run", str(DEV_TEAM)], "give a TEAM_FILE and a TASK"),
    (["run", str(DEV_TEAM), "task", "--model", "gpt-4o-mini"], "OPENAI_API_KEY"),
    (["run", str(DEV_TEAM), "task", "--model", "scripted:nope.yaml"], "nope.yaml does not exist"),
    (["run", str(DEV_TEAM), "task", "--model", "no-such-provider-model"], "litellm knows no provider"),
    (["run", str(DEV_TEAM), "task", "--model", "local/nothing"], "unknown local model 'nothing'"),
    (["run", "--resume", "feedbeef"], "no run 'feedbeef'"),
    (["runs", "show", "feedbeef"], "no run 'feedbeef'"),
    (["teams", "validate", "missing.yaml"], "missing.yaml"),
])
def test_user_errors_exit_2_with_a_clear_message(args, expected, home):
    out = huddle(*args, home=home)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert expected in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_script_file_is_a_user_error(home, tmp_path, dev_team_file):
    bad = tmp_path / "bad.yaml"
    bad.write_text("coder: [1, 2]\n")
    out = huddle("run", str(dev_team_file), "task", "--model", f"scripted:{bad}", home=home)
    assert out.returncode == 2 and str(bad) in out.stderr and "coder[0]" in out.stderr


def test_help_imports_nothing_heavy():
    code = ("import sys; from studio.cli import app; "
            "heavy = [m for m in ('litellm', 'langgraph', 'llama_cpp', 'torch', 'chromadb', "
            "'sentence_transformers') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"
    assert subprocess.run([HUDDLE, "--help"], capture_output=True, timeout=60).returncode == 0
