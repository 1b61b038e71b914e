"""Replay of the example teams: each, recorded scripted and exported as a cassette, replays to the identical
transcript with no model call; a prompt edit stops the replay at the edited role with the request difference; a
cassette holds no secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, hashed

from pipelines import ApprovalDecision
from studio.llm import Gateway
from studio.messages import Final
from studio.replay import CassetteError, load_recording, replay, request_diff, write_cassette
from studio.runner import resume_run, run_team
from studio.spec import TeamSpec, load_spec

TEAMS = sorted((ROOT / "examples" / "teams").glob("*.yaml"))
SCRIPTS = ROOT / "examples" / "scripts"
TASK = "Write the function the team is asked for, with a test"
KEY = "sk-test-abcdefghijklmnopqrstuvwx1234"
TOKEN = "tok-9f8e7d6c5b4a39281706-huddle"

NOT_REPLAYABLE: dict[str, str] = {
    # Listed, not skipped: each runs as an expected failure (strict), so the day it replays, this list must shrink.
}


def _model(team: Path) -> str:
    replies = SCRIPTS / team.name
    assert replies.is_file(), f"{team} has no scripted replies at {replies}"
    return f"scripted:{replies}"


def record(spec: TeamSpec, task: str, model: str, home: Path, cassette: Path) -> Path:
    """Run ``spec`` scripted in ``home`` (approving every approval point, as ``--auto-approve``); export it."""
    result = run_team(spec, task, model=model, home=home)
    while result.status == "waiting":
        result = resume_run(result.run_id, home=home, decision=ApprovalDecision.approve())
    assert result.status == "done", result.error
    return write_cassette(load_recording(result.run_id, home), cassette)


@pytest.fixture(scope="module")
def cassettes(tmp_path_factory):
    """Per example team: a cassette of its scripted run (on the hash embedder), recorded once for the module."""
    done: dict[str, Path] = {}

    def get(team: Path) -> Path:
        if team.stem not in done:
            folder = tmp_path_factory.mktemp(team.stem)
            cwd = Path.cwd()
            os.chdir(ROOT)  # the research team starts its MCP server by a path relative to the repository
            try:
                done[team.stem] = record(hashed(load_spec(team)), TASK, _model(team), folder / "home",
                                         folder / f"{team.stem}.jsonl")
            finally:
                os.chdir(cwd)
        return done[team.stem]

    yield get
    from studio._run_state import release

    for cassette in done.values():  # the recordings' run logs and checkpoints, closed
        release(cassette.parent)


@pytest.fixture
def no_model_calls(monkeypatch):
    """Every model call any gateway makes, while the test runs (a replay must make none)."""
    made: list[tuple[str, str]] = []
    real = Gateway.complete

    def counted(self, model, messages, **options):
        made.append((model, str(options.get("role"))))
        return real(self, model, messages, **options)

    monkeypatch.setattr(Gateway, "complete", counted)
    return made


def test_every_example_team_has_scripted_replies():
    assert TEAMS and all((SCRIPTS / t.name).is_file() for t in TEAMS), [t.name for t in TEAMS]
    assert set(NOT_REPLAYABLE) <= {t.stem for t in TEAMS}


def _known(reason: str):
    """An expected failure that must fail, and by an assertion (not a crash on the way)."""
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


@pytest.mark.parametrize("team", [
    pytest.param(t, id=t.stem, marks=[_known(NOT_REPLAYABLE[t.stem])] if t.stem in NOT_REPLAYABLE else [])
    for t in TEAMS])
def test_each_example_team_replays_to_the_identical_transcript_with_no_model_call(
        team, cassettes, no_model_calls, monkeypatch):
    monkeypatch.chdir(ROOT)
    cassette = cassettes(team)
    no_model_calls.clear()  # recording it made some; from here on none
    recording = load_recording(cassette)
    assert any(c["kind"] == "model" for c in recording.calls)
    outcome = replay(cassette, spec=load_spec(team))  # the team file as shipped (its own embedder: none is loaded)
    assert outcome.diverged is None, f"{outcome.diverged}\n{request_diff(outcome.diverged)}"
    assert outcome.same, (outcome.result.status, outcome.differences)
    assert no_model_calls == []
    assert outcome.served == len(recording.calls)  # every recorded call served, once
    assert [(m.branch, m.sender, m.kind, m.content) for m in sorted(outcome.result.messages, key=lambda m: m.branch)] \
        == [(m.branch, m.sender, m.kind, m.content) for m in sorted(recording.messages, key=lambda m: m.branch)]
    final, last = outcome.result.final, recording.messages[-1]
    assert final is not None and isinstance(last, Final) and final.code == last.code


@pytest.mark.parametrize("role", ["planner", "coder", "critic"])
def test_a_prompt_edit_stops_the_replay_at_that_role_with_the_request_difference(role, cassettes, no_model_calls):
    cassette = cassettes(ROOT / "examples" / "teams" / "dev_team.yaml")
    no_model_calls.clear()
    spec = load_spec(ROOT / "examples" / "teams" / "dev_team.yaml")
    edited = spec.model_copy(update={"roles": [r.model_copy(update={"instructions": "Answer in haiku."})
                                               if r.name == role else r for r in spec.roles]})
    outcome = replay(cassette, spec=edited)
    divergence = outcome.diverged
    assert divergence is not None and not outcome.same and outcome.result.status == "diverged"
    assert (divergence.key, divergence.index) == (role, 0)
    diff = request_diff(divergence)
    assert "+Answer in haiku." in diff.splitlines()
    if role == "coder":
        assert "-Prefer small, plain functions from the standard library." in diff.splitlines()
    assert no_model_calls == []  # it stopped: nothing went on to a real model


def test_a_cassette_from_another_team_or_cut_short_is_refused(cassettes, tmp_path):
    cassette = cassettes(ROOT / "examples" / "teams" / "dev_team.yaml")
    with pytest.raises(CassetteError, match="recorded by team 'dev-team', not 'review-team'"):
        replay(cassette, spec=load_spec(ROOT / "examples" / "teams" / "review_team.yaml"))
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(cassette.read_text().splitlines(keepends=True)[:-3]))
    with pytest.raises(CassetteError, match="truncated"):
        load_recording(cut)


def _secret_script(tmp_path: Path) -> str:
    """The dev team's script, with the key in the planner's reply and the token in the coder's."""
    replies = yaml.safe_load((SCRIPTS / "dev_team.yaml").read_text())
    replies["planner"][0] = replies["planner"][0].replace("Write fizzbuzz(n)", f"Write fizzbuzz(n) (key {KEY})")
    replies["coder"][0] = f"Using {TOKEN}: " + replies["coder"][0]
    replies["coder"][1]["delay_s"] = 0
    path = tmp_path / "secret_script.yaml"
    path.write_text(yaml.safe_dump(replies))
    return f"scripted:{path}"


