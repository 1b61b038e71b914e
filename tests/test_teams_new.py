"""``huddle teams new``: a team drafted from a sentence always validates, whatever the model replies.

The scripted model plays the drafting model (its replies go under ``team_designer``); one test drives the real
embedded model.
"""

from __future__ import annotations

import json
import random
import string

import pytest
import yaml
from conftest import DEV_SCRIPT
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from studio.cli import app
from studio.llm import Gateway
from studio.spec import ROLE_KINDS, McpTools, TeamSpec, load_spec, parse_spec
from studio.teamgen import SCRIPT_ROLE, TOOL_CATALOGUE, TeamDraft, complete, generate_team
from studio.teamgen._draft import EXAMPLES

TRIO = "a planner, a coder and a reviewer that write Python functions"
BEST = "best of eight candidates, picked by a critic"


def draft(*roles: tuple, flow: str = "sequential", candidates: int = 1, name: str = "fn-team") -> str:
    """A draft's JSON; each role is (name, kind) or (name, kind, instructions, tools)."""
    return json.dumps({"name": name, "flow": flow, "candidates": candidates, "roles": [
        {"name": r[0], "kind": r[1], "instructions": r[2] if len(r) > 2 else "", "tools": list(r[3:4] and r[3])}
        for r in roles]})


def valid(made) -> TeamSpec:
    """The team checked as a file: its YAML (header included) loads back into the same spec."""
    assert isinstance(made.spec, TeamSpec)
    assert parse_spec(yaml.safe_load(made.yaml())) == made.spec
    return made.spec


def roles(spec: TeamSpec) -> list[tuple[str, str]]:
    return [(r.name, r.kind) for r in spec.roles]


def routes(spec: TeamSpec) -> list[tuple[str, str]]:
    return [(e.source, e.target) for e in spec.flow.edges]


# --- a good draft is taken as it is -------------------------------------------------------------------------------


