"""The Run page in AppTest: a scripted dev-team run streams in, Stop stops a slow run, long runs are windowed."""

from __future__ import annotations

import re
import time

import pyarrow as pa
import pytest
import yaml
from conftest import DEV_SCRIPT
from streamlit.testing.v1 import AppTest

from pipelines.approval import ApprovalDecision
from studio.messages import Approval, Decision, Final, Plan, Task, new_id
from studio.runner import shared_store
from studio.spec import dump_spec
from studio.ui import icons, transcript, worker
from studio.ui.approval_form import APPROVE, EDIT, REJECT, edit_key, feedback_key

TIMEOUT_S = 90


def run_page_app():
    from studio.ui import run_page

    run_page.page()


def _app(team=None) -> AppTest:
    app = AppTest.from_function(run_page_app, default_timeout=60)
    if team is not None:
        app.session_state["huddle_team"] = yaml.safe_load(dump_spec(team))
    return app


def _texts(block) -> str:
    """Every text a block shows (markdown, captions, code, alerts, expander labels), its children included."""
    found = []
    for child in getattr(block, "children", {}).values():
        for attr in ("value", "label"):
            value = getattr(child, attr, None)
            if isinstance(value, str):
                found.append(value)
        found.append(_texts(child))
    return "\n".join(t for t in found if t)


def _progress(app: AppTest) -> str:
    return next((m.value for m in app.markdown if " · round " in m.value), "")


def _bubbles(app: AppTest) -> dict[str, str]:
    """Chat bubble text per agent (an agent with several bubbles: all of them)."""
    out: dict[str, str] = {}
    for bubble in app.chat_message:
        out[bubble.name] = out.get(bubble.name, "") + "\n" + _texts(bubble)
    return out


def _charted(chart) -> dict[str, tuple[int, int]]:
    """(prompt, completion) tokens per agent, as the bar chart's own data holds them."""
    rows = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pylist()
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        agent, series, value = row.values()  # streamlit names the melted columns itself
        out.setdefault(agent, {})[series] = value
    return {agent: (v["prompt tokens"], v["completion tokens"]) for agent, v in out.items()}


def _tokens_by_sender(messages) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for m in messages:
        if m.usage.calls:
            p, c = out.get(m.sender, (0, 0))
            out[m.sender] = (p + m.usage.prompt_tokens, c + m.usage.completion_tokens)
    return out


def _start(app: AppTest, model: str, task: str = "Write fizzbuzz") -> worker.RunHandle:
    app.run()
    app.text_area(key="run_task").set_value(task)
    app.text_input(key="run_model").set_value(model)
    app.button(key="run_start").click().run()
    assert not app.exception, app.exception
    handle = worker.get(app.session_state["huddle_run_id"])
    assert handle is not None and handle.task == task
    return handle


def _poll(app: AppTest, done, timeout_s: float = TIMEOUT_S) -> list[str]:
    """Rerun the page until ``done(app)``; returns the progress line of every rerun."""
    lines = []
    deadline = time.monotonic() + timeout_s
    while True:
        app.run()
        assert not app.exception, app.exception
        lines.append(_progress(app))
        if done(app):
            return lines
        assert time.monotonic() < deadline, f"gave up waiting; the page says: {lines[-1]}"
        time.sleep(0.05)


