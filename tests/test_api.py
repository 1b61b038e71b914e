"""The Python API (``from studio import Team, Role, Run``): building, running, reprs, live display, errors."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
import yaml
from conftest import DEV_SCRIPT, DEV_TEAM

from studio import Role, Run, Team
from studio.llm import ModelConfigError
from studio.runner import RunNotFound
from studio.spec import SpecError, load_spec

SCRIPT = f"scripted:{DEV_SCRIPT}"


def _dev_team(home) -> Team:
    """The example dev team with the hash embedder (no torch model in unit tests)."""
    team = Team.load(DEV_TEAM, home=home)
    memory = team.spec.memory.model_copy(update={"embedder": team.spec.memory.embedder.model_copy(
        update={"model": "hash"})})
    return Team.from_spec(team.spec.model_copy(update={"memory": memory}), home=home)


class FakeHandle:
    """Stands in for the handle IPython's ``display(..., display_id=True)`` returns."""

    def __init__(self):
        self.updates: list[str] = []

    def update(self, obj) -> None:
        self.updates.append(obj._repr_html_())


def test_a_team_built_in_code_equals_the_same_team_from_yaml(tmp_path):
    team = Team("dev-team", description="Planner, coder and critic, routed by an orchestrator.",
                roles=[Role.orchestrator(), Role.planner(),
                       Role.coder(instructions="Prefer small, plain functions from the standard library."),
                       Role.critic()],
                flow={"entry": "planner", "edges": [("planner", "coder"), ("coder", "critic"), ("critic", "coder")],
                      "max_rounds": 6},
                defaults={"model": "local/smollm2", "temperature": 0.2, "max_tokens": 384})
    assert team.spec == load_spec(DEV_TEAM)
    saved = team.save(tmp_path / "team.yaml")
    assert Team.load(saved).spec == team.spec and yaml.safe_load(saved.read_text())["name"] == "dev-team"


def test_run_returns_messages_final_usage_and_a_dataframe(home):
    run = _dev_team(home).run("Write fizzbuzz", model=SCRIPT, display=False)
    assert run.status == "done" and run.final.approved and run.final.passed == 1
    assert [m.kind for m in run.messages][:3] == ["task", "decision", "plan"]
    assert run.usage.calls == 7 and run.usage.prompt_tokens == sum(m.usage.prompt_tokens for m in run.messages)
    frame = run.to_dataframe()
    assert list(frame["kind"]) == [m.kind for m in run.messages]
    assert frame.groupby("sender")["completion_tokens"].sum()["coder"] > 0
    again = Run.load(run.run_id[:10], home=home)
    assert [m.id for m in again.messages] == [m.id for m in run.messages] and again.spec == run.spec


def test_arun_can_be_awaited(home):
    run = asyncio.run(_dev_team(home).arun("Write fizzbuzz", SCRIPT, display=False))
    assert run.status == "done" and run.final is not None


def test_live_display_sees_the_run_as_it_happens(home):
    handle = FakeHandle()
    shown = []

    def display(obj, display_id):
        assert display_id is True
        shown.append(obj._repr_html_())
        return handle

    run = _dev_team(home).run("Write fizzbuzz", model=SCRIPT, display=display)
    assert shown == ["starting…"] and len(handle.updates) >= 3
    assert "round" in handle.updates[1] and "planner" in "".join(handle.updates[:-1])  # progress while running
    assert handle.updates[-1].count("<tr>") == len(run.messages) + 1  # the last update shows every message
    assert "<p>done · " in handle.updates[-1]


def test_outside_jupyter_auto_shows_nothing(home):
    assert _dev_team(home).run("Write fizzbuzz", model=SCRIPT).status == "done"  # no kernel: no display needed


def test_team_html_draws_every_role_and_route():
    team = Team("duo", roles=[Role.coder(), Role.custom("tester", acts_as="critic", instructions="Run the tests.")],
                flow=[("coder", "tester"), ("tester", "coder")])
    html = team._repr_html_()
    assert html.count("<rect") == 2 and ">coder<" in html and ">tester<" in html
    assert html.count("marker-end") == 2  # one arrow per route
    assert "tester → critic" in html  # a custom kind shows the behaviour it acts as
    assert "<script" not in html


def test_run_html_shows_every_message_escaped(home):
    run = _dev_team(home).run("Write <b>fizzbuzz</b>", model=SCRIPT, display=False)
    html = run._repr_html_()
    assert html.count("<tr>") == len(run.messages) + 1
    for role in ("orchestrator", "planner", "coder", "critic"):
        assert f"<b>{role}</b>" in html
    assert "&lt;b&gt;fizzbuzz&lt;/b&gt;" in html and "<b>fizzbuzz</b>" not in html


def test_memory_through_the_team(home, tmp_path):
    (tmp_path / "notes.md").write_text("# Style\n\nAlways name test functions test_<what they check>.\n")
    team = _dev_team(home)
    report = team.memory.ingest(tmp_path / "notes.md")
    assert report.added == 1 and team.memory.count()["knowledge"] == 1
    hits = team.memory.search("how to name test functions", k=1)
    assert hits and "test_<what they check>" in hits[0].text and hits[0].source.endswith("notes.md")


def test_errors_name_what_to_fix(home):
    with pytest.raises(SpecError, match=r"flow.edges\[0\].to: no role named 'nobody'"):
        Team("t", roles=[Role.coder()], flow=[("coder", "nobody")])
    with pytest.raises(SpecError, match="role 'x'"):
        Role.coder("x", temperature=5)
    with pytest.raises(SpecError, match="add acts_as"):
        Team("t", roles=[{"name": "poet", "kind": "poet"}])
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        Team("t", roles=[Role.coder()], home=home).run("x", model="gpt-4o-mini", display=False)
    with pytest.raises(RunNotFound, match="no run 'feedbeef'"):
        Run.load("feedbeef", home=home)
    off = Team("t", roles=[Role.coder()], memory={"enabled": False}, home=home)
    with pytest.raises(SpecError, match="memory is turned off"):
        off.memory.search("x")


def test_studio_opens_on_this_team(home):
    team = Team("from-a-notebook", roles=[Role.coder(), Role.critic()], flow=[("coder", "critic")], home=home)
    server = team.studio()
    try:
        with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5) as reply:
            assert reply.status == 200
        assert server.url in server._repr_html_()
    finally:
        server.stop()
    assert server.process.poll() is not None
