"""Traces out: a run's spans reach a real OTLP/HTTP receiver on loopback, with the run's structure and usage.

The receiver is a plain ``http.server`` that decodes each POST /v1/traces body with OpenTelemetry's own
protobuf (``ExportTraceServiceRequest``), as a collector would.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import _tool_funcs
import pytest
from _procs import free_port
from _replies import approve, code
from conftest import duo_team
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from studio import Team
from studio.messages import Code, Execution, Task, ToolCall, Usage
from studio.spec import dump_spec, parse_spec
from studio.telemetry import run_trace

HUDDLE = str(Path(sys.executable).parent / "huddle")
SECRET = "sk-test-4f9a8b7c6d5e4f3a2b1c0d9e"
OTEL_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS",
             "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME",
             "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _attrs(key_values) -> dict:
    return {kv.key: _value(kv.value) for kv in key_values}


class Receiver:
    """An OTLP/HTTP receiver on 127.0.0.1: every span it was sent, flattened, and the requests' headers."""

    def __init__(self):
        self.spans: list[dict] = []
        self.headers: list[dict] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.paths.append(self.path)
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    resource = _attrs(resource_spans.resource.attributes)
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            receiver.spans.append({
                                "name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(), "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano, "attrs": _attrs(span.attributes),
                                "status": span.status.code, "status_message": span.status.message,
                                "events": [(e.name, _attrs(e.attributes)) for e in span.events],
                                "resource": resource})
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def named(self, prefix: str) -> list[dict]:
        return [s for s in self.spans if s["name"].startswith(prefix)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    got = Receiver()
    yield got
    got.close()


@pytest.fixture(autouse=True)
def _fresh_calls():
    _tool_funcs.CALLS.clear()


def tool_team():
    """The duo (coder + critic, sandbox on) with the ``add`` tool for the coder."""
    spec = duo_team(10).model_dump(by_alias=True, exclude_defaults=True)
    spec["roles"][0].update({"tools": [{"python": "_tool_funcs:add"}], "max_tool_calls": 2})
    return parse_spec(spec)


def tool_script(script, *, secret: str = "") -> str:
    return script({"coder": [json.dumps({"tool": "add", "arguments": {"a": 2, "b": 40}}),
                             code(f"ANSWER = 42  # {secret}\n\ndef test_answer():\n    assert ANSWER == 42")],
                   "critic": [approve("")]})


def test_a_run_sends_run_turn_model_tool_and_sandbox_spans_to_an_otlp_receiver(receiver, monkeypatch, script):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    model = tool_script(script)
    run = Team.from_spec(tool_team()).run("What is 2 + 40? Use the tool.", model=model, display=None)
    assert run.status == "done"
    assert set(receiver.paths) == {"/v1/traces"}
    spans = receiver.spans
    by_id = {s["span_id"]: s for s in spans}

    [root] = receiver.named("huddle.run")
    assert root["parent"] == "" and root["trace_id"] == run.run_id  # the run id is the trace id
    assert {k: root["attrs"][k] for k in ("huddle.run_id", "huddle.team", "huddle.status", "huddle.resumed")} == {
        "huddle.run_id": run.run_id, "huddle.team": "duo", "huddle.status": "done", "huddle.resumed": False}
    assert root["resource"]["service.name"] == "huddle"
    assert all(s["trace_id"] == run.run_id for s in spans)
    assert all(s["parent"] in by_id for s in spans if s is not root)  # every parent was sent too

    # one turn span per message a role published (tool calls, results and executions go under turns)
    turns = receiver.named("invoke_agent ")
    said = [m for m in run.messages if m.sender in ("coder", "critic") and m.kind in ("code", "review")]
    assert sorted(t["attrs"]["huddle.message_id"] for t in turns) == sorted(m.id for m in said)
    assert all(t["parent"] == root["span_id"] for t in turns)
    for turn in turns:
        message = next(m for m in said if m.id == turn["attrs"]["huddle.message_id"])
        assert (turn["attrs"]["huddle.role"], turn["attrs"]["huddle.kind"]) == (message.sender, message.kind)
        assert root["start"] <= turn["start"] <= turn["end"] <= root["end"]

    # model calls: a child of their turn, with the run log's usage in the GenAI attributes
    chats = receiver.named("chat ")
    assert len(chats) == len(said)
    for chat in chats:
        turn = by_id[chat["parent"]]
        message = next(m for m in said if m.id == turn["attrs"]["huddle.message_id"])
        a = chat["attrs"]
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "scripted"
        assert a["gen_ai.request.model"] == model
        assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"], a["huddle.model_calls"]) == (
            message.usage.prompt_tokens, message.usage.completion_tokens, message.usage.calls)
        assert message.usage.prompt_tokens > 0 and message.usage.completion_tokens > 0
        assert turn["start"] <= chat["start"] <= chat["end"] <= turn["end"]
    logged = sum((m.usage for m in run.messages), Usage())
    assert sum(c["attrs"]["gen_ai.usage.input_tokens"] for c in chats) == logged.prompt_tokens
    assert root["attrs"]["huddle.usage.output_tokens"] == logged.completion_tokens

    # the tool call and the sandbox run sit under the coder's turn that wrote the code
    coder_turn = next(t for t in turns if t["attrs"]["huddle.kind"] == "code")
    [tool] = receiver.named("execute_tool ")
    assert tool["parent"] == coder_turn["span_id"]
    assert (tool["attrs"]["gen_ai.tool.name"], tool["attrs"]["huddle.tool.ok"]) == ("add", True)
    assert tool["attrs"]["gen_ai.tool.call.id"] == next(m.id for m in run.messages if isinstance(m, ToolCall))
    [sandbox] = receiver.named("huddle.sandbox")
    execution = next(m for m in run.messages if isinstance(m, Execution))
    assert sandbox["parent"] == coder_turn["span_id"]
    assert execution.parent_id == coder_turn["attrs"]["huddle.message_id"]
    assert (sandbox["attrs"]["huddle.execution.passed"], sandbox["attrs"]["huddle.execution.exit_code"]) == (1, 0)
    assert coder_turn["start"] <= sandbox["start"] <= sandbox["end"] <= coder_turn["end"]  # the turn spans its run

    # off by default: no prompt, reply or task text in any span
    assert not any(k in s["attrs"] for s in spans for k in ("huddle.task", "huddle.content",
                                                             "gen_ai.tool.call.arguments"))


