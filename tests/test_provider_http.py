"""A real provider over HTTP: llama-cpp-python's OpenAI-compatible server on loopback, called through litellm's
``openai/`` provider with ``api_base``, exactly as a team would call Ollama, vLLM or LM Studio."""

from __future__ import annotations

import pytest
from _llama_server import MODEL_NAME, llama_server  # noqa: F401 - the session fixture
from conftest import DEV_TEAM

from studio.llm import CallSettings, Gateway, ToolCallRequest
from studio.messages import Code, Execution, Final
from studio.runner import run_team
from studio.spec import load_spec, parse_spec
from studio.tools.function import function_tool

pytestmark = pytest.mark.slow

MODEL = f"openai/{MODEL_NAME}"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Loopback calls never go through a proxy the environment names."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def _settings(url: str, **changes) -> CallSettings:
    return CallSettings(**{"api_base": url, "retries": 0, "timeout_s": 60, "max_tokens": 64, "temperature": 0.0,
                           **changes})


def get_weather(city: str) -> str:
    """The current weather in a city.

    Args:
        city: the city's name.
    """
    return f"sunny in {city}"


WEATHER = function_tool(get_weather)
ASK = [{"role": "system", "content": "You answer questions, calling a function when it helps."},
       {"role": "user", "content": "What is the weather in Paris? Use the tool."}]


def test_a_team_runs_through_the_openai_provider(llama_server, home):  # noqa: F811
    """The example dev team's coder, alone, on the server: ``defaults.model: openai/smollm2`` and ``api_base``."""
    data = load_spec(DEV_TEAM).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["defaults"] |= {"model": MODEL, "api_base": llama_server, "retries": 0, "timeout_s": 60}
    data["roles"] = [{**r, "writes_tests": False} for r in data["roles"] if r["name"] == "coder"]
    data["flow"] = {"entry": "coder", "max_rounds": 1}
    data["memory"] = {"enabled": False}
    spec = parse_spec(data)
    result = run_team(spec, "Write a Python function add(a, b) that returns the sum of a and b.")
    assert result.status == "done", result.error
    code = [m for m in result.messages if isinstance(m, Code)]
    assert code and all(m.usage.model == MODEL and m.usage.completion_tokens > 0 for m in code)
    assert all(m.usage.prompt_tokens > 0 and m.usage.cost_usd == 0 for m in code)  # a self-hosted model is free
    assert any(isinstance(m, Execution) for m in result.messages)  # what the server wrote ran in the sandbox
    assert isinstance(result.final, Final)


def test_a_plain_reply_and_a_streamed_one(llama_server):  # noqa: F811
    gateway = Gateway()
    ask = [{"role": "user", "content": "Say hello to Ada in one sentence."}]
    plain = gateway.complete(MODEL, ask, settings=_settings(llama_server))
    assert plain.text.strip() and plain.tool_calls == () and plain.usage.completion_tokens > 0
    pieces: list[str] = []
    streamed = gateway.complete(MODEL, ask, settings=_settings(llama_server), on_token=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == streamed.text and streamed.text.strip()


def test_a_native_tool_call_and_the_turns_after_it(llama_server):  # noqa: F811
    """``chatml-function-calling`` picks a call or a reply by grammar, then constrains the arguments by the schema."""
    gateway = Gateway()
    reply = gateway.complete(MODEL, ASK, settings=_settings(llama_server), tools=[WEATHER.openai_spec()])
    assert [call.name for call in reply.tool_calls] == ["get_weather"]
    call = reply.tool_calls[0]
    assert isinstance(call, ToolCallRequest) and call.id and isinstance(call.arguments.get("city"), str)
    outcome = WEATHER.call(call.arguments)  # the arguments pass the tool's own validation
    assert outcome.ok and outcome.text.startswith("sunny in")
    # The act loop's next turns (assistant with tool_calls, then the tool's result) go to the server as they are.
    asked = {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": '{"city": "Paris"}'}}
    turns = [*ASK, {"role": "assistant", "content": reply.text, "tool_calls": [asked]},
             {"role": "tool", "tool_call_id": call.id, "content": outcome.text}]
    # (llama-cpp-python's chatml-function-calling template renders the call but has no place for a tool turn, so
    # this server's model never sees the result: what holds here is that the turns are accepted and answered.)
    after = gateway.complete(MODEL, turns, settings=_settings(llama_server))
    assert after.usage.prompt_tokens > 0 and (after.text.strip() or after.tool_calls)


def test_a_forced_tool_call_streams_its_arguments(llama_server):  # noqa: F811
    """The server streams a forced call's arguments piece by piece, repeating the id and name in every delta."""
    forced = {"type": "function", "function": {"name": "get_weather"}}
    pieces: list[str] = []
    reply = Gateway().complete(MODEL, ASK, settings=_settings(llama_server), tools=[WEATHER.openai_spec()],
                               tool_choice=forced, on_token=pieces.append)
    assert [call.name for call in reply.tool_calls] == ["get_weather"] and pieces == []
    assert isinstance(reply.tool_calls[0].arguments.get("city"), str) and WEATHER.call(reply.tool_calls[0].arguments).ok
