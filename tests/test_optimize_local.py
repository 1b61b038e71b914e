"""``huddle optimize`` on the real embedded model: a search graded by SmolLM2, a rewrite written by it."""

from __future__ import annotations

import json

import pytest

from studio.eval import EvalTask
from studio.llm import Gateway
from studio.optimize import optimize
from studio.optimize.journal import Journal
from studio.optimize.rewrite import rewriter
from studio.spec import parse_spec

pytestmark = pytest.mark.slow

TASKS = [EvalTask(id=name, entry_point=name, prompt=f"Write a Python function {name}(a, b) that returns {what}.",
                  tests=[f"assert {name}(2, 3) == {value}"])
         for name, what, value in (("add", "a plus b", 5), ("mul", "a times b", 6), ("sub", "a minus b", -1),
                                   ("biggest", "the larger of a and b", 3))]


def test_a_search_on_the_embedded_model_grades_the_start_then_the_held_out_split(tmp_path, home):
    spec = parse_spec({"name": "solo", "defaults": {"model": "local/smollm2", "max_tokens": 96},
                       "roles": [{"name": "coder", "kind": "coder", "writes_tests": False}],
                       "memory": {"enabled": False}, "sandbox": {"max_attempts": 1}})
    gateway = Gateway(2)
    report = optimize(spec, TASKS, tmp_path / "out", home=home, gateway=gateway, budget_tokens=1)
    assert report.stopped.startswith("the token budget (1) is spent")
    assert report.start.tasks == 2 and report.start.tokens > 0  # graded by the model, whatever it passed
    assert set(report.held_out) == {"chosen", "start", "single-call", "sample-vote"}
    assert all(row.tasks == 2 and row.tokens > 0 for row in report.held_out.values())
    lines = [json.loads(line) for line in (tmp_path / "out" / "journal.jsonl").read_text().splitlines()]
    assert {line["task"] for line in lines if line["kind"] == "eval"} == set(report.search_tasks)
    assert {line["task"] for line in lines if line["kind"] == "held_out"} == set(report.held_out_tasks)
    # The move a model makes: instructions rewritten from failures, kept in the journal for a resumed search.
    journal = Journal(tmp_path / "out" / "journal.jsonl", {k: v for k, v in lines[0].items() if k != "kind"})
    rewrite = rewriter(spec, None, gateway, journal)
    failures = [("Write a Python function biggest(a, b) that returns the larger of a and b.",
                 "hidden tests: 1 of 1 failed: biggest(2, 3) = 2")]
    text = rewrite("start", "coder", "coder", "", failures)
    assert text and len(text.split()) >= 3 and "```" not in text and len(text) <= 400
    assert rewrite("start", "coder", "coder", "", failures) == text  # the journal's, not a second call
