"""The CLI's rendering of messages: the flow kinds (ledger, ranking, approval), branches and queue time."""

from __future__ import annotations

from rich.console import Console

from studio.messages import Approval, Code, Decision, Ledger, Ranking, Usage
from studio.render import print_message, sender_text, usage_text


def _printed(*messages) -> str:
    console = Console(record=True, width=100, color_system=None)
    for message in messages:
        print_message(console, message)
    return console.export_text()


def test_a_ledger_lists_its_facts_and_plan_and_a_replan_its_reflection():
    first = Ledger(run_id="r", sender="orchestrator", facts_given=["n is a positive int"],
                   facts_to_derive=["what [3, 5] yields"], educated_guesses=["the tests use pytest"],
                   plan=["coder: write fizzbuzz", "critic: review it"])
    out = _printed(first)
    assert "orchestrator · ledger" in out and "replan" not in out
    assert "facts given:" in out and "  - n is a positive int" in out
    assert "facts to derive:" in out and "  - what [3, 5] yields" in out  # brackets are text, not rich markup
    assert "educated guesses:" in out and "facts to look up" not in out  # empty lists are left out
    assert "  1. coder: write fizzbuzz" in out and "  2. critic: review it" in out
    rewrite = first.model_copy(update={"replan": 2, "reflection": "the tests kept failing on 15"})
    out = _printed(rewrite)
    assert "orchestrator · ledger  replan 2" in out and "reflection: the tests kept failing on 15" in out


def test_a_ranking_marks_the_chosen_branch_and_says_why():
    out = _printed(Ranking(run_id="r", sender="critic", order=["c2", "c1", "c3"], chosen="c2",
                           reason="c2 passes every test"))
    assert "critic · ranking  chosen c2" in out
    lines = [line.strip(" │") for line in out.splitlines()]
    assert "1. c2  ★ chosen" in lines and "2. c1" in lines and "3. c3" in lines
    assert "reason: c2 passes every test" in out
    merged = _printed(Ranking(run_id="r", sender="judge", order=["red", "blue"], chosen="merged"))
    assert "★ chosen: merged" in merged  # the judge merged the sub-teams' results: no branch won outright


def test_an_approval_request_shows_what_to_approve_and_an_answer_its_status():
    plan = _printed(Approval(run_id="r", sender="system", point="after_plan", content="1. write it\n2. test it"))
    assert "approval  after plan: waiting for approval" in plan and "2. test it" in plan
    code = _printed(Approval(run_id="r", sender="system", point="before_final", content="def f():\n    return 1\n"))
    assert "before final: waiting for approval" in code and "    return 1" in code
    rejected = _printed(Approval(run_id="r", sender="user", point="before_final", status="rejected",
                                 feedback="Use a loop, not [recursion]"))
    assert rejected.strip() == "user · approval  before final: rejected  Use a loop, not [recursion]"
    assert "after plan: edited" in _printed(Approval(run_id="r", sender="user", point="after_plan",
                                                     status="edited"))


def test_a_branch_prefixes_the_sender_wherever_it_is_shown():
    code = Code(run_id="r", sender="coder", code="x = 1", branch="s2")
    assert sender_text(code) == "[s2] coder"
    assert "[s2] coder · code" in _printed(code)
    assert "[red] orchestrator · decision" in _printed(Decision(run_id="r", sender="orchestrator", content="go",
                                                                branch="red"))
    assert sender_text(Code(run_id="r", sender="coder")) == "coder"


def test_usage_text_shows_queue_time_only_when_there_was_some():
    usage = Usage(calls=1, prompt_tokens=10, completion_tokens=5, latency_ms=1200, cost_usd=0.001)
    plain = Code(run_id="r", sender="coder", usage=usage)
    assert usage_text(plain) == "10+5 tok, 1.2s, $0.0010"
    queued = Code(run_id="r", sender="coder", usage=usage.model_copy(update={"queue_ms": 2500.0}))
    assert usage_text(queued, sep=" · ") == "10+5 tok · 1.2s · queued 2.5s · $0.0010"
    assert usage_text(Code(run_id="r", sender="coder")) == ""
