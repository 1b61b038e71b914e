"""Regression tests from recorded runs: ``huddle test TEAM_FILE CASSETTE_DIR``, ``studio.testing`` and the
``huddle_replay`` pytest fixture pass on an unchanged team and fail on drift (a changed request, a changed
outcome, failing tests); bad input exits 2 with the reason."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import DEV_SCRIPT, DEV_TEAM
from test_replay import record
from typer.testing import CliRunner

from studio.cli import app as cli
from studio.replay import load_recording
from studio.spec import dump_spec, load_spec
from studio.testing import assert_replays, check_cassette

HUDDLE = str(Path(sys.executable).parent / "huddle")
TASK = "Write fizzbuzz(n)"
FIZZBUZZ_TESTS = {"id": "fizzbuzz", "prompt": TASK, "entry_point": "fizzbuzz",
                  "tests": ['assert fizzbuzz(15) == "FizzBuzz"', 'assert fizzbuzz(7) == "7"']}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A folder with the dev team's scripted run as a cassette, one level down (found recursively)."""
    folder = tmp_path_factory.mktemp("recorded")
    (folder / "cassettes" / "dev").mkdir(parents=True)
    spec = load_spec(DEV_TEAM)
    spec = spec.model_copy(update={"memory": spec.memory.model_copy(update={"enabled": False}),
                                   "defaults": spec.defaults.model_copy(update={"retry_backoff_s": 0.0})})
    record(spec, TASK, f"scripted:{DEV_SCRIPT}", folder / "home", folder / "cassettes" / "dev" / "fizzbuzz.jsonl")
    return folder / "cassettes"


def sizes(folder: Path) -> tuple[int, int]:
    """(calls, messages) of the one cassette under ``folder``."""
    recording = load_recording(next(folder.rglob("*.jsonl")))
    return len(recording.calls), len(recording.messages)


def edited(tmp_path: Path, **changes) -> Path:
    """The dev team file with ``changes`` (``coder=...`` sets the coder's instructions; ``max_rounds=...``)."""
    spec = load_spec(DEV_TEAM)
    if "coder" in changes:
        spec = spec.model_copy(update={"roles": [r.model_copy(update={"instructions": changes["coder"]})
                                                 if r.name == "coder" else r for r in spec.roles]})
    if "max_rounds" in changes:
        spec = spec.model_copy(update={"flow": spec.flow.model_copy(update={"max_rounds": changes["max_rounds"]})})
    if "sandbox" in changes:
        spec = spec.model_copy(update={"sandbox": spec.sandbox.model_copy(update={"enabled": changes["sandbox"]})})
    path = tmp_path / "team.yaml"
    path.write_text(dump_spec(spec))
    return path


def huddle_test(*args: str) -> tuple[int, str, Any]:
    """``huddle test ARGS`` in this process: (exit code, output with wrapping undone, the JSON report if any)."""
    result = CliRunner().invoke(cli, ["test", *args])
    assert "Traceback" not in result.output, result.output
    report = json.loads(result.stdout) if "--json" in args and result.exit_code in (0, 1) else None
    return result.exit_code, " ".join(result.output.split()), report


def test_huddle_test_passes_on_the_unchanged_team(recorded):
    out = subprocess.run([HUDDLE, "test", str(DEV_TEAM), str(recorded)], capture_output=True, text=True,
                         timeout=120, env={**__import__("os").environ, "COLUMNS": "120"})
    assert out.returncode == 0, out.stdout + out.stderr
    calls, _ = sizes(recorded)
    row = next(line for line in out.stdout.splitlines() if "fizzbuzz.jsonl" in line)
    assert row.split() == ["dev/fizzbuzz.jsonl", f"{calls}/{calls}", "done", row.split()[3], "pass"]
    assert float(row.split()[3]) > 0
    assert f"passed: 1 of 1 cassettes pass; {calls} calls served, no model call" in " ".join(out.stdout.split())


