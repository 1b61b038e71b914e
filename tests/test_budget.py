"""Budgets stop a run before the call that would overrun them, keep its best work, and resume when raised."""

from __future__ import annotations

import re

import pytest
from _replies import approve, code, revise
from conftest import ROOT, duo_team, hashed

from studio.bus.sqlite import RunLog
from studio.llm import Gateway
from studio.llm.budget import BudgetConfigError, spend_of
from studio.messages import Code, Final
from studio.runner import resume_run, run_team
from studio.spec import Budget, SpecError, load_spec, parse_spec

ADD = "Write add(a, b).\nassert add(2, 3) == 5"
RIGHT, WRONG = "def add(a, b):\n    return a + b", "def add(a, b):\n    return a - b"


def _duo(**budget) -> object:
    spec = duo_team(timeout_s=10)
    return spec.model_copy(update={"budget": Budget(**budget) if budget else None,
                                   "sandbox": spec.sandbox.model_copy(update={"max_attempts": 1}),
                                   "defaults": spec.defaults.model_copy(update={"max_tokens": 50})})


def _revising(script):
    """The coder writes wrong code, the critic asks for a fix, the coder fixes it, the critic approves."""
    return script({"coder": [code(WRONG), code(RIGHT)], "critic": [revise("a - b is not a sum"), approve()]})


def _sums(home, run_id):
    return spend_of(RunLog(home / "runs.db").messages(run_id))[0]


def _asked_for(final: Final) -> int:
    """The tokens the refused call could have taken, from the final's reason."""
    return int(re.search(r"could take up to ([\d,]+)", final.content)[1].replace(",", ""))


def test_a_run_budget_stops_before_the_call_that_would_overrun(script, home):
    model = _revising(script)
    whole = run_team(_duo(), ADD, model=model, home=home)
    assert whole.status == "done"
    first_review = next(i for i, m in enumerate(whole.messages) if m.kind == "review")
    first_two = sum(m.usage.prompt_tokens + m.usage.completion_tokens for m in whole.messages[:first_review + 1])
    limit = first_two + 60  # room for the coder's and the critic's first calls, not for the coder's second
    gateway = Gateway()
    result = run_team(_duo(tokens=limit), ADD, model=model, home=home, gateway=gateway)
    assert result.status == "budget" and result.final.stop_reason == "budget" and not result.final.approved
    spent = _sums(home, result.run_id)
    assert spent.tokens <= limit < spent.tokens + _asked_for(result.final)  # refused only what could overrun
    assert "the run's token budget" in result.final.content and f"--resume {result.run_id}" in result.final.content
    assert gateway.script(model).remaining() == {"coder": 1, "critic": 1}  # the refused call was never made
    assert result.final.code == WRONG and result.final.failed == 1  # the best work so far, with its evidence
    assert RunLog(home / "runs.db").get_run(result.run_id).status == "budget"


def test_resume_with_a_raised_budget_finishes_the_run(script, home):
    model = _revising(script)
    stopped = run_team(_duo(model_calls=2), ADD, model=model, home=home)
    assert stopped.status == "budget" and "model-call budget (2)" in stopped.final.content
    assert resume_run(stopped.run_id, home=home).status == "budget"  # the same budget stops it again
    done = resume_run(stopped.run_id, home=home, budget=Budget(model_calls=4))
    assert RunLog(home / "runs.db").get_run(stopped.run_id).spec["budget"]["model_calls"] == 4  # kept for later
    assert done.status == "done" and done.final.approved and done.final.code == RIGHT
    ids = [m.id for m in done.messages]
    assert len(ids) == len(set(ids))
    assert [m.code for m in done.messages if isinstance(m, Code)] == [WRONG, RIGHT]  # no turn twice
    assert sum(m.usage.calls for m in done.messages) == 4
    assert done.spent is not None and done.spent.model_calls == 4  # what ran before counts against the budget


def test_a_role_budget_stops_the_run_before_that_role_overspends(script, home):
    spec = _duo()
    roles = [r.model_copy(update={"budget": Budget(model_calls=1)}) if r.name == "critic" else r
             for r in spec.roles]
    result = run_team(spec.model_copy(update={"roles": roles}), ADD, model=_revising(script), home=home)
    assert result.status == "budget" and "role critic's model-call budget (1)" in result.final.content
    assert [m.code for m in result.messages if isinstance(m, Code)] == [WRONG, RIGHT]  # the coder went on
    assert result.final.code == RIGHT and result.final.passed == 1  # the best of the code so far


