"""Budgets in the Python API: ``Team(budget=)``, ``Team.run(budget=)``, ``Run.resume(budget=)``, role budgets."""

from __future__ import annotations

import pytest
from conftest import DEV_SCRIPT

from studio import Role, Run, Team
from studio.llm.budget import BudgetConfigError, spend_of
from studio.runner import shared_store
from studio.spec import Budget, SpecError

MODEL = f"scripted:{DEV_SCRIPT}"


def test_a_run_budget_stops_the_run_and_resume_with_a_raised_one_finishes_it(dev_team, home):
    team = Team.from_spec(dev_team, home=home)
    run = team.run("Write fizzbuzz", model=MODEL, display=False, budget={"model_calls": 3})
    assert run.status == "budget" and run.final.stop_reason == "budget" and run.usage.calls == 3
    assert run.spec.budget == Budget(model_calls=3)  # the run's own limits, as its log keeps them
    assert "model-call budget (3)" in run.final.content
    again = Run.load(run.run_id, home=home).resume(display=False)  # the same budget: it stops again
    assert again.status == "budget" and again.usage.calls == 3
    done = again.resume(budget=Budget(model_calls=20), display=False)
    assert done.status == "done" and done.final.approved and "def fizzbuzz" in done.final.code
    assert done.usage.calls == 7
    total, _ = spend_of(shared_store(home).messages(run.run_id))
    assert total.tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_a_team_budget_and_a_role_budget_from_python(home):
    team = Team("duo", roles=[Role.coder(), Role.critic(budget={"model_calls": 1})],
                flow=[("coder", "critic"), ("critic", "coder")], memory={"enabled": False},
                budget=Budget(tokens=50_000), home=home)
    assert team.spec.budget == Budget(tokens=50_000) and team.roles[1].budget == Budget(model_calls=1)
    assert Team.from_spec(team.spec).spec.budget.tokens == 50_000


@pytest.mark.parametrize(("budget", "problem"), [({"tokenz": 5}, "budget.tokenz: unknown field"),
                                                 ({"usd": 0}, "budget.usd: input should be greater than 0")])
def test_a_bad_budget_is_a_spec_error_naming_the_field(budget, problem, dev_team, home):
    with pytest.raises(SpecError) as caught:
        Team.from_spec(dev_team, home=home).run("x", model=MODEL, display=False, budget=budget)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
    with pytest.raises(SpecError) as built:
        Team("t", roles=[Role.coder()], budget=budget)
    assert any(p.startswith(problem) for p in built.value.problems), built.value.problems
    assert not shared_store(home).runs()  # nothing ran


def test_a_dollar_budget_on_an_unpriced_model_is_refused_before_the_run(dev_team, home):
    with pytest.raises(BudgetConfigError, match="hosted_vllm/my-own-model has no known price"):
        Team.from_spec(dev_team, home=home).run("x", model="hosted_vllm/my-own-model", display=False,
                                                budget={"usd": 0.5})
    assert not shared_store(home).runs()
