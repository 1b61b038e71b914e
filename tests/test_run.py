"""End-to-end runs on the scripted model, through the public runner API."""

from __future__ import annotations

import pytest
from _replies import approve, code, decide, plan, revise
from conftest import DEV_SCRIPT

from studio.bus.sqlite import RunLog
from studio.llm import Gateway, ModelConfigError
from studio.messages import Code, Decision, Error, Execution, Final, Plan, Review, Task
from studio.runner import run_team


def kinds(result):
    """The kinds of a run's messages, leaving out what it wrote to memory (tests/test_memory_runs.py)."""
    return [m.kind for m in result.messages if m.kind != "reflection"]


def test_happy_path_every_message_persisted_in_order(dev_team, home):
    gateway = Gateway()
    seen = []
    result = run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}", gateway=gateway,
                      on_message=seen.append)
    assert result.status == "done"
    assert isinstance(result.messages[0], Task) and result.messages[0].content == "Write fizzbuzz"
    # Code as action: the first version fails its own test in the sandbox and goes straight back to the
    # coder with the result; the fix passes; only then does the critic see the code, and approve it.
    assert kinds(result) == ["task", "decision", "plan", "decision", "code", "execution", "code", "execution",
                             "decision", "review", "final"]
    failed, passed = [m for m in result.messages if isinstance(m, Execution)]
    assert (failed.ok, failed.passed, failed.failed) == (False, 0, 1) and failed.exit_code == 1
    assert "where fizzbuzz(7) = ''" in failed.failures[0]
    assert (passed.ok, passed.passed, passed.failed) == (True, 1, 0)
    code_msgs = [m for m in result.messages if isinstance(m, Code)]
    assert [failed.parent_id, passed.parent_id] == [c.id for c in code_msgs]
    calls = gateway.script(f"scripted:{DEV_SCRIPT}").calls
    second_coder_prompt = [c for c in calls if c.role == "coder"][1].messages[-1]["content"]
    assert "where fizzbuzz(7) = ''" in second_coder_prompt  # the coder revised from the execution result
    critic_prompt = next(c for c in calls if c.role == "critic").messages[-1]["content"]
    assert "OK: tests: 1 passed, 0 failed" in critic_prompt  # the critic judged with the evidence
    final = result.final
    assert final.approved and final.stop_reason == "approved"
    assert "or str(n)" in final.code
    assert (final.executed, final.passed, final.failed, final.exit_code) == (True, 1, 0, 0)
    assert "Last run: ok (1 passed, 0 failed, exit 0)" in final.content
    assert [m.id for m in seen] == [m.id for m in RunLog(home / "runs.db").messages(result.run_id)]
    assert all(m.usage.calls == 1 and m.usage.prompt_tokens > 0 for m in result.messages
               if isinstance(m, (Plan, Code, Review, Decision)))
    gateway.script(f"scripted:{DEV_SCRIPT}").assert_complete()
    info = RunLog(home / "runs.db").get_run(result.run_id)
    assert info.status == "done" and info.team == "dev-team" and info.messages == len(result.messages)


def test_revise_loop_feeds_the_critics_feedback_to_the_coder(dev_team, script):
    model = script({
        "orchestrator": [decide("coder"), decide("critic"), decide("coder"), decide("critic")],
        "coder": [code("def f(): pass"), code("def f(): return 1")],
        "critic": [revise("f must return 1"), approve()],
    })
    gateway = Gateway()
    result = run_team(dev_team, "Write f returning 1", model=model, gateway=gateway)
    assert result.status == "done" and result.final.approved
    assert result.final.code == "def f(): return 1"
    coder_calls = [c for c in gateway.script(model).calls if c.role == "coder"]
    assert "f must return 1" not in coder_calls[0].messages[-1]["content"]
    assert "f must return 1" in coder_calls[1].messages[-1]["content"]
    assert "def f(): pass" in coder_calls[1].messages[-1]["content"]
    gateway.script(model).assert_complete()


def test_max_rounds_stops_a_team_that_never_approves(dev_team, script):
    spec = dev_team.model_copy(update={
        "roles": [r for r in dev_team.roles if r.kind != "orchestrator"],
        "flow": dev_team.flow.model_copy(update={"max_rounds": 4}),
    })
    model = script({"planner": [plan("do it")], "coder": [code("x = 1"), code("x = 2")],
                    "critic": [revise("no")]})
    gateway = Gateway()
    result = run_team(spec, "anything", model=model, gateway=gateway)
    assert result.status == "done"
    assert kinds(result) == ["task", "plan", "code", "execution", "review", "code", "execution", "final"]
    assert result.final.stop_reason == "max_rounds" and not result.final.approved
    assert result.final.code == "x = 2"
    gateway.script(model).assert_complete()