def _all_values(spans) -> list[str]:
    out = []
    for s in spans:
        for attrs in [s["attrs"], s["resource"], *(a for _, a in s["events"])]:
            out += [json.dumps(v) for v in attrs.values()]
        out.append(s["status_message"])
    return out


def test_no_secret_reaches_a_span_even_with_content_capture_on(receiver, monkeypatch, script):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    run = Team.from_spec(tool_team()).run(f"Add 2 and 40; my key is {SECRET}.", model=tool_script(script,
                                          secret=SECRET), display=None)
    assert run.status == "done"
    [root] = receiver.named("huddle.run")
    assert "[redacted" in root["attrs"]["huddle.task"] and "Add 2 and 40" in root["attrs"]["huddle.task"]
    coder_turn = next(s for s in receiver.named("invoke_agent coder"))
    assert "ANSWER = 42" in coder_turn["attrs"]["huddle.content"]  # content is attached when asked for
    values = _all_values(receiver.spans)
    assert values and not [v for v in values if SECRET in v or "4f9a8b7c6d5e" in v]


def test_messages_that_still_hold_a_secret_are_redacted_in_the_spans(receiver, monkeypatch):
    """The tracer redacts by itself: messages given to it unredacted (not from the runner) leak nothing."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("DEMO_SERVICE_TOKEN", "tok-0123456789abcdef")
    subscribers = []
    trace = run_trace(lambda pattern, callback: subscribers.append(callback), "a" * 32, "secret team")
    [deliver] = subscribers
    with trace:
        deliver(Task(run_id="r", sender="user", content=f"use {SECRET}"))
        deliver(ToolCall(run_id="r", sender="coder", tool="fetch", arguments={"token": "tok-0123456789abcdef"}))
        deliver(Code(run_id="r", sender="coder", content=f"KEY = '{SECRET}'", code=f"KEY = '{SECRET}'",
                     usage=Usage(prompt_tokens=5, completion_tokens=3, calls=1, latency_ms=2.0, model="gpt-4o")))
    names = sorted(s["name"] for s in receiver.spans)
    assert names == ["chat gpt-4o", "execute_tool fetch", "huddle.run", "invoke_agent coder"]
    values = _all_values(receiver.spans)
    assert not [v for v in values if SECRET in v or "tok-0123456789abcdef" in v]
    tool = receiver.named("execute_tool")[0]["attrs"]
    assert "[redacted DEMO_SERVICE_TOKEN]" in tool["gen_ai.tool.call.arguments"]
    assert receiver.named("chat")[0]["attrs"]["gen_ai.provider.name"] == "openai"


def test_a_failed_run_marks_its_root_span_as_an_error(receiver, monkeypatch, script):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    model = script({"coder": [code("ANSWER = 1")], "critic": []})  # the critic has no reply: the run fails
    run = Team.from_spec(duo_team(10)).run("Write ANSWER.", model=model, display=None)
    assert run.status == "failed"
    [root] = receiver.named("huddle.run")
    assert root["attrs"]["huddle.status"] == "failed" and root["status"] == 2  # STATUS_CODE_ERROR
    assert "critic" in root["status_message"]
    assert [name for name, _ in root["events"]] == ["huddle.error"]


def test_a_run_inside_a_span_of_the_callers_nests_under_it_and_otel_false_sends_nothing(receiver, monkeypatch,
                                                                                        script):
    from opentelemetry.sdk.trace import TracerProvider

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{receiver.url}/v1/traces")
    team = Team.from_spec(duo_team(10))
    quiet = team.run("Write ANSWER.", model=script({"coder": [code("ANSWER = 1")], "critic": [approve("")]}),
                     display=None, otel=False)
    assert quiet.status == "done" and receiver.spans == []
    mine = TracerProvider().get_tracer("my-app")
    model = script({"coder": [code("ANSWER = 1")], "critic": [approve("")]})
    with mine.start_as_current_span("handle request") as span:
        run = team.run("Write ANSWER.", model=model, display=None, otel=True)
    assert run.status == "done"
    [root] = receiver.named("huddle.run")
    assert root["attrs"]["huddle.run_id"] == run.run_id
    context = span.get_span_context()
    assert root["parent"] == f"{context.span_id:016x}" and root["trace_id"] == f"{context.trace_id:032x}"


def test_a_collector_that_is_down_neither_fails_nor_slows_a_run(monkeypatch, script, caplog):
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    team = Team.from_spec(duo_team(10))

    def timed(otel):
        model = script({"coder": [code("ANSWER = 1")], "critic": [approve("")]})
        started = time.monotonic()
        assert team.run("Write ANSWER.", model=model, display=None, otel=otel).status == "done"
        return time.monotonic() - started

    import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401 - its first import is not the run's
    with caplog.at_level(logging.WARNING):
        bare = [timed(False), timed(False)]
        traced = [timed(None), timed(None)]
    assert max(traced) < min(bare) + 0.5, (bare, traced)  # an export that fails tries once, without waiting
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["studio.telemetry"], [r.getMessage() for r in warnings]  # just once
    assert "traces could not be sent to http://127.0.0.1:" in warnings[0].getMessage()


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OTEL_VARS}
    return {**env, "PYTHONPATH": str(Path(__file__).parent), **extra}


@pytest.fixture
def duo_file(tmp_path, script) -> tuple[Path, str]:
    path = tmp_path / "duo.yaml"
    path.write_text(dump_spec(duo_team(10)))
    return path, script({"coder": [code("ANSWER = 1\n\ndef test_answer():\n    assert ANSWER == 1")],
                         "critic": [approve("")]})


def test_huddle_run_otel_sends_spans_with_the_sdk_headers_and_service_name(receiver, duo_file):
    team_file, model = duo_file
    env = _env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_EXPORTER_OTLP_HEADERS="x-team-key=abc123",
               OTEL_SERVICE_NAME="my-huddle")
    out = subprocess.run([HUDDLE, "run", str(team_file), "Write ANSWER.", "--model", model, "--otel"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    [root] = receiver.named("huddle.run")
    assert f"run {root['attrs']['huddle.run_id']} · done" in out.stdout + out.stderr
    assert root["resource"]["service.name"] == "my-huddle"
    assert {h.get("x-team-key") for h in receiver.headers} == {"abc123"}
    assert [s["name"] for s in receiver.spans if s["parent"] == root["span_id"]].count("invoke_agent coder") == 1
    assert receiver.named("huddle.sandbox")[0]["attrs"]["huddle.execution.passed"] == 1


def test_huddle_run_otel_without_a_collector_warns_once_and_succeeds(duo_file):
    team_file, model = duo_file
    with socket.socket() as held:  # the default endpoint's port, bound and not listening: connections are refused
        try:
            held.bind(("127.0.0.1", 4318))
        except OSError as exc:
            raise AssertionError("this test needs port 4318 (OTLP/HTTP's default) free on 127.0.0.1") from exc
        started = time.monotonic()
        out = subprocess.run([HUDDLE, "run", str(team_file), "Write ANSWER.", "--model", model, "--otel"],
                             capture_output=True, text=True, env=_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("traces could not be sent to http://localhost:4318/v1/traces") == 1, out.stderr
    assert "Traceback" not in out.stderr and "Failed to export" not in out.stderr
    assert time.monotonic() - started < 60


PROBE = textwrap.dedent("""
    import json, socket, sys
    from conftest import duo_team
    from _replies import approve, code
    connects = []
    real = socket.socket.connect
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            connects.append(list(address[:2]))
        return real(self, address)
    socket.socket.connect = connect
    from studio.runner import run_team
    result = run_team(duo_team(10), "Write ANSWER.", model=sys.argv[1])
    print(json.dumps({"status": result.status, "connects": connects,
                      "loaded": sorted(m for m in sys.modules if m.startswith(
                          ("opentelemetry.exporter", "studio.telemetry._spans", "studio.telemetry._export")))}))
