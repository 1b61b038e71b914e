"""Budgets in the studio (AppTest): set on the Build page and saved, the Run page's live meter and its budget
stop with Continue, and status ``budget`` on the Runs page."""

from __future__ import annotations

import re
import time

import yaml
from conftest import DEV_SCRIPT, DEV_TEAM
from streamlit.testing.v1 import AppTest

from studio.messages import Message
from studio.runner import run_team, shared_store
from studio.spec import Budget, dump_spec, load_spec
from studio.ui import icons, run_budget, runs_page, worker

TIMEOUT_S = 90
MODEL = f"scripted:{DEV_SCRIPT}"


def build_app():
    from studio.ui.build import page

    page()


def run_app():
    from studio.ui import run_page

    run_page.page()


def runs_app():
    from studio.ui import runs_page

    runs_page.page()


def _w(widgets, path: str):
    """The Build page's field widget of ``path`` (its key carries the team's revision too)."""
    [widget] = [w for w in widgets if w.key and w.key.endswith(":" + path)]
    return widget


def _problems(at: AppTest) -> list[str]:
    return [e.value for e in at.error if e.icon == icons.ALERTS["problem"]]


def _sums(messages: list[Message]) -> tuple[int, int, dict[str, int]]:
    """Tokens and model calls of the run, and tokens per sender, summed from the log by hand."""
    per: dict[str, int] = {}
    for m in messages:
        per[m.sender] = per.get(m.sender, 0) + m.usage.prompt_tokens + m.usage.completion_tokens
    tokens = sum(m.usage.prompt_tokens + m.usage.completion_tokens for m in messages)
    return tokens, sum(m.usage.calls for m in messages), {k: v for k, v in per.items() if v}


# --- the Build page ----------------------------------------------------------------------------------------------


def test_a_team_and_a_role_budget_set_on_the_build_page_are_saved(team_file):
    at = AppTest.from_function(build_app, default_timeout=60).run()
    _w(at.number_input, "budget.tokens").set_value(20000).run()
    _w(at.number_input, "budget.usd").set_value(0.25).run()
    [picker] = [s for s in at.selectbox if s.label == "Role"]
    picker.set_value(2).run()  # the coder
    _w(at.number_input, "roles.2.budget.model_calls").set_value(3).run()
    _w(at.number_input, "roles.2.budget.seconds").set_value(30.0).run()
    assert not at.exception and not at.error
    at.button(key="build_save").click().run()
    assert not at.exception and not at.error

    spec = load_spec(team_file)
    assert spec.budget == Budget(tokens=20000, usd=0.25)
    assert spec.role("coder").budget == Budget(model_calls=3, seconds=30.0)
    assert spec.role("planner").budget is None
    saved = yaml.safe_load(team_file.read_text())  # the minimal dump: only the limits that were set
    assert saved["budget"] == {"tokens": 20000, "usd": 0.25}
    assert saved["roles"][2]["budget"] == {"seconds": 30.0, "model_calls": 3}


def test_zero_or_negative_is_shown_at_its_field_and_cannot_be_saved_and_empty_means_no_limit(team_file):
    at = AppTest.from_function(build_app, default_timeout=60).run()
    _w(at.number_input, "budget.tokens").set_value(0).run()
    assert _problems(at) == ["`budget.tokens`: input should be greater than 0 (got 0)"]
    assert at.button(key="build_save").proto.disabled
    [picker] = [s for s in at.selectbox if s.label == "Role"]
    picker.set_value(1).run()  # the planner
    _w(at.number_input, "roles.1.budget.usd").set_value(-1.0).run()
    assert "`roles[1].budget.usd`: input should be greater than 0 (got -1.0)" in _problems(at)

    _w(at.number_input, "budget.tokens").set_value(None).run()  # emptied: no limit, and no `budget:` left
    _w(at.number_input, "roles.1.budget.usd").set_value(None).run()
    assert not at.error and not at.button(key="build_save").proto.disabled
    at.button(key="build_save").click().run()
    saved = yaml.safe_load(team_file.read_text())
    assert "budget" not in saved and all("budget" not in role for role in saved["roles"])
    assert load_spec(team_file) == load_spec(DEV_TEAM)


def test_an_unknown_budget_key_is_shown_under_the_budget(tmp_path, monkeypatch):
    data = yaml.safe_load(DEV_TEAM.read_text())
    data["budget"] = {"tokenz": 5}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("HUDDLE_UI_TEAM", str(path))
    at = AppTest.from_function(build_app, default_timeout=60).run()
    assert "`budget.tokenz`: unknown field; remove it or check its spelling" in _problems(at)


