"""Exposure (issue 18, item 7): a server Huddle starts on a non-loopback address asks for a token, or runs open
only when the user said ``--insecure`` and was warned.

Attacks here: a public address with no token is refused before anything listens; a request to the memory proxy
without the token, with a wrong one, or with the token in the wrong place is refused before its body is read; the
studio without the login shows nothing of the teams, runs or memory. The real Chroma server behind the proxy is
in tests/test_memory_server.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from _procs import free_port
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

import studio.cli.ui as cli_ui
from studio.cli import app as cli
from studio.cli._token_proxy import token_proxy
from studio.exposure import UI_TOKEN_ENV, AccessError, is_loopback, server_token
from studio.spec import SpecError, load_spec

TOKEN = "t0ken-for-the-tests-0123456789"
APP = str(ROOT / "studio" / "ui" / "app.py")


@pytest.fixture
def nothing_starts(monkeypatch):
    """Fail the test if a command tries to start a server process (Streamlit or chroma)."""
    started = []

    def refuse(*args, **kwargs):
        started.append(args)
        raise AssertionError(f"a server was started: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(os, "execv", refuse)
    return started


# -- the rules -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True),
                                                ("::1", True), ("0.0.0.0", False), ("::", False),
                                                ("192.168.1.20", False), ("studio.example.org", False)])
def test_only_loopback_addresses_count_as_private(host, loopback):
    assert is_loopback(host) is loopback
    if loopback:
        assert server_token(host, "x", token_env=None, new_token=False, insecure=False) is None


def test_token_rules(monkeypatch):
    monkeypatch.setenv("GOOD", TOKEN)
    monkeypatch.setenv("SHORT", "abc123")
    assert server_token("0.0.0.0", "x", token_env="GOOD", new_token=False, insecure=False) == TOKEN
    made = {server_token("0.0.0.0", "x", token_env=None, new_token=True, insecure=False) for _ in range(3)}
    assert len(made) == 3 and all(len(t) >= 40 for t in made)  # random, 32 bytes each
    assert server_token("0.0.0.0", "x", token_env=None, new_token=False, insecure=True) is None
    for kwargs, words in [({"token_env": "SHORT"}, "at least 16"),
                          ({"token_env": "UNSET_VAR"}, "$UNSET_VAR is not set"),
                          ({"token_env": "GOOD", "new_token": True}, "not both"),
                          ({"new_token": True, "insecure": True}, "--insecure serves without a token")]:
        args = {"token_env": None, "new_token": False, "insecure": False, **kwargs}
        with pytest.raises(AccessError, match=words.replace("$", r"\$")):
            server_token("0.0.0.0", "x", **args)


# -- attack: a public address without a token or --insecure ---------------------------------------------------------

@pytest.mark.parametrize("command", [["memory", "serve"], ["ui"]])
@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20"])
def test_a_public_address_without_a_token_or_insecure_is_refused_before_anything_listens(command, host,
                                                                                         nothing_starts):
    port = free_port()
    out = CliRunner().invoke(cli, [*command, "--host", host, "--port", str(port)])
    assert out.exit_code == 2, out.output
    assert f"--host {host} lets other machines in" in out.output
    assert "--token-env NAME" in out.output and "--new-token" in out.output and "--insecure" in out.output
    assert "Traceback" not in out.output and nothing_starts == []


@pytest.mark.parametrize("command", [["memory", "serve"], ["ui"]])
def test_a_token_variable_that_is_unset_or_short_is_refused(command, nothing_starts, monkeypatch):
    monkeypatch.setenv("HUDDLE_TEST_SHORT", "123456")
    for name, words in (("HUDDLE_TEST_UNSET", "is not set or empty"), ("HUDDLE_TEST_SHORT", "at least 16")):
        out = CliRunner().invoke(cli, [*command, "--host", "0.0.0.0", "--port", str(free_port()), "--token-env",
                                       name])
        assert out.exit_code == 2 and f"--token-env {name}" in out.output and words in out.output, out.output
    assert nothing_starts == []


def test_memory_serve_insecure_warns_that_every_document_is_readable(monkeypatch, home):
    ran = []
    monkeypatch.setattr(os, "execv", lambda exe, argv: ran.append(argv))
    port = free_port()
    out = CliRunner().invoke(cli, ["memory", "serve", "--host", "0.0.0.0", "--port", str(port), "--insecure"])
    assert out.exit_code == 0, out.output
    assert "warning: --insecure" in out.output and "every document stored here is readable" in out.output
    assert ran and ran[0][ran[0].index("--host") + 1] == "0.0.0.0"  # served open, as asked


# -- huddle ui: the token travels in the environment, never on the command line -----------------------------------

def _ui(monkeypatch, *args: str):
    calls = []

    def fake_serve(argv, env, **kwargs):
        calls.append((argv, env))
        return 0

    monkeypatch.setattr(cli_ui, "serve", fake_serve)  # what starts Streamlit (and passes signals on to it)
    out = CliRunner().invoke(cli, ["ui", "--port", str(free_port()), *args])
    assert out.exit_code == 0, out.output
    return out.output, calls[0]


def test_ui_token_goes_to_streamlit_in_its_environment_not_its_command_line(monkeypatch):
    monkeypatch.setenv("STUDIO_TOKEN", TOKEN)
    output, (argv, env) = _ui(monkeypatch, "--host", "0.0.0.0", "--token-env", "STUDIO_TOKEN")
    assert env[UI_TOKEN_ENV] == TOKEN and not any(TOKEN in a for a in argv)
    assert TOKEN not in output  # the user's own token is never echoed
    assert "asks for its token" in output


def test_ui_new_token_is_printed_once_and_handed_over(monkeypatch):
    output, (argv, env) = _ui(monkeypatch, "--host", "0.0.0.0", "--new-token")
    token = env[UI_TOKEN_ENV]
    assert len(token) >= 40 and output.count(token) == 1 and not any(token in a for a in argv)


def test_ui_insecure_warns_and_a_stray_token_variable_is_not_passed_on(monkeypatch):
    monkeypatch.setenv(UI_TOKEN_ENV, TOKEN)  # left in the shell from another session
    output, (_, env) = _ui(monkeypatch, "--host", "0.0.0.0", "--insecure")
    assert "warning: --insecure: the studio has no login" in output and UI_TOKEN_ENV not in env
    _, (_, env) = _ui(monkeypatch)
    assert UI_TOKEN_ENV not in env


# -- attack: the studio without the login ---------------------------------------------------------------------------

def _everything(at: AppTest) -> list:
    """Every element the page rendered, in the main area and the sidebar."""
    found, stack = [], [at.main, at.sidebar]
    while stack:
        node = stack.pop()
        if hasattr(node, "children"):  # a block: the main area, the sidebar, a column, a form
            stack.extend(node.children.values())
        else:
            found.append(node)
    return found


def _shown_text(at: AppTest) -> str:
    return json.dumps([str(getattr(e, "value", "")) + str(getattr(e, "label", "")) for e in _everything(at)])


def test_the_studio_without_its_token_shows_only_the_login(monkeypatch, dev_team_file):
    from studio.ui import login

    monkeypatch.setattr(login, "_WRONG_DELAY_S", 0.01)
    monkeypatch.setenv(UI_TOKEN_ENV, TOKEN)
    monkeypatch.setenv("HUDDLE_UI_TEAM", str(dev_team_file))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    kinds = sorted({e.type for e in _everything(at)})
    assert kinds == ["caption", "text_input", "title"], kinds
    [field] = at.text_input
    assert field.label == "Token" and field.proto.type == field.proto.PASSWORD  # typed as a password
    shown = _shown_text(at)
    assert "dev-team" not in shown and "planner" not in shown and "Build a team" not in shown
    assert "providers" not in shown and str(os.environ["HUDDLE_HOME"]) not in shown
    assert len(at.sidebar.children) == 0

    for wrong in ("", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), " " + TOKEN):
        at.text_input[0].set_value(wrong).run()
        assert not at.exception and "Build a team" not in _shown_text(at) and "dev-team" not in _shown_text(at)
        assert len(at.sidebar.children) == 0
        if wrong:
            assert at.error[0].value == "That is not this studio's token."


def test_the_studio_with_its_token_renders_and_stays_signed_in(monkeypatch, dev_team_file):
    monkeypatch.setenv(UI_TOKEN_ENV, TOKEN)
    monkeypatch.setenv("HUDDLE_UI_TEAM", str(dev_team_file))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[0].set_value(TOKEN).run()
    assert not at.exception
    assert at.title[0].value == "Build a team" and "dev-team" in _shown_text(at)
    at.run()  # another rerun of the same session: no login again
    assert at.title[0].value == "Build a team" and not [t for t in at.text_input if t.label == "Token"]


def test_the_studio_without_a_token_configured_opens_directly(monkeypatch):
    monkeypatch.delenv(UI_TOKEN_ENV, raising=False)
    monkeypatch.delenv("HUDDLE_UI_TEAM", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and at.title[0].value == "Build a team"


# -- attack: the memory proxy without the token ------------------------------------------------------------------

class _Upstream(BaseHTTPRequestHandler):
    """Stands in for Chroma: answers with what it received."""

    protocol_version = "HTTP/1.1"
    seen: list[dict] = []

    def log_message(self, *args):
        pass

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Upstream.seen.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
        data = json.dumps({"path": self.path, "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def proxy():
    _Upstream.seen = []
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server = token_proxy("127.0.0.1", 0, upstream_port=upstream.server_address[1], token=TOKEN)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (upstream, server)]
    for t in threads:
        t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    for s in (server, upstream):
        s.shutdown()
        s.server_close()


def _call(url: str, headers: dict, body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-of-the-same-len"},
                                     {"Authorization": f"Bearer {TOKEN[:-1]}"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}, {"X-Chroma-Token": ""},
                                     {"X-Chroma-Token": TOKEN + " "}])
def test_the_memory_proxy_refuses_a_request_without_its_token(proxy, headers):
    status, body = _call(f"{proxy}/api/v2/collections/huddle.team.knowledge/get", headers, b'{"limit": 100}')
    assert status == 401 and body["error"] == "AuthError"
    status, _ = _call(f"{proxy}/api/v2/heartbeat", headers)
    assert status == 401
    assert _Upstream.seen == []  # nothing reached the store


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {TOKEN}"}, {"authorization": f"bearer {TOKEN}"},
                                     {"X-Chroma-Token": TOKEN}])
def test_the_memory_proxy_forwards_a_request_with_its_token_and_keeps_the_token(proxy, headers):
    status, body = _call(f"{proxy}/api/v2/collections/c/query?x=1", headers, b'{"n_results": 3}')
    assert status == 200 and body == {"path": "/api/v2/collections/c/query?x=1", "body": '{"n_results": 3}'}
    [seen] = _Upstream.seen
    assert TOKEN not in json.dumps(seen["headers"])  # the store behind it never sees the token


def test_the_memory_proxy_logs_nothing(proxy, capfd):
    _call(f"{proxy}/api/v2/heartbeat", {"Authorization": "Bearer not-it"})
    _call(f"{proxy}/api/v2/heartbeat", {"Authorization": f"Bearer {TOKEN}"})
    out, err = capfd.readouterr()
    assert out == "" and err == ""



# -- attack: a team file that names another secret as its memory token ---------------------------------------------

@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "DATABASE_URL", "HOME", "huddle_memory_token", "AWS_SECRET"])
def test_a_team_file_cannot_send_another_secret_as_its_memory_token(name, tmp_path):
    team = tmp_path / "borrowed.yaml"
    team.write_text("name: borrowed\nroles: [{name: c, kind: coder}]\n"
                    f"memory: {{url: 'http://memory.example.org:8000', token_env: {name}}}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(team)
    assert "memory.token_env" in str(caught.value) and str(team) in str(caught.value)
    team.write_text(team.read_text().replace(name, "HUDDLE_MEMORY_TOKEN_SHARED"))
    assert load_spec(team).memory.token_env == "HUDDLE_MEMORY_TOKEN_SHARED"