""")


@pytest.mark.parametrize("on", [False, True])
def test_without_otel_nothing_is_exported_or_connected(receiver, duo_file, on):
    """Off: no exporter or span module is imported and no socket opens (langgraph's langsmith imports the
    OpenTelemetry SDK itself, so the check is on what only tracing loads). On: the same probe sees both."""
    _, model = duo_file
    env = _env(**({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url} if on else {}))
    out = subprocess.run([sys.executable, "-c", PROBE, model], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["status"] == "done"
    port = int(receiver.url.rsplit(":", 1)[1])
    if on:
        assert "studio.telemetry._spans" in seen["loaded"] and [c[1] for c in seen["connects"]] == [port]
        assert receiver.named("huddle.run")
    else:
        assert seen["loaded"] == [] and seen["connects"] == [] and receiver.spans == []


def test_a_waiting_run_and_its_resumed_session_share_one_trace(receiver, monkeypatch, script):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    spec = duo_team(10).model_copy(update={"approval": ["before_final"]})
    run = Team.from_spec(spec).run("Write ANSWER.", model=script({"coder": [code("ANSWER = 1")],
                                                                   "critic": [approve("")]}), display=None)
    assert run.status == "waiting"
    [first] = receiver.named("huddle.run")
    assert first["attrs"]["huddle.status"] == "waiting"
    assert [a["huddle.point"] for name, a in first["events"] if name == "huddle.approval"] == ["before_final"]
    done = run.approve(display=None)
    assert done.status == "done"
    roots = receiver.named("huddle.run")
    assert len(roots) == 2 and {r["trace_id"] for r in roots} == {run.run_id}
    second = next(r for r in roots if r is not first)
    assert (second["attrs"]["huddle.status"], second["attrs"]["huddle.resumed"]) == ("done", True)
    assert second["start"] >= first["end"]
