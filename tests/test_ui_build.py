"""The Build page: the canvas conversions as plain functions, and the page itself driven by AppTest."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest
from streamlit_flow.elements import StreamlitFlowEdge

from studio.spec import SpecError, dump_spec, load_spec, parse_spec
from studio.ui import canvas, icons
from studio.ui.build_io import parse_upload
from studio.ui.flow_edit import (
    FLOW_CAPTIONS,
    add_sub_team,
    flow_type,
    judge_of,
    remove_sub_team,
    set_flow_type,
    set_sub_team_roles,
    sub_team_of,
    sub_teams,
)
from studio.ui.team_edit import add_role, problems_under, remove_role, rename_role, set_path

ROOT = Path(__file__).resolve().parents[1]
DEV_TEAM = ROOT / "examples" / "teams" / "dev_team.yaml"


@pytest.fixture
def team() -> dict:
    return yaml.safe_load(DEV_TEAM.read_text())


def _nodes(state) -> dict:
    return {n.id: n for n in state.nodes}


# --- canvas.py: spec -> nodes and edges --------------------------------------------------------------------------


def test_one_node_per_role_with_its_kinds_look(team):
    state = canvas.to_flow(team, {})
    nodes = _nodes(state)
    assert set(nodes) == {canvas.START, "role-0", "role-1", "role-2", "role-3"}
    backgrounds = set()
    for i, role in enumerate(team["roles"]):
        node = nodes[f"role-{i}"]
        background, border = canvas.KIND_LOOK[role["kind"]]
        assert node.style["background"] == background and border in node.style["border"]
        assert node.data["content"].startswith(f"**{role['name']}**\n\n{role['kind']}")  # no icon: plain text
        backgrounds.add(background)
    assert len(backgrounds) == 4  # four kinds, four looks


def test_one_edge_per_route_and_one_for_the_entry(team):
    state = canvas.to_flow(team, {})
    routes = {(e.source, e.target) for e in state.edges if e.source != canvas.START}
    assert routes == {("role-1", "role-2"), ("role-2", "role-3"), ("role-3", "role-2")}
    assert len(state.edges) == 4
    [entry] = [e for e in state.edges if e.source == canvas.START]
    assert entry.target == "role-1" and entry.label == "entry"  # planner, set in the spec
    del team["flow"]["entry"]
    [entry] = [e for e in canvas.to_flow(team, {}).edges if e.source == canvas.START]
    assert entry.target == "role-1" and "first worker" in entry.label  # the orchestrator is not a worker


def test_only_the_first_route_from_a_role_looks_used(team):
    team["flow"]["edges"].append({"from": "planner", "to": "critic"})
    edges = {e.id: e for e in canvas.to_flow(team, {}).edges}
    assert edges["edge-0"].label == "" and edges["edge-3"].label == "unused"


def test_a_role_with_problems_is_marked(team):
    problems = ["roles[2].limits.temperature: input should be less than or equal to 2 (got 5.0)"]
    nodes = _nodes(canvas.to_flow(team, {}, problems))
    assert "dashed" in nodes["role-2"].style["border"] and "**has problems**" in nodes["role-2"].data["content"]
    assert "dashed" not in nodes["role-1"].style["border"]


# --- canvas.py: flow state -> team dict ----------------------------------------------------------------------------


def test_an_unchanged_canvas_changes_nothing(team):
    assert canvas.from_flow(team, canvas.to_flow(team, {})) == team


def test_a_new_edge_adds_a_route(team):
    state = canvas.to_flow(team, {})
    state.edges.append(StreamlitFlowEdge("st-flow-edge_role-3-role-1", "role-3", "role-1"))
    updated = canvas.from_flow(team, state)
    assert updated["flow"]["edges"] == team["flow"]["edges"] + [{"from": "critic", "to": "planner"}]
    assert updated["roles"] == team["roles"]


def test_a_new_edge_repeating_a_route_adds_nothing(team):
    state = canvas.to_flow(team, {})
    state.edges.append(StreamlitFlowEdge("st-flow-edge_role-1-role-2", "role-1", "role-2"))
    assert canvas.from_flow(team, state)["flow"]["edges"] == team["flow"]["edges"]


def test_a_new_edge_from_start_moves_the_entry(team):
    state = canvas.to_flow(team, {})
    state.edges.append(StreamlitFlowEdge("st-flow-edge_start-role-2", canvas.START, "role-2"))
    updated = canvas.from_flow(team, state)
    assert updated["flow"]["entry"] == "coder"
    assert updated["flow"]["edges"] == team["flow"]["edges"]  # the entry is no route


def test_a_deleted_edge_removes_its_route(team):
    state = canvas.to_flow(team, {})
    state.edges = [e for e in state.edges if e.id != "edge-2"]
    assert canvas.from_flow(team, state)["flow"]["edges"] == team["flow"]["edges"][:2]


def test_a_deleted_node_removes_the_role_its_routes_and_the_entry(team):
    state = canvas.to_flow(team, {})
    state.nodes = [n for n in state.nodes if n.id != "role-1"]  # planner, the entry
    updated = canvas.from_flow(team, state)
    assert [r["name"] for r in updated["roles"]] == ["orchestrator", "coder", "critic"]
    assert updated["flow"]["edges"] == [{"from": "coder", "to": "critic"}, {"from": "critic", "to": "coder"}]
    assert "entry" not in updated["flow"]
    parse_spec(updated)  # still a valid team


def test_a_route_the_canvas_could_not_show_is_kept(team):
    team["flow"]["edges"].append({"from": "coder", "to": "tester"})  # no such role: no edge drawn
    state = canvas.to_flow(team, {})
    assert len([e for e in state.edges if e.source != canvas.START]) == 3
    state.edges = [e for e in state.edges if e.id != "edge-0"]
    assert canvas.from_flow(team, state)["flow"]["edges"] == team["flow"]["edges"][1:]


def test_the_input_is_not_changed(team):
    before = copy.deepcopy(team)
    state = canvas.to_flow(team, {})
    state.nodes = state.nodes[:2]
    canvas.from_flow(team, state)
    assert team == before


# --- canvas.py: layout and positions ------------------------------------------------------------------------------


def test_layout_places_every_role_by_kind_and_keeps_known_spots(team):
    team, _ = add_role(team, "coder")
    spots = canvas.layout(team, {"critic": (999.0, 5.0)})
    assert set(spots) == {"orchestrator", "planner", "coder", "critic", "coder2"}
    assert spots["critic"] == (999.0, 5.0)
    fresh = canvas.layout(team, {})
    assert fresh["planner"][0] < fresh["coder"][0] < fresh["critic"][0]  # workers left to right
    assert fresh["orchestrator"][1] < min(fresh[n][1] for n in ("planner", "coder", "critic"))  # and above them
    assert spots["coder2"][0] == spots["coder"][0] and spots["coder2"][1] != spots["coder"][1]  # its kind's column
    assert len(set(spots.values())) == 5
    state = canvas.to_flow(team, {"critic": (999.0, 5.0)})
    assert _nodes(state)["role-3"].position == {"x": 999.0, "y": 5.0}


def test_positions_come_back_by_role_name(team):
    state = canvas.to_flow(team, {})
    _nodes(state)["role-2"].position = {"x": 12.5, "y": -40}
    assert canvas.positions_from(team, state)["coder"] == (12.5, -40.0)


def test_the_signature_follows_what_the_canvas_shows(team):
    before = canvas.signature(team)
    assert canvas.signature(copy.deepcopy(team)) == before
    assert canvas.signature(set_path(team, ("description",), "other words")) == before
    assert canvas.signature(rename_role(team, 2, "builder")) != before
    assert canvas.signature(set_path(team, ("roles", 2, "kind"), "critic")) != before


# --- team_edit.py and parse_upload ----------------------------------------------------------------------------------


def test_a_rename_carries_routes_and_entry(team):
    renamed = rename_role(team, 1, "architect")
    assert renamed["flow"]["entry"] == "architect"
    assert renamed["flow"]["edges"][0] == {"from": "architect", "to": "coder"}
    assert parse_spec(renamed).role("architect").kind == "planner"


def test_a_rename_of_a_shared_name_leaves_routes_alone(team):
    team["roles"][3]["name"] = "coder"  # two roles called coder: which one would a route mean?
    renamed = rename_role(team, 3, "critic")
    assert renamed["flow"]["edges"] == team["flow"]["edges"]


def test_set_path_drops_what_it_empties(team):
    team = set_path(team, ("roles", 2, "limits", "temperature"), 0.7)
    assert team["roles"][2]["limits"] == {"temperature": 0.7}
    assert "limits" not in set_path(team, ("roles", 2, "limits", "temperature"), None)["roles"][2]


def test_problems_under_a_field():
    problems = ["roles[1].name: bad", "roles[10].name: other", "roles[1].memory.read[0]: no", "flow.entry: x"]
    assert problems_under(problems, "roles[1]") == ["roles[1].name: bad", "roles[1].memory.read[0]: no"]
    assert problems_under(problems, "roles[1].memory.read") == ["roles[1].memory.read[0]: no"]


def test_parse_upload_names_the_file_and_the_place():
    with pytest.raises(SpecError) as bad_yaml:
        parse_upload("bad.yaml", b"name: t\nroles: [\n")
    assert bad_yaml.value.source == "bad.yaml" and "not valid YAML: line" in bad_yaml.value.problems[0]
    with pytest.raises(SpecError) as bad_team:
        parse_upload("t.yaml", b"name: t\nroles: [{name: a, kind: planer}]\n")
    assert bad_team.value.problems == ["roles[0].kind: 'planer' is not a built-in kind (planner, coder, critic, "
                                       "orchestrator, test_designer); for a custom kind of your own, add acts_as: "
                                       "one of planner, coder, critic, orchestrator, test_designer"]
    assert parse_upload("t.json", b'{"name": "t", "roles": [{"name": "a", "kind": "coder"}]}')["name"] == "t"


# --- the page, driven by AppTest ----------------------------------------------------------------------------------


def _app():
    from studio.ui.build import page

    page()


@pytest.fixture
def at(monkeypatch, downloads) -> AppTest:
    monkeypatch.delenv("HUDDLE_UI_TEAM", raising=False)
    return AppTest.from_function(_app, default_timeout=60).run()


def _w(widgets, path: str):
    """The field widget of ``path`` (its key also holds a revision that changes when the team is replaced)."""
    [widget] = [w for w in widgets if w.key and w.key.endswith(":" + path)]
    return widget


def _picker(at: AppTest):
    [picker] = [s for s in at.selectbox if s.label == "Role"]
    return picker


def _download(at: AppTest):
    [button] = [b for b in at.download_button if b.key == "build_download"]
    return button


def _served(at: AppTest, stores: list):
    """The file the download button serves (as the last run stored it)."""
    button = _download(at)
    assert not button.proto.disabled
    return stores[-1].get_file(button.proto.url.rsplit("/", 1)[-1])


def _downloaded(at: AppTest, stores: list) -> dict:
    return yaml.safe_load(_served(at, stores).content.decode())


def _alerts(elements) -> list[str]:
    return [e.value for e in elements]


def _field_errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error if e.icon == icons.ALERTS["problem"]]


def _summary(at: AppTest) -> str:
    [summary] = [e.value for e in at.error if e.icon == icons.ALERTS["refused"]]
    return summary


def test_the_page_opens_on_the_example_team_valid(at):
    assert not at.exception
    assert at.title[0].value == "Build a team"
    assert "dev-team" in _alerts(at.success)[0] and not at.error
    assert not _download(at).proto.disabled


def test_build_a_team_through_the_form(at, downloads):
    at.button(key="build_add_coder").click().run()
    assert _picker(at).value == 4
    assert _w(at.text_input, "roles.4.name").value == "coder2"
    _w(at.text_input, "roles.4.name").set_value("tester").run()
    _w(at.text_area, "roles.4.instructions").set_value("Write the tests first.").run()
    _w(at.selectbox, "roles.4.model").set_value("local/smollm2").run()
    _w(at.multiselect, "roles.4.tools").set_value(["memory_search"]).run()
    _w(at.checkbox, "roles.4.memory.write.default").uncheck().run()
    _w(at.multiselect, "roles.4.memory.write").set_value(["knowledge"]).run()
    _w(at.number_input, "roles.4.limits.temperature").set_value(0.5).run()
    _w(at.selectbox, "route.from").set_value("coder").run()
    _w(at.selectbox, "route.to").set_value("tester").run()
    at.button(key="build_route_add").click().run()
    _w(at.text_input, "name").set_value("test-team").run()
    _w(at.number_input, "flow.max_rounds").set_value(10).run()
    _w(at.toggle, "sandbox.enabled").set_value(False).run()

    assert not at.exception and not at.error
    assert "test-team" in _alerts(at.success)[0] and "tester (coder)" in _alerts(at.success)[0]
    spec = parse_spec(_downloaded(at, downloads))
    tester = spec.role("tester")
    assert (tester.kind, tester.model, tester.instructions, tester.tools) == (
        "coder", "local/smollm2", "Write the tests first.", ["memory_search"])
    assert tester.writes() == ("knowledge",) and tester.reads() == ("knowledge", "reflections")
    assert tester.limits.temperature == 0.5
    assert spec.flow.edges[-1].source == "coder" and spec.flow.edges[-1].target == "tester"
    assert (spec.name, spec.flow.max_rounds, spec.sandbox.enabled) == ("test-team", 10, False)


def test_an_invalid_edit_is_kept_and_shown_at_its_field_and_in_the_summary(at):
    _picker(at).set_value(3).run()  # the critic
    _w(at.text_input, "roles.3.name").set_value("coder").run()
    assert _w(at.text_input, "roles.3.name").value == "coder"  # kept as typed
    [error] = _field_errors(at)
    assert error.startswith("`roles[3].name`: duplicate role name 'coder'")
    assert "`roles[3].name`: duplicate role name 'coder'" in _summary(at)
    assert _download(at).proto.disabled
    assert _picker(at).format_func(3) == "coder (critic) — has problems"

    _w(at.text_input, "roles.3.name").set_value("reviewer").run()
    assert not at.error and "reviewer (critic)" in _alerts(at.success)[0]
    assert not _download(at).proto.disabled


def test_a_team_level_problem_shows_next_to_its_field(at):
    _w(at.number_input, "flow.max_rounds").set_value(0).run()
    assert _field_errors(at) == ["`flow.max_rounds`: input should be greater than or equal to 1 (got 0)"]
    assert "flow.max_rounds" in _summary(at) and _download(at).proto.disabled
    _w(at.number_input, "flow.max_rounds").set_value(3).run()
    assert not at.error and not _download(at).proto.disabled


def test_a_rename_in_the_form_carries_routes_and_entry(at, downloads):
    _picker(at).set_value(1).run()
    _w(at.text_input, "roles.1.name").set_value("architect").run()
    assert not at.error
    spec = parse_spec(_downloaded(at, downloads))
    assert spec.flow.entry == "architect" and spec.successor("architect") == "coder"
    assert _w(at.selectbox, "flow.entry").value == "architect"


def test_removing_a_role_and_a_route(at, downloads):
    _picker(at).set_value(3).run()
    at.button(key="build_remove_3").click().run()
    assert _picker(at).options == ["orchestrator (orchestrator)", "planner (planner)", "coder (coder)"]
    at.button(key="build_route_rm_0").click().run()
    spec = parse_spec(_downloaded(at, downloads))
    assert [r.name for r in spec.roles] == ["orchestrator", "planner", "coder"] and spec.flow.edges == []


def test_load_a_gallery_team(at, downloads):
    _w(at.text_input, "name").set_value("changed").run()
    assert "changed" in _alerts(at.success)[0]
    at.selectbox(key="build_gallery").set_value("dev_team").run()
    at.button(key="build_gallery_load").click().run()
    assert "dev_team.yaml" in _alerts(at.success)[0]
    assert _w(at.text_input, "name").value == "dev-team"
    assert parse_spec(_downloaded(at, downloads)) == load_spec(DEV_TEAM)


def test_editing_a_role_keeps_its_worked_examples(at, downloads):
    at.selectbox(key="build_gallery").set_value("solver_team").run()
    at.button(key="build_gallery_load").click().run()
    _w(at.text_area, "roles.0.instructions").set_value("Keep it short.").run()
    coder = parse_spec(_downloaded(at, downloads)).roles[0]
    assert coder.instructions == "Keep it short."
    assert coder.examples == load_spec(ROOT / "examples" / "teams" / "solver_team.yaml").roles[0].examples
    assert len(coder.examples) == 2


def test_a_coder_can_be_told_not_to_write_its_own_tests(at, downloads):
    _picker(at).set_value(2).run()  # the coder
    switch = _w(at.toggle, "roles.2.writes_tests")
    assert switch.value is True
    switch.set_value(False).run()
    assert [r.writes_tests for r in parse_spec(_downloaded(at, downloads)).roles] == [True, True, False, True]
    _picker(at).set_value(3).run()  # the critic has no such switch
    assert not [t for t in at.toggle if t.key and t.key.endswith(":roles.3.writes_tests")]


def test_the_download_parses_back_to_the_same_team(at, downloads):
    _w(at.text_area, "description").set_value("A team: with *odd* words_and $signs").run()
    data = _downloaded(at, downloads)
    assert _served(at, downloads).filename == "dev-team.yaml"
    edited = load_spec(DEV_TEAM).model_copy(update={"description": "A team: with *odd* words_and $signs"})
    assert parse_spec(data) == edited
    assert yaml.safe_load(at.code[0].value) == data  # the YAML shown is the YAML served


def test_uploading_an_invalid_file_shows_why_and_replaces_nothing(at):
    at.file_uploader(key="build_upload").set_value(("bad.yaml", b"name: x\nroles: [\n", "application/x-yaml")).run()
    [failure] = [e.value for e in at.error]
    assert "**bad.yaml**" in failure and "not valid YAML: line" in failure and "not replaced" in failure
    assert _w(at.text_input, "name").value == "dev-team"

    bad = b"name: x\nroles:\n  - {name: a, kind: planer}\nflow: {max_rounds: 0}\n"
    at.file_uploader(key="build_upload").set_value(("team.yaml", bad, "application/x-yaml")).run()
    [failure] = [e.value for e in at.error]
    assert "**team.yaml**" in failure and "`roles[0].kind`" in failure and "`flow.max_rounds`" in failure
    assert "dev-team" in _alerts(at.success)[0]


def test_uploading_a_valid_file_replaces_the_team(at, downloads):
    spec = parse_spec({"name": "solo", "roles": [{"name": "maker", "kind": "coder"}]})
    at.file_uploader(key="build_upload").set_value(("solo.yaml", dump_spec(spec).encode(), "application/x-yaml"))
    at.run()
    assert not at.error and "solo.yaml" in _alerts(at.success)[0]
    assert _picker(at).options == ["maker (coder)"]
    assert parse_spec(_downloaded(at, downloads)) == spec


def test_the_app_opens_on_the_build_page(monkeypatch):
    monkeypatch.delenv("HUDDLE_UI_TEAM", raising=False)
    at = AppTest.from_file(str(ROOT / "studio" / "ui" / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Build a team"


# --- the page and the canvas: a stand-in component that acts like the browser's -----------------------------------


class FakeCanvas:
    """Stands in for ``streamlit_flow``: applies queued user actions and, like the real component, keeps
    returning its last event on every later rerun."""

    def __init__(self):
        self.pending = []
        self.event = None

    def __call__(self, key, state, **options):
        assert options["allow_new_edges"] and options["get_node_on_click"] and not options["enable_node_menu"]
        if self.pending:
            time.sleep(0.005)  # the browser's clock moves on: its event is newer than the state it was given
            self.event = self.pending.pop(0)(copy.deepcopy(state))
            self.event.timestamp = int(time.time() * 1000)
            time.sleep(0.005)
        return self.event or state


@pytest.fixture
def fake_canvas(monkeypatch) -> FakeCanvas:
    from studio.ui import canvas_view

    fake = FakeCanvas()
    monkeypatch.setattr(canvas_view, "streamlit_flow", fake)
    return fake


def _act(at: AppTest, fake: FakeCanvas, action) -> None:
    fake.pending.append(action)
    at.run()


def _delete_node(node_id):
    def act(state):
        state.nodes = [n for n in state.nodes if n.id != node_id]
        state.edges = [e for e in state.edges if node_id not in (e.source, e.target)]
        return state
    return act


def _click(node_id):
    def act(state):
        state.selected_id = node_id
        return state
    return act


def test_deleting_a_node_on_the_canvas_removes_the_role(fake_canvas, at, downloads):
    _act(at, fake_canvas, _delete_node("role-3"))
    assert not at.exception and not at.error
    spec = parse_spec(_downloaded(at, downloads))
    assert [r.name for r in spec.roles] == ["orchestrator", "planner", "coder"]
    assert [(e.source, e.target) for e in spec.flow.edges] == [("planner", "coder")]
    at.run()  # the component still returns that event: it must not delete another role
    assert len(parse_spec(_downloaded(at, downloads)).roles) == 3


def test_an_edge_drawn_on_the_canvas_adds_a_route(fake_canvas, at, downloads):
    def connect(state):
        state.edges.append(StreamlitFlowEdge("st-flow-edge_role-3-role-1", "role-3", "role-1"))
        state.selected_id = "st-flow-edge_role-3-role-1"
        return state

    _act(at, fake_canvas, connect)
    assert not at.error
    assert parse_spec(_downloaded(at, downloads)).flow.edges[-1].model_dump(by_alias=True) == {
        "from": "critic", "to": "planner"}
    assert any("`critic` → `planner`" in m.value for m in at.markdown)


def test_clicking_a_node_opens_its_form_and_an_old_click_does_not_come_back(fake_canvas, at):
    _act(at, fake_canvas, _click("role-2"))
    assert _picker(at).value == 2
    assert _w(at.text_input, "roles.2.name").value == "coder"
    at.button(key="build_add_critic").click().run()  # the component keeps returning the click
    assert _picker(at).value == 4
    assert _w(at.text_input, "roles.4.name").value == "critic2"


def test_a_dragged_node_keeps_its_place_through_a_rename(fake_canvas, at):
    from studio.ui.canvas_view import POSITIONS

    def drag(state):
        for node in state.nodes:
            if node.id == "role-2":
                node.position = {"x": 777.0, "y": 333.0}
        return state

    _act(at, fake_canvas, drag)
    assert at.session_state[POSITIONS]["coder"] == (777.0, 333.0)
    _picker(at).set_value(2).run()
    _w(at.text_input, "roles.2.name").set_value("builder").run()
    assert at.session_state[POSITIONS]["builder"] == (777.0, 333.0)


# --- flows, sub-teams and approvals: flow_edit.py, the canvas and the form -------------------------------------------


@pytest.fixture
def cross(team) -> dict:
    """The dev team plus a second coder and critic, split into two sub-teams judged by the second critic."""
    team, _ = add_role(team, "coder")
    team, _ = add_role(team, "critic")
    team = set_flow_type(team, "cross_team")
    team = add_sub_team(add_sub_team(team))
    team = set_sub_team_roles(set_sub_team_roles(team, 0, ["planner", "coder", "critic"]), 1, ["coder2"])
    return set_path(team, ("flow", "judge"), "critic2")


def test_cross_team_editing_keeps_one_sub_team_per_role(cross):
    assert sub_teams(cross) == [{"name": "team1", "roles": ["planner", "coder", "critic"]},
                                {"name": "team2", "roles": ["coder2"]}]
    spec = parse_spec(cross)
    assert [t.roles for t in spec.flow.teams] == [["planner", "coder", "critic"], ["coder2"]]
    assert spec.judge().name == "critic2"
    moved = set_sub_team_roles(cross, 1, ["coder2", "critic"])  # taken from team1, not listed twice
    assert [t["roles"] for t in sub_teams(moved)] == [["planner", "coder"], ["coder2", "critic"]]
    assert sub_team_of(moved) == {"planner": "team1", "coder": "team1", "coder2": "team2", "critic": "team2"}
    third = add_sub_team(cross)
    assert sub_teams(third)[2] == {"name": "team3", "roles": []}
    assert sub_teams(remove_sub_team(third, 0))[0]["name"] == "team2"


def test_the_judge_is_named_or_the_one_critic_outside_the_sub_teams(cross):
    assert judge_of(cross) == "critic2"
    unset = set_path(cross, ("flow", "judge"), None)
    assert judge_of(unset) == "critic2" and parse_spec(unset).judge().name == "critic2"
    two_outside = set_sub_team_roles(unset, 0, ["planner", "coder"])  # critic leaves team1: two candidates
    assert judge_of(two_outside) is None
    with pytest.raises(SpecError) as bad:
        parse_spec(two_outside)
    assert any(p.startswith("flow.judge: name the role") for p in bad.value.problems)


def test_leaving_cross_team_drops_its_sub_teams_and_judge(cross):
    cross = set_path(cross, ("flow", "max_parallel"), 4)
    magentic = set_flow_type(cross, "magentic")
    assert magentic["flow"]["type"] == "magentic" and "teams" not in magentic["flow"]
    assert "judge" not in magentic["flow"] and magentic["flow"]["max_parallel"] == 4  # numbers are kept
    assert flow_type(magentic) == "magentic" and flow_type({"name": "t"}) == "sequential"
    assert sub_team_of(magentic) == {} and judge_of(magentic) is None
    parse_spec(magentic)


def test_a_rename_or_removal_follows_into_sub_teams_and_judge(cross):
    renamed = rename_role(rename_role(cross, 2, "builder"), 5, "referee")
    assert sub_teams(renamed)[0]["roles"] == ["planner", "builder", "critic"]
    assert renamed["flow"]["judge"] == "referee"
    assert parse_spec(renamed).judge().name == "referee"
    removed = remove_role(remove_role(renamed, 5), 1)  # the judge, then the planner
    assert "judge" not in removed["flow"] and sub_teams(removed)[0]["roles"] == ["builder", "critic"]


def test_the_canvas_shows_each_roles_sub_team_and_the_judge(cross):
    nodes = _nodes(canvas.to_flow(cross, {}))
    def part(node) -> list[str]:  # the lines under the name and the kind
        return node.data["content"].split("\n\n")[2:]

    assert part(nodes["role-1"]) == ["team team1"] and part(nodes["role-4"]) == ["team team2"]
    assert part(nodes["role-5"]) == ["judge"] and part(nodes["role-0"]) == []
    before = canvas.signature(cross)
    assert canvas.signature(set_sub_team_roles(cross, 1, ["coder2", "critic"])) != before  # redrawn
    assert part(canvas.to_flow(set_flow_type(cross, "sequential"), {}).nodes[2]) == []


def test_the_flow_type_shows_its_caption_and_only_the_fields_it_uses(at, downloads):
    assert _w(at.selectbox, "flow.type").value == "sequential"
    assert not [w for w in at.number_input if w.key.endswith((":flow.max_stalls", ":flow.candidates"))]
    _w(at.selectbox, "flow.type").set_value("magentic").run()
    assert any(c.value == FLOW_CAPTIONS["magentic"] for c in at.caption)
    shown = {w.key.rsplit(":", 1)[1] for w in at.number_input if w.key.startswith("bld")}
    assert {"flow.max_stalls", "flow.max_replans"} <= shown and "flow.candidates" not in shown
    assert _w(at.number_input, "flow.max_stalls").value == 3  # the spec's default until set
    _w(at.number_input, "flow.max_stalls").set_value(5).run()
    _w(at.number_input, "flow.max_replans").set_value(0).run()
    spec = parse_spec(_downloaded(at, downloads))
    assert (spec.flow.type, spec.flow.max_stalls, spec.flow.max_replans) == ("magentic", 5, 0)

    _w(at.selectbox, "flow.type").set_value("best_of_n").run()
    shown = {w.key.rsplit(":", 1)[1] for w in at.number_input if w.key.startswith("bld")}
    assert {"flow.candidates", "flow.max_parallel"} <= shown and "flow.max_stalls" not in shown
    _w(at.number_input, "flow.candidates").set_value(4).run()
    _w(at.number_input, "flow.max_parallel").set_value(2).run()
    assert not at.error
    spec = parse_spec(_downloaded(at, downloads))
    assert (spec.flow.type, spec.flow.candidates, spec.flow.max_parallel) == ("best_of_n", 4, 2)
    assert spec.flow.max_stalls == 5  # kept, though best_of_n does not use it

    _w(at.number_input, "flow.candidates").set_value(40).run()
    assert _field_errors(at) == ["`flow.candidates`: input should be less than or equal to 16 (got 40)"]
    assert "flow.candidates" in _summary(at) and _download(at).proto.disabled


def test_what_a_flow_needs_of_the_roles_shows_under_the_flow_type(at):
    _w(at.selectbox, "flow.type").set_value("magentic").run()
    _picker(at).set_value(0).run()
    at.button(key="build_remove_0").click().run()  # the orchestrator
    assert _field_errors(at) == ["`roles`: flow magentic needs an orchestrator (it keeps the task and progress "
                                 "ledgers)"]  # once: under the flow type, not again by the palette
    assert "flow magentic needs an orchestrator" in _summary(at)
    _w(at.selectbox, "flow.type").set_value("sequential").run()
    assert not at.error


def test_build_a_cross_team_flow_in_the_form(at, downloads):
    at.button(key="build_add_coder").click().run()
    at.button(key="build_add_critic").click().run()
    _w(at.selectbox, "flow.type").set_value("cross_team").run()
    assert any(e.startswith("`flow.teams`: cross\\_team needs two or more sub-teams") for e in _field_errors(at))
    at.button(key="build_team_add").click().run()
    at.button(key="build_team_add").click().run()
    assert _w(at.text_input, "flow.teams.1.name").value == "team2"
    assert "`flow.teams[0].roles`: list should have at least 1 item after validation, not 0" in _field_errors(at)
    _w(at.text_input, "flow.teams.0.name").set_value("red").run()
    _w(at.multiselect, "flow.teams.0.roles").set_value(["planner", "coder", "critic"]).run()
    _w(at.multiselect, "flow.teams.1.roles").set_value(["coder2"]).run()
    assert not at.error  # critic2, the one critic outside the sub-teams, judges
    assert _w(at.selectbox, "flow.judge").options == ["(the one critic outside the sub-teams)", "critic", "critic2"]
    _w(at.selectbox, "flow.judge").set_value("critic").run()
    assert _field_errors(at) == ["`flow.judge`: 'critic' must act as a critic and belong to no sub-team"]
    _w(at.selectbox, "flow.judge").set_value("critic2").run()
    assert not at.error
    spec = parse_spec(_downloaded(at, downloads))
    assert [(t.name, t.roles) for t in spec.flow.teams] == [("red", ["planner", "coder", "critic"]),
                                                            ("team2", ["coder2"])]
    assert spec.flow.judge == "critic2" and spec.flow.type == "cross_team"

    _w(at.multiselect, "flow.teams.1.roles").set_value(["coder2", "coder"]).run()  # moves coder out of red
    assert _w(at.multiselect, "flow.teams.0.roles").value == ["planner", "critic"]
    assert _field_errors(at) == ["`flow.teams[0].roles`: sub-team 'red' has no coder"]
    at.button(key="build_team_rm_1").click().run()
    assert [t["name"] for t in sub_teams(at.session_state["huddle_team"])] == ["red"]


def test_the_approval_points_are_picked_team_wide(at, downloads):
    _w(at.multiselect, "approval").set_value(["after_plan", "before_final"]).run()
    assert not at.error
    assert parse_spec(_downloaded(at, downloads)).approval == ["after_plan", "before_final"]
    _w(at.toggle, "sandbox.enabled").set_value(False).run()
    _w(at.multiselect, "approval").set_value(["before_execution"]).run()
    assert _field_errors(at) == ["`approval`: before\\_execution needs a coder and the sandbox on (sandbox.enabled)"]
    _w(at.multiselect, "approval").set_value([]).run()
    assert not at.error and "approval" not in at.session_state["huddle_team"]
    assert parse_spec(_downloaded(at, downloads)).approval == []


# --- tools and MCP servers ----------------------------------------------------------------------------------------


def _add_server(at: AppTest, name: str, line: str) -> None:
    at.text_input(key="build_mcp_new_name").set_value(name)
    at.text_input(key="build_mcp_new_line").set_value(line)
    at.button(key="build_mcp_add").click().run()


def test_add_a_server_pick_its_tools_for_a_role_and_try_one(at, downloads):
    import shlex
    import sys

    from _mcp_servers import SERVERS

    _add_server(at, "notes", shlex.join([sys.executable, str(SERVERS / "notes_like.py")]))
    assert not at.exception and not at.error
    _picker(at).set_value(2).run()  # the coder
    _w(at.checkbox, "roles.2.tools.mcp.notes").check().run()
    at.button(key="build_tools_list_2_notes").click().run()
    assert not at.error
    allow = _w(at.multiselect, "roles.2.tools.mcp.notes.allow")
    assert {"add", "echo", "big", "boom"} <= set(allow.options)  # listed from the running server
    allow.set_value(["add", "echo", "boom"]).run()
    _w(at.multiselect, "roles.2.tools.mcp.notes.deny").set_value(["boom"]).run()
    _w(at.text_area, "roles.2.tools.python").set_value("statistics:mean\njson:dumps as to_json").run()
    _w(at.number_input, "roles.2.max_tool_calls").set_value(6).run()
    _w(at.multiselect, "approval.tools").set_value(["add"]).run()
    assert not at.exception and not at.error

    spec = parse_spec(_downloaded(at, downloads))
    assert spec.mcp_servers["notes"].command == sys.executable
    assert spec.mcp_servers["notes"].args == [str(SERVERS / "notes_like.py")]
    coder = spec.role("coder")
    assert [t.model_dump(exclude_defaults=True) for t in coder.tools] == [
        {"mcp": "notes", "allow": ["add", "echo", "boom"], "deny": ["boom"]},
        {"python": "statistics:mean"}, {"python": "json:dumps", "name": "to_json"}]
    assert coder.max_tool_calls == 6 and spec.approved_tools() == {"add"}

    tried = at.selectbox(key="build_try_tool_2")
    assert tried.options == ["add (mcp notes)", "echo (mcp notes)", "mean (python statistics:mean)",
                             "to_json (python json:dumps)"]  # in the role's order; boom is denied
    tried.set_value("add (mcp notes)").run()
    at.text_area(key="build_try_args_2").set_value('{"a": 2, "b": 40}')
    at.button(key="build_try_run_2").click().run()
    assert "add (mcp notes): ok" in _alerts(at.success) and at.text[-1].value == "42"
    at.selectbox(key="build_try_tool_2").set_value("mean (python statistics:mean)").run()
    at.text_area(key="build_try_args_2").set_value('{"data": "not numbers"}')
    at.button(key="build_try_run_2").click().run()
    assert any(e.value == "mean (python statistics:mean): failed" for e in at.error)
    assert at.text[-1].value.startswith("mean failed: ")
    at.text_area(key="build_try_args_2").set_value('{"data": [1, 2, 6]}')
    at.button(key="build_try_run_2").click().run()
    assert "mean (python statistics:mean): ok" in _alerts(at.success) and at.text[-1].value == "3"

    at.button(key="build_mcp_rm_notes").click().run()  # the role's tools from it go with it
    spec = parse_spec(_downloaded(at, downloads))
    assert spec.mcp_servers == {} and [t.python for t in spec.role("coder").tools] == ["statistics:mean",
                                                                                         "json:dumps"]


def test_a_server_that_cannot_be_reached_shows_an_error_naming_it(at, downloads):
    _add_server(at, "gone", "huddle-no-such-mcp-server --flag")
    _add_server(at, "web", "http://127.0.0.1:9/mcp")
    assert not at.exception and not at.error
    at.button(key="build_mcp_list_gone").click().run()
    errors = [e.value for e in at.error if e.icon == icons.ALERTS["server"]]
    assert len(errors) == 1 and errors[0].startswith("MCP server 'gone': command 'huddle-no-such-mcp-server' not found")
    spec = parse_spec(_downloaded(at, downloads))
    assert spec.mcp_servers["gone"].args == ["--flag"] and spec.mcp_servers["web"].url == "http://127.0.0.1:9/mcp"
    at.radio(key=next(r.key for r in at.radio if r.key.endswith("mcp_servers.web.transport"))).set_value("stdio").run()
    assert parse_spec(_downloaded(at, downloads)).mcp_servers["web"].command == "python"
    _add_server(at, "gone", "python other.py")  # a name in use is refused, nothing replaced
    assert any("Give the server a new name" in e.value for e in at.error)
    assert parse_spec(_downloaded(at, downloads)).mcp_servers["gone"].command == "huddle-no-such-mcp-server"


def test_a_loaded_team_with_tool_approval_and_dict_tools_edits_without_losing_them(at, downloads):
    data = yaml.safe_load(DEV_TEAM.read_text())
    data["mcp_servers"] = {"notes": {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${T}"}}}
    data["roles"][2]["tools"] = ["memory_search", {"mcp": "notes", "allow": ["search"]}, {"python": "statistics:mean"}]
    data["approval"] = {"tools": ["search"]}
    at.session_state["huddle_team"] = data
    at.run()
    assert not at.exception and not at.error
    _picker(at).set_value(2).run()
    assert _w(at.multiselect, "roles.2.tools").value == ["memory_search"]
    assert _w(at.multiselect, "roles.2.tools.mcp.notes.allow").value == ["search"]
    _w(at.multiselect, "roles.2.tools").set_value([]).run()
    _w(at.multiselect, "approval").set_value(["before_final"]).run()
    spec = parse_spec(_downloaded(at, downloads))
    assert [t.model_dump(exclude_defaults=True) for t in spec.role("coder").tools] == [
        {"mcp": "notes", "allow": ["search"]}, {"python": "statistics:mean"}]
    assert spec.approval_points() == ["before_final"] and spec.approved_tools() == {"search"}
    assert spec.mcp_servers["notes"].headers == {"Authorization": "Bearer ${T}"}


def test_adaptive_n_is_set_on_the_build_page_and_a_give_up_past_the_candidates_is_shown(at, downloads):
    at.selectbox(key="build_gallery").set_value("solver_team").run()
    at.button(key="build_gallery_load").click().run()
    assert _w(at.number_input, "flow.give_up_after").value == 8 and _w(at.number_input, "flow.agree").value == 3
    _w(at.number_input, "flow.give_up_after").set_value(17).run()
    assert any("flow.give_up_after" in e.value for e in at.error)
    _w(at.number_input, "flow.give_up_after").set_value(6).run()
    _w(at.number_input, "flow.agree").set_value(2).run()
    flow = parse_spec(_downloaded(at, downloads)).flow
    assert (flow.give_up_after, flow.agree) == (6, 2)


def test_how_best_of_n_samples_and_breaks_ties_is_set_on_the_build_page(at, downloads):
    at.selectbox(key="build_gallery").set_value("solver_team").run()
    at.button(key="build_gallery_load").click().run()
    hot, tie = _w(at.number_input, "flow.candidate_temperature"), _w(at.selectbox, "flow.tie_break")
    assert hot.value == 0.5 and tie.value == "shortest"
    hot.set_value(2.5).run()
    assert any("flow.candidate_temperature" in e.value for e in at.error)
    _w(at.number_input, "flow.candidate_temperature").set_value(0.7).run()
    _w(at.selectbox, "flow.tie_break").set_value("critic").run()
    flow = parse_spec(_downloaded(at, downloads)).flow
    assert (flow.candidate_temperature, flow.tie_break) == (0.7, "critic")
    _w(at.selectbox, "flow.type").set_value("sequential").run()  # a flow that does not use them: not shown
    assert not [w for w in at.number_input if "candidate_temperature" in str(w.key)]