def test_a_cassette_holds_no_secret(tmp_path, monkeypatch, dev_team):
    monkeypatch.setenv("MY_SERVICE_TOKEN", TOKEN)
    task = f"Write fizzbuzz; the key is {KEY} and the token {TOKEN}"
    cassette = record(dev_team, task, _secret_script(tmp_path), tmp_path / "home", tmp_path / "c.jsonl")
    text = cassette.read_text()
    assert KEY not in text and TOKEN not in text
    assert "[redacted MY_SERVICE_TOKEN]" in text and "[redacted key]" in text
    recording = load_recording(cassette)
    assert KEY not in recording.task and recording.calls


def test_a_secret_only_in_the_task_replays(tmp_path, monkeypatch, dev_team):
    monkeypatch.setenv("MY_SERVICE_TOKEN", TOKEN)
    cassette = record(dev_team, f"Write fizzbuzz; the key is {KEY} and the token {TOKEN}",
                      f"scripted:{SCRIPTS / 'dev_team.yaml'}", tmp_path / "home", tmp_path / "c.jsonl")
    assert KEY not in cassette.read_text() and replay(cassette).same


def test_a_secret_in_a_reply_still_replays(tmp_path, monkeypatch, dev_team):
    monkeypatch.setenv("MY_SERVICE_TOKEN", TOKEN)
    cassette = record(dev_team, "Write fizzbuzz", _secret_script(tmp_path), tmp_path / "home", tmp_path / "c.jsonl")
    outcome = replay(cassette)
    assert outcome.diverged is None, request_diff(outcome.diverged)
    assert outcome.same
