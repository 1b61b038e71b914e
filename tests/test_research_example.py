"""The research example: its notes MCP server (driven by the SDK's own client) and its team, run end to end."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "examples" / "mcp" / "notes_server.py"
TEAM = ROOT / "examples" / "teams" / "research_team.yaml"
SCRIPT = ROOT / "examples" / "scripts" / "research_team.yaml"
HUDDLE = str(Path(sys.executable).parent / "huddle")
TASK = ("Who is on call for the billing service in the week of 2026-03-09, and what is their escalation "
        "phone extension?")
ON_CALL = "Keziah Lindqvist-Baptiste"  # only in the notes: a swap moved her onto that week

sys.path.insert(0, str(SERVER.parent))
import notes_server  # noqa: E402  # the example is a script, not a package


def with_server(steps, *args: str) -> Any:
    """Start the notes server over stdio with ``args``, run ``steps(client)`` and return what it returns."""
    async def main() -> Any:
        params = StdioServerParameters(command=sys.executable, args=[str(SERVER), *args], cwd=str(ROOT))
        async with Client(params, read_timeout_seconds=30) as client:
            return await steps(client)

    return asyncio.run(main())


async def text_of(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    result = await client.call_tool(tool, arguments)
    return not result.is_error, "\n".join(getattr(part, "text", "") for part in result.content)


def test_the_server_lists_three_read_only_tools_and_answers_from_the_notes():
    async def steps(client: Client):
        listed = (await client.list_tools()).tools
        found = await text_of(client, "search_notes", {"query": "billing on-call March"})
        note = await text_of(client, "read_note", {"note_id": 4})
        tags = await text_of(client, "list_tags", {})
        missing = await text_of(client, "read_note", {"note_id": 999})
        return listed, found, note, tags, missing

    listed, found, note, tags, missing = with_server(steps)
    assert sorted(t.name for t in listed) == ["list_tags", "read_note", "search_notes"]
    assert all(t.annotations and t.annotations.read_only_hint for t in listed)
    schema = next(t for t in listed if t.name == "search_notes").input_schema
    assert schema["required"] == ["query"] and schema["properties"]["limit"]["maximum"] == 20
    ok, text = found
    assert ok and text.startswith("[4] Billing on-call rotation, March 2026")
    assert len(text.splitlines()) <= 5
    ok, text = note
    assert ok and f"week of 2026-03-09: primary {ON_CALL} (escalation ext. 7526)" in text
    assert "tags: billing, oncall" in text
    assert tags[0] and "oncall (4)" in tags[1] and "billing (4)" in tags[1]
    assert missing == (True, "No note has id 999; search_notes shows the ids.")


def test_a_query_is_data_and_nothing_can_write(tmp_path):
    """An injection in ``query`` finds nothing and drops nothing; a write tool does not exist; the file is unchanged."""
    db = notes_server.build_fixture(tmp_path)
    before = db.read_bytes()

    async def steps(client: Client):
        injected = await text_of(client, "search_notes", {"query": "zq'); DROP TABLE note_tags; --"})
        quoted = await text_of(client, "search_notes", {"query": "' OR 1=1 --", "limit": 20})
        write = await text_of(client, "delete_note", {"note_id": 4})
        bad = await text_of(client, "read_note", {"note_id": "4; DELETE FROM notes"})
        after = await text_of(client, "read_note", {"note_id": 4})
        tags = await text_of(client, "list_tags", {})
        return injected, quoted, write, bad, after, tags

    injected, quoted, write, bad, after, tags = with_server(steps, "--db", str(db))
    assert injected == (True, "No notes match \"zq'); DROP TABLE note_tags; --\".")
    assert quoted == (True, "No search words in the query; give a few words, e.g. 'billing on-call'.")
    assert not write[0] and "delete_note" in write[1]
    assert not bad[0] and "note_id" in bad[1]
    assert after[0] and ON_CALL in after[1] and "oncall (4)" in tags[1]
    assert db.read_bytes() == before
    ro = notes_server.open_read_only(db)
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        ro.execute("DELETE FROM notes")
    ro.close()


def test_a_database_without_the_notes_tables_is_refused_with_exit_2(tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    out = subprocess.run([sys.executable, str(SERVER), "--db", str(other)], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    assert "has no table note_tags, notes" in out.stderr and "Traceback" not in out.stderr


def huddle(*args: str, home: Path) -> subprocess.CompletedProcess:
    """``huddle`` from the repository root (where the team file's server path resolves), with this Python first."""
    env = {**os.environ, "HUDDLE_HOME": str(home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run([HUDDLE, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)


def test_the_example_team_file_validates(home):
    out = huddle("teams", "validate", str(TEAM), home=home)
    assert out.returncode == 0, out.stderr
    assert "notes: stdio python examples/mcp/notes_server.py" in out.stdout
    assert "researcher: mcp notes (search_notes, read_note)" in out.stdout


def test_the_research_team_finds_the_answer_only_the_notes_hold(home):
    assert ON_CALL not in TASK and ON_CALL not in TEAM.read_text(encoding="utf-8")
    out = huddle("run", str(TEAM), TASK, "--model", f"scripted:{SCRIPT}", "--json", home=home)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    run_id = json.loads(out.stdout.splitlines()[0])["run_id"]
    shown = huddle("runs", "show", run_id, "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    log = [json.loads(line) for line in shown.stdout.splitlines()]
    calls = [(m["sender"], m["tool"], m["arguments"]) for m in log if m["kind"] == "tool_call"]
    assert calls == [("researcher", "search_notes", {"query": "billing on-call rotation March 2026"}),
                     ("researcher", "read_note", {"note_id": 4}), ("checker", "read_note", {"note_id": 4})]
    results = [m for m in log if m["kind"] == "tool_result"]
    assert [(m["tool"], m["ok"]) for m in results] == [("search_notes", True), ("read_note", True),
                                                       ("read_note", True)]
    assert results[0]["content"].startswith("[4] Billing on-call rotation, March 2026")
    assert f"primary {ON_CALL} (escalation ext. 7526)" in results[1]["content"]  # from the server, not the script
    final = log[-1]
    assert final["kind"] == "final" and final["approved"]
    assert ON_CALL in final["content"] and "7526" in final["content"]