# --- the Run page ------------------------------------------------------------------------------------------------


def _meter(at: AppTest) -> str:
    return next((m.value for m in at.markdown if m.value.startswith(f"{icons.ALERTS['meter']} **Spent**")), "")


def _progress(at: AppTest) -> str:
    return next((m.value for m in at.markdown if " · round " in m.value), "")


def _poll(at: AppTest, done) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return
        assert time.monotonic() < deadline, f"gave up waiting; the page says: {_progress(at)}"
        time.sleep(0.05)


def _number(at: AppTest, text: str, label: str) -> int:
    found = re.search(rf"{label} ([\d,]+)", text)
    assert found, text
    return int(found.group(1).replace(",", ""))


def test_a_run_stops_on_its_budget_shows_the_meter_and_continues_with_a_raised_one(dev_team):
    at = AppTest.from_function(run_app, default_timeout=60)
    at.session_state["huddle_team"] = yaml.safe_load(dump_spec(dev_team))
    at.run()
    at.text_input(key="run_model").set_value(MODEL)
    at.number_input(key=run_budget.INPUT_KEYS["model_calls"]).set_value(3)
    at.button(key="run_start").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["huddle_run_id"]
    assert worker.get(run_id).budget == Budget(model_calls=3)
    _poll(at, lambda a: "**budget**" in _progress(a))
    assert _progress(at).startswith(icons.STATUS["budget"])

    [stop] = [w.value for w in at.warning if w.icon == icons.STATUS["budget"]]
    assert "Stopped by its budget" in stop and "model-call budget (3) is reached" in stop
    logged = shared_store().messages(run_id)
    tokens, calls, per_sender = _sums(logged)
    meter = _meter(at)
    assert (_number(at, meter, "tokens"), _number(at, meter, "calls")) == (tokens, calls) == (tokens, 3)
    assert "calls 3/3" in meter
    [per_role] = [d.value for d in at.dataframe if "model calls" in d.value.columns]
    assert per_role["tokens"].to_dict() == per_sender

    more = at.number_input(key=f"run_more_model_calls_{run_id}")
    assert more.value == 6  # the limit that was set, doubled, to start with
    more.set_value(20)
    at.button(key=f"run_continue_{run_id}").click().run()
    assert not at.exception, at.exception
    _poll(at, lambda a: "**done**" in _progress(a))
    assert not [w for w in at.warning if w.icon == icons.STATUS["budget"]]
    logged = shared_store().messages(run_id)
    tokens, calls, per_sender = _sums(logged)
    meter = _meter(at)
    assert (_number(at, meter, "tokens"), _number(at, meter, "calls")) == (tokens, calls)
    assert calls == 7 and "calls 7/20" in meter  # the raised budget, as this server gave it
    [per_role] = [d.value for d in at.dataframe if "model calls" in d.value.columns]
    assert per_role["tokens"].to_dict() == per_sender


def test_a_run_without_a_budget_shows_what_it_spent(dev_team):
    at = AppTest.from_function(run_app, default_timeout=60)
    at.session_state["huddle_team"] = yaml.safe_load(dump_spec(dev_team))
    at.run()
    at.text_input(key="run_model").set_value(MODEL)
    at.button(key="run_start").click().run()
    _poll(at, lambda a: "**done**" in _progress(a))
    tokens, calls, _ = _sums(shared_store().messages(at.session_state["huddle_run_id"]))
    meter = _meter(at)
    assert f"tokens {tokens:,} · $0.0000 · " in meter and meter.endswith(f"calls {calls} · no run budget")
    assert not at.get("progress")  # no limit, no bars


# --- the Runs page -----------------------------------------------------------------------------------------------


def test_the_runs_page_shows_status_budget_and_the_budget(dev_team):
    result = run_team(dev_team, "Write fizzbuzz", model=MODEL, budget=Budget(model_calls=3, tokens=9000))
    assert result.status == "budget"
    [info] = shared_store().runs()
    frame = runs_page.history_frame([info])
    assert frame.loc[0, "status"] == "budget" and frame.loc[0, "budget"] == "9,000 tokens · 3 calls"
    at = AppTest.from_function(runs_app, default_timeout=60).run()
    assert not at.exception, at.exception
    [status] = [m for m in at.metric if m.label == "status"]
    assert status.value == f"{icons.STATUS['budget']} budget"
    tokens, calls, _ = _sums(result.messages)
    [spent] = [c.value for c in at.caption if c.value.startswith(f"{icons.ALERTS['meter']} spent: ")]
    assert f"tokens {tokens:,}/9,000" in spent and f"calls {calls}/3" in spent