def test_garbage_replies_are_repaired_once_then_fall_back(dev_team, script):
    model = script({
        "orchestrator": ["I think the planner", "{not json", decide("coder"), decide("critic"), decide("nobody"),
                         decide("critic")],
        "planner": ["Sure! Here is a plan: first think", plan("write it")],
        "coder": ["no code block here", "still none", code("print('ok')")],
        "critic": ["looks fine to me", "yes!!", approve()],
    })
    gateway = Gateway()
    result = run_team(dev_team, "Print ok", model=model, gateway=gateway)
    assert result.status == "done"
    errors = [m for m in result.messages if isinstance(m, Error)]
    assert all(not e.fatal for e in errors)
    assert {e.error_type for e in errors} == {"parse", "route"}
    plans = [m for m in result.messages if isinstance(m, Plan)]
    assert plans[0].steps[0].description == "write it"  # repaired on the second try
    codes = [m for m in result.messages if isinstance(m, Code)]
    assert codes[0].code == "" and codes[0].content == "still none"  # fell back, kept the text
    reviews = [m for m in result.messages if isinstance(m, Review)]
    assert reviews[0].verdict == "revise"  # unreadable review never approves
    route = next(e for e in errors if e.error_type == "route")
    assert "'nobody'" in route.content
    decisions = [m for m in result.messages if isinstance(m, Decision)]
    assert decisions[0].next_speaker == "planner"  # orchestrator garbage -> flow entry
    assert result.final.approved and result.final.code == "print('ok')"
    gateway.script(model).assert_complete()


def test_provider_errors_are_retried(dev_team, script):
    model = script({
        "orchestrator": [decide("coder"), {"error": "rate limited"}, decide("critic")],
        "coder": [{"error": "503 overloaded"}, {"error": "timeout"}, code("x = 1")],
        "critic": [approve()],
    })
    gateway = Gateway()
    result = run_team(dev_team, "x", model=model, gateway=gateway)
    assert result.status == "done"
    code_msg = next(m for m in result.messages if isinstance(m, Code))
    assert code_msg.usage.calls == 3
    gateway.script(model).assert_complete()


def test_provider_errors_past_the_retries_fail_the_run_with_a_named_model(dev_team, script, home):
    model = script({"orchestrator": [decide("coder")], "coder": [{"error": "down"}] * 3})
    result = run_team(dev_team, "x", model=model)
    assert result.status == "failed"
    fatal = next(m for m in result.messages if isinstance(m, Error))
    assert fatal.fatal and fatal.error_type == "provider"
    assert "provider scripted" in fatal.content and "3 attempt" in fatal.content and "down" in fatal.content
    assert RunLog(home / "runs.db").get_run(result.run_id).status == "failed"
    assert kinds(result) == ["task", "decision", "error"]  # and nothing stored in memory


def test_missing_replies_fail_the_run_naming_the_role(dev_team, script):
    model = script({"orchestrator": [decide("coder"), decide("critic")], "coder": [code("x = 1")]})
    result = run_team(dev_team, "x", model=model)
    assert result.status == "failed"
    assert "'critic'" in result.error and "no replies" in result.error
    assert not any(isinstance(m, Final) for m in result.messages)


def test_a_model_that_cannot_run_is_rejected_before_the_run(dev_team, home):
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        run_team(dev_team, "x", model="gpt-4o-mini")
    with pytest.raises(ModelConfigError, match="does not exist"):
        run_team(dev_team, "x", model="scripted:/nonexistent.yaml")
    assert RunLog(home / "runs.db").runs() == []


def test_orchestrator_can_end_the_run_once_code_exists_and_was_reviewed(dev_team, script):
    model = script({"orchestrator": [decide("coder", satisfied=True), decide("coder"), decide("coder", satisfied=True),
                                     decide("x", satisfied=True)],
                    "planner": [plan("write y")], "coder": [code("y = 2")], "critic": [revise("style nit only")]})
    result = run_team(dev_team, "y", model=model)
    assert kinds(result) == ["task", "decision", "plan", "decision", "code", "execution", "decision", "review",
                             "decision", "final"]
    assert result.final.stop_reason == "satisfied" and result.final.code == "y = 2"
    assert not result.final.approved
    decisions = [m for m in result.messages if m.kind == "decision"]
    assert decisions[0].next_speaker == "planner"  # "satisfied" with no code: the flow's entry speaks
    assert decisions[2].next_speaker == "critic"  # "satisfied" with unreviewed code: the critic reviews first
    assert decisions[3].is_request_satisfied and decisions[3].next_speaker == ""


def test_without_a_critic_code_is_enough_to_finish(dev_team, script):
    spec = dev_team.model_copy(update={"roles": [r for r in dev_team.roles if r.kind != "critic"]})
    spec = spec.model_copy(update={"flow": spec.flow.model_copy(update={"edges": []})})
    model = script({"orchestrator": [decide("coder"), decide("planner", satisfied=True)],
                    "coder": [code("z = 3")]})
    result = run_team(spec, "z", model=model)
    assert kinds(result) == ["task", "decision", "code", "execution", "decision", "final"]
    assert result.final.stop_reason == "satisfied"


def test_the_critic_never_approves_missing_code(dev_team, script):
    spec = dev_team.model_copy(update={"roles": [r for r in dev_team.roles if r.kind != "orchestrator"],
                                       "flow": dev_team.flow.model_copy(update={"max_rounds": 3})})
    model = script({"planner": [plan("p")], "coder": ["no block", "still no block"], "critic": [approve()]})
    result = run_team(spec, "anything", model=model)
    review = next(m for m in result.messages if m.kind == "review")
    assert review.verdict == "revise" and "no code to approve" in review.feedback
    assert result.final.stop_reason == "max_rounds" and not result.final.approved