def test_a_scripted_dev_team_run_shows_every_agent_the_executions_and_the_result(dev_team):
    app = _app(dev_team)
    handle = _start(app, f"scripted:{DEV_SCRIPT}")
    lines = _poll(app, lambda a: "**done**" in _progress(a))
    assert handle.status == "done" and handle.error is None
    assert any("**running**" in line for line in lines[:-1])  # it was followed while it ran
    assert re.search(r"round 4/6 · \d+\.\ds · 7 model calls · 13 messages · team dev-team", lines[-1])

    bubbles = _bubbles(app)
    assert {"user", "orchestrator", "planner", "coder", "critic", "system"} <= set(bubbles)
    assert "Write fizzbuzz" in bubbles["user"]
    for instruction in ("Plan the work.", "Implement the plan.", "Review the code and its test result."):
        assert instruction in bubbles["orchestrator"]
    assert "Write fizzbuzz(n) returning the string for n" in bubbles["planner"]
    assert "Test it on 3, 5, 15 and 7 (after s1)" in bubbles["planner"]
    coder = bubbles["coder"]
    assert "Here is a first version, with a test." in coder
    assert 'return "Fizz" * (n % 3 == 0) + "Buzz" * (n % 5 == 0) or str(n)' in coder  # the fix, as code
    assert f":red[{icons.ALERTS['failed']} FAILED: tests: 0 passed, 1 failed" in coder
    assert f":green[{icons.ALERTS['valid']} OK: tests: 1 passed, 0 failed" in coder
    assert "execution details: 1 failure(s)" in coder
    assert 'assert fizzbuzz(7) == "7"' in coder and "where fizzbuzz(7) = ''" in coder  # inside the expander
    assert "**approve**" in bubbles["critic"] and "Correct, and its test passes." in bubbles["critic"]
    assert "lesson → reflections" in bubbles["critic"]
    assert "episode → episodes" in bubbles["system"]
    avatars = {b.name: b.avatar for b in app.chat_message}
    assert avatars["coder"] == icons.ROLES["coder"] and avatars["critic"] == icons.ROLES["critic"]

    result = next(m.value for m in app.markdown if m.value.startswith(f"{icons.ALERTS['final']} Final result"))
    assert "approved" in result and "tests: 1 passed, 0 failed" in result
    final = shared_store().messages(handle.run_id)[-1]
    assert final.kind == "final" and final.code in [c.value for c in app.code]
    download = app.get("download_button")
    assert [d.label for d in download] == ["Download the code"]
    charts = [c for c in app.get("vega_lite_chart") if not (c.key or "").startswith("run-timeline")]
    assert len(charts) == 1  # tokens; no cost chart when every call cost $0
    assert _charted(charts[0]) == _tokens_by_sender(shared_store().messages(handle.run_id))
    assert set(_charted(charts[0])) == {"orchestrator", "planner", "coder", "critic"}
    usage = transcript.usage_by_agent(shared_store().messages(handle.run_id))
    assert usage.loc["orchestrator", "calls"] == 3 and usage.loc["coder", "calls"] == 2
    assert app.button(key="run_start").disabled is False and app.button(key="run_stop").disabled is True


def test_stop_ends_a_slow_run_before_its_next_model_call(dev_team, script):
    decision = ('{{"is_request_satisfied": false, "is_in_loop": false, "is_progress_being_made": true, '
                '"next_speaker": "{0}", "instruction_or_question": "Go on, {0}."}}')
    model = script({
        "orchestrator": [{"content": decision.format(name), "delay_s": 0.4} for name in ("planner", "coder", "critic")],
        "planner": [{"content": '{"steps": [{"id": "s1", "description": "Write it slowly", "depends_on": []}]}',
                     "delay_s": 0.4}],
        "coder": [{"content": "```python\nprint('never')\n```", "delay_s": 0.4}],
        "critic": ['{"verdict": "approve", "feedback": "Fine.", "lessons": []}'],
    })
    app = _app(dev_team)
    handle = _start(app, model)
    lines = _poll(app, lambda a: "planner" in _bubbles(a), timeout_s=30)
    assert "**running**" in lines[-1] and handle.active  # the plan streamed in while the run went on
    assert "Write it slowly" in _bubbles(app)["planner"]
    assert any(re.search(r"round [01]/6 · \*\*(orchestrator|planner)\*\* speaking · \d+\.\ds", line) for line in lines)
    assert app.button(key="run_stop").disabled is False and app.button(key="run_start").disabled is True

    app.button(key="run_stop").click()
    _poll(app, lambda a: "**stopped**" in _progress(a), timeout_s=30)
    assert handle.status == "stopped"
    assert "coder" not in _bubbles(app)  # stopped before the coder's model call
    assert [w.value for w in app.warning] == ["Stopped: stopped from the studio"]
    assert "stopped (fatal): stopped from the studio" in _bubbles(app)["system"]
    info = shared_store().get_run(handle.run_id)
    assert info.status == "failed" and "stopped" in info.error
    assert app.button(key="run_start").disabled is False and app.button(key="run_stop").disabled is True


def test_a_run_that_cannot_start_shows_why(dev_team):
    app = _app(dev_team)
    handle = _start(app, "scripted:/nonexistent/replies.yaml")
    _poll(app, lambda a: "**failed**" in _progress(a), timeout_s=30)
    assert handle.status == "failed"
    assert len(app.error) == 1 and "does not exist" in app.error[0].value and "Failed:" in app.error[0].value


def _write_run(count: int) -> str:
    log = shared_store()
    log.create_run("long-run-1234", team="dev-team", task="talk a lot", spec={"flow": {"max_rounds": 6}})
    log.append(Decision(run_id="long-run-1234", sender="orchestrator", content=f"next: coder — message {i + 1}",
                        next_speaker="coder", instruction=f"message {i + 1}.") if i % 2 == 0 else
               Task(run_id="long-run-1234", sender="user", content=f"message {i + 1}.")
               for i in range(count))
    log.set_status("long-run-1234", "done")
    return "long-run-1234"


