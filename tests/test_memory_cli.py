"""``huddle memory ingest|search|list|forget``, each in its own process against the same store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DEV_SCRIPT

HUDDLE = str(Path(sys.executable).parent / "huddle")


def huddle(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HUDDLE_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=env, timeout=180)


@pytest.fixture
def docs(tmp_path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "dates.md").write_text("# Dates\n\nStore every timestamp in UTC; convert when displaying.\n")
    (root / "http.txt").write_text("Retry HTTP requests that fail with 503, with exponential back-off.\n")
    (root / "image.png").write_bytes(b"\x89PNG\r\n")
    return root


def _lines(out: subprocess.CompletedProcess) -> list[dict]:
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_ingest_search_list_forget_round_trip(docs, home, dev_team_file):
    team = ["--team", str(dev_team_file)]
    out = huddle("memory", "ingest", str(docs), *team, home=home)
    assert out.returncode == 0, out.stderr
    assert "files read" in out.stdout and "2 new" in out.stdout
    assert "image.png" in out.stdout and "unsupported file type .png" in out.stdout

    again = _lines(huddle("memory", "ingest", str(docs), *team, "--json", home=home))[0]
    assert again["added"] == 0 and again["duplicates"] == 2 and again["namespace"] == "dev-team"

    hits = _lines(huddle("memory", "search", "which timezone for a timestamp", "-k", "1", *team, "--json", home=home))
    assert len(hits) == 1 and {"id", "collection", "score", "source", "text"} <= set(hits[0])
    assert hits[0]["source"].endswith("dates.md") and hits[0]["trust"] == "external" and 0 < hits[0]["score"] <= 1

    shown = huddle("memory", "search", "timestamps UTC", *team, home=home)
    assert hits[0]["id"] in shown.stdout and "dates.md" in shown.stdout and "user · external" in shown.stdout

    listed = _lines(huddle("memory", "list", "-c", "knowledge", *team, "--json", home=home))
    assert len(listed) == 2
    assert "2 knowledge, 0 episodes, 0 reflections" in huddle("memory", "list", *team, home=home).stdout

    gone = huddle("memory", "forget", hits[0]["id"][:8], *team, home=home)
    assert gone.returncode == 0 and "forgot 1 item(s)" in gone.stdout
    gone = huddle("memory", "forget", "--source", str(docs / "http.txt"), *team, home=home)
    assert "forgot 1 item(s)" in gone.stdout
    assert _lines(huddle("memory", "list", *team, "--json", home=home)) == []


def test_runs_show_lists_the_memory_behind_each_message(home, dev_team_file):
    outs = [huddle("run", str(dev_team_file), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}", home=home)
            for _ in range(2)]
    assert [out.returncode for out in outs] == [0, 0], [out.stderr for out in outs]
    assert "critic · reflection" in outs[0].stdout and "lesson → reflections r-" in outs[0].stdout
    assert "lesson → reflections" not in outs[1].stdout  # run 2 was shown run 1's lesson: a repeat is not stored
    runs = _lines(huddle("runs", "list", "--json", home=home))
    shown = huddle("runs", "show", runs[0]["run_id"], home=home)
    assert "memory used: r-" in shown.stdout  # run 2 retrieved run 1's lesson
    run1 = runs[1]["run_id"]
    gone = huddle("memory", "forget", "--run", run1, "--team", str(dev_team_file), home=home)
    assert gone.returncode == 0 and "forgot 2 item(s)" in gone.stdout  # its lesson and its episode


@pytest.mark.parametrize("args, expected", [
    (["memory", "search", "x", "-c", "notes"], "--collection 'notes': expected one of"),
    (["memory", "forget"], "give exactly one of"),
    (["memory", "forget", "k-1", "--run", "r"], "got ID, --run"),
    (["memory", "ingest", "/no/such/dir"], "/no/such/dir: no such file or folder"),
    (["memory", "list", "--team", "missing.yaml"], "missing.yaml"),
    (["memory", "ingest", "x", "--chunk-size", "200", "--overlap", "300"], "--overlap (300) must be smaller"),
])
def test_user_errors_exit_2(args, expected, home):
    out = huddle(*args, home=home)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert expected in out.stderr and "Traceback" not in out.stderr


def test_forget_of_nothing_exits_1(home, dev_team_file):
    out = huddle("memory", "forget", "k-0000", "--team", str(dev_team_file), home=home)
    assert out.returncode == 1 and "nothing in dev-team's memory matched" in out.stderr


def test_an_unreachable_server_exits_2(home, tmp_path, dev_team):
    data = dev_team.model_dump(mode="json", by_alias=True)
    data["memory"]["url"] = "http://127.0.0.1:9"
    team = tmp_path / "remote.yaml"
    team.write_text(yaml.safe_dump(data))
    out = huddle("memory", "list", "--team", str(team), home=home)
    assert out.returncode == 2 and "cannot open the Chroma server at http://127.0.0.1:9" in out.stderr


def test_shared_memory_on_a_chroma_server(home, tmp_path, docs, dev_team, chroma_server):
    data = dev_team.model_dump(mode="json", by_alias=True)
    data["memory"]["url"] = chroma_server
    data["memory"]["namespace"] = "cli-server"
    team = tmp_path / "remote.yaml"
    team.write_text(yaml.safe_dump(data))
    assert huddle("memory", "ingest", str(docs), "--team", str(team), home=home).returncode == 0
    other_home = tmp_path / "elsewhere"  # another machine, as far as Huddle can tell
    hits = _lines(huddle("memory", "search", "retry on 503", "--team", str(team), "--json", home=other_home))
    assert hits[0]["source"].endswith("http.txt")


@pytest.mark.slow
def test_default_namespace_on_the_bundled_minilm_model(home, docs):
    """No --team: the 'default' namespace with the real all-MiniLM-L6-v2 embedder, offline."""
    assert huddle("memory", "ingest", str(docs), home=home).returncode == 0
    hits = _lines(huddle("memory", "search", "what time zone should I save dates in", "--json", home=home))
    assert hits[0]["source"].endswith("dates.md")  # no shared words with the query: meaning, not spelling


def test_an_empty_default_namespace_names_the_team_flag(home, docs, dev_team_file):
    """Without --team, a search or list of the empty 'default' namespace says why on stderr; stdout stays clean."""
    assert huddle("memory", "ingest", str(docs), "--team", str(dev_team_file), home=home).returncode == 0
    for args in (["search", "timestamps UTC", "--json"], ["list", "--json"]):
        out = huddle("memory", *args, home=home)
        assert out.returncode == 0 and out.stdout == "", out.stderr
        assert "the 'default' namespace, which is empty here" in out.stderr and "--team FILE" in out.stderr
    found = huddle("memory", "search", "timestamps UTC", "--team", str(dev_team_file), home=home)
    assert found.returncode == 0 and "dates.md" in found.stdout and "hint" not in found.stderr


def test_teams_validate_shows_memory_settings_and_scopes(home, tmp_path):
    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump({
        "name": "t", "memory": {"namespace": "shared", "top_k": 2},
        "roles": [{"name": "c", "kind": "coder", "tools": ["memory_search"], "memory": {"read": ["reflections"]}},
                  {"name": "k", "kind": "critic", "memory": {"write": []}}]}))
    out = huddle("teams", "validate", str(team), home=home)
    assert out.returncode == 0, out.stderr
    assert "memory: namespace 'shared'" in out.stdout and "top 2 per prompt" in out.stdout
    assert "c: reads reflections; writes nothing; tools memory_search" in out.stdout
    assert "k: reads knowledge, reflections; writes nothing" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "t", "roles": [{"name": "c", "kind": "coder", "tools": ["web"],
                                                           "memory": {"read": ["notes"]}}]}))
    out = huddle("teams", "validate", str(bad), home=home)
    assert out.returncode == 2
    assert "roles[0].tools[0]: unknown tool 'web'; a role's tools are memory_search" in out.stderr
    assert "roles[0].memory.read[0]: expected 'knowledge', 'episodes' or 'reflections'" in out.stderr


def test_approve_makes_a_tainted_lesson_trusted_and_refuses_anything_else(tmp_path, home):
    """`huddle memory approve` is the person's path for lessons the team wrote after seeing untrusted data."""
    from memory.team import open_memory
    from studio.spec import load_spec

    team = tmp_path / "team.yaml"
    spec = yaml.safe_load(Path("examples/teams/dev_team.yaml").read_text())
    spec["memory"] = {"embedder": {"model": "hash"}}
    team.write_text(yaml.safe_dump(spec))
    loaded = load_spec(team)
    memory = open_memory(loaded.memory, loaded.memory_namespace(), home)
    tainted = memory.remember("Check empty lists before indexing.", "reflections", writer="critic", trust="agent",
                              tainted_by=("k-0123",))
    clean = memory.remember("Handle negative numbers first.", "reflections", writer="critic", trust="agent")
    assert memory.get([tainted])[0].trust == "external"

    refused = huddle("memory", "approve", clean, "--team", str(team), home=home)
    assert refused.returncode == 2 and "only stored lessons that were written after" in refused.stderr
    assert "Traceback" not in refused.stderr
    done = huddle("memory", "approve", tainted, "--team", str(team), home=home)
    assert done.returncode == 0, done.stderr
    assert "approved 1 lesson(s)" in done.stdout and tainted in done.stdout
    reopened = open_memory(loaded.memory, loaded.memory_namespace(), home)
    assert reopened.get([tainted])[0].trust == "user"
