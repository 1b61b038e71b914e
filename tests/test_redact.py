"""Secrets never reach the run log, even when a provider echoes them in an error."""

from __future__ import annotations

from _replies import decide

from studio.redact import redact
from studio.runlog import RunLog
from studio.runner import run_team

SECRET = "sk-test-0123456789abcdefSECRET"


def test_provider_error_echoing_the_key_is_redacted_in_the_log(dev_team, script, home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    model = script({"orchestrator": [decide("coder")], "coder": [{"error": f"invalid key {SECRET}"}] * 3})
    result = run_team(dev_team, "x", model=model)
    assert result.status == "failed"
    assert SECRET not in result.error and "[redacted OPENAI_API_KEY]" in result.error
    db = (home / "runs.db").read_bytes() + (home / "runs.db-wal").read_bytes()
    assert SECRET.encode() not in db
    assert SECRET not in (RunLog(home / "runs.db").run(result.run_id).error or "")


def test_key_shaped_strings_are_redacted_without_an_env_var():
    assert redact("bad key sk-proj-abcdefghijklmnop1234 given") == "bad key [redacted key] given"
    assert redact("nothing secret here") == "nothing secret here"
