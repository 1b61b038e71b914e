"""A small, read-only MCP server over a SQLite database of notes, written with the official MCP SDK.

It serves the notes of a fictional company (``notes.sql`` next to this file: on-call rotations, phone
extensions, release dates, an internal API's limits) so that ``examples/teams/research_team.yaml`` has a
task it can only solve by calling tools. Three tools, none of which can change anything:

- ``search_notes(query, limit=5)``: the best-matching notes, each with its id, title and a snippet;
- ``read_note(note_id)``: one note in full;
- ``list_tags()``: every tag, with how many notes carry it.

Run it over stdio (what a team file's ``mcp_servers`` entry does)::

    python examples/mcp/notes_server.py                  # the fixture notes
    python examples/mcp/notes_server.py --db my-notes.db # your own database, same tables as notes.sql
    python examples/mcp/notes_server.py --http 8765      # streamable HTTP on 127.0.0.1:8765/mcp

Read-only twice over: the database is opened with SQLite's ``mode=ro`` and ``PRAGMA query_only``, and
every query is a fixed statement with bound parameters, so a query string is only ever data.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

FIXTURE = Path(__file__).with_name("notes.sql")
SNIPPET_CHARS = 160
_STOP_WORDS = frozenset("a an and are at for from in is of on or the to what when which who whom with".split())
_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def build_fixture(folder: Path, sql: Path = FIXTURE) -> Path:
    """Load ``sql`` (plain SQL text) into a new SQLite file in ``folder``; its path."""
    path = folder / "notes.db"
    with sqlite3.connect(path) as db:
        db.executescript(sql.read_text(encoding="utf-8"))
    db.close()
    return path


def open_read_only(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only: any statement that would write fails with ``sqlite3.OperationalError``.

    Raises:
        SystemExit: the file is missing or lacks the ``notes`` and ``note_tags`` tables (exit status 2).
    """
    if not path.is_file():
        raise SystemExit(f"notes_server: no database at {path}")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    db.execute("PRAGMA query_only = ON")
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = {"notes", "note_tags"} - tables
    if missing:
        db.close()
        raise SystemExit(f"notes_server: {path} has no table {', '.join(sorted(missing))}; "
                         f"expected the tables of {FIXTURE.name}")
    return db


def _terms(query: str) -> list[str]:
    words = [w for w in re.findall(r"\w[\w-]*", query.lower()) if len(w) > 1 and w not in _STOP_WORDS]
    return list(dict.fromkeys(words))[:12]  # a long question is cut to its first dozen words


def _snippet(body: str, terms: list[str]) -> str:
    lowered = body.lower()
    hits = [i for i in (lowered.find(t) for t in terms) if i >= 0]
    start = max(0, min(hits, default=0) - 40)
    text = " ".join(body[start:start + SNIPPET_CHARS].split())
    return ("…" if start else "") + text + ("…" if start + SNIPPET_CHARS < len(body) else "")


def make_server(db: sqlite3.Connection) -> MCPServer:
    """The MCP server over ``db``: its three read-only tools."""
    server = MCPServer("notes", instructions="Read-only notes of the Quillmoss company: search them, then read one.",
                       log_level="WARNING")

    @server.tool(annotations=_READ_ONLY, structured_output=False)
    def search_notes(query: str, limit: Annotated[int, Field(ge=1, le=20)] = 5) -> str:
        """Search the notes; the best matches first, each with its id, title and a snippet.

        Args:
            query: words to look for in titles, texts and tags (e.g. "billing on-call March").
            limit: how many notes to return at most.
        """
        terms = _terms(query)
        if not terms:
            return "No search words in the query; give a few words, e.g. 'billing on-call'."
        # One fixed statement: each term is a bound parameter, so the query is only ever data.
        haystack = "lower(n.title || ' ' || n.body || ' ' || coalesce(t.tags, ''))"
        score = " + ".join(f"(instr({haystack}, ?) > 0)" for _ in terms)
        rows = db.execute(
            f"SELECT n.id, n.title, n.body, n.updated, {score} AS score FROM notes n "
            "LEFT JOIN (SELECT note_id, group_concat(tag, ' ') AS tags FROM note_tags GROUP BY note_id) t "
            f"ON t.note_id = n.id WHERE score > 0 ORDER BY score DESC, n.updated DESC, n.id LIMIT ?",
            [*terms, limit]).fetchall()
        if not rows:
            return f"No notes match {query!r}."
        return "\n".join(f"[{nid}] {title} (updated {updated}): {_snippet(body, terms)}"
                         for nid, title, body, updated, _ in rows)

    @server.tool(annotations=_READ_ONLY, structured_output=False)
    def read_note(note_id: int) -> str:
        """Read one note in full: its title, tags, date of last edit and text.

        Args:
            note_id: the note's id, as search_notes shows it in brackets.
        """
        row = db.execute("SELECT title, body, updated FROM notes WHERE id = ?", [note_id]).fetchone()
        if row is None:
            return f"No note has id {note_id}; search_notes shows the ids."
        tags = [t for (t,) in db.execute("SELECT tag FROM note_tags WHERE note_id = ? ORDER BY tag", [note_id])]
        return f"[{note_id}] {row[0]}\ntags: {', '.join(tags) or 'none'}; updated {row[2]}\n\n{row[1]}"

    @server.tool(annotations=_READ_ONLY, structured_output=False)
    def list_tags() -> str:
        """Every tag, with how many notes carry it."""
        rows = db.execute("SELECT tag, count(*) FROM note_tags GROUP BY tag ORDER BY tag").fetchall()
        return ", ".join(f"{tag} ({count})" for tag, count in rows) or "No tags."

    return server


def main(argv: list[str] | None = None) -> None:
    """Serve the notes over stdio (default) or streamable HTTP on loopback."""
    parser = argparse.ArgumentParser(description="A read-only MCP server over a SQLite database of notes.")
    parser.add_argument("--db", type=Path, help="a SQLite file with the tables of notes.sql (default: the fixture)")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT/mcp")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="huddle-notes-") as folder:
        db = open_read_only(args.db if args.db else build_fixture(Path(folder)))
        server = make_server(db)
        try:
            if args.http:
                server.run("streamable-http", host="127.0.0.1", port=args.http)
            else:
                server.run()
        finally:
            db.close()


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exc:
        if isinstance(exc.code, str):  # a user's mistake: the message, exit 2, no traceback
            print(exc.code, file=sys.stderr)
            raise SystemExit(2) from None
        raise
