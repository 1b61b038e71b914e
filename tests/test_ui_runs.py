"""The Runs page in AppTest: the history from the run log, a replay of one run's timeline, two runs compared."""

from __future__ import annotations

import pytest
from conftest import DEV_SCRIPT
from streamlit.testing.v1 import AppTest

from studio.runner import run_team, shared_store
from studio.ui import icons, runs_page


def runs_page_app():
    from studio.ui import runs_page

    runs_page.page()


@pytest.fixture
def three_runs(dev_team, script):
    """Two runs of the dev team that end approved, then one that fails (the planner has no scripted reply)."""
    first = run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    second = run_team(dev_team, "Write fizzbuzz, again", model=f"scripted:{DEV_SCRIPT}")
    broken = script({"orchestrator": ['{"is_request_satisfied": false, "is_in_loop": false, '
                                      '"is_progress_being_made": true, "next_speaker": "planner", '
                                      '"instruction_or_question": "Plan it."}']})
    failed = run_team(dev_team, "Write fizzbuzz, unplanned", model=broken)
    assert (first.status, second.status, failed.status) == ("done", "done", "failed")
    return first.run_id, second.run_id, failed.run_id


def _app() -> AppTest:
    app = AppTest.from_function(runs_page_app, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def _kinds(block) -> list[str]:
    """The kind of each message a block shows, from the caption above it (``:material/description: task · #1 …``)."""
    return [c.value.split(" · ")[0].split(" ", 1)[1] for c in block.caption if " · #" in c.value]


def test_an_empty_history_says_so():
    app = _app()
    assert app.info[0].value.startswith("No runs yet")


def test_the_history_lists_every_run_with_its_totals(three_runs):
    first, second, failed = three_runs
    table = _app().dataframe[0].value
    assert list(table.columns) == ["run", "team", "task", "status", "started", "duration (s)", "messages", "tokens",
                                   "cost (USD)", "model", "budget"]
    assert list(table["run"]) == [r[:12] for r in (failed, second, first)]  # newest first
    assert list(table["status"]) == ["failed", "done", "done"]
    assert list(table["task"]) == ["Write fizzbuzz, unplanned", "Write fizzbuzz, again", "Write fizzbuzz"]
    assert set(table["team"]) == {"dev-team"}
    log = shared_store()
    for _, row in table.iterrows():
        info = log.get_run(row["run"])
        messages = log.messages(info.run_id)
        assert row["messages"] == len(messages)
        assert row["tokens"] == sum(m.usage.prompt_tokens + m.usage.completion_tokens for m in messages) > 0
        assert row["cost (USD)"] == 0.0 and row["duration (s)"] >= 0
    assert runs_page.history_frame([]).empty


def test_replay_shows_the_transcript_up_to_the_chosen_message(three_runs):
    first, _, _ = three_runs
    app = _app()
    app.selectbox(key="runs_replay").set_value(first).run()
    assert not app.exception, app.exception
    timeline = app.slider(key=f"runs-replay-at-{first}")
    assert (timeline.min, timeline.max, timeline.value) == (1, 13, 13)
    assert _kinds(app.tabs[0])[-1] == "final" and len(_kinds(app.tabs[0])) == 13
    timeline.set_value(3).run()
    replay = app.tabs[0]
    assert _kinds(replay) == ["task", "decision", "plan"]
    assert [b.name for b in replay.chat_message] == ["user", "orchestrator", "planner"]
    assert not [m for m in replay.markdown if m.value.startswith(f"{icons.ALERTS['final']} Final result")]
    assert any(c.value.startswith("at #3 of 13: planner · plan") for c in replay.caption)
    app.slider(key=f"runs-replay-at-{first}").set_value(6).run()
    assert _kinds(app.tabs[0]) == ["task", "decision", "plan", "decision", "code", "execution"]
    assert any("FAILED: tests: 0 passed, 1 failed" in m.value for m in app.tabs[0].markdown)
    info = shared_store().get_run(first)
    tokens = f"{info.prompt_tokens + info.completion_tokens:,}"
    assert [m.value for m in app.tabs[0].metric] == [f"{icons.STATUS['done']} done", "13", tokens, "$0.0000"]


def test_compare_puts_two_runs_of_one_team_side_by_side(three_runs):
    first, _, failed = three_runs
    app = _app()
    app.selectbox(key="runs_compare_left").set_value(first)
    app.selectbox(key="runs_compare_right").set_value(failed).run()
    assert not app.exception, app.exception
    left, right = app.tabs[1].children[1].children.values()  # the two columns, after the team selectbox
    assert [m.value for m in left.metric][:2] == [f"{icons.STATUS['done']} done", "13"]
    failed_count = str(len(shared_store().messages(failed)))
    assert [m.value for m in right.metric][:2] == [f"{icons.STATUS['failed']} failed", failed_count]
    assert left.markdown[0].value == "**Write fizzbuzz**"
    assert right.markdown[0].value == "**Write fizzbuzz, unplanned**"
    left_result = next(m.value for m in left.markdown if m.value.startswith(f"{icons.ALERTS['final']} Final result"))
    assert "approved" in left_result and "tests: 1 passed, 0 failed" in left_result
    assert any('or str(n)' in c.value for c in left.code)
    assert [i.value for i in right.info] == ["No final result (yet)."]
    assert "planner" in right.error[0].value  # the script ran out at the planner
    assert _kinds(left)[-1] == "final" and "code" in _kinds(left)
    assert "code" not in _kinds(right) and _kinds(right)[0] == "task"
    assert {b.name for b in left.chat_message} >= {"orchestrator", "planner", "coder", "critic"}


def test_compare_needs_two_runs_of_the_team(dev_team):
    run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    app = _app()
    assert any("needs two runs of 'dev-team'; it has 1" in i.value for i in app.tabs[1].info)


def test_fork_from_here_starts_a_run_that_keeps_the_messages_up_to_the_chosen_one(three_runs):
    from studio.ui import worker

    first, _, _ = three_runs
    app = _app()
    app.selectbox(key="runs_replay").set_value(first).run()
    app.slider(key=f"runs-replay-at-{first}").set_value(3).run()
    app.text_area(key=f"fork-set-{first}").set_value("roles.nobody.instructions=x").run()
    app.button(key=f"fork-go-{first}-3").click().run()
    assert "no role named 'nobody'" in app.error[0].value  # a bad change is refused, naming it
    app.text_area(key=f"fork-set-{first}").set_value("roles.coder.instructions=Be brief.").run()
    app.button(key=f"fork-go-{first}-3").click().run()
    assert not app.exception, app.exception
    forked = app.session_state[f"forked-{first}"]
    assert worker.get(forked).join(60).status == "done"
    log = shared_store()
    info, parent = log.get_run(forked), log.messages(first)
    assert (info.parent_run, info.fork_at) == (first, parent[2].id)
    kept = log.messages(forked)[:3]
    assert [(m.kind, m.sender, m.content) for m in kept] == [(m.kind, m.sender, m.content) for m in parent[:3]]
    assert any(f"Forked: run `{forked}`" in s.value for s in app.run().success)
