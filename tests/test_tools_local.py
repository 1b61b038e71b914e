"""The embedded model (SmolLM2) makes a valid tool call: decoding is constrained to the tools' schemas."""

from __future__ import annotations

import _tool_funcs
import pytest

from studio.messages import ToolCall, ToolResult
from studio.runner import run_team
from studio.spec import parse_spec


@pytest.mark.slow
def test_the_embedded_model_calls_a_python_tool_with_valid_arguments(home):
    _tool_funcs.CALLS.clear()
    spec = parse_spec({
        "name": "adder",
        "roles": [{"name": "coder", "kind": "coder", "tools": [{"python": "_tool_funcs:add"}],
                   "tool_choice": "required", "max_tool_calls": 1, "writes_tests": False}],
        "flow": {"max_rounds": 1},
        "defaults": {"model": "local/smollm2", "max_tokens": 96, "temperature": 0},
        "memory": {"enabled": False},
        "sandbox": {"enabled": False},
    })
    result = run_team(spec, "Use the add tool to add 17 and 25, then write ANSWER = the sum.", home=home)
    calls = [m for m in result.messages if isinstance(m, ToolCall)]
    results = [m for m in result.messages if isinstance(m, ToolResult)]
    assert [c.tool for c in calls] == ["add"]
    assert results[0].ok, results[0].content  # the arguments matched the schema: two whole numbers
    a, b = calls[0].arguments["a"], calls[0].arguments["b"]
    assert isinstance(a, int) and isinstance(b, int) and results[0].content == str(a + b)
    assert _tool_funcs.CALLS == [("add", {"a": a, "b": b})]
