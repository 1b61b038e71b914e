"""Tools on every surface: the Python API, the notebook's team view, ``huddle teams validate``, the tool-call
approval prompts (CLI and studio) and the Run page's transcript of tool calls and results."""

from __future__ import annotations

import statistics
import sys

import pytest
import typer
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from studio import Role, Team
from studio.api.notebook import team_html
from studio.cli import approval as cli_approval
from studio.cli.app import app
from studio.messages import Approval
from studio.spec import McpServer, McpTools, PythonTool, SpecError, ToolApproval
from studio.tools import cap, import_function
from studio.ui import icons
from studio.ui.approval_form import decision_for, tool_call_parts


def lookup(query: str, limit: int = 3) -> list[str]:
    """Find notes about ``query``."""
    return [query] * limit


def _servers() -> dict:
    return {"notes": McpServer(command=sys.executable, args=["notes.py"], env=["NOTES_DB"]),
            "web": {"url": "http://127.0.0.1:8123/mcp", "headers": {"Authorization": "Bearer ${WEB_TOKEN}"},
                    "timeout_s": 5}}


# --- the Python API ------------------------------------------------------------------------------------------------


def test_a_role_takes_tools_in_every_form():
    role = Role.coder(tools=[lookup, "statistics:mean", "memory_search", PythonTool(python="json:dumps", name="js"),
                             McpTools(mcp="notes", allow=["search"]), {"mcp": "web", "deny": ["drop"]},
                             {"python": "json:loads"}], max_tool_calls=6)
    assert role.tools == [PythonTool(python=f"{__name__}:lookup"), PythonTool(python="statistics:mean"),
                          "memory_search", PythonTool(python="json:dumps", name="js"),
                          McpTools(mcp="notes", allow=["search"]), McpTools(mcp="web", deny=["drop"]),
                          PythonTool(python="json:loads")]
    assert role.max_tool_calls == 6
    assert import_function(role.tools[0].python) is lookup  # the function is found again by its reference
    custom = Role.custom("researcher", acts_as="coder", tools=[statistics.mean])
    assert custom.behaviour == "coder" and custom.tools == [PythonTool(python="statistics:mean")]


def test_a_team_takes_mcp_servers_and_tool_approval():
    team = Team("tooly", roles=[Role.coder(tools=[lookup, {"mcp": "notes", "allow": ["search"]}]), Role.critic()],
                mcp_servers=_servers(), approval=["before_final", ToolApproval(tools=["search"])])
    spec = team.spec
    assert spec.mcp_servers["notes"].env == ["NOTES_DB"] and spec.mcp_servers["web"].timeout_s == 5
    assert spec.mcp_servers["web"].header_variables() == ["WEB_TOKEN"]
    assert spec.approval_points() == ["before_final"] and spec.approved_tools() == {"search"}
    as_dicts = Team("dicts", roles=[{"name": "coder", "kind": "coder", "tools": [lookup]}],
                    approval={"tools": ["lookup"]})
    assert as_dicts.spec.roles[0].tools == [PythonTool(python=f"{__name__}:lookup")]
    assert as_dicts.spec.approved_tools() == {"lookup"}


@pytest.mark.parametrize(("entry", "error", "words"), [
    (42, TypeError, "int 42 cannot be a tool"),
    (str, TypeError, "type <class 'str'> cannot be a tool"),
    ("search the web", ValueError, "'search the web' is not a tool"),
    (lambda q: q, ValueError, "a lambda or a function defined inside another cannot be named"),
    ({"pyhton": "a:b"}, ValueError, "is not a tool; expected"),
    ({"mcp": "notes", "allow": "search"}, ValueError, "allow: input should be a valid list"),
])
def test_a_bad_tool_names_the_role_and_the_entry(entry, error, words):
    with pytest.raises(error) as caught:
        Role.custom("researcher", acts_as="coder", tools=["memory_search", entry])
    message = str(caught.value)
    assert message.startswith("role 'researcher', tools[1]: ") and words in message, message


def test_a_bad_server_or_a_tool_of_an_unknown_server_is_a_clear_error():
    with pytest.raises(ValueError, match=r"mcp_servers\.web: .*give either command .* or url"):
        Team("t", roles=[Role.coder()], mcp_servers={"web": {"command": "x", "url": "http://h/mcp"}})
    with pytest.raises(TypeError, match=r"mcp_servers\.web: expected a McpServer or a dict"):
        Team("t", roles=[Role.coder()], mcp_servers={"web": "http://h/mcp"})
    with pytest.raises(SpecError, match=r"roles\[0\]\.tools\[0\]\.mcp: no MCP server named 'notes'"):
        Team("t", roles=[Role.coder(tools=[{"mcp": "notes"}])])


