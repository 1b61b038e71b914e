"""Exports (``huddle export``, :mod:`studio.export`): for every example team, the script and the notebook build
exactly the team of its spec and run exactly like ``huddle run``; the script passes ruff; no export holds a secret."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import ROOT, hashed
from nbclient import NotebookClient

from studio.bus.sqlite import RunLog
from studio.export import to_notebook, to_script, to_yaml
from studio.spec import TeamSpec, dump_spec, load_spec, parse_spec

TEAMS = sorted((ROOT / "examples" / "teams").glob("*.yaml"))
REPLIES = ROOT / "examples" / "scripts"
HUDDLE = str(Path(sys.executable).parent / "huddle")
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
TASK = "Write the function the team is asked for, with a test"
SECRET = "sk-test-0123456789abcdefghij"

each_team = pytest.mark.parametrize("team", TEAMS, ids=lambda p: p.stem)


def _model(team: Path) -> str:
    """Every example team ships scripted replies of the same file name."""
    replies = REPLIES / team.name
    assert replies.is_file(), f"{team} has no scripted replies at {replies}"
    return f"scripted:{replies}"


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebook_team(notebook: dict) -> TeamSpec:
    """The spec of the team the notebook's cells build (run up to the team cell, without running it)."""
    scope: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec(cell["source"], scope)
            if "team" in scope:
                return scope["team"].spec
    raise AssertionError("no cell builds `team`")


def _steps(home: Path) -> list[tuple]:
    """(sender, kind, content) of the one run in ``home``'s run log; executions with their outcome, not timing."""
    log = RunLog(home / "runs.db")
    try:
        [info] = log.runs()
        assert info.status == "done", info.error
        steps = []
        # Parallel branches interleave differently from run to run: compare the main line, then each branch, in order.
        for _, m in sorted(enumerate(log.messages(info.run_id)), key=lambda pair: (pair[1].branch, pair[0])):
            if m.kind == "execution":  # with its outcome; how long the code took differs between two runs
                steps.append((m.branch, m.sender, m.kind, m.content,
                              (m.exit_code, m.passed, m.failed, m.tests_run, tuple(m.failures), m.limit)))
            else:
                steps.append((m.branch, m.sender, m.kind, m.content))
        return steps
    finally:
        log.close()


