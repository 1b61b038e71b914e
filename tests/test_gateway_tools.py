"""Native function calling through the gateway: tools out, tool calls back (litellm's mock, a loopback stream)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import litellm
import pytest

from studio.llm import CallSettings, Gateway, ToolCallRequest, supports_native_tools
from studio.llm.role_model import RoleModel
from studio.spec import parse_spec

FAST = CallSettings(retries=0, retry_backoff_s=0.0, timeout_s=10)
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def _call(id_: str, name: str, arguments: str) -> dict:
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.fixture
def mocked(monkeypatch):
    """litellm.completion answering from its own mock (``mock_tool_calls``), recording what the gateway sent."""
    sent: list[dict] = []
    real = litellm.completion
    answer: dict = {"mock_response": "", "mock_tool_calls": None}

    def completion(**kwargs):
        sent.append(kwargs)
        if kwargs["model"].startswith("scripted/"):  # the scripted provider brings its own mock_response
            return real(**kwargs)
        return real(**{**kwargs, "model": "openai/gpt-4o-mini", **answer})

    monkeypatch.setattr(litellm, "completion", completion)
    return sent, answer


def test_tool_calls_come_back_parsed_and_tools_go_out_with_auto_choice(mocked):
    sent, answer = mocked
    answer["mock_tool_calls"] = [_call("call_1", "get_weather", '{"city": "Paris"}'),
                                 _call("call_2", "get_weather", '{"city": "Lyon"}')]
    reply = Gateway().complete("gpt-4o-mini", ASK, role="coder", settings=FAST, tools=[WEATHER])
    assert reply.tool_calls == (ToolCallRequest("call_1", "get_weather", {"city": "Paris"}),
                                ToolCallRequest("call_2", "get_weather", {"city": "Lyon"}))
    assert reply.text == ""
    assert sent[0]["tools"] == [WEATHER] and sent[0]["tool_choice"] == "auto"


def test_a_plain_reply_has_no_tool_calls_and_sends_no_tools(mocked):
    sent, answer = mocked
    answer["mock_response"] = "It is sunny."
    reply = Gateway().complete("gpt-4o-mini", ASK, role="coder", settings=FAST)
    assert reply.text == "It is sunny." and reply.tool_calls == ()
    assert "tools" not in sent[0] and "tool_choice" not in sent[0]


@pytest.mark.parametrize("raw", ['{"city": "Par', "[1, 2]", "Paris"])
def test_arguments_that_are_not_a_json_object_are_kept_raw_for_the_model(mocked, raw):
    _, answer = mocked
    answer["mock_tool_calls"] = [_call("call_1", "get_weather", raw)]
    reply = Gateway().complete("gpt-4o-mini", ASK, role="coder", settings=FAST, tools=[WEATHER])
    assert reply.tool_calls == (ToolCallRequest("call_1", "get_weather", {"_invalid": raw}),)


def test_a_forced_choice_is_passed_on(mocked):
    sent, answer = mocked
    answer["mock_tool_calls"] = [_call("call_1", "get_weather", "{}")]
    forced = {"type": "function", "function": {"name": "get_weather"}}
    reply = Gateway().complete("gpt-4o-mini", ASK, settings=FAST, tools=[WEATHER], tool_choice=forced)
    assert sent[0]["tool_choice"] == forced and reply.tool_calls[0].arguments == {}


def test_in_process_models_never_get_tools(mocked, script):
    sent, answer = mocked
    answer["mock_response"] = "plain"
    model = script({"coder": ["plain"]})
    assert Gateway().complete(model, ASK, role="coder", settings=FAST, tools=[WEATHER]).tool_calls == ()
    Gateway().complete("local/smollm2", ASK, role="coder", settings=FAST, tools=[WEATHER])  # answered by the mock
    # the scripted reply never reaches litellm (a scripted run does not import it); the local call gets no tools
    assert [("tools" in s, "tool_choice" in s) for s in sent] == [(False, False)]


def test_tool_turns_reach_the_scripted_model_unchanged(script):
    """The act loop's assistant turn (content may be None) and tool result turn pass through as they are."""
    turns = [*ASK, {"role": "assistant", "content": None, "tool_calls": [_call("call_1", "get_weather", "{}")]},
             {"role": "tool", "tool_call_id": "call_1", "content": "sunny and warm"}]
    model = script({"coder": ["It is sunny and warm."]})
    gateway = Gateway()
    reply = gateway.complete(model, turns, role="coder", settings=FAST, tools=[WEATHER])
    assert reply.text == "It is sunny and warm." and reply.tool_calls == ()
    assert gateway.script(model).calls[0].messages == turns
    assert reply.usage.prompt_tokens == 6 + 3  # the words of the user and tool turns; no "None" counted


class _Stream(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that streams text, then two tool calls split across deltas."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        first = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
        deltas = [{"role": "assistant", "content": "Let me "}, {"content": "look."},
                  {"tool_calls": [first]},
                  {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
                  {"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]},
                  {"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                   "function": {"name": "get_weather", "arguments": '{"city": "Ly'}}]}]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i, delta in enumerate([*deltas, {}]):
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": "tool_calls" if i == len(deltas)
                                  else None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def stream_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_streamed_tool_calls_are_gathered_from_their_deltas(stream_endpoint):
    pieces: list[str] = []
    settings = CallSettings(retries=0, timeout_s=10, api_base=stream_endpoint)
    reply = Gateway().complete("openai/some-model", ASK, settings=settings, tools=[WEATHER], on_token=pieces.append)
    assert pieces == ["Let me ", "look."] and reply.text == "Let me look."
    assert reply.tool_calls == (ToolCallRequest("call_a", "get_weather", {"city": "Paris"}),
                                ToolCallRequest("call_b", "get_weather", {"_invalid": '{"city": "Ly'}))


def test_which_models_get_native_tools():
    gw = Gateway()
    assert RoleModel(gw, "gpt-4o-mini", "coder", CallSettings()).native_tools  # litellm knows it calls functions
    assert not RoleModel(gw, "gpt-4o-mini", "coder", CallSettings(native_tools=False)).native_tools
    assert not RoleModel(gw, "openai/my-llama", "coder", CallSettings()).native_tools  # unknown to litellm
    assert RoleModel(gw, "openai/my-llama", "coder", CallSettings(native_tools=True)).native_tools  # opted in
    for model in ("local/smollm2", "scripted:x.yaml"):  # constrained JSON, whatever the team says
        assert not supports_native_tools(model, True)


def test_a_role_model_passes_tools_through(mocked):
    sent, answer = mocked
    answer["mock_tool_calls"] = [_call("call_1", "get_weather", '{"city": "Oslo"}')]
    model = RoleModel(Gateway(), "gpt-4o-mini", "coder", FAST)
    reply = model(ASK, tools=[WEATHER])
    assert reply.tool_calls[0].arguments == {"city": "Oslo"} and sent[0]["tools"] == [WEATHER]


def test_the_team_opts_in_to_native_tools():
    from studio._run_state import call_settings as _settings

    spec = parse_spec({"name": "t", "roles": [{"name": "coder", "kind": "coder"}],
                       "defaults": {"model": "openai/smollm2", "api_base": "http://127.0.0.1:8080/v1",
                                    "native_tools": True}})
    assert spec.defaults.native_tools is True and _settings(spec, spec.roles[0]).native_tools is True
    assert parse_spec({"name": "t", "roles": [{"name": "coder", "kind": "coder"}]}).defaults.native_tools is None
