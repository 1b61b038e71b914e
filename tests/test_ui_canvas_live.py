"""The Build page's canvas while a run of the team works: the speaking role is lit and follows the run; the
canvas's own menus (whose dialogs edit the drawing, never the spec) are off."""

from __future__ import annotations

import copy
import threading

import pytest
import yaml
from _fake_run import fake_runner
from conftest import DEV_TEAM
from streamlit.testing.v1 import AppTest

from studio.messages import Code, Plan, Usage
from studio.spec import dump_spec, load_spec
from studio.ui import canvas, worker
from studio.ui.canvas import KIND_LOOK, SPEAKING_CLASS


def build_app():
    from studio.ui import build

    build.page()


class Recorder:
    """Stands in for ``streamlit_flow``: keeps each state and options it is drawn with; the user does nothing."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __call__(self, key, state, **options):
        self.calls.append((copy.deepcopy(state), options))
        return state

    def lit(self) -> dict[str, str]:
        """Node id to the text of each node drawn as speaking, in the last state drawn."""
        state, _ = self.calls[-1]
        return {n.id: n.data["content"] for n in state.nodes if n.kwargs.get("className") == SPEAKING_CLASS}


@pytest.fixture
def drawn(monkeypatch) -> Recorder:
    from studio.ui import canvas_view

    recorder = Recorder()
    monkeypatch.setattr(canvas_view, "streamlit_flow", recorder)
    monkeypatch.delenv("HUDDLE_UI_TEAM", raising=False)
    return recorder


@pytest.fixture
def turns(monkeypatch):
    """Stands in for the runner: the planner speaks, then the coder, each until the test says go."""
    steps = [threading.Event() for _ in range(3)]  # planner speaking, coder speaking, the coder's message out
    reached = [threading.Event() for _ in range(2)]

    def speak(run_id, on_turn, on_token, publish):
        for step, role in enumerate(("planner", "coder")):
            on_turn(role)
            on_token(role, f"{role} says something")
            reached[step].set()
            assert steps[step].wait(30)
            if role == "planner":  # its message is out: it speaks no more
                publish(Plan(run_id=run_id, sender="planner", content="1. write it", usage=Usage(calls=1)))
        message = Code(run_id=run_id, sender="coder", content="Here it is.", code="x = 1",
                       usage=Usage(calls=1, latency_ms=500))
        publish(message)
        return message

    fake_runner(monkeypatch, speak, lambda spec: yaml.safe_load(dump_spec(spec)))
    return steps, reached


def _page(team_file=DEV_TEAM, run_id: str | None = None) -> AppTest:
    app = AppTest.from_function(build_app, default_timeout=60)
    app.session_state["huddle_team"] = yaml.safe_load(team_file.read_text())
    if run_id is not None:
        app.session_state["huddle_run_id"] = run_id
    return app.run()


def test_the_speaking_role_is_lit_on_the_build_canvas_while_the_run_works(drawn, turns):
    steps, reached = turns
    handle = worker.start(load_spec(DEV_TEAM), "Write fizzbuzz")
    try:
        assert reached[0].wait(30)
        app = _page(run_id=handle.run_id)
        assert not app.exception, app.exception
        assert drawn.lit() == {"role-1": "**planner**\n\nplanner\n\n**speaking**"}  # dev team: planner is role 1
        state, _ = drawn.calls[-1]
        node = {n.id: n for n in state.nodes}["role-1"]
        assert node.style["background"] == KIND_LOOK["planner"][1] and node.style["color"] == "#ffffff"
        assert any("A run of this team is working" in c.value for c in app.caption)
        before = state.timestamp

        steps[0].set()
        assert reached[1].wait(30)
        app.run()
        assert set(drawn.lit()) == {"role-2"}  # the coder now, and the canvas redraws (a newer stamp) to show it
        assert drawn.calls[-1][0].timestamp > before

        other = _page(DEV_TEAM.parent / "approval_team.yaml", handle.run_id)  # it has a coder too, but
        assert drawn.lit() == {} and not any("is working" in c.value for c in other.caption)  # not this run
    finally:
        for step in steps:
            step.set()
        handle.join(30)
    assert handle.status == "done"
    app.run()
    assert not app.exception and drawn.lit() == {}
    assert not any("A run of this team is working" in c.value for c in app.caption)


def test_no_run_lights_nothing():
    state = canvas.to_flow(yaml.safe_load(DEV_TEAM.read_text()), {})
    assert not [n for n in state.nodes if n.kwargs.get("className") or "speaking" in n.data["content"]]


def test_the_canvas_menus_whose_dialogs_edit_only_the_drawing_are_off(drawn):
    app = _page()
    assert not app.exception
    _, options = drawn.calls[-1]
    assert options["enable_node_menu"] is False  # Edit Node: a label, a width, handles; never the role
    assert options["enable_edge_menu"] is False and options["enable_pane_menu"] is False
    assert options["get_node_on_click"] is True  # a click opens the role's own form, with Remove this role
    assert any("click a node to edit its role below (or remove it there)" in c.value for c in app.caption)