def test_huddle_test_fails_on_a_changed_prompt_naming_the_role_call_and_diff(recorded, tmp_path):
    team = edited(tmp_path, coder="Be brief.")
    out = subprocess.run([HUDDLE, "test", str(team), str(recorded)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    text = " ".join(out.stdout.split())
    assert "request changed: coder's model call 1 asks what the recording did not" in text
    lines = [line.rstrip() for line in out.stdout.splitlines()]
    assert "-Prefer small, plain functions from the standard library." in lines and "+Be brief." in lines
    assert "failed: 0 of 1 cassettes pass" in text


def test_a_changed_flow_is_a_changed_outcome(recorded, tmp_path):
    code, _, report = huddle_test(str(edited(tmp_path, max_rounds=2)), str(recorded), "--json")
    assert code == 1 and not report["passed"]
    [row] = report["cassettes"]
    assert row["verdict"] == "outcome changed" and row["diverged"] is None
    assert any(p.startswith("outcome changed: the final is not the recording's (approved")
               for p in row["problems"]), row["problems"]
    calls, messages = sizes(recorded)
    assert any(p.startswith(f"transcript differs: {messages} messages recorded") for p in row["problems"])
    assert row["served"] < row["calls"] == calls


def test_tests_grade_on_hidden_tests_and_fail_an_outcome_that_no_longer_passes(recorded, tmp_path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text(json.dumps(FIZZBUZZ_TESTS) + "\n")
    bad.write_text(json.dumps({**FIZZBUZZ_TESTS, "tests": ['assert fizzbuzz(7) == "Buzz"']}) + "\n")
    code, _, report = huddle_test(str(DEV_TEAM), str(recorded), "--tasks", str(good), "--json")
    assert code == 0 and report["cassettes"][0]["tests"] == {"passed": True, "graded_by": "hidden tests",
                                                             "detail": "2 of 2 passed (task fizzbuzz)"}
    code, text, report = huddle_test(str(DEV_TEAM), str(recorded), "--tasks", str(bad))
    assert code == 1 and "fails tests" in text and "fails its tests (hidden tests): hidden tests: 1 of 1" in text


def test_tests_without_hidden_tests_grade_on_what_the_final_carries(recorded, tmp_path):
    code, _, report = huddle_test(str(DEV_TEAM), str(recorded), "--tests", "--json")
    assert code == 0
    assert report["cassettes"][0]["tests"] == {"passed": True, "graded_by": "the run's final",
                                               "detail": "1 passed, 0 failed, exit 0"}
    # a run whose final code never ran has nothing to say it works
    folder = tmp_path / "untested"
    folder.mkdir()
    team = edited(tmp_path, sandbox=False)
    spec = load_spec(team).model_copy(update={"memory": load_spec(team).memory.model_copy(update={"enabled": False})})
    record(spec, TASK, f"scripted:{DEV_SCRIPT}", tmp_path / "home", folder / "run.jsonl")
    team.write_text(dump_spec(spec))
    assert huddle_test(str(team), str(folder))[0] == 0
    code, text, _ = huddle_test(str(team), str(folder), "--tests")
    assert code == 1 and "the final code never ran" in text


@pytest.mark.parametrize("case, expected", [
    ("missing", "no such folder"),
    ("empty", "holds no cassette (*.jsonl)"),
    ("truncated", "truncated (it has"),
    ("other team", "was recorded by team 'dev-team', not 'review-team'"),
    ("not a cassette", "not a Huddle cassette"),
])
def test_bad_input_exits_2_with_the_reason_before_anything_is_replayed(recorded, tmp_path, case, expected):
    folder = tmp_path / "cassettes"
    team = DEV_TEAM
    if case != "missing":
        folder.mkdir()
    good = next(recorded.rglob("*.jsonl"))
    if case in ("truncated", "not a cassette", "other team"):
        shutil.copy(good, folder / "a-good-one.jsonl")
    if case == "truncated":
        (folder / "b-cut.jsonl").write_text("".join(good.read_text().splitlines(keepends=True)[:7]))
    if case == "not a cassette":
        (folder / "tasks.jsonl").write_text(json.dumps(FIZZBUZZ_TESTS) + "\n")
    if case == "other team":
        team = DEV_TEAM.parent / "review_team.yaml"
    code, text, _ = huddle_test(str(team), str(folder))
    assert code == 2 and expected in text, text
    assert "cassettes pass" not in text  # stopped before the first replay


def test_assert_replays_returns_the_outcome_or_raises_with_the_drift(recorded, tmp_path):
    cassette = next(recorded.rglob("*.jsonl"))
    outcome = assert_replays(DEV_TEAM, cassette)
    assert outcome.same and outcome.served == sizes(recorded)[0]
    with pytest.raises(AssertionError) as failed:
        assert_replays(edited(tmp_path, coder="Be brief."), cassette)
    message = str(failed.value)
    assert message.startswith(f"{cassette}: request changed")
    assert "coder's model call 1" in message and "+Be brief." in message.splitlines()
    check = check_cassette(cassette, load_spec(DEV_TEAM), tests=True)
    assert check.ok and check.grade is not None and check.grade.passed and check.ms > 0


def test_the_pytest_plugin_is_installed_and_imports_nothing_until_used(tmp_path):
    # from another folder, as a user's project sees the installed package (here, a stale egg-info could shadow it)
    probe = ("import sys, importlib.metadata as md; "
             "print([e.value for e in md.entry_points(group='pytest11') if e.name == 'huddle']); "
             "import studio.pytest_plugin; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('langgraph', 'litellm', 'chromadb', 'torch', 'pydantic', 'roles', 'pipelines', 'memory') "
             "or m.startswith(('studio.testing', 'studio.replay', 'studio.runner', 'studio.spec'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    entry, loaded = out.stdout.splitlines()
    assert entry == "['studio.pytest_plugin']", "reinstall Huddle (pip install -e .) to register the plugin"
    assert loaded == "[]"  # it loads in every pytest session of every user: nothing of Huddle until used


def test_the_huddle_replay_fixture_in_a_projects_own_suite(recorded, tmp_path):
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    shutil.copytree(recorded, project / "cassettes")
    edited(project, coder="Be brief.").rename(project / "team_edited.yaml")
    shutil.copy(DEV_TEAM, project / "team.yaml")
    (project / "tests" / "test_team.py").write_text(
        "from pathlib import Path\n\nimport pytest\n\n"
        "CASSETTES = sorted(Path('cassettes').rglob('*.jsonl'))\n\n\n"
        "@pytest.mark.parametrize('team', ['team.yaml', 'team_edited.yaml'])\n"
        "@pytest.mark.parametrize('cassette', CASSETTES, ids=lambda p: p.stem)\n"
        "def test_replays_as_recorded(huddle_replay, team, cassette):\n"
        "    assert huddle_replay(team, cassette).same\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=project,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 failed, 1 passed" in out.stdout, out.stdout
    failure = out.stdout.split("FAILURES", 1)[1]
    assert "test_replays_as_recorded[fizzbuzz-team_edited.yaml]" in failure
    assert "request changed: coder's model call 1 asks what the recording did not" in failure
    assert "+Be brief." in failure
