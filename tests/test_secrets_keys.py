"""Keys go only to their own provider's hosts, and a team file never carries one (issue 18, item 4).

The gateway is driven through its public API against a real OpenAI-compatible endpoint on loopback, so the
assertions are on what litellm actually sent (the ``Authorization`` header), not on what we meant to send.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from studio.cli import app
from studio.llm import NO_KEY, CallSettings, Gateway, ModelCallError
from studio.spec import SpecError, load_spec

HUDDLE = str(Path(sys.executable).parent / "huddle")
PROVIDER_KEY = "sk-proj-UsersOwnKey0123456789abcdef"
GATEWAY_KEY = "gw-key-for-that-host-only-42"
MSGS = [{"role": "user", "content": "hi"}]


class _Endpoint(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that records the Authorization header of each request."""

    seen: list[str] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen.append(self.headers.get("Authorization", ""))
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "hello"}}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint(monkeypatch):
    """A foreign host (played on loopback) that a team file's api_base points at; yields (url, headers seen)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", PROVIDER_KEY)
    _Endpoint.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", _Endpoint.seen
    server.shutdown()
    server.server_close()


def _call(api_base: str, api_key_env: str | None = None) -> str:
    settings = CallSettings(retries=0, timeout_s=10, api_base=api_base, api_key_env=api_key_env)
    return Gateway().complete("openai/gpt-4o-mini", MSGS, role="coder", settings=settings).text


def test_the_attack_is_real_without_the_gateway(endpoint):
    """Control: litellm on its own sends the environment's OpenAI key to any api_base it is given."""
    import litellm  # after studio.llm, which keeps litellm off the network at import

    url, seen = endpoint
    litellm.completion(model="openai/gpt-4o-mini", messages=MSGS, api_base=url, max_retries=0)
    assert seen == [f"Bearer {PROVIDER_KEY}"]


def test_an_api_base_never_gets_the_provider_key_from_the_environment(endpoint):
    url, seen = endpoint
    assert _call(url) == "hello"
    assert seen == [f"Bearer {NO_KEY}"] and PROVIDER_KEY not in "".join(seen)


def test_an_api_base_gets_the_key_the_team_names_by_variable(endpoint, monkeypatch):
    url, seen = endpoint
    monkeypatch.setenv("MY_GATEWAY_KEY", GATEWAY_KEY)
    assert _call(url, "MY_GATEWAY_KEY") == "hello"
    assert seen == [f"Bearer {GATEWAY_KEY}"]


def test_a_named_key_variable_that_is_unset_fails_before_any_request(endpoint, monkeypatch):
    url, seen = endpoint
    monkeypatch.delenv("MY_GATEWAY_KEY", raising=False)
    with pytest.raises(ModelCallError, match=r"api_key_env names \$MY_GATEWAY_KEY, which is not set"):
        _call(url, "MY_GATEWAY_KEY")
    assert seen == []


def test_the_team_file_settings_reach_the_call(endpoint, tmp_path, monkeypatch):
    """From a team file to the wire: a run of a team whose defaults set api_base sends no provider key."""
    from studio.runner import run_team

    url, seen = endpoint
    spec_file = tmp_path / "team.yaml"
    spec_file.write_text(yaml.safe_dump({
        "name": "solo", "roles": [{"name": "coder", "kind": "coder"}],
        "defaults": {"model": "openai/gpt-4o-mini", "api_base": url, "retries": 0, "timeout_s": 10},
        "memory": {"enabled": False}, "sandbox": {"enabled": False}}))
    monkeypatch.delenv("OPENAI_API_KEY")  # not needed: that host never gets it
    result = run_team(load_spec(spec_file), "say hello")
    assert seen and all(h == f"Bearer {NO_KEY}" for h in seen), (result.status, seen)


BAD_TEAMS = {
    "a key in the instructions": ({"roles": [{"name": "coder", "kind": "coder",
                                              "instructions": f"Use {PROVIDER_KEY} for the API."}]},
                                  "roles[0].instructions"),
    "a password in api_base": ({"defaults": {"api_base": "https://team:s3cretPassw0rd@llm.example.com/v1"}},
                               "defaults.api_base"),
    "a token in a query": ({"defaults": {"api_base": "https://llm.example.com/v1?api_key=abcdef123456"}},
                           "defaults.api_base"),
    "a provider's key named for another host": ({"defaults": {"api_base": "https://llm.example.com/v1",
                                                              "api_key_env": "OPENAI_API_KEY"}},
                                                "defaults.api_key_env"),
}


def _team(extra: dict) -> dict:
    team = {"name": "t", "roles": [{"name": "coder", "kind": "coder"}], "memory": {"enabled": False}}
    return {**team, **extra}


@pytest.mark.parametrize("case", sorted(BAD_TEAMS))
def test_a_team_file_with_a_literal_secret_is_refused_naming_the_field(case, tmp_path):
    data, field = BAD_TEAMS[case]
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(_team(data)))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems
    for args in (["teams", "validate", str(path)], ["run", str(path), "hi", "--model", "scripted:x.yaml"]):
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 2, out.output
        assert field in out.output and "Traceback" not in out.output
        assert "environment variable" in out.output or "variable of its own" in out.output
        for secret in ("s3cretPassw0rd", PROVIDER_KEY, "abcdef123456"):
            assert secret not in out.output  # the error never echoes the secret


def test_the_command_line_refuses_it_with_exit_2(tmp_path):
    """The installed command, as a user runs it: exit 2, the file and the field named, no traceback."""
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(_team(BAD_TEAMS["a password in api_base"][0])))
    out = subprocess.run([HUDDLE, "teams", "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert str(path) in out.stderr and "defaults.api_base: looks like a secret" in out.stderr
    assert "s3cretPassw0rd" not in out.stderr


def test_a_team_file_naming_its_key_by_variable_is_accepted(tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(_team({"defaults": {"api_base": "https://llm.example.com/v1",
                                                       "api_key_env": "MY_GATEWAY_KEY"}})))
    assert load_spec(path).defaults.api_key_env == "MY_GATEWAY_KEY"


def test_a_model_behind_a_team_api_base_needs_no_provider_key_to_start():
    """The provider's key is never sent to the team's api_base, so its absence does not stop the run."""
    from studio.llm import ModelConfigError, check_model

    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        check_model("openai/gpt-4o-mini")
    check_model("openai/gpt-4o-mini", api_base="https://llm.example.com/v1")
