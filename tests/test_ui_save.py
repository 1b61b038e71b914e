"""Saving on the Build page: the minimal YAML, Save, the unsaved badge and drafts, the exports, and loads that
never mix two teams (AppTest drives the page; tests/test_ui_e2e_build.py does the same in a browser)."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from streamlit.testing.v1 import AppTest

from studio.spec import dump_spec, load_spec, parse_spec
from studio.ui.build_save import draft_file, header_comments

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "teams").glob("*.yaml"))
DEV_TEAM = ROOT / "examples" / "teams" / "dev_team.yaml"


def _app():
    from studio.ui.build import page

    page()


def _open() -> AppTest:
    return AppTest.from_function(_app, default_timeout=60).run()


def _w(widgets, path: str):
    [widget] = [w for w in widgets if w.key and w.key.endswith(":" + path)]
    return widget


def _load(at: AppTest, example: str) -> None:
    at.selectbox(key="build_gallery").set_value(example).run()
    at.button(key="build_gallery_load").click().run()


def _save(at: AppTest, path: Path | None = None) -> None:
    if path is not None:
        at.text_input(key="build_save_path").set_value(str(path))
    at.button(key="build_save").click().run()


def _badges(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if "badge[" in m.value)


def _defaults_written(model: BaseModel, data: Any, where: str = "") -> list[str]:
    """The fields of ``data`` (what was saved for ``model``) that only repeat their default."""
    found = []
    by_alias = {(f.alias or name): name for name, f in type(model).model_fields.items()}
    for key, value in data.items():
        name = by_alias[key]
        field = type(model).model_fields[name]
        current = getattr(model, name)
        if key != "version" and not field.is_required() and current == field.get_default(call_default_factory=True):
            found.append(f"{where}{key}")
        if isinstance(current, BaseModel) and isinstance(value, dict):
            found += _defaults_written(current, value, f"{where}{key}.")
        elif isinstance(current, list):
            for i, (item, raw) in enumerate(zip(current, value, strict=True)):
                if isinstance(item, BaseModel) and isinstance(raw, dict):
                    found += _defaults_written(item, raw, f"{where}{key}[{i}].")
        elif isinstance(current, dict):
            for k, item in current.items():
                if isinstance(item, BaseModel) and isinstance(value.get(k), dict):
                    found += _defaults_written(item, value[k], f"{where}{key}.{k}.")
    return found


# --- the minimal YAML --------------------------------------------------------------------------------------------


def test_the_minimal_dump_reads_back_the_same_team_and_the_default_dump_is_unchanged():
    for path in EXAMPLES:
        spec = load_spec(path)
        text = dump_spec(spec, minimal=True)
        assert parse_spec(yaml.safe_load(text)) == spec, path.name
        assert "null" not in text and text.startswith("version: 1\n")
        assert len(text.splitlines()) < len(dump_spec(spec).splitlines()) / 2
        assert _defaults_written(spec, yaml.safe_load(text)) == [], path.name
    assert "null" in dump_spec(load_spec(DEV_TEAM))  # the full dump still says everything


def test_the_header_comment_block_is_what_a_save_keeps():
    assert header_comments(DEV_TEAM.read_text()) == ("# The default team: the orchestrator routes plan -> code -> "
                                                     "critique,\n# and the critic's approval ends the run.\n")
    assert header_comments("version: 1\n# later\n") == ""


@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_every_example_saved_from_the_page_equals_its_source(example, tmp_path, monkeypatch):
    monkeypatch.delenv("HUDDLE_UI_TEAM", raising=False)
    at = _open()
    _load(at, example)
    target = tmp_path / f"{example}.yaml"
    _save(at, target)
    assert not at.exception and not [e.value for e in at.error]
    source = ROOT / "examples" / "teams" / f"{example}.yaml"
    text = target.read_text()
    assert load_spec(target) == load_spec(source)
    assert "null" not in text
    assert _defaults_written(load_spec(target), yaml.safe_load(text)) == []
    assert text.startswith(header_comments(source.read_text()))  # the file's top comments are kept
    [served] = [b for b in at.download_button if b.key == "build_download"]
    assert "saved" in _badges(at) and "unsaved" not in _badges(at)
    assert not served.proto.disabled


# --- Save, the badge, drafts ---------------------------------------------------------------------------------------


def test_save_writes_the_team_file_as_minimal_yaml_and_clears_the_badge(team_file, home):
    at = _open()
    assert at.text_input(key="build_save_path").value == str(team_file)
    assert "unsaved" not in _badges(at)
    _w(at.text_area, "description").set_value("Edited in the studio.").run()
    assert "unsaved changes" in _badges(at)
    assert draft_file(home, str(team_file)).exists()
    _save(at)
    assert not at.error
    expected = load_spec(DEV_TEAM).model_copy(update={"description": "Edited in the studio."})
    assert load_spec(team_file) == expected
    text = team_file.read_text()
    assert text.startswith("# The default team") and "null" not in text and len(text.splitlines()) < 30
    assert "unsaved" not in _badges(at) and f"Saved team 'dev-team' to {team_file}" in at.success[0].value
    assert not draft_file(home, str(team_file)).exists()


def test_an_unsaved_edit_survives_a_reload_and_saves_later(team_file, home):
    first = _open()
    _load(first, "approval_team")  # over the dev team of the --team file
    _w(first.text_input, "name").set_value("renamed-team").run()
    _w(first.text_area, "roles.0.instructions").set_value("Plan briefly.").run()
    assert load_spec(team_file).name == "dev-team"  # nothing written yet

    again = _open()  # a browser reload: a new session
    assert _w(again.text_input, "name").value == "renamed-team"
    assert "unsaved changes" in _badges(again)
    assert any("Restored your unsaved changes" in i.value for i in again.info)
    _save(again)
    intended = yaml.safe_load((ROOT / "examples" / "teams" / "approval_team.yaml").read_text())
    intended["name"] = "renamed-team"
    intended["roles"][0]["instructions"] = "Plan briefly."
    assert load_spec(team_file) == parse_spec(intended)
    assert team_file.read_text().startswith("# Human approval")  # the comments of the file the team came from
    third = _open()
    assert not third.info and "unsaved" not in _badges(third)  # saved: no draft to restore


def test_going_back_to_the_file_drops_the_draft(team_file, home):
    at = _open()
    _w(at.text_input, "name").set_value("other").run()
    assert draft_file(home, str(team_file)).exists()
    _w(at.text_input, "name").set_value("dev-team").run()
    assert not draft_file(home, str(team_file)).exists() and "unsaved" not in _badges(at)


def test_save_to_a_missing_folder_or_an_invalid_team_says_why(team_file, tmp_path):
    at = _open()
    _w(at.text_input, "name").set_value("x").run()
    _save(at, tmp_path / "nowhere" / "t.yaml")
    [failure] = [e.value for e in at.error]
    assert "Could not save" in failure and "nowhere" in failure and "no such folder" in failure
    _save(at, tmp_path / "t.txt")
    assert "must end in .yaml" in at.error[0].value
    assert load_spec(team_file).name == "dev-team" and "unsaved changes" in _badges(at)
    _w(at.text_input, "roles.0.name").set_value("").run()
    assert at.button(key="build_save").proto.disabled  # an invalid team cannot be saved


def test_the_exports_serve_the_script_and_the_notebook(team_file, downloads):
    stores = downloads
    at = _open()

    def served(key: str):
        [button] = [b for b in at.download_button if b.key == key]
        return stores[-1].get_file(button.proto.url.rsplit("/", 1)[-1])

    script = served("build_export_script")
    assert script.filename == "dev-team.py"
    source = script.content.decode()
    compile(source, "dev-team.py", "exec")
    assert "Team(" in source and "'dev-team'" in source or '"dev-team"' in source
    notebook = json.loads(served("build_export_notebook").content.decode())
    assert notebook["nbformat"] == 4 and any("dev-team" in "".join(c["source"]) for c in notebook["cells"])
    yaml_file = served("build_download")
    assert parse_spec(yaml.safe_load(yaml_file.content)) == load_spec(DEV_TEAM)
    assert b"null" not in yaml_file.content


# --- loads never mix two teams -------------------------------------------------------------------------------------


def test_every_example_loaded_over_every_other_is_that_example(monkeypatch):
    monkeypatch.delenv("HUDDLE_UI_TEAM", raising=False)
    at = _open()
    for first, second in itertools.permutations([p.stem for p in EXAMPLES], 2):
        _load(at, first)
        _load(at, second)
        at.run()
        wanted = yaml.safe_load((ROOT / "examples" / "teams" / f"{second}.yaml").read_text())
        assert at.session_state["huddle_team"] == wanted, (first, second)
        assert _w(at.text_input, "name").value == wanted["name"]


def test_a_change_of_a_widget_drawn_for_the_old_team_never_lands_in_the_new_one(monkeypatch):
    """The bug of issue 22: in the browser, the canvas redrawing the loaded team sends an event that interrupts
    the load's run, and Streamlit then calls the ``on_change`` of every widget drawn for the old team, which
    wrote the old name, role 0's name and kind and the old (empty) approval points into the new team. Here the
    old widgets' changes arrive in the run of the load itself, after its callback, the same way."""
    monkeypatch.delenv("HUDDLE_UI_TEAM", raising=False)
    at = _open()
    at.selectbox(key="build_gallery").set_value("approval_team").run()
    at.button(key="build_gallery_load").click()
    _w(at.text_input, "roles.0.name").set_value("orchestrator")
    _w(at.selectbox, "roles.0.kind").set_value("critic")
    _w(at.text_input, "name").set_value("dev-team-edited")
    _w(at.multiselect, "approval").set_value(["after_plan"])
    at.run()
    approval = yaml.safe_load((ROOT / "examples" / "teams" / "approval_team.yaml").read_text())
    assert at.session_state["huddle_team"] == approval
    assert _w(at.text_input, "roles.0.name").value == "planner"
    _w(at.text_input, "roles.0.name").set_value("lead").run()  # the new team's own widgets do write
    assert at.session_state["huddle_team"]["roles"][0]["name"] == "lead"


def test_a_clicked_edge_shows_only_what_a_route_has_and_can_be_removed(monkeypatch):
    monkeypatch.delenv("HUDDLE_UI_TEAM", raising=False)
    from studio.ui import canvas_view

    seen: list[dict] = []
    clicks = ["edge-1"]

    def fake(key, state, **options):
        seen.append(options)
        if clicks:
            import time

            event = copy.deepcopy(state)
            event.selected_id = clicks.pop(0)
            time.sleep(0.005)
            event.timestamp = int(time.time() * 1000)
            return event
        return state

    monkeypatch.setattr(canvas_view, "streamlit_flow", fake)
    at = _open()
    assert seen[0]["enable_edge_menu"] is False and seen[0]["get_edge_on_click"] is True
    assert any("Selected route: `coder` → `critic`" in m.value for m in at.markdown)
    at.button(key="build_edge_rm").click().run()
    edges = [(e["from"], e["to"]) for e in at.session_state["huddle_team"]["flow"]["edges"]]
    assert edges == [("planner", "coder"), ("critic", "coder")]
    assert not any("Selected route" in m.value for m in at.markdown)
