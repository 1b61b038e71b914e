"""Telling candidates apart beyond the visible tests: probe calls, agreement, and worked examples in prompts."""

from __future__ import annotations

import json

import pytest
from _replies import code
from conftest import hashed
from test_flows import example, prompts

from roles.probe import agreement, behaviour, distinct_agreement, probe_calls
from sandbox import Sandbox
from studio.llm import Gateway
from studio.messages import Execution, Ranking
from studio.runner import run_team
from studio.spec import Example, SpecError, parse_spec
from studio.spec.sandbox import SandboxSpec

INC = "Write inc(n) that returns n plus one.\n\nExample:\nassert inc(1) == 2"


@pytest.fixture
def box(tmp_path):
    return Sandbox(SandboxSpec(timeout_s=2), tmp_path / "ws")


def test_probe_calls_vary_the_examples_literal_arguments():
    calls = probe_calls("Write clamp(x, low, high).\nassert clamp(5, 0, 10) == 5\nassert len('ab') == 2")
    assert calls[0] == "clamp(5, 0, 10)"
    assert "clamp(10, 0, 5)" in calls  # the values in another order
    # one argument varied at a time, each in turn
    assert "clamp(0, 0, 10)" in calls and "clamp(5, 1, 10)" in calls and "clamp(5, 0, 11)" in calls
    assert not any(c.startswith("len(") for c in calls)  # builtins are not the task's function
    assert len(calls) == len(set(calls)) <= 16
    strings = probe_calls("assert shout('hi') == 'HI!'")
    assert "shout('')" in strings and "shout('ih')" in strings
    lists = probe_calls("assert total([1, 2, 3]) == 6")
    assert "total([])" in lists and "total([3, 2, 1])" in lists


def test_probe_calls_without_a_function_are_empty_and_without_literals_are_generated():
    assert probe_calls("Write a haiku about Python.") == []
    calls = probe_calls("assert f(x) == 1")  # a name, not a literal: nothing to vary, but f(x) can be called
    assert calls[0] == "f(0)" and "f(x)" not in calls


def test_behaviour_records_results_and_errors_per_call(box):
    calls = ["inc(1)", "inc('a')", "inc(-1)"]
    assert behaviour("def inc(n):\n    return n + 1\nprint('demo')", calls, box) == ("2", "!TypeError", "0")
    assert behaviour("def inc(n):\n    return n + 1\nassert inc(1) == 3", calls, box) is None  # import fails
    assert behaviour("def inc(n):\n    while True:\n        pass", calls, box) is None  # stopped by the timeout
    assert behaviour("", calls, box) is None


def test_behaviour_is_read_as_a_literal_that_code_cannot_forge(box):
    calls = ["inc(1)", "inc(2)"]
    quoted = "def inc(n):\n    return \"x'] + __import__('os').getcwd()\"\n"
    assert behaviour(quoted, calls, box) == ('"x\'] + __import__(\'os\').getcwd()"',) * 2  # a value, not code
    forged = ("import os\ndef inc(n):\n    print('@@huddle-probe@@' + repr([1, 2]), flush=True)\n    os._exit(0)\n")
    assert behaviour(forged, calls, box) is None  # its own line of numbers, then no results: not run


def test_agreement_counts_the_others_that_behave_the_same():
    assert agreement([("2",), ("2",), ("3",), None, ("2",)]) == [2, 2, 0, 0, 2]


def test_best_of_n_agreement_overrules_a_pick_that_only_passes_the_example(script, home):
    right = "def inc(n):\n    return n + 1"
    model = script({
        "coder.c1": [code("def inc(n):\n    return 2")],  # passes the one example, and nothing else
        "coder.c2": [code(right)],
        "coder.c3": [code("def inc(x):\n    y = x + 1\n    return y")],
        "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "c1 is shortest.", "lessons": []})],
    })
    gateway = Gateway()
    result = run_team(example("best_of_n_team"), INC, model=model, gateway=gateway)
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "c2", ranking.reason
    assert "c2 gives the same results as 1 other candidate(s) on probe inputs, c1 as 0" in ranking.reason
    assert result.final.approved and result.final.code == right
    (critic_prompt,) = prompts(gateway, model, "critic")
    assert critic_prompt.count("same results as 1 other candidate(s)") == 2  # c2 and c3, shown to the critic


def test_the_codes_own_tests_count_after_the_tasks_tests_and_the_agreement(script, home):
    """A wrong test of its own does not make right code fail the task (c1 still ranks above c2, which only
    passes the example); among equals, passing its own tests wins."""
    model = script({
        "coder.c1": [code("def inc(n):\n    return n + 1\n\ndef test_inc():\n    assert inc(1) == 3")],
        "coder.c2": [code("def inc(n):\n    return 2")],
        "coder.c3": [code("def inc(x):\n    return x + 1\n\ndef test_inc():\n    assert inc(0) == 1")],
        "coder.c4": [code("def inc(n):\n    return 1 + n")],
        "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "c1 tests.", "lessons": []})],
    })
    result = run_team(example("best_of_n_team", candidates=4), INC, model=model)
    runs = {m.branch: m for m in result.messages if isinstance(m, Execution) and m.branch}
    assert [(runs[b].passed, runs[b].failed, runs[b].own_passed, runs[b].own_failed) for b in ("c1", "c3", "c4")] \
        == [(1, 1, 0, 1), (2, 0, 1, 0), (1, 0, 0, 0)]
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.order == ["c3", "c4", "c1", "c2"]
    assert ranking.chosen == "c3" and "c1 was picked, but c3 passes more of its own tests." in ranking.reason


