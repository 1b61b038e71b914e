"""Typed messages: every kind survives JSON and dict round trips, and messages cannot change."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from studio.messages import (
    Code,
    Decision,
    Error,
    Execution,
    Final,
    Plan,
    PlanStep,
    Review,
    Task,
    Usage,
    dump_message,
    load_message,
    message_from_json,
    message_to_json,
    new_id,
)

USAGE = Usage(prompt_tokens=12, completion_tokens=7, cost_usd=0.0003, latency_ms=41.5, model="gpt-4o-mini", calls=2)

SAMPLES = [
    Task(run_id="r1", sender="user", content="Write fizzbuzz"),
    Plan(run_id="r1", sender="planner", content="plan", usage=USAGE,
         steps=[PlanStep(id="s1", description="write it"), PlanStep(id="s2", description="test", depends_on=["s1"])]),
    Code(run_id="r1", sender="coder", code="print(1)", language="python", parent_id="p1"),
    Execution(run_id="r1", sender="system", exit_code=1, stdout="out", stderr="boom", passed=3, failed=1),
    Review(run_id="r1", sender="critic", verdict="revise", feedback="name things", lessons=["use guards"]),
    Decision(run_id="r1", sender="orchestrator", is_in_loop=True, next_speaker="coder", instruction="fix it"),
    Final(run_id="r1", sender="system", code="print(1)", approved=True, stop_reason="max_rounds"),
    Error(run_id="r1", sender="system", topic="team.errors", error_type="parse", fatal=True, content="bad JSON"),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.kind)
def test_json_round_trip_keeps_class_and_fields(message):
    text = message_to_json(message)
    assert "\n" not in text
    assert json.loads(text)["kind"] == message.kind
    back = message_from_json(text)
    assert type(back) is type(message)
    assert back == message


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.kind)
def test_dict_round_trip_keeps_class_and_fields(message):
    data = dump_message(message)
    json.dumps(data)  # JSON-ready: no datetimes or models left
    back = load_message(data)
    assert type(back) is type(message)
    assert back == message


def test_json_bytes_are_accepted():
    message = SAMPLES[1]
    assert message_from_json(message_to_json(message).encode()) == message


def test_every_kind_is_covered():
    assert sorted(m.kind for m in SAMPLES) == sorted(
        ["task", "plan", "code", "execution", "review", "decision", "final", "error"]
    )


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.kind)
def test_messages_are_frozen(message):
    with pytest.raises(ValidationError):
        message.content = "changed"
    assert message == load_message(dump_message(message))


def test_usage_is_frozen():
    with pytest.raises(ValidationError):
        USAGE.calls = 5


def test_unknown_kind_fails():
    data = dump_message(SAMPLES[0])
    data["kind"] = "poem"
    with pytest.raises(ValidationError):
        load_message(data)
    with pytest.raises(ValidationError):
        message_from_json(json.dumps(data))


def test_missing_kind_and_extra_fields_fail():
    data = dump_message(SAMPLES[0])
    del data["kind"]
    with pytest.raises(ValidationError):
        load_message(data)
    data = dump_message(SAMPLES[0])
    data["mood"] = "happy"
    with pytest.raises(ValidationError):
        load_message(data)


def test_review_verdict_is_checked():
    with pytest.raises(ValidationError):
        Review(run_id="r1", sender="critic", verdict="maybe")


def test_ids_and_times_are_fresh():
    a = Task(run_id="r1", sender="user")
    b = Task(run_id="r1", sender="user")
    assert a.id != b.id and len(new_id()) == 32
    assert a.created_at.tzinfo is not None
    assert a.topic == "team" and a.usage == Usage()


def test_usage_addition_sums_fields():
    other = Usage(prompt_tokens=3, completion_tokens=5, cost_usd=0.0001, latency_ms=8.5, model="other", calls=1)
    total = USAGE + other
    assert total.prompt_tokens == 15
    assert total.completion_tokens == 12
    assert total.cost_usd == pytest.approx(0.0004)
    assert total.latency_ms == pytest.approx(50.0)
    assert total.calls == 3
    assert total.model == "gpt-4o-mini", "the first model that answered is kept"
    assert (Usage() + other).model == "other"
    assert USAGE.prompt_tokens == 12, "addition makes a new Usage"


def test_usage_sum_with_start_value():
    parts = [Usage(prompt_tokens=i, calls=1) for i in range(1, 5)]
    total = sum(parts, Usage())
    assert total.prompt_tokens == 10 and total.calls == 4