def _printed(home: Path) -> list[str]:
    """What the exported script prints on stdout for the run in ``home``: `[sender · kind] first line` per message,
    the rest of its lines indented under it."""
    log = RunLog(home / "runs.db")
    try:
        [info] = log.runs()
        lines = []
        for m in log.messages(info.run_id):
            first, *rest = m.content.splitlines() or [""]
            lines += [f"[{m.sender} · {m.kind}] {first}", *(f"  {line}" if line else "" for line in rest)]
        return lines
    finally:
        log.close()


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "HUDDLE_HOME": str(home)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Per example team: its spec on the hash embedder as a file, and the steps ``huddle run --json`` took."""
    done: dict[Path, tuple[Path, list[tuple]]] = {}

    def get(team: Path) -> tuple[Path, list[tuple]]:
        if team not in done:
            folder = tmp_path_factory.mktemp(team.stem)
            team_file = folder / team.name
            team_file.write_text(dump_spec(hashed(load_spec(team))))
            out = subprocess.run([HUDDLE, "run", str(team_file), TASK, "--model", _model(team), "--json",
                                  "--auto-approve"],
                                 capture_output=True, text=True, env=_env(folder / "home"), timeout=300)
            assert out.returncode == 0, out.stderr
            steps = _steps(folder / "home")
            printed = [json.loads(line) for line in out.stdout.splitlines()]
            assert sorted((d["branch"], d["sender"], d["kind"]) for d in printed) == sorted(s[:3] for s in steps)
            main_line = [s for s in steps if not s[0]]
            assert main_line[0] == ("", "user", "task", TASK) and main_line[-1][2] == "final"
            done[team] = team_file, steps
        return done[team]

    return get


def _every_setting() -> TeamSpec:
    """A team with a non-default value in every part, and text that is long, multi-line, quoted and not ASCII."""
    long = ("Judge the code by its tests only. " * 6 + "See https://example.com/" + "x" * 140
            + "\nA \"quoted\" and 'single' line, a backslash \\ and a tab\t.\n\nÜnïcödé ✓ and \"\"\" three quotes.")
    return TeamSpec.model_validate({
        "name": 'A "team" \\ with """ quotes', "description": long,
        "roles": [
            {"name": "Lead-Planner", "kind": "planner", "model": "gpt-4o-mini", "tools": ["memory_search"],
             "limits": {"temperature": 0.0, "max_tokens": 1000, "timeout_s": 30},
             "memory": {"read": ["knowledge"], "write": []}},
            {"name": "coder", "kind": "coder", "instructions": long},
            {"name": "QA-Bot", "kind": "qa_bot", "acts_as": "critic", "instructions": "Be brief."},
            {"name": "tester", "kind": "reviewer", "acts_as": "critic"},
            {"name": "boss", "kind": "orchestrator", "model": "scripted:replies.yaml"},
        ],
        "flow": {"edges": [{"from": "Lead-Planner", "to": "coder"}, {"from": "coder", "to": "QA-Bot"},
                           {"from": "QA-Bot", "to": "tester"}, {"from": "tester", "to": "coder"}] * 3,
                 "max_rounds": 20},
        "defaults": {"model": "ollama/llama3", "api_base": "http://localhost:11434", "temperature": 0.7,
                     "max_tokens": 2048, "timeout_s": 60, "retries": 0, "retry_backoff_s": 0.0, "max_concurrency": 1},
        "memory": {"namespace": "ns-1", "path": "/tmp/memory", "embedder": {"model": "hash", "device": "cpu",
                   "batch_size": 8}, "top_k": 0, "min_score": -0.5, "max_chars": 50, "reflect": False},
        "sandbox": {"enabled": False, "timeout_s": 2.5, "cpu_s": 3, "memory_mb": 128, "file_size_mb": 2,
                    "open_files": 32, "processes": 4, "max_output_kb": 8, "network": True, "site_packages": True,
                    "require_isolation": True, "max_attempts": 1},
    })


def _with_tools() -> TeamSpec:
    """A team with a Python tool, MCP servers over stdio (env names) and HTTP (a ``${VAR}`` header), allow and
    deny lists, a tool-call limit and approval before a tool's calls."""
    return TeamSpec.model_validate({
        "name": "tooly",
        "roles": [
            {"name": "coder", "kind": "coder", "max_tool_calls": 6,
             "tools": [{"python": "statistics:mean"}, {"python": "json:dumps", "name": "to_json"},
                       {"mcp": "notes", "allow": ["search", "read"], "deny": ["read"]}, "memory_search"]},
            {"name": "researcher", "kind": "researcher", "acts_as": "critic", "tools": [{"mcp": "web"}]},
        ],
        "mcp_servers": {
            "notes": {"command": "python", "args": ["-m", "notes_server", "--db", "notes db.sqlite"],
                      "env": ["NOTES_DB", "NOTES_USER"], "cwd": "/srv/notes"},
            "web": {"url": "http://127.0.0.1:8123/mcp", "headers": {"Authorization": "Bearer ${WEB_TOKEN}"},
                    "timeout_s": 5},
        },
        "approval": ["before_final", {"tools": ["search"]}],
    })


SPECS = [pytest.param(lambda t=t: load_spec(t), id=t.stem) for t in TEAMS] + [
    pytest.param(_every_setting, id="every-setting"), pytest.param(_with_tools, id="tools")]


def test_the_examples_cover_what_round_trips_must_keep():
    """Between them the example teams have a custom kind, no orchestrator, and own memory and sandbox settings."""
    specs = [load_spec(t) for t in TEAMS]
    assert any(not r.builtin and r.acts_as for s in specs for r in s.roles)
    assert any(s.orchestrator() is None for s in specs) and any(s.orchestrator() for s in specs)
    assert any(s.memory.model_dump(exclude_defaults=True) for s in specs)
    assert any(s.sandbox.model_dump(exclude_defaults=True) for s in specs)
    assert all(s.memory.embedder.model == "all-MiniLM-L6-v2" for s in specs)  # the examples work as shipped