def test_best_of_n_critic_breaks_a_tie_in_the_evidence(script, home):
    model = script({
        "coder.c1": [code("def inc(n):\n    return n + 1")],
        "coder.c2": [code("def inc(n):\n    return 1 + n")],
        "coder.c3": [code("def inc(n):\n    return n + 1.0")],  # 2.0 == 2: passes, but behaves differently
        "critic": [json.dumps({"best": "c2", "verdict": "approve", "feedback": "c2 reads well.", "lessons": []})],
    })
    result = run_team(example("best_of_n_team"), INC, model=model)
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "c2" and "probe" not in ranking.reason
    assert ranking.order == ["c2", "c1", "c3"]


def test_worked_examples_come_before_the_task_as_earlier_turns(script, home):
    spec = example("best_of_n_team")
    shot = {"task": "Write double(n).\nassert double(3) == 6", "reply": code("def double(n):\n    return n * 2")}
    roles = [r.model_copy(update={"examples": [Example(**shot)]}) if r.name == "coder" else r for r in spec.roles]
    spec = hashed(spec.model_copy(update={"roles": roles, "flow": spec.flow.model_copy(update={"candidates": 1})}))
    model = script({"coder.c1": [code("def inc(n):\n    return n + 1")],
                    "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "ok", "lessons": []})]})
    gateway = Gateway()
    result = run_team(spec, INC, model=model, gateway=gateway)
    assert result.final.approved
    (call,) = [c for c in gateway.script(model).calls if c.role == "coder.c1"]
    turns = [(m["role"], m["content"]) for m in call.messages]
    assert [r for r, _ in turns] == ["system", "user", "assistant", "user"]
    assert "Write double(n)" in turns[1][1] and "return n * 2" in turns[2][1] and "Write inc(n)" in turns[3][1]
    critic_call = next(c for c in gateway.script(model).calls if c.role == "critic")
    assert not any("double" in m["content"] for m in critic_call.messages)  # examples are the coder's own


def test_worked_examples_are_checked_in_the_spec():
    base = {"version": 1, "name": "t", "roles": [{"name": "coder", "kind": "coder", "examples": [{"task": "x"}]}]}
    with pytest.raises(SpecError, match="reply"):
        parse_spec(base)
    ok = {**base, "roles": [{"name": "coder", "kind": "coder", "examples": [{"task": "x", "reply": "y"}]}]}
    assert parse_spec(ok).roles[0].examples[0].reply == "y"


def test_best_of_n_shortest_code_breaks_a_tie_when_the_team_says_so(script, home):
    model = script({
        "coder.c1": [code("def inc(n):\n    result = n\n    result = result + 1\n    return result")],
        "coder.c2": [code("def inc(n):\n    return n + 1")],
        "coder.c3": [code("def inc(n):\n    return n + 1.0")],
        "critic": [json.dumps({"best": "c1", "verdict": "approve", "feedback": "c1 is clearest.", "lessons": []})],
    })
    spec = example("best_of_n_team", tie_break="shortest")
    result = run_team(spec, INC, model=model)
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "c2" and "The evidence ties c1, c2: the shortest code, c2's." in ranking.reason
    assert result.final.code == "def inc(n):\n    return n + 1"


def test_best_of_n_shared_results_separate_candidates_that_agree_with_no_one_wholly(script, home):
    model = script({
        "coder.c1": [code("def inc(n):\n    return n + 1")],
        "coder.c2": [code("def inc(n):\n    return n + 1 if n < 5 else 0")],
        "coder.c3": [code("def inc(n):\n    return 2")],
        "coder.c4": [code("def inc(n):\n    return n + 1 if n != 0 else 5")],
        "critic": [json.dumps({"best": "c3", "verdict": "approve", "feedback": "c3 is shortest.", "lessons": []})],
    })
    result = run_team(example("best_of_n_team", candidates=4), INC, model=model)
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "c1", ranking.reason
    assert "c3 was picked, but c1 shares 14 results on probe inputs with the others, c3 3." in ranking.reason
    assert ranking.order == ["c1", "c4", "c2", "c3"]


def test_copies_of_one_program_count_once_between_clusters_of_one_size(script, home):
    double = code("def inc(n):\n    return 2*n")  # passes inc(1) == 2, shorter than every right one
    model = script({
        "coder.c1": [double], "coder.c2": [double], "coder.c3": [double],
        "coder.c4": [code("def inc(n):\n    return n + 1")],
        "coder.c5": [code("def inc(n):\n    return 1 + n")],
        "coder.c6": [code("def inc(n):\n    return sum((n, 1))")],
    })
    result = run_team(example("best_of_n_team", candidates=6, tie_break="shortest", max_rounds=1), INC, model=model)
    ranking = next(m for m in result.messages if isinstance(m, Ranking))
    assert ranking.chosen == "c4" and ranking.order[:3] == ["c4", "c5", "c6"], ranking.reason
    assert result.final.code == "def inc(n):\n    return n + 1"
    assert distinct_agreement([("2",)] * 3 + [None], ["a", "a", "b", "c"]) == [1, 1, 1, 0]