def _numbers(app: AppTest) -> list[int]:
    return sorted(int(n) for n in re.findall(r"message (\d+)\.", "\n".join(_bubbles(app).values())))


def test_a_long_run_opened_by_id_is_windowed_and_pages_back(dev_team):
    run_id = _write_run(120)
    app = _app(dev_team)
    app.run()
    assert "Start a run above" in app.info[0].value
    app.text_input(key="run_open_id").set_value("long-run").run()  # a prefix is enough
    assert not app.exception, app.exception
    assert _numbers(app) == list(range(71, 121))  # the newest 50 only
    assert len(app.chat_message) == 50 and "messages 71–120 of 120" in [c.value for c in app.caption]
    assert "**done**" in _progress(app)
    pager = app.slider(key=f"run-window-{run_id}")
    assert (pager.min, pager.max, pager.value) == (0, 2, 0)
    pager.set_value(1).run()
    assert _numbers(app) == list(range(21, 71))
    app.slider(key=f"run-window-{run_id}").set_value(2).run()
    assert _numbers(app) == list(range(1, 21))
    assert app.info[0].value == "No final result (yet)."


@pytest.mark.parametrize("how", ["query", "session"])
def test_the_page_shows_a_run_chosen_from_outside(how, dev_team):
    run_id = _write_run(3)
    app = _app(dev_team)
    if how == "query":
        app.query_params["run"] = run_id
    else:
        app.session_state["huddle_run_id"] = run_id
    app.run()
    assert not app.exception, app.exception
    assert _numbers(app) == [1, 2, 3] and f"run `{run_id}`" in _progress(app)


# --- approvals: a waiting run asks, and each answer resumes it ------------------------------------------------------

PLAN_TEXT = "1. Write fizzbuzz(n)\n2. Test it on 3, 5, 15 and 7"


def _write_waiting_run() -> str:
    run_id = new_id()  # handles outlive a test (they live in the worker module): one id per test
    log = shared_store()
    log.create_run(run_id, team="dev-team", task="Write fizzbuzz", spec={"flow": {"max_rounds": 6}})
    log.append([Task(run_id=run_id, sender="user", content="Write fizzbuzz"),
                Plan(run_id=run_id, sender="planner", content=PLAN_TEXT, branch="s1"),
                Approval(run_id=run_id, sender="system", point="after_plan", content=PLAN_TEXT)])
    log.set_status(run_id, "waiting")
    return run_id


@pytest.fixture
def decisions(monkeypatch) -> list:
    """Stands in for the runner's resume_run: records each decision, answers the request and ends the run."""
    import studio.runner

    seen = []

    def resume_run(run_id, *, home=None, on_message=None, on_turn=None, decision=None, on_token=None, budget=None):
        seen.append((run_id, decision))
        log = shared_store(home)
        status = {"approve": "approved", "edit": "edited", "reject": "rejected"}[decision.action]
        log.append([Approval(run_id=run_id, sender="user", point="after_plan", status=status,
                             feedback=decision.feedback),
                    Final(run_id=run_id, sender="system", stop_reason="rejected" if status == "rejected" else
                          "approved", approved=status != "rejected")])
        log.set_status(run_id, "done")
        return studio.runner.RunResult(run_id, "done", log.messages(run_id))

    monkeypatch.setattr(studio.runner, "resume_run", resume_run)
    return seen


def _opened(app: AppTest, run_id: str) -> AppTest:
    app.query_params["run"] = run_id
    app.run()
    assert not app.exception, app.exception
    return app


def _prompt(app: AppTest) -> str:
    return next((w.value for w in app.warning if w.icon == icons.ALERTS["approval"]), "")


def test_a_waiting_run_shows_what_it_asks_and_three_answers(dev_team):
    run_id = _write_waiting_run()
    app = _opened(_app(dev_team), run_id)
    assert "**waiting**" in _progress(app)
    assert _prompt(app).startswith("**Waiting for your approval: after plan**")
    assert PLAN_TEXT in [c.value for c in app.code]
    assert [app.button(key=k).label for k in (APPROVE, EDIT, REJECT)] == ["Approve", "Approve with edit", "Reject"]
    request = shared_store().messages(run_id)[-1]
    assert app.text_area(key=edit_key(request)).value == PLAN_TEXT  # the edit starts from the plan
    assert "**after plan** · :yellow[**requested**]" in _bubbles(app)["system"]
    assert ":blue-badge[s1]" in _bubbles(app)["planner"]  # the plan's branch, next to its sender
    assert not [i for i in app.info if i.value == "No final result (yet)."]  # not finished: it waits