@pytest.mark.parametrize("make", SPECS)
def test_script_and_notebook_build_exactly_the_spec(tmp_path, make):
    spec = make()
    path = tmp_path / "team_script.py"
    path.write_text(to_script(spec))
    assert _module(path).build_team().spec == spec
    notebook = to_notebook(spec)
    nbformat.validate(nbformat.from_dict(notebook))
    assert _notebook_team(notebook) == spec


def test_tools_and_servers_round_trip_through_yaml_and_read_as_written():
    spec = _with_tools()
    assert parse_spec(yaml.safe_load(to_yaml(spec))) == spec
    script = to_script(spec)
    assert '"headers": {"Authorization": "Bearer ${WEB_TOKEN}"}' in script
    assert '"env": ["NOTES_DB", "NOTES_USER"]' in script
    assert 'approval=["before_final", {"tools": ["search"]}],' in script and "max_tool_calls=6," in script
    assert "must be importable" not in script


def test_a_function_from_main_exports_with_a_note_that_it_must_be_importable(tmp_path):
    from studio import Role, Team

    def lookup(query: str) -> str:
        """Find notes."""
        return query

    lookup.__module__, lookup.__qualname__ = "__main__", "lookup"  # as if defined in a notebook
    team = Team("nb", roles=[Role.coder(tools=[lookup])])
    script = to_script(team.spec)
    assert ("            # __main__:lookup must be importable where this runs: move it into a module and name that "
            "instead\n            Role.coder(tools=[{\"python\": \"__main__:lookup\"}]),") in script
    path = tmp_path / "nb.py"
    path.write_text(script)
    assert _module(path).build_team().spec == team.spec


def test_script_writes_only_what_differs_from_the_defaults():
    script = to_script(load_spec(ROOT / "examples" / "teams" / "dev_team.yaml"))
    assert "Role.coder(instructions=\"Prefer small, plain functions from the standard library.\")" in script
    assert "Role.critic()," in script and "defaults={\"max_tokens\": 384}," in script
    assert "temperature" not in script and "memory=" not in script and "sandbox=" not in script
    assert to_script(load_spec(ROOT / "examples" / "teams" / "dev_team.yaml")) == script  # deterministic


@pytest.mark.parametrize("make", SPECS)
def test_exports_pass_ruff_and_hold_no_secret(tmp_path, monkeypatch, make):
    assert RUFF, "ruff is not installed next to this Python"
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    spec = make()
    leaky = spec.model_copy(update={"description": f"pasted by mistake: {SECRET}",
                                    "defaults": spec.defaults.model_copy(update={"api_base": f"http://h/?k={SECRET}"})})
    for team in (spec, leaky):
        script, notebook = tmp_path / "team.py", tmp_path / "team.ipynb"
        script.write_text(to_script(team))
        notebook.write_text(nbformat.writes(nbformat.from_dict(to_notebook(team))))
        for text in (script.read_text(), notebook.read_text(), to_yaml(team)):
            assert SECRET not in text
            assert ("[redacted OPENAI_API_KEY]" in text) == (team is leaky)
        # The repository's rules, less the docstring rules (D): the script's docstring is the user's own text.
        out = subprocess.run([RUFF, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), "--ignore", "D",
                              str(script), str(notebook)], capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr


@each_team
def test_exported_script_runs_like_huddle_run(tmp_path, reference, team):
    team_file, expected = reference(team)
    script = tmp_path / "team_script.py"
    script.write_text(to_script(load_spec(team_file)))
    out = subprocess.run([sys.executable, str(script), TASK, "--model", _model(team), "--auto-approve"],
                         capture_output=True,
                         text=True, env=_env(tmp_path / "home"), timeout=300,
                         cwd=ROOT if load_spec(team_file).mcp_servers else tmp_path)  # a server's relative path
    assert out.returncode == 0, out.stderr
    assert _steps(tmp_path / "home") == expected
    assert out.stdout.splitlines() == _printed(tmp_path / "home")
    spec = load_spec(team_file)
    reviewer = next(r.kind for r in spec.roles if r.behaviour == "critic")  # it names who approved
    evidence = spec.flow.tie_break == "shortest" and spec.flow.max_rounds == 1  # the critic is not asked
    ending = ("The judge (judge) chose" if spec.flow.type == "cross_team" else "The evidence chose candidate"
              if evidence else f"The {reviewer} approved the code.")
    headers = [line for line in out.stdout.splitlines() if line.startswith("[")]
    assert headers[-1].startswith(f"[system · final] {ending}")


