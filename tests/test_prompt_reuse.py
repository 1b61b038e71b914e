"""The embedded model (SmolLM2 via llama.cpp): prompts reuse earlier work, replies stay the same per seed.

Calls sample with a seed of their own (given, or derived from the role key and the prompt), so a reply
depends neither on the calls before it nor on whether its prompt came from a saved state.
"""

from __future__ import annotations

import threading

import pytest

from studio.llm import CallSettings, Gateway
from studio.llm._prompt_cache import PromptCache
from studio.llm.local import get_local_model

pytestmark = pytest.mark.slow

SYSTEM = ("You are coder, the coder of a small software team. Write Python that solves the task. Reply with a "
          "short explanation and exactly one fenced code block.")
EXAMPLES = [
    {"role": "user", "content": "Task: Write a Python function double(n) that returns n times two.\n"
                                "Example:\nassert double(3) == 6\nWrite the code."},
    {"role": "assistant", "content": "```python\ndef double(n):\n    return n * 2\n```"},
    {"role": "user", "content": "Task: Write a Python function first_word(s) that returns the first word of s.\n"
                                "Example:\nassert first_word('hi there') == 'hi'\nWrite the code."},
    {"role": "assistant", "content": "```python\ndef first_word(s):\n    return s.split()[0]\n```"},
]


def coder(task: str) -> list[dict[str, str]]:
    """A coder prompt as the solver team's: system, two worked examples, the task."""
    return [{"role": "system", "content": SYSTEM}, *EXAMPLES,
            {"role": "user", "content": f"Task: {task}\nWrite the code."}]


ADD = coder("Write a Python function add(a, b) that returns the sum of a and b.")
SQUARE = coder("Write a Python function square(n) that returns n multiplied by itself.")
TESTER = [{"role": "system", "content": "You are tester. Write assert lines for the task."},
          {"role": "user", "content": "Task: reverse a string."}]
POEM = [{"role": "user", "content": "Write a four-line poem about the sea."}]


@pytest.fixture
def model():
    local = get_local_model("smollm2")
    local.reset()
    yield local
    local.reset()


def test_a_prompt_from_a_saved_state_gives_the_reply_of_a_cold_one(model, monkeypatch):
    """SQUARE shares ADD's system prompt and examples: restored from ADD's saved state, then the tester's
    prompt in between each time, it replies as when evaluated from nothing, seed by seed."""
    seeds = (1, 2, 3)
    monkeypatch.setenv("HUDDLE_LOCAL_PROMPT_CACHE", "cold")
    cold = [model.chat(SQUARE, temperature=0.8, max_tokens=32, seed=s)[0] for s in seeds]
    assert model.work.evaluated_tokens == model.work.prompt_tokens  # cold: every token evaluated
    monkeypatch.setenv("HUDDLE_LOCAL_PROMPT_CACHE", "on")
    model.reset()
    model.chat(ADD, temperature=0.8, max_tokens=16, seed=9)
    assert len(model.prompt_cache) == 1
    cached = []
    for s in seeds:
        model.chat(TESTER, temperature=0.8, max_tokens=8, seed=s)  # the context moves away from the coder's
        before = model.prompt_cache.restored_tokens
        cached.append(model.chat(SQUARE, temperature=0.8, max_tokens=32, seed=s)[0])
        assert model.prompt_cache.restored_tokens - before > 150  # the system prompt and the examples
    assert cached == cold
    # Streaming takes the same path, and so does the live context right after the same prompt.
    assert "".join(model.stream(SQUARE, temperature=0.8, max_tokens=32, seed=seeds[0])) == cold[0]
    assert model.chat(SQUARE, temperature=0.8, max_tokens=32, seed=seeds[0])[0] == cold[0]


def test_count_prompt_tokens_equals_the_calls_usage_and_waits_for_no_call(model):
    chats = [ADD, TESTER, POEM, [*TESTER, {"role": "assistant", "content": "assert f('ab') == 'ba'"},
                                 {"role": "user", "content": "Again, with ünïcödé and «quotes»."}]]
    for messages in chats:
        reply = Gateway().complete("local/smollm2", messages, settings=CallSettings(max_tokens=1, temperature=0))
        assert model.count_prompt_tokens(messages) == reply.usage.prompt_tokens > 0
    counted: list[int] = []
    with model._lock:  # a call generating: counting does not wait for it
        counter = threading.Thread(target=lambda: counted.append(model.count_prompt_tokens(ADD)))
        counter.start()
        counter.join(timeout=30)
    assert counted and counted[0] > 100


def test_candidates_differ_and_each_call_is_reproducible(model):
    """No seed given: each role key (a candidate branch) and each repeat of a prompt samples its own seed; the
    same calls in the same order on a fresh model give the same replies, whatever came between."""
    gateway, settings = Gateway(), CallSettings(max_tokens=24, temperature=1.0)

    def candidates() -> list[str]:
        return [gateway.complete("local/smollm2", POEM, role=f"coder.c{i}", settings=settings).text
                for i in range(1, 5)]

    first = candidates()
    assert len(set(first)) > 1
    repeats = [gateway.complete("local/smollm2", POEM, role="baseline", settings=settings).text for _ in range(3)]
    assert len(set(repeats)) > 1  # the same role asking the same prompt again samples anew
    model.reset()
    model.chat(TESTER, temperature=0.8, max_tokens=8)  # other work first changes nothing
    assert candidates() == first


def test_the_off_switch_keeps_no_state_and_changes_no_reply(model, monkeypatch):
    on = model.chat(SQUARE, temperature=0.8, max_tokens=32, seed=4)[0]
    monkeypatch.setenv("HUDDLE_LOCAL_PROMPT_CACHE", "0")
    model.reset()
    for messages in (ADD, TESTER):
        model.chat(messages, temperature=0.8, max_tokens=8, seed=1)
    assert model.chat(SQUARE, temperature=0.8, max_tokens=32, seed=4)[0] == on
    assert len(model.prompt_cache) == 0 and model.prompt_cache.restored_tokens == 0
    assert model.work.calls == 3 and model.work.evaluated_tokens > model.count_prompt_tokens(SQUARE) + 150


def test_saved_states_stay_within_their_capacity(model, monkeypatch):
    model.chat(ADD, temperature=0.2, max_tokens=4, seed=1)
    one = model.prompt_cache.bytes
    small = PromptCache(capacity_bytes=int(one * 1.5))
    monkeypatch.setattr(model, "prompt_cache", small)
    for messages in (ADD, SQUARE, TESTER, POEM):  # each saved: no saved state holds most of it
        model.chat(messages, temperature=0.2, max_tokens=4, seed=1)
        assert 0 < small.bytes <= small.capacity_bytes
    assert len(small) < 4  # the oldest went first
