"""The LLM gateway on the scripted provider: retries, usage, streaming, concurrency."""

from __future__ import annotations

import threading
import time

import pytest

from studio.llm import CallSettings, Gateway, ModelCallError, ModelConfigError, check_model
from studio.llm.scripted import ScriptedModel, ScriptExhausted

MSGS = [{"role": "user", "content": "hello there"}]
FAST = CallSettings(retries=2, retry_backoff_s=0.0)


def test_reply_and_usage(script):
    model = script({"coder": ["one two three"]})
    reply = Gateway().complete(model, MSGS, role="coder", settings=FAST)
    assert reply.text == "one two three"
    assert reply.usage.calls == 1 and reply.usage.completion_tokens == 3 and reply.usage.prompt_tokens == 2
    assert reply.usage.model == model and reply.usage.latency_ms >= 0


def test_retry_backoff_doubles(script):
    model = script({"coder": [{"error": "429"}, {"error": "429"}, "ok"]})
    started = time.perf_counter()
    reply = Gateway().complete(model, MSGS, role="coder", settings=CallSettings(retries=2, retry_backoff_s=0.05))
    assert reply.text == "ok" and reply.usage.calls == 3
    assert time.perf_counter() - started >= 0.05 + 0.10


def test_no_retries_left_names_model_and_provider(script):
    model = script({"coder": [{"error": "overloaded"}, {"error": "overloaded"}]})
    with pytest.raises(ModelCallError, match=r"provider scripted\) failed after 2 attempt\(s\): .*overloaded"):
        Gateway().complete(model, MSGS, role="coder", settings=CallSettings(retries=1, retry_backoff_s=0))


def test_exhausted_script_is_not_retried(script):
    model = script({"coder": []})
    gateway = Gateway()
    with pytest.raises(ScriptExhausted, match="'coder'"):
        gateway.complete(model, MSGS, role="coder", settings=FAST)
    assert gateway.script(model).calls == []


def test_streaming_delivers_pieces_that_add_up(script):
    model = script({"coder": ["a few words, streamed"]})
    pieces: list[str] = []
    reply = Gateway().complete(model, MSGS, role="coder", settings=FAST, on_token=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == reply.text == "a few words, streamed"


def test_concurrency_limit(script, monkeypatch):
    model = script({"coder": [{"content": "x", "delay_s": 0.1}] * 6})
    active, peak, lock = 0, 0, threading.Lock()
    real = ScriptedModel.reply

    def counting(self, role, messages):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return real(self, role, messages)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(ScriptedModel, "reply", counting)
    gateway = Gateway(max_concurrency=2)
    gateway.script(model)  # load once, before the threads race
    threads = [threading.Thread(target=gateway.complete, args=(model, MSGS), kwargs={"role": "coder"})
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 2


def test_each_gateway_has_its_own_queues(script):
    model = script({"coder": ["only one"]})
    assert Gateway().complete(model, MSGS, role="coder").text == "only one"
    assert Gateway().complete(model, MSGS, role="coder").text == "only one"


@pytest.mark.parametrize("model, message", [
    ("gpt-4o-mini", "needs OPENAI_API_KEY"),
    ("anthropic/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
    ("scripted:/no/such/file.yaml", "does not exist"),
    ("local/unknown", "unknown local model"),
])
def test_check_model_says_what_to_set(model, message):
    with pytest.raises(ModelConfigError, match=message):
        check_model(model)


def test_check_model_accepts_runnable_models(monkeypatch):
    check_model("local/smollm2")
    check_model("ollama/llama3.2")  # a local server needs no key
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    check_model("gpt-4o-mini")


def test_schemas_sent_to_providers():
    """The embedded model gets any schema as a grammar; providers only object-rooted ones they support."""
    from pydantic import BaseModel, RootModel

    class Reply(BaseModel):
        verdict: str

    class Search(BaseModel):
        tool: str

    union = RootModel[Search | Reply]
    gw = Gateway()
    assert gw._schema_args("local/smollm2", union)["response_format"]["schema"]["anyOf"]
    assert gw._schema_args("local/smollm2", Reply)["response_format"]["schema"]["type"] == "object"
    assert gw._schema_args("gpt-4o-mini", union) == {}  # a root anyOf is not valid structured output
    assert gw._schema_args("gpt-4o-mini", Reply) == {"response_format": Reply}
    assert gw._schema_args("scripted:x.yaml", Reply) == {}


def test_in_process_models_have_their_own_providers():
    from studio.llm import provider_of

    assert provider_of("local/smollm2") == "local"  # the scheduler runs it one call at a time by default
    assert provider_of("scripted:x.yaml") == "scripted"
    assert provider_of("anthropic/claude-3-5-haiku-latest") == "anthropic"


def test_uncontended_call_records_its_queue_time(script):
    from studio.llm.schedule import Scheduler

    model = script({"coder": ["hi"]})
    usage = Gateway(scheduler=Scheduler(environ={})).complete(model, MSGS, role="coder").usage
    assert 0 <= usage.queue_ms <= usage.latency_ms