def test_the_team_view_shows_tools_and_servers_but_no_header_or_env_value(monkeypatch):
    monkeypatch.setenv("WEB_TOKEN", "tok-0123456789secret")
    team = Team("tooly", roles=[Role.coder(tools=[lookup, {"mcp": "notes", "allow": ["search"], "deny": ["x"]}]),
                                Role.critic(tools=["memory_search"])], mcp_servers=_servers())
    html = team._repr_html_()
    assert f"python {__name__}:lookup; mcp notes (search) without x" in html and ">memory_search<" in html
    assert f"<b>notes</b>: <code>{sys.executable} notes.py (env: NOTES_DB)</code>" in html
    assert "<b>web</b>: <code>http://127.0.0.1:8123/mcp</code>" in html
    assert "tok-0123456789secret" not in html and "WEB_TOKEN" not in html and "Bearer" not in html
    assert html == team_html(team.spec)


# --- huddle teams validate -----------------------------------------------------------------------------------------


def test_teams_validate_lists_servers_and_each_roles_tools(tmp_path, monkeypatch):
    monkeypatch.setenv("HUDDLE_HOME", str(tmp_path / "home"))
    team = Team("tooly", roles=[Role.coder(tools=["statistics:mean", {"mcp": "notes", "allow": ["search"]}],
                                           max_tool_calls=2), Role.critic()],
                mcp_servers=_servers(), approval={"tools": ["search"]})
    path = team.save(tmp_path / "tooly.yaml")
    out = CliRunner().invoke(app, ["teams", "validate", str(path)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert "approval: before tools search" in lines
    assert "mcp servers: 2" in lines
    assert f"  notes: stdio {sys.executable} notes.py (env: NOTES_DB), 30 s per call" in lines
    assert "  web: http http://127.0.0.1:8123/mcp, 5 s per call" in lines
    assert "tools of coder: python statistics:mean; mcp notes (search) (up to 2 calls a turn)" in lines
    assert "Bearer" not in out.output and not any(line.startswith("tools of critic") for line in lines)


# --- approval of a tool call: the CLI ------------------------------------------------------------------------------


def _request(content: str = 'search({"query": "flaky tests", "limit": 3})') -> Approval:
    return Approval(run_id="r", sender="system", point="before_tool", content=content)


def test_tool_arguments_must_be_a_json_object():
    assert cli_approval.tool_call_parts('search({"query": "a(b)"})') == ("search", '{"query": "a(b)"}')
    assert cli_approval.tool_call_parts("ping()") == ("ping", "{}")
    assert cli_approval.tool_arguments('{\n  "query": "x"\n}') == '{"query": "x"}'
    with pytest.raises(ValueError, match=r"not valid JSON \(Expecting value at line 1, column 11\)"):
        cli_approval.tool_arguments('{"query": }')
    with pytest.raises(ValueError, match=r"must be a JSON object .*got a string"):
        cli_approval.tool_arguments('"x"')


def test_an_edit_given_as_a_flag_is_checked_against_a_tool_call(tmp_path):
    from pipelines import ApprovalDecision

    bad = tmp_path / "args.json"
    bad.write_text("[1, 2]")
    decision = cli_approval.decision_from_flags(False, None, bad)
    with pytest.raises(typer.BadParameter, match=r"--edit: tool call search: the arguments must be a JSON object"):
        cli_approval.check_answer(decision, _request())
    good = ApprovalDecision.edit('{\n "query": "x"\n}')
    assert cli_approval.check_answer(good, _request()) == ApprovalDecision.edit('{"query": "x"}')
    plan_edit = ApprovalDecision.edit("1. not json")
    plan = Approval(run_id="r", sender="system", point="after_plan", content="1. a")
    assert cli_approval.check_answer(plan_edit, plan) is plan_edit


def _terminal(monkeypatch, choices: list[str], edits: list[str | None]):
    import click
    from rich.prompt import Prompt

    asked: list[str] = []
    shown: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(Prompt, "ask", classmethod(lambda cls, prompt, **kw: (asked.append(prompt), choices.pop(0))[1]))
    monkeypatch.setattr(click, "edit", lambda text, **kw: (shown.append(text), edits.pop(0))[1])
    return asked, shown


def test_the_cli_asks_about_a_tool_call_by_name_and_edits_its_arguments(monkeypatch):
    from rich.console import Console

    from pipelines import ApprovalDecision

    asked, shown = _terminal(monkeypatch, ["e", "e"], ["[1]", '{"query": "flaky", "limit": 1}'])
    console = Console(record=True, width=100)
    decision = cli_approval.ask_person(console, _request())
    assert decision == ApprovalDecision.edit('{"query": "flaky", "limit": 1}')
    text = console.export_text()
    assert "approval: Tool call: search" in text and '"query": "flaky tests"' in text
    assert "the arguments must be a JSON object" in text  # the first edit was refused, and asked again
    assert shown == ['{\n  "query": "flaky tests",\n  "limit": 3\n}', "[1]"]
    assert asked[0].startswith("[a]pprove, [e]dit the arguments") and asked[1].startswith("[e]dit again")

    _terminal(monkeypatch, ["r", "use limit 1"], [])
    assert cli_approval.ask_person(Console(record=True), _request()) == ApprovalDecision.reject("use limit 1")


# --- approval of a tool call: the studio ---------------------------------------------------------------------------


def test_the_studio_checks_edited_tool_arguments():
    original = tool_call_parts('search({"query": "x"})')[1]
    assert original == '{\n  "query": "x"\n}'
    assert decision_for("edit", original=original, edited='{"query": "y"}', tool=True).text == '{"query": "y"}'
    assert decision_for("edit", original=original, edited='{"query":"x"}', tool=True).action == "approve"
    with pytest.raises(ValueError, match="must be a JSON object"):
        decision_for("edit", original=original, edited='["y"]', tool=True)
    with pytest.raises(ValueError, match="not valid JSON"):
        decision_for("edit", original=original, edited="{query: y}", tool=True)


def _transcript_app():
    import streamlit as st

    from studio.messages import Approval, ToolCall, ToolResult
    from studio.ui.transcript import render_transcript

    messages = [
        ToolCall(run_id="r", sender="coder", tool="search", arguments={"query": "flaky", "limit": 2}),
        ToolResult(run_id="r", sender="coder", tool="search", ok=False,
                   content="MCP server 'notes': the server exited while calling search"),
        ToolResult(run_id="r", sender="coder", tool="big", content=st.session_state["big"]),
    ]
    messages.append(Approval(run_id="r", sender="system", point="before_tool", content='search({"query": "flaky"})'))
    render_transcript(messages, {"coder": "coder"})


def test_the_transcript_draws_calls_failed_and_cut_results_and_a_waiting_tool_call():
    at = AppTest.from_function(_transcript_app, default_timeout=60)
    at.session_state["big"] = cap("x" * 5000)
    at.run()
    assert not at.exception
    markdown = [m.value for m in at.markdown]
    assert f"{icons.ALERTS['tool']} calls **search**" in markdown
    assert any(c.value == '{\n  "query": "flaky",\n  "limit": 2\n}' and c.language == "json" for c in at.code)
    assert "`search` :red[**failed**] — MCP server 'notes': the server exited while calling search" in markdown
    labels = [e.label for e in at.expander]
    assert "result (4,000 characters, 1,000 more cut)" in labels
    assert any(t.value.startswith("x" * 100) and t.value.endswith("[… 1000 more characters cut]") for t in at.text)
    assert "**Tool call: search** · :yellow[**requested**]" in markdown
    assert any(c.value == '{"query": "flaky"}' and c.language == "json" for c in at.code)


def _prompt_app():
    from studio.messages import Approval
    from studio.ui.approval_form import approval_prompt

    approval_prompt("r", Approval(run_id="r", sender="system", point="before_tool", id="req-1",
                                  content='search({"query": "flaky", "limit": 3})'))


def test_the_run_page_asks_about_a_tool_call_by_name_with_its_arguments_to_edit():
    at = AppTest.from_function(_prompt_app, default_timeout=60).run()
    assert not at.exception
    [warning] = at.warning
    assert warning.value.startswith("**Waiting for your approval: Tool call: search**")
    arguments = '{\n  "query": "flaky",\n  "limit": 3\n}'
    assert [(c.value, c.language) for c in at.code] == [(arguments, "json")]
    [edit, _] = at.text_area
    assert edit.label == "Arguments (a JSON object)" and edit.value == arguments
