"""The Runs page's diff tab in AppTest: two runs aligned side by side, the first divergence highlighted."""

from __future__ import annotations

from conftest import DEV_SCRIPT
from streamlit.testing.v1 import AppTest

from studio.kinds import KINDS
from studio.runner import run_team, shared_store
from studio.ui import icons, run_diff


def runs_page_app():
    from studio.ui import runs_page

    runs_page.page()


def _app() -> AppTest:
    app = AppTest.from_function(runs_page_app, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def test_the_diff_tab_shows_the_two_runs_aligned_with_the_first_divergence_highlighted(two_runs):
    a, b = two_runs
    app = _app()
    tab = app.tabs[2]
    assert tab.label == f"{run_diff.DIVERGENCE} Diff two runs"
    # by default: B is the newest run, A the one before it
    assert (app.selectbox(key=run_diff.KEY_A).value, app.selectbox(key=run_diff.KEY_B).value) == (a, b)
    # same, changed, only in A (the critic's lesson: B was shown it from memory, so stored it no more), only in B
    assert [m.value for m in tab.metric] == ["11", "1", "1", "0"]
    assert tab.warning[0].value == "First divergence at pair 3: A #3 vs B #3 · planner · plan (content, steps differ)"
    assert tab.warning[0].icon == run_diff.DIVERGENCE
    marked = [m.value for m in tab.markdown if "first divergence" in m.value]
    assert marked == [f":orange-background[{run_diff.DIVERGENCE} **first divergence** · pair 3]"]
    captions = [c.value for c in tab.caption]
    # the window starts LEAD pairs before the divergence; each message links to its run on the Run page
    assert captions[0] == "pairs 1–13 of 13"
    plan = f"planner · {KINDS['plan'].icon} plan"
    assert f"{run_diff.MARKS['changed']} [A #3](run?run={a}&message=3) · {plan}" in captions
    assert f"{run_diff.MARKS['changed']} [B #3](run?run={b}&message=3) · {plan}" in captions
    assert f"{run_diff.MARKS['same']} [B #1](run?run={b}&message=1) · user · {KINDS['task'].icon} task" in captions
    assert f"{run_diff.MARKS['only_a']} *(not in B)*" in captions
    texts = [t.value for t in tab.text]
    assert "s1. Write fizzbuzz(n) for any n" in texts
    changed = tab.expander[0]
    assert changed.label == "what changed: content, steps"
    assert "-s1. Write fizzbuzz(n) returning the string for n" in changed.code[0].value
    assert "+s1. Write fizzbuzz(n) for any n" in changed.code[0].value
    roles = tab.dataframe[0].value
    assert list(roles["role"]) == ["user", "orchestrator", "planner", "coder", "critic", "system"]
    planner = roles.set_index("role").loc["planner"]
    assert planner["Δ tokens"] == planner["tokens B"] - planner["tokens A"] and planner["tokens A"] > 0
    assert any(c == "Test outcomes: no flips." for c in captions)


def test_a_run_diffed_with_itself_has_no_divergence(two_runs):
    a, _ = two_runs
    app = _app()
    app.selectbox(key=run_diff.KEY_B).set_value(a).run()
    assert not app.exception, app.exception
    tab = app.tabs[2]
    assert [s.value for s in tab.success] == ["No divergence: the two transcripts match message for message."]
    assert tab.success[0].icon == icons.ALERTS["valid"]
    assert [m.value for m in tab.metric] == ["13", "0", "0", "0"] and not tab.warning


def test_a_forked_run_diffs_with_its_parent_in_one_click(two_runs, dev_team):
    a, b = two_runs
    log = shared_store()
    log.set_parent(b, a, log.messages(a)[1].id)  # as `huddle runs fork` records it
    # a third run, newer than B: the default A is then not B's parent already
    run_team(dev_team, "Write fizzbuzz, once more", model=f"scripted:{DEV_SCRIPT}")
    assert run_diff.parent_of(log.get_run(b)) == a and run_diff.parent_of(log.get_run(a)) is None
    app = _app()
    app.selectbox(key=run_diff.KEY_B).set_value(b).run()
    assert app.selectbox(key=run_diff.KEY_A).value != a
    app.button(key="runs_diff_parent").click().run()
    assert not app.exception, app.exception
    assert (app.selectbox(key=run_diff.KEY_A).value, app.selectbox(key=run_diff.KEY_B).value) == (a, b)
    assert app.tabs[2].warning[0].value.startswith("First divergence at pair 3")
    assert not app.tabs[2].button  # A is B's parent now: nothing left to click


def test_a_diff_needs_two_runs(dev_team):
    run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    assert _app().tabs[2].info[0].value == "A diff needs two runs; the run log has 1."