@each_team
def test_exported_notebook_runs_like_huddle_run(tmp_path, monkeypatch, reference, team):
    team_file, expected = reference(team)
    notebook = nbformat.from_dict(to_notebook(load_spec(team_file)))
    [parameters] = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert parameters.source.startswith("TASK = ") and "MODEL = None" in parameters.source
    approving = "AUTO_APPROVE" in parameters.source
    parameters.source = f"TASK = {TASK!r}\nMODEL = {_model(team)!r}" + ("\nAUTO_APPROVE = True" if approving else "")
    assert approving == bool(load_spec(team_file).approval)
    monkeypatch.setenv("HUDDLE_HOME", str(tmp_path / "home"))  # the kernel inherits this process's environment
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    assert _steps(tmp_path / "home") == expected
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.output_type == "stream")
    run_id = RunLog(tmp_path / "home" / "runs.db").runs()[0].run_id
    assert printed.splitlines() == [*_printed(tmp_path / "home"), f"run {run_id}: done"]


def _huddle(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([HUDDLE, "export", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@each_team
def test_cli_exports_each_format_to_a_file(tmp_path, team):
    spec = load_spec(team)
    out = _huddle(str(team), "-o", "mine.py", cwd=tmp_path)  # the format follows the suffix
    assert out.returncode == 0, out.stderr
    assert f"wrote mine.py: team {spec.name!r} as a Python script" in out.stdout
    assert (tmp_path / "mine.py").read_text() == to_script(spec, filename="mine.py")
    assert 'python mine.py "' in (tmp_path / "mine.py").read_text()

    assert _huddle(str(team), "--to", "notebook", "-o", "team.ipynb", cwd=tmp_path).returncode == 0
    written = nbformat.read(tmp_path / "team.ipynb", as_version=4)
    assert [c.source for c in written.cells] == [c["source"] for c in to_notebook(spec)["cells"]]

    assert _huddle(str(team), "-t", "yaml", "-o", "copy.yaml", cwd=tmp_path).returncode == 0
    assert load_spec(tmp_path / "copy.yaml") == spec
    copied = (tmp_path / "copy.yaml").read_text()  # minimal: what differs from the defaults, no null
    assert "null" not in copied and yaml.safe_load(copied)["name"] == spec.name


def test_cli_prints_script_and_yaml_to_stdout(tmp_path):
    team = ROOT / "examples" / "teams" / "review_team.yaml"
    spec = load_spec(team)
    script = _huddle(str(team), cwd=tmp_path)
    assert script.returncode == 0 and script.stdout == to_script(spec)
    assert _huddle(str(team), "--to", "script", "-o", "-", cwd=tmp_path).stdout == to_script(spec)
    assert _huddle(str(team), "--to", "yaml", cwd=tmp_path).stdout == to_yaml(spec) == dump_spec(spec, minimal=True)
    assert list(tmp_path.iterdir()) == []


def test_cli_user_errors_exit_2_and_say_what_to_fix(tmp_path):
    team = str(ROOT / "examples" / "teams" / "dev_team.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nroles:\n  - {name: a, kind: planer}\n")
    cases = [
        ((team, "--to", "pdf"), "error: --to: expected one of script, notebook, yaml, got 'pdf'"),
        ((team, "--to", "notebook"), "error: --to notebook writes a file: give one with -o"),
        ((team, "--to", "notebook", "-o", "-"), "error: --to notebook writes a file"),
        ((str(bad),), f"error: invalid team spec {bad}:\n  - roles[0].kind: 'planer' is not a built-in kind"),
        ((str(tmp_path / "missing.yaml"), "-o", "x.py"), "cannot read the file: No such file or directory"),
        ((team, "-o", str(tmp_path / "no" / "such" / "dir.py")),
         f"error: cannot write {tmp_path / 'no' / 'such' / 'dir.py'}: No such file or directory"),
        ((team, "-o", str(tmp_path)), f"error: cannot write {tmp_path}: Is a directory"),
    ]
    for args, message in cases:
        out = _huddle(*args, cwd=tmp_path)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr and out.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]