@pytest.mark.parametrize("action", ["approve", "edit", "reject"])
def test_each_answer_resumes_the_run_with_its_decision(action, dev_team, decisions):
    run_id = _write_waiting_run()
    app = _opened(_app(dev_team), run_id)
    request = shared_store().messages(run_id)[-1]
    if action == "approve":
        app.button(key=APPROVE).click()
        expected = ApprovalDecision.approve()
    elif action == "edit":
        app.text_area(key=edit_key(request)).set_value("1. Write fizzbuzz with a loop")
        app.button(key=EDIT).click()
        expected = ApprovalDecision.edit("1. Write fizzbuzz with a loop")
    else:
        app.button(key=REJECT).click().run()  # no feedback: refused, nothing resumed
        assert [e.value for e in app.error] == ["Say why you reject it, and what the team should do instead: the "
                                                "team reads it."]
        assert decisions == [] and worker.get(run_id) is None
        app.text_area(key=feedback_key(request)).set_value("Plan a test for 0 too.")
        app.button(key=REJECT).click()
        expected = ApprovalDecision.reject("Plan a test for 0 too.")
    _poll(app, lambda a: "**done**" in _progress(a), timeout_s=30)
    assert decisions == [(run_id, expected)]
    assert not _prompt(app)
    assert worker.get(run_id).status == "done"
    shown = {"approve": ":green[**approved**]", "edit": ":blue[**edited**]", "reject": ":red[**rejected**]"}
    assert shown[action] in _bubbles(app)["user"]


def test_an_unchanged_edit_is_a_plain_approval(dev_team, decisions):
    run_id = _write_waiting_run()
    app = _opened(_app(dev_team), run_id)
    app.button(key=EDIT).click()
    _poll(app, lambda a: "**done**" in _progress(a), timeout_s=30)
    assert decisions == [(run_id, ApprovalDecision.approve())]


def test_an_answer_given_elsewhere_is_not_given_twice(dev_team, decisions):
    run_id = _write_waiting_run()
    app = _opened(_app(dev_team), run_id)
    log = shared_store()  # meanwhile, someone answers on the CLI
    log.append([Approval(run_id=run_id, sender="user", point="after_plan", status="approved")])
    log.set_status(run_id, "running")
    app.button(key=APPROVE).click().run()
    assert not app.exception and decisions == [] and worker.get(run_id) is None
    assert [t.value for t in app.toast] == ["That request was answered already; the run is shown as it is now."]


@pytest.mark.parametrize("started", ["studio", "cli"])
def test_a_run_waiting_before_final_is_approved_here_and_finishes(started, dev_team):
    from studio.runner import run_team

    team = dev_team.model_copy(update={"approval": ["before_final"]})
    app = _app(team)
    if started == "studio":
        run_id = _start(app, f"scripted:{DEV_SCRIPT}").run_id
    else:  # what `huddle run` does: the run waits in the log, and this server never saw it start
        result = run_team(team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
        assert result.status == "waiting"
        run_id = result.run_id
        app.query_params["run"] = run_id
    _poll(app, lambda a: bool(_prompt(a)))
    assert "**waiting**" in _progress(app)
    assert "Waiting for your approval: before final" in _prompt(app)
    final_code = [m for m in shared_store().messages(run_id) if m.kind == "code"][-1].code
    assert final_code.strip() in [c.value.strip() for c in app.code]

    app.button(key=APPROVE).click()
    lines = _poll(app, lambda a: "**done**" in _progress(a))
    assert not _prompt(app)
    assert worker.get(run_id).status == "done"
    messages = shared_store().messages(run_id)
    answers = [m for m in messages if isinstance(m, Approval)]
    assert [(a.point, a.status) for a in answers] == [("before_final", "requested"), ("before_final", "approved")]
    assert messages[-1].kind == "final" and messages[-1].approved
    assert "**before final** · :green[**approved**]" in _bubbles(app)["user"]
    result = next(m.value for m in app.markdown if m.value.startswith(f"{icons.ALERTS['final']} Final result"))
    assert "approved" in result and lines


def test_a_link_to_one_message_shows_it_first(dev_team):
    from studio.runner import run_team

    run = run_team(dev_team, "Write fizzbuzz", model=f"scripted:{DEV_SCRIPT}")
    plan = next(i for i, m in enumerate(run.messages) if m.kind == "plan") + 1
    app = _app(dev_team)
    app.query_params["message"] = str(plan)
    app = _opened(app, run.run_id)
    assert any(c.value == f"message #{plan} of run `{run.run_id[:8]}`, linked from a diff" for c in app.caption)
    app.query_params["message"] = "999"
    app.run()
    assert any("has no message #999" in w.value for w in app.warning)