def test_a_time_budget_stops_the_run_between_calls(script, home):
    model = script({"coder": [{"content": code(WRONG), "delay_s": 1.2}, code(RIGHT)],
                    "critic": [revise("a - b is not a sum"), approve()]})
    result = run_team(_duo(seconds=1), ADD, model=model, home=home)
    assert result.status == "budget" and "the run's time budget (1 s) is spent" in result.final.content
    assert [m.code for m in result.messages if isinstance(m, Code)] == [WRONG]


def test_parallel_candidates_share_the_run_budget(script, home):
    """Four candidates at once, with room for two: reservations keep them from overspending together."""
    spec = hashed(load_spec(ROOT / "examples" / "teams" / "best_of_n_team.yaml"))
    spec = spec.model_copy(update={"flow": spec.flow.model_copy(update={"candidates": 4, "agree": 0}),
                                   "defaults": spec.defaults.model_copy(update={"max_tokens": 40})})
    replies = {f"coder.c{i}": [{"content": code(RIGHT if i == 3 else WRONG), "delay_s": 0.3}] for i in (1, 2, 3, 4)}
    gateway, model = Gateway(), script({**replies, "critic": [approve()]})
    probe = run_team(spec, ADD, model=model, home=home, gateway=Gateway())
    one = next(m.usage for m in probe.messages if isinstance(m, Code) and m.branch == "c1")
    limit = 2 * (one.prompt_tokens + 40) + 5
    result = run_team(spec.model_copy(update={"budget": Budget(tokens=limit)}), ADD, model=model, home=home,
                      gateway=gateway)
    assert result.status == "budget"
    written = [m for m in result.messages if isinstance(m, Code) and m.branch]
    assert len(written) == 2 and _sums(home, result.run_id).tokens <= limit
    assert sum(gateway.script(model).remaining().values()) == 3  # two candidates and the critic


def test_the_budget_stop_returns_the_best_candidate(script, home):
    spec = hashed(load_spec(ROOT / "examples" / "teams" / "best_of_n_team.yaml"))
    spec = spec.model_copy(update={"flow": spec.flow.model_copy(update={"agree": 0, "max_parallel": 1}),
                                   "budget": Budget(model_calls=3)})
    model = script({"coder.c1": [code(WRONG)], "coder.c2": [code(RIGHT)], "coder.c3": [code(WRONG)],
                    "critic": [approve()]})
    result = run_team(spec, ADD, model=model, home=home)
    assert result.status == "budget" and result.final.code == RIGHT and result.final.passed == 1


def test_the_meter_counts_what_the_log_holds(home):
    spec = hashed(load_spec(ROOT / "examples" / "teams" / "dev_team.yaml"))
    model = f"scripted:{ROOT / 'examples' / 'scripts' / 'dev_team.yaml'}"
    result = run_team(spec.model_copy(update={"budget": Budget(tokens=10**6)}), "Write fizzbuzz", model=model,
                      home=home)
    assert result.status == "done"
    logged = _sums(home, result.run_id)
    assert result.spent is not None and logged.tokens > 0
    assert (result.spent.tokens, result.spent.model_calls) == (logged.tokens, logged.model_calls)


def test_a_dollar_budget_on_a_model_without_a_price_is_refused_at_the_start(home):
    spec = _duo(usd=0.5)
    with pytest.raises(BudgetConfigError, match="model hosted_vllm/my-own-model has no known price"):
        run_team(spec, ADD, model="hosted_vllm/my-own-model", home=home)
    assert RunLog(home / "runs.db").runs() == []  # nothing was started


def test_bad_budgets_name_their_field():
    with pytest.raises(SpecError, match=r"budget\.tokens"):
        parse_spec({"name": "t", "roles": [{"name": "c", "kind": "coder"}], "budget": {"tokens": 0}}, "team.yaml")
    with pytest.raises(SpecError, match=r"roles.*budget.*tokenz"):
        parse_spec({"name": "t", "roles": [{"name": "c", "kind": "coder", "budget": {"tokenz": 5}}]}, "team.yaml")
