"""The real embedded model (SmolLM2-135M via llama.cpp), end to end, offline."""

from __future__ import annotations

import json

from conftest import DEV_TEAM

from roles.planner import PlanDecoding, PlanReply
from studio.llm import CallSettings, Gateway
from studio.messages import Code, Final, Plan
from studio.runlog import RunLog
from studio.runner import run_team
from studio.spec import load_spec


def test_constrained_json_from_the_embedded_model():
    reply = Gateway().complete(
        "local/smollm2",
        [{"role": "system", "content": "You plan work. Reply with JSON."},
         {"role": "user", "content": "Plan: write a function that reverses a string."}],
        role="planner", settings=CallSettings(max_tokens=384, temperature=0.0), schema=PlanDecoding,
    )
    plan = PlanReply.model_validate(json.loads(reply.text))  # grammar-constrained: always valid
    assert plan.steps and all(step.description for step in plan.steps)
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0 and reply.usage.cost_usd == 0


def test_dev_team_runs_on_the_embedded_model(home):
    spec = load_spec(DEV_TEAM)
    spec = spec.model_copy(update={"flow": spec.flow.model_copy(update={"max_rounds": 4})})
    result = run_team(spec, "Write a Python function add(a, b) that returns the sum of a and b.")
    assert result.status == "done", result.error
    assert isinstance(result.final, Final) and result.final.stop_reason in {"approved", "satisfied", "max_rounds"}
    spoke = [m for m in result.messages if isinstance(m, (Plan, Code))]
    assert spoke and all(m.usage.model == "local/smollm2" and m.usage.completion_tokens > 0 for m in spoke)
    assert RunLog(home / "runs.db").run(result.run_id).status == "done"