def test_a_valid_draft_gives_that_team(script):
    reply = json.dumps({"name": "fn-team", "flow": "sequential", "candidates": 1, "roles": [
        {"name": "planner", "kind": "planner", "instructions": "Split the function into steps.", "tools": []},
        {"name": "coder", "kind": "coder", "instructions": "Use the standard library.", "tools": []},
        {"name": "reviewer", "kind": "critic", "instructions": "Approve when the tests pass.", "tools": []}]})
    model = script({SCRIPT_ROLE: [reply]})
    gateway = Gateway()
    made = generate_team(f"  {TRIO} \n", model, gateway=gateway)
    gateway.script(model).assert_complete()
    [call] = gateway.script(model).calls
    assert call.messages[-1] == {"role": "user", "content": f"Team: {TRIO}"}  # after the worked examples
    assert [m["role"] for m in call.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    spec = valid(made)
    assert made.notes == [] and made.reply == reply and made.model == model
    assert spec.name == "fn-team" and spec.description == TRIO
    assert roles(spec) == [("planner", "planner"), ("coder", "coder"), ("reviewer", "critic")]
    assert [r.instructions for r in spec.roles] == ["Split the function into steps.", "Use the standard library.",
                                                    "Approve when the tests pass."]
    assert spec.flow.type == "sequential" and spec.entry() == "planner"
    assert routes(spec) == [("planner", "coder"), ("coder", "reviewer"), ("reviewer", "coder")]  # as the dev team
    assert spec.defaults.model == "local/smollm2"  # a scripted drafter is never the team's model
    assert made.yaml().startswith(f"# A team drafted from the description:\n#   {TRIO}\n# by the model {model}, "
                                  "and taken as it was drafted.\nversion: 1\n")


def test_a_best_of_n_draft_keeps_its_candidates_and_the_tools_the_description_asks_for():
    reply = draft(("writer", "coder", "", ["fetch"]), ("judge", "critic", "", ["git"]), flow="best_of_n", candidates=8)
    made = complete(reply, "Best of 8 candidates written by a writer who reads the web, picked by a judge.")
    spec = valid(made)
    assert spec.flow.type == "best_of_n" and spec.flow.candidates == 8
    assert routes(spec) == [("writer", "judge"), ("judge", "writer")]
    assert spec.role("writer").tools == [McpTools(mcp="fetch")]
    assert spec.mcp_servers["fetch"].command == TOOL_CATALOGUE["fetch"]["command"]
    assert set(spec.mcp_servers) == {"fetch"} and spec.role("judge").tools == []  # no git repository asked for
    assert made.notes == ["judge: dropped the tool git, which the description does not call for"]


def test_the_draft_schema_is_one_llama_cpp_can_decode():
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    schema = TeamDraft.model_json_schema()
    assert LlamaGrammar.from_string(json_schema_to_gbnf(json.dumps(schema)), verbose=False) is not None
    role = schema["$defs"]["RoleDraft"]["properties"]
    assert set(role["kind"]["enum"]) == set(ROLE_KINDS)  # the spec's built-in kinds, no other
    assert role["instructions"]["maxLength"] and schema["properties"]["roles"]["maxItems"] == 6  # it always closes
    assert "cross_team" not in schema["properties"]["flow"]["enum"]
    for _, example in EXAMPLES:  # the worked examples are drafts of that very schema
        TeamDraft.model_validate_json(example)


# --- a babbling model still gives a valid team --------------------------------------------------------------------


def test_prose_gives_the_team_the_description_names():
    made = complete("Sure! A great team would have a planner, some coders and a reviewer.", TRIO)
    spec = valid(made)
    assert roles(spec) == [("planner", "planner"), ("coder", "coder"), ("reviewer", "critic")]
    assert routes(spec) == [("planner", "coder"), ("coder", "reviewer"), ("reviewer", "coder")]
    assert made.notes[0] == "the model's reply is not a JSON object: the team comes from the description's words"


def test_prose_and_a_description_that_names_nothing_give_the_dev_teams_shape():
    made = complete("I cannot help with that.", "Something useful, please.")
    spec = valid(made)
    assert roles(spec) == [("planner", "planner"), ("coder", "coder"), ("critic", "critic")]
    assert routes(spec) == [("planner", "coder"), ("coder", "critic"), ("critic", "coder")]
    assert "as in the dev team" in made.notes[-1]


def test_best_of_n_without_a_critic_gets_one_and_the_descriptions_number():
    made = complete(draft(("coder", "coder"), flow="best_of_n", candidates=3), BEST)
    spec = valid(made)
    assert spec.flow.type == "best_of_n" and spec.flow.candidates == 8  # "best of eight", not the draft's 3
    assert roles(spec) == [("coder", "coder"), ("critic", "critic")]
    assert "added critic (critic): the description asks for one" in made.notes


def test_flows_get_the_roles_they_need():
    magentic = valid(complete(draft(("coder", "coder")), "A team that replans when it gets stuck."))
    assert magentic.flow.type == "magentic" and magentic.orchestrator() is not None and not magentic.flow.edges
    parallel = valid(complete(draft(("coder", "coder"), ("critic", "critic")), "Steps written in parallel."))
    assert parallel.flow.type == "parallel_plan" and [r.kind for r in parallel.roles] == ["planner", "coder", "critic"]


def test_a_flow_the_description_does_not_ask_for_is_not_taken():
    made = complete(draft(("coder", "coder"), ("critic", "critic"), flow="cross_team"), "A coder and a critic.")
    spec = valid(made)
    assert spec.flow.type == "sequential"
    assert made.notes == ["flow: sequential (the description asks for no other), not the model's 'cross_team' "
                          "(one of sequential, best_of_n, parallel_plan, magentic)"]


def test_duplicate_and_unusable_names_are_made_unique_and_valid():
    reply = draft(("coder", "coder"), ("coder", "coder"), ("Lead Dev!", "coder"), ("42", "critic"), ("", "planner"))
    made = complete(reply, "A team for small parsers.")
    spec = valid(made)
    assert roles(spec) == [("planner", "planner"), ("coder", "coder"), ("coder2", "coder"), ("lead_dev", "coder"),
                           ("critic", "critic")]
    assert "two roles were named 'coder': the second is 'coder2'" in made.notes


def test_unknown_kinds_are_read_or_dropped():
    reply = json.dumps({"roles": [{"name": "dev", "kind": "developer"}, {"name": "wiz", "kind": "wizard"},
                                  {"name": "rev", "kind": "reviewer"}, {"name": "boss", "kind": ["orchestrator"]},
                                  {"name": "qa", "kind": "tester", "acts_as": "critic"}]})
    made = complete(reply, "Write a small parser.")
    spec = valid(made)
    assert roles(spec) == [("dev", "coder"), ("rev", "critic"), ("qa", "critic")]  # a custom kind: its acts_as
    assert "roles[0]: kind 'developer' read as coder" in made.notes
    assert any(n.startswith("roles[1]: dropped, its kind 'wizard' is none of") for n in made.notes)


def test_one_orchestrator_at_most_and_no_more_than_six_roles():
    reply = draft(*[(f"boss{i}", "orchestrator") for i in range(3)], *[(f"c{i}", "coder") for i in range(9)])
    made = complete(reply, "A big team.")
    spec = valid(made)
    assert [r.name for r in spec.roles if r.kind == "orchestrator"] == ["boss0"] and len(spec.roles) == 6


def test_the_description_counts_its_roles_and_lists_the_team():
    reply = draft(("planner", "planner"), ("coder", "coder"), ("tester", "test_designer"), ("planner", "planner"))
    made = complete(reply, "An orchestrator routing a planner and two coders.")
    spec = valid(made)
    assert roles(spec) == [("orchestrator", "orchestrator"), ("planner", "planner"), ("coder", "coder"),
                           ("coder2", "coder")]
    assert made.notes == ["dropped tester: the description lists no such role",
                          "dropped planner: the description lists fewer of that kind",
                          "added coder2 (coder): the description asks for 2",
                          "added orchestrator (orchestrator): the description asks for one"]
    assert spec.entry() == "planner" and routes(spec) == [("planner", "coder"), ("coder", "coder2")]


def test_a_name_copied_cut_short_or_repeating_is_made_from_the_description():
    for name in ("shell-tools-team", "tutorial-tutorial-tutorial-tut", "a" * 30):
        assert valid(complete(draft(("coder", "coder"), name=name), "Summarize my notes.")).name == \
            "summarize-notes-team"
    assert valid(complete(draft(("coder", "coder"), name="Parser Team"), "x")).name == "parser-team"


@pytest.mark.parametrize("reply", [
    "", "{", "}{", "null", "42", '"a string"', "[]", "[1, 2]", '{"roles": {}}', '{"roles": []}', '{"roles": [[]]}',
    '{"team": {"roles": "planner"}}', '{"roles": ["planner", "coder", "critic"]}', '{"name": 7, "roles": [{}]}',
    '{"flow": {"type": "best_of_n"}, "candidates": true, "roles": [{"kind": "coder", "tools": "fetch"}]}',
    '{"flow": null, "candidates": -5, "roles": [{"name": null, "kind": null}]}', "[" * 5000 + "]" * 5000,
    '```json\n{"roles": [{"name": "c", "kind": "coder"}]}\n```',
])
def test_json_of_the_wrong_shape_still_gives_a_valid_team(reply):
    for description in (TRIO, BEST, "", "x"):
        spec = valid(complete(reply, description))
        assert any(r.kind == "coder" for r in spec.roles)


def test_a_secret_in_the_description_or_the_draft_never_reaches_the_file():
    key = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 2
    made = complete(draft(("coder", "coder", f"Use the key {key}.")), f"A coder that calls the API with {key}.")
    assert key not in made.yaml() and "[redacted" in made.spec.description
    valid(made)


def _babble(rng: random.Random, depth: int = 0):
    """Random JSON-ish values, leaning on the draft's own keys and words so the repair's paths get exercised."""
    words = ["planner", "coder", "critic", "orchestrator", "test_designer", "reviewer", "wizard", "best_of_n",
             "magentic", "cross_team", "fetch", "git", "memory_search", "", " ", "A-b c!", "ü", "x" * 80]
    keys = ["name", "kind", "roles", "flow", "candidates", "tools", "instructions", "acts_as", "type", "agents"]
    pick = rng.random()
    if depth > 3 or pick < 0.3:
        return rng.choice([rng.choice(words), rng.randint(-3, 40), None, True, rng.random(),
                           "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 30)))])
    if pick < 0.55:
        return [_babble(rng, depth + 1) for _ in range(rng.randint(0, 8))]
    return {rng.choice(keys): _babble(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def test_many_random_babbles_all_give_valid_teams():
    rng = random.Random(25)
    descriptions = [TRIO, BEST, "Search the web and the git repository; best of 40.", "", "a tester and a manager"]
    for i in range(400):
        babble = _babble(rng)
        noise = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 200)))
        reply = json.dumps(babble) if i % 3 else noise
        description = descriptions[i % len(descriptions)]
        made = complete(reply, description)
        spec = valid(made)
        assert 1 <= len(spec.roles) <= 6 and any(r.kind == "coder" for r in spec.roles)
        assert made == complete(reply, description)  # deterministic: the same reply, the same team and notes


# --- huddle teams new ---------------------------------------------------------------------------------------------


def huddle(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_the_command_writes_a_file_that_validates_and_runs(script, tmp_path, home):
    model = script({SCRIPT_ROLE: [draft(("planner", "planner"), ("coder", "coder"), ("critic", "critic", "",
                                                                                         ["fetch"]))]})
    out = tmp_path / "team.yaml"
    result = huddle("teams", "new", "A planner, a coder and a critic that write Python functions.", "-o", str(out),
                    "--model", model)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# A team drafted from the description:\n#   A planner, a coder and a critic that write "
                           f"Python functions.\n# by the model {model}, then repaired:\n#   - critic: dropped the "
                           "tool fetch, which the description does not call for\nversion: 1\n")
    spec = load_spec(out)
    assert roles(spec) == [("planner", "planner"), ("coder", "coder"), ("critic", "critic")]
    validated = huddle("teams", "validate", str(out))
    assert validated.exit_code == 0
    assert result.output == (f"wrote {out}: drafted by {model}\n{validated.output}repaired:\n"
                             "  - critic: dropped the tool fetch, which the description does not call for\n")
    run = huddle("run", str(out), "Write fizzbuzz", "--model", f"scripted:{DEV_SCRIPT}")
    assert run.exit_code == 0, run.output
    assert "critic · review" in run.output and "approved" in run.output


def test_json_output_and_force(script, tmp_path):
    model = script({SCRIPT_ROLE: ["nothing useful", "still nothing"]})
    out = tmp_path / "team.json"
    assert huddle("teams", "new", "a coder", "-o", str(out), "-m", model).exit_code == 0
    first = json.loads(out.read_text())
    refused = huddle("teams", "new", "a coder and a judge", "-o", str(out), "-m", model)
    assert refused.exit_code == 2 and f"error: --output: {out} exists; pass --force" in refused.output
    assert json.loads(out.read_text()) == first  # untouched
    assert huddle("teams", "new", "a coder and a judge", "-o", str(out), "-m", model, "--force").exit_code == 0
    assert [r["name"] for r in json.loads(out.read_text())["roles"]] == ["coder", "judge"]


@pytest.mark.parametrize("args, message", [
    (["   "], "DESCRIPTION: describe the team in a sentence"),
    (["a coder", "-m", "gpt-4o-mini"], "OPENAI_API_KEY"),
    (["a coder", "-m", "no-such-provider-model"], "litellm knows no provider"),
    (["a coder", "-m", "local/nothing"], "unknown local model 'nothing'"),
    (["a coder", "-m", "scripted:nope.yaml"], "nope.yaml does not exist"),
])
def test_user_errors_exit_2_naming_what_to_fix(tmp_path, args, message):
    out = tmp_path / "team.yaml"
    result = huddle("teams", "new", *args, "-o", str(out))
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists() and "Traceback" not in result.output


def test_an_output_that_cannot_be_written_exits_2(script, tmp_path):
    model = script({SCRIPT_ROLE: []})  # never asked: the path is checked first
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out, message in ((tmp_path / "missing" / "t.yaml", "the folder"), (blocker / "t.yaml", "the folder"),
                         (tmp_path, "is a folder")):
        result = huddle("teams", "new", "a coder", "-o", str(out), "-m", model)
        assert result.exit_code == 2 and result.output.startswith("error: --output: ") and message in result.output


def test_a_failed_model_call_exits_1_without_writing(script, tmp_path):
    out = tmp_path / "team.yaml"
    result = huddle("teams", "new", "a coder", "-o", str(out), "-m", script({"someone_else": ["hi"]}))
    assert result.exit_code == 1 and "no replies for role 'team_designer'" in result.output and not out.exists()


# --- Python -------------------------------------------------------------------------------------------------------


def test_team_from_description(script):
    from studio import Team

    team = Team.from_description(BEST, model=script({SCRIPT_ROLE: ["Here you go!"]}))
    assert team.spec.flow.type == "best_of_n" and team.spec.flow.candidates == 8
    assert [r.name for r in team.roles] == ["coder", "critic"]
    with pytest.raises(ValueError, match="description: describe the team"):
        Team.from_description(" ", model="scripted:never-read.yaml")


# --- the Build page -----------------------------------------------------------------------------------------------


class Canvas:
    """Stands in for the canvas component: records the nodes it is given to draw."""

    def __init__(self):
        self.drawn = []

    def __call__(self, key, state, **options):
        self.drawn = [n.data["content"].split("\n", 1)[0] for n in state.nodes]
        return state


def _build_page():
    from studio.ui.build import page

    page()


def _open(monkeypatch, tmp_path, model: str):
    from studio.ui import canvas_view

    canvas = Canvas()
    monkeypatch.setattr(canvas_view, "streamlit_flow", canvas)
    team = tmp_path / "start.yaml"
    team.write_text(yaml.safe_dump({"name": "start", "defaults": {"model": model},
                                    "roles": [{"name": "solo", "kind": "coder"}]}))
    monkeypatch.setenv("HUDDLE_UI_TEAM", str(team))
    return AppTest.from_function(_build_page, default_timeout=60).run(), canvas


def test_the_describe_box_fills_the_canvas(monkeypatch, tmp_path, script):
    model = script({SCRIPT_ROLE: [draft(("planner", "planner"), ("coder", "coder"), ("rev", "critic"))]})
    at, canvas = _open(monkeypatch, tmp_path, model)
    assert "**solo**" in canvas.drawn
    at.text_area(key="build_describe").set_value(TRIO).run()
    at.button(key="build_describe_go").click().run()
    assert not at.exception and not at.error
    assert canvas.drawn[1:] == ["**planner**", "**coder**", "**reviewer**"]  # after the start node
    assert any(s.value.startswith("Team **fn-team** is valid: planner (planner), coder (coder), reviewer (critic)")
               for s in at.success)
    assert any("Drafted team 'fn-team' with 3 roles" in s.value for s in at.success)
    [notes] = [i.value for i in at.info if i.value.startswith("Repaired")]
    assert "renamed rev to reviewer" in notes
    assert at.session_state["huddle_team"]["roles"][2] == {"name": "reviewer", "kind": "critic"}


def test_a_failed_draft_keeps_the_team(monkeypatch, tmp_path, script):
    at, canvas = _open(monkeypatch, tmp_path, script({"someone_else": ["hi"]}))
    at.text_area(key="build_describe").set_value(TRIO).run()
    at.button(key="build_describe_go").click().run()
    assert not at.exception and "**solo**" in canvas.drawn
    [error] = [e.value for e in at.error]
    assert error.startswith("Could not draft a team:") and "team\\_designer" in error


# --- the real embedded model --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_embedded_model_drafts_a_team_that_validates():
    made = generate_team(TRIO)
    spec = valid(made)
    TeamDraft.model_validate_json(made.reply)  # decoded under the draft's schema: it parses, and fits it
    names = {r.name for r in spec.roles}
    assert {"planner", "coder", "reviewer"} <= names, made.notes
    assert spec.role("reviewer").kind == "critic" and spec.flow.type == "sequential"
