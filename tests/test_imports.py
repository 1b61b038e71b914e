"""The light commands never import the heavy libraries: each runs in a fresh process, which then lists them.

torch (with sentence-transformers and transformers), litellm, chromadb and
langgraph each take seconds to import on a small machine. ``--help``, the run
log, team files and exports need none of them; a scripted run with memory off
needs only langgraph; a memory search with the bundled MiniLM needs chromadb,
never torch. This checks which modules were imported, not how long it took
(``benchmarks/bench_cli.py`` times it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DEV_SCRIPT, DEV_TEAM

HEAVY = ("torch", "sentence_transformers", "transformers", "litellm", "chromadb", "langgraph")

_PROBE = """
import json, sys
args, out, heavy = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
sys.argv = ["huddle", *args]
from studio.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
with open(out, "w") as f:
    json.dump({"code": code, "loaded": sorted(m for m in heavy if m in sys.modules)}, f)
"""


def huddle(*args: str, home: Path, tmp_path: Path) -> tuple[int, set[str], str]:
    """Run ``huddle ARGS`` in a fresh interpreter: its exit code, the heavy modules it imported, its output."""
    out = tmp_path / "probe.json"
    env = {**os.environ, "HUDDLE_HOME": str(home), "COLUMNS": "120"}
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args)), str(out), json.dumps(HEAVY)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert out.exists(), done.stderr
    result = json.loads(out.read_text())
    return result["code"], set(result["loaded"]), done.stdout


@pytest.fixture
def quiet_team(tmp_path) -> Path:
    """The example dev team with memory off (its sandbox on, as it ships)."""
    data = yaml.safe_load(DEV_TEAM.read_text())
    path = tmp_path / "dev_team_off.yaml"
    path.write_text(yaml.safe_dump({**data, "memory": {"enabled": False}}, sort_keys=False))
    return path


@pytest.mark.parametrize("args", [
    ["--help"], ["--version"], ["runs", "--help"], ["memory", "--help"], ["runs", "list"], ["runs", "list", "--json"],
    ["teams", "validate", str(DEV_TEAM)], ["export", str(DEV_TEAM), "--to", "script"],
    ["export", str(DEV_TEAM), "--to", "yaml"],
], ids=lambda args: " ".join(a if "/" not in a else Path(a).name for a in args))
def test_commands_that_read_files_or_the_run_log_import_nothing_heavy(args, home, tmp_path):
    code, loaded, _ = huddle(*args, home=home, tmp_path=tmp_path)
    assert code == 0 and loaded == set()


def test_a_scripted_run_with_memory_off_imports_neither_torch_nor_litellm_nor_chromadb(quiet_team, home, tmp_path):
    code, loaded, _ = huddle("run", str(quiet_team), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}",
                             home=home, tmp_path=tmp_path)
    assert code == 0 and loaded == {"langgraph"}  # the graph: all a scripted run needs
    code, loaded, listed = huddle("runs", "list", "--json", home=home, tmp_path=tmp_path)
    assert code == 0 and loaded == set()
    run_id = json.loads(listed.splitlines()[0])["run_id"]
    for show in (["runs", "show", run_id], ["runs", "show", run_id, "--json"], ["runs", "list"]):
        code, loaded, _ = huddle(*show, home=home, tmp_path=tmp_path)
        assert code == 0 and loaded == set()


def test_a_scripted_run_on_the_hash_embedder_never_imports_torch(dev_team_file, home, tmp_path):
    code, loaded, _ = huddle("run", str(dev_team_file), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}",
                             home=home, tmp_path=tmp_path)
    assert code == 0 and loaded == {"langgraph", "chromadb"}


def test_memory_ingest_and_search_with_the_bundled_minilm_never_import_torch(home, tmp_path):
    """A few texts (a query, a small file's chunk) take the numpy path: MiniLM's vectors, no torch."""
    notes = tmp_path / "dates.md"
    notes.write_text("# Dates\n\nStore every timestamp in UTC; convert when displaying.\n")
    team = ["--team", str(DEV_TEAM)]  # all-MiniLM-L6-v2, as the example ships
    code, loaded, _ = huddle("memory", "ingest", str(notes), *team, home=home, tmp_path=tmp_path)
    assert code == 0 and loaded == {"chromadb"}
    code, loaded, found = huddle("memory", "search", "which timezone for timestamps", *team, "--json", home=home,
                                 tmp_path=tmp_path)
    assert code == 0 and loaded == {"chromadb"}
    assert json.loads(found.splitlines()[0])["source"].endswith("dates.md")
