"""A streamed model call that fails part way and is retried: ``on_token`` gets ``RESTART`` between the attempts,
and every surface drops what the failed attempt said (the CLI's live line, the Run page, the notebook display and
the exported script's printer) instead of showing that part of the reply twice."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from _fake_run import fake_runner
from _notebook import fake_display
from rich.console import Console
from test_ui_run import _app, _start

from studio.api._live import drive
from studio.cli._live import LiveTokens
from studio.export import to_script
from studio.llm import CallSettings, Gateway
from studio.llm._streaming import RESTART, Relay, add_piece
from studio.llm.role_model import RoleModel
from studio.messages import Code, Usage
from studio.runner import RunResult

ASK = [{"role": "user", "content": "Say hello to Ada."}]
WORDS = ["Hello ", "Ada, ", "nice ", "to ", "meet ", "you."]
PIECES = [("coder", "Hello "), ("coder", "Ada, "), ("coder", RESTART), ("coder", "Hi "), ("coder", "there.")]
"""What a surface gets from a coder whose first try said two words before it failed."""


class _Flaky(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint whose first answer fails: after two words (or at once, with a 503)."""

    protocol_version = "HTTP/1.1"
    fail_at_once = False
    calls: list[int] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(1)
        first = len(self.calls) == 1
        if first and self.fail_at_once:
            self.send_response(503)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for word in WORDS[:2] if first else WORDS:
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        if first:  # the connection drops in the middle of the reply
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the connection it dropped on purpose


def _serve(fail_at_once: bool):
    handler = type("Flaky", (_Flaky,), {"fail_at_once": fail_at_once, "calls": []})
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler.calls


@pytest.fixture
def flaky():
    servers = []

    def start(fail_at_once: bool = False) -> tuple[CallSettings, list[int]]:
        server, calls = _serve(fail_at_once)
        servers.append(server)
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        return CallSettings(retries=2, retry_backoff_s=0.0, timeout_s=10, api_base=url), calls

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_reply_that_breaks_off_is_dropped_before_the_retry_streams_it_again(flaky):
    settings, calls = flaky()
    said: list[tuple[str, str]] = []
    reply = RoleModel(Gateway(), "openai/some-model", "coder", settings,
                      on_token=lambda key, piece: said.append((key, piece)))(ASK)
    assert len(calls) == 2 and reply.usage.calls == 2 and reply.text == "".join(WORDS)
    assert said == [("coder", w) for w in WORDS[:2]] + [("coder", RESTART)] + [("coder", w) for w in WORDS]
    text = ""
    for _, piece in said:
        text = add_piece(text, piece)
    assert text == reply.text  # what a surface keeps: the reply once


def test_a_call_that_fails_before_any_text_starts_over_without_a_restart(flaky):
    settings, calls = flaky(fail_at_once=True)
    pieces: list[str] = []
    reply = Gateway().complete("openai/some-model", ASK, settings=settings, on_token=pieces.append)
    assert len(calls) == 2 and pieces == WORDS and reply.text == "".join(WORDS)


def test_a_models_own_cancel_character_never_reads_as_a_restart():
    pieces: list[str] = []
    relay = Relay(pieces.append)
    relay(f"a{RESTART}b")
    relay(RESTART)  # all of it the character: nothing to pass on
    relay("")  # a sign of life still goes through
    assert pieces == ["ab", ""] and RESTART not in "".join(pieces)


def test_the_cli_live_line_starts_over():
    live = LiveTokens(Console(width=80, force_terminal=False))
    for key, piece in PIECES[:3]:
        live.token(key, piece)
    assert live.lines()[0].plain.startswith("coder is thinking…")  # between the tries
    for key, piece in PIECES[3:]:
        live.token(key, piece)
    line = live.lines()[0].plain
    assert line.startswith("coder · 2 tok · ") and line.endswith("Hi there.") and "Hello" not in line


def test_the_notebook_display_drops_the_failed_words_and_the_callback_hears_the_restart(dev_team):
    display, shown = fake_display()

    heard: list[tuple[str, str]] = []

    def start(published, turn, token):
        turn("coder")
        for key, piece in PIECES:
            token(key, piece)
        return RunResult("r", "done", [])

    drive(dev_team, start, display, None, lambda key, piece: heard.append((key, piece)))
    assert heard == PIECES
    live = [html for html in shown if "is speaking…" in html]
    assert "<pre>Hello " in live[0]  # the first piece shows at once; so does the retry's first
    assert "<pre>Hi " in live[-1] and "Hello" not in live[-1]


def test_the_exported_scripts_printer_marks_the_failed_words_dropped(dev_team, capsys):
    source = to_script(dev_team)
    space: dict = {"__name__": "exported"}
    exec(compile(source, "exported.py", "exec"), space)
    assert space["RESTART"] == RESTART
    printer = space["Printer"]()
    for key, piece in [*PIECES[:2], ("critic", "Fine"), *PIECES[2:]]:
        printer.piece(key, piece)
    printer.published(Code(run_id="r", sender="coder", content="Hi there."))
    err = capsys.readouterr().err
    assert err.splitlines() == ["coder > Hello Ada, ", "critic > Fine",
                                "coder > [dropped: the call failed part way; trying again]", "coder > Hi there."]


@pytest.fixture
def retried(monkeypatch):
    """Stands in for the runner: the coder says two words, fails, starts over, then waits for the test's go."""
    go, said = threading.Event(), threading.Event()

    def speak(run_id, on_turn, on_token, publish):
        on_turn("coder")
        for key, piece in PIECES:
            on_token(key, piece)
        said.set()
        assert go.wait(30)
        message = Code(run_id=run_id, sender="coder", content="Hi there.", code="x = 1", usage=Usage(calls=2))
        publish(message)
        return message

    fake_runner(monkeypatch, speak, lambda spec: {"name": spec.name, "roles": [{"name": "coder", "kind": "coder"}]})
    return go, said


def test_the_run_page_shows_the_retry_from_its_start(dev_team, retried):
    go, said = retried
    app = _app(dev_team)
    handle = _start(app, "scripted:unused.yaml")
    try:
        assert said.wait(30)
        app.run()
        assert not app.exception, app.exception
        speech = handle.speeches()["coder"]
        assert speech.text == "Hi there." and speech.attempt == 2
        texts = [m.value for m in app.markdown] + [c.value for c in app.caption]
        assert "Hi there." in texts and not any("Hello Ada" in t for t in texts)
        assert any(t.startswith("coder is speaking · ") and t.endswith("s · attempt 2") for t in texts)
    finally:
        go.set()
        handle.join(30)
    assert handle.status == "done"
