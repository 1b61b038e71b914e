"""The real embedded model (SmolLM2-135M via llama.cpp), end to end, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import DEV_TEAM

from roles.planner import PlanDecoding, PlanReply
from studio.bus.sqlite import RunLog
from studio.llm import CallSettings, Gateway
from studio.messages import Code, Execution, Final, Plan, Reflection
from studio.runner import open_team_memory, run_team
from studio.spec import load_spec

pytestmark = pytest.mark.slow


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


def test_a_memory_search_or_an_answer_from_the_embedded_model():
    """With the memory_search tool on, decoding is constrained to either a search or the role's own reply."""
    from roles.base import _with_tool

    union = _with_tool(PlanDecoding)
    reply = Gateway().complete(
        "local/smollm2",
        [{"role": "system", "content": "You plan work. You may first reply "
                                       '{"tool": "memory_search", "query": "..."} to search memory. Reply with JSON.'},
         {"role": "user", "content": "Plan: write a function that parses ISO dates."}],
        role="planner", settings=CallSettings(max_tokens=384, temperature=0.0), schema=union,
    )
    parsed = union.model_validate_json(reply.text).root  # always one of the two shapes
    assert isinstance(parsed, PlanDecoding) or parsed.tool == "memory_search"


def test_dev_team_runs_on_the_embedded_model(home):
    """The example team as shipped: SmolLM2 through llama.cpp, memory on MiniLM and chromadb."""
    spec = load_spec(DEV_TEAM)
    spec = spec.model_copy(update={"flow": spec.flow.model_copy(update={"max_rounds": 4})})
    result = run_team(spec, "Write a Python function add(a, b) that returns the sum of a and b.")
    assert result.status == "done", result.error
    assert isinstance(result.final, Final) and result.final.stop_reason in {"approved", "satisfied", "max_rounds"}
    spoke = [m for m in result.messages if isinstance(m, (Plan, Code))]
    assert spoke and all(m.usage.model == "local/smollm2" and m.usage.completion_tokens > 0 for m in spoke)
    assert RunLog(home / "runs.db").get_run(result.run_id).status == "done"
    ran = {m.parent_id: m for m in result.messages if isinstance(m, Execution)}
    written = [m for m in result.messages if isinstance(m, Code) and m.code]
    assert all(m.id in ran for m in written)  # every piece of code the model wrote was run in the sandbox
    assert all(ran[m.id].filesystem == "isolated" and ran[m.id].network == "cut" for m in written)
    episode = next(m for m in result.messages if isinstance(m, Reflection) and m.note == "episode")
    memory = open_team_memory(spec, home)
    assert memory.embedder.name == "all-MiniLM-L6-v2"
    assert memory.get(episode.memory_ids)[0].text.startswith("Task: Write a Python function add(a, b)")
    assert result.messages[-1] is result.final


def test_transformers_fallback_when_llama_cpp_is_missing(tmp_path):
    """With llama_cpp unimportable, the same GGUF file runs on transformers."""
    probe = tmp_path / "fallback.py"
    probe.write_text(
        "import sys\n"
        "sys.modules['llama_cpp'] = None  # import llama_cpp now raises ImportError\n"
        "from studio.llm import CallSettings, Gateway\n"
        "from studio.llm.local import get_local_model\n"
        "reply = Gateway().complete('local/smollm2', [{'role': 'user', 'content': 'Say hello.'}],\n"
        "                           settings=CallSettings(max_tokens=8, temperature=0.0))\n"
        "print(get_local_model('smollm2').backend, reply.usage.completion_tokens, repr(reply.text))\n"
    )
    out = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    backend, tokens, text = out.stdout.strip().splitlines()[-1].split(" ", 2)
    assert backend == "transformers" and 0 < int(tokens) <= 8 and text.strip("'\"")
