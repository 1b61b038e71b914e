"""The Run page while a run works: tokens before the message, the speaking role lit, the timeline, Stop."""

from __future__ import annotations

import json
import threading

import pyarrow as pa
import pytest
from _fake_run import fake_runner
from _replies import approve, code, plan
from conftest import ROOT, hashed
from streamlit.testing.v1 import AppTest
from test_ui_run import _app, _bubbles, _opened, _poll, _progress, _prompt, _start, _write_run

from pipelines.approval import ApprovalDecision
from studio.messages import Code, Execution, Message, Plan, Task, Usage
from studio.runner import resume_run, run_team, shared_store
from studio.spec import load_spec
from studio.ui import timeline, worker

TEAMS = ROOT / "examples" / "teams"
FIZZ = "Write fizzbuzz(n).\nassert fizzbuzz(15) == 'FizzBuzz'\nassert fizzbuzz(7) == '7'"


def _timeline(app: AppTest) -> tuple[list[str], list[dict]]:
    """The timeline chart's lanes (top to bottom) and its bars, as the chart itself holds them."""
    charts = [c for c in app.get("vega_lite_chart") if '"x2"' in c.proto.spec]
    assert len(charts) == 1, f"{len(charts)} timelines"
    spec = json.loads(charts[0].proto.spec)
    rows = pa.ipc.open_stream(charts[0].proto.data.data).read_all().to_pylist() if charts[0].proto.data.data else [
        row for d in charts[0].proto.datasets for row in pa.ipc.open_stream(d.data.data).read_all().to_pylist()]
    return spec["encoding"]["y"]["sort"], rows


def _picture(app: AppTest) -> str:
    (chart,) = app.get("graphviz_chart")
    return chart.proto.spec


def _lit(dot: str) -> set[str]:
    return {line.split()[0].strip('"') for line in dot.splitlines() if "penwidth=4" in line}


# --- tokens as they arrive --------------------------------------------------------------------------------------


@pytest.fixture
def talking(monkeypatch):
    """Stands in for the runner: the coder says two pieces, waits for the test's go, then publishes its code."""
    go, said = threading.Event(), threading.Event()

    def speak(run_id, on_turn, on_token, publish):
        on_turn("planner")
        on_token("planner", "")  # a JSON-constrained call: no text, only a heartbeat
        on_turn("coder")
        on_token("coder", "Here is fizzbuzz, ")
        on_token("coder", "with a test.")
        said.set()
        assert go.wait(30)
        message = Code(run_id=run_id, sender="coder", content="Here is fizzbuzz, with a test.", code="x = 1",
                       usage=Usage(calls=1, latency_ms=800))
        publish(message)
        return message

    fake_runner(monkeypatch, speak, lambda spec: {"name": spec.name, "roles": [
        {"name": "planner", "kind": "planner"}, {"name": "coder", "kind": "coder"}],
        "flow": {"edges": [{"from": "planner", "to": "coder"}]}})
    return go, said


def test_tokens_show_before_the_message_and_the_speaking_role_is_lit(dev_team, talking):
    go, said = talking
    app = _app(dev_team)
    handle = _start(app, "scripted:unused.yaml")
    assert said.wait(30)
    app.run()
    assert not app.exception, app.exception
    assert "coder" not in _bubbles(app) or "Here is fizzbuzz" in _bubbles(app)["coder"]
    live = {b.name: b for b in app.chat_message[:2]}  # the speakers, above every message
    assert set(live) == {"coder (live)", "planner (live)"}
    texts = [m.value for m in app.markdown] + [c.value for c in app.caption]
    assert "Here is fizzbuzz, with a test." in texts
    assert any(t.startswith("coder is speaking · ") for t in texts)
    assert any(t.startswith("planner is thinking… ") and t.endswith("s") for t in texts)
    assert not any(m.kind == "code" for m in shared_store().messages(handle.run_id))  # not published yet
    assert _lit(_picture(app)) == {"coder", "planner"}

    go.set()
    _poll(app, lambda a: "**done**" in _progress(a), timeout_s=30)
    assert handle.live == {} and not any("is speaking" in c.value for c in app.caption)
    assert _lit(_picture(app)) == set()
    assert "Here is fizzbuzz, with a test." in _bubbles(app)["coder"]  # now as the published message


SLOW_CODE = ("Here is a first version of fizzbuzz, written slowly word by word so that the page can show it "
             "while it arrives.\n```python\ndef fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * "
             "(n % 5 == 0) or str(n)\n```")


def test_a_scripted_run_streams_the_coders_words_onto_the_page_before_its_message(dev_team, script):
    decision = ('{{"is_request_satisfied": {1}, "is_in_loop": false, "is_progress_being_made": true, '
                '"next_speaker": "{0}", "instruction_or_question": "Go on, {0}."}}')
    model = script({
        "orchestrator": [decision.format("planner", "false"), decision.format("coder", "false"),
                         decision.format("critic", "false"), decision.format("critic", "true")],
        "planner": [plan("Write fizzbuzz(n)")],
        "coder": [{"content": SLOW_CODE, "delay_s": 4.0}],
        "critic": [approve()],
    })
    app = _app(dev_team)
    handle = _start(app, model)

    def streaming(a: AppTest) -> bool:
        return any(m.value.startswith("Here is a first version") for m in a.markdown)

    _poll(app, streaming, timeout_s=60)
    shown = next(m.value for m in app.markdown if m.value.startswith("Here is a first version"))
    assert len(shown) < len(SLOW_CODE)  # part of it: the rest is still on its way
    assert not any(m.kind == "code" for m in shared_store().messages(handle.run_id))  # not published yet
    assert any(c.value.startswith("coder is speaking · ") for c in app.caption)
    assert _lit(_picture(app)) == {"coder"}
    _poll(app, lambda a: not a.button(key="run_start").disabled, timeout_s=60)
    assert handle.status in ("done", "unsolved") and handle.live == {}
    assert "Here is a first version" in _bubbles(app)["coder"]


def test_a_published_message_ends_its_speakers_live_text():
    handle = worker.RunHandle(run_id="r", team="t", task="x")
    handle._turn("coder.c1")
    handle._token("coder.c1", "def f")
    handle._turn("coder.c2")
    assert handle.speeches()["coder.c1"].text == "def f" and handle.speeches()["coder.c2"].text == ""
    handle._heard(Code(run_id="r", sender="coder", branch="c1", content="def f(): pass"))
    assert list(handle.speeches()) == ["coder.c2"] and handle.turns == 2


# --- the timeline -------------------------------------------------------------------------------------------


def test_the_timeline_has_a_lane_per_role_and_per_branch_of_a_best_of_n_run(dev_team):
    team = hashed(load_spec(TEAMS / "best_of_n_team.yaml"))
    result = run_team(team, FIZZ, model=f"scripted:{ROOT / 'examples' / 'scripts' / 'best_of_n_team.yaml'}")
    assert result.status == "done", result.error
    app = _opened(_app(dev_team), result.run_id)
    lanes, bars = _timeline(app)
    assert lanes == ["coder", "coder.c1", "coder.c2", "coder.c3", "critic"]
    kinds = {(b["lane"], b["what"]) for b in bars}
    assert {("coder.c1", "model call"), ("coder.c2", "model call"), ("coder.c3", "model call"),
            ("critic", "model call")} <= kinds
    sandbox = {b["lane"]: b["what"] for b in bars if b["what"].startswith("sandbox")}
    assert sandbox == {"coder.c1": "sandbox failed", "coder.c2": "sandbox run", "coder.c3": "sandbox failed",
                       "coder": "sandbox run"}  # the candidates, then the chosen one's run on the main line
    for bar in bars:  # each bar names a message of its lane, and ends where it was published
        message = result.messages[bar["message"] - 1]
        assert timeline.lane_of(message) == bar["lane"]


def test_each_bar_ends_when_its_message_was_published_and_an_approval_lasts_until_answered():
    from datetime import datetime, timedelta, timezone

    from studio.messages import Approval

    at = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    messages: list[Message] = [
        Task(run_id="r", sender="user", content="x", created_at=at),
        Plan(run_id="r", sender="planner", content="p", created_at=at + timedelta(seconds=4),
             usage=Usage(calls=1, latency_ms=3000)),
        Approval(run_id="r", sender="system", point="after_plan", created_at=at + timedelta(seconds=5)),
        Approval(run_id="r", sender="user", point="after_plan", status="approved",
                 created_at=at + timedelta(seconds=65)),
        Execution(run_id="r", sender="coder", content="OK", exit_code=0, duration_ms=2000,
                  created_at=at + timedelta(seconds=70)),
    ]
    frame = timeline.timeline_frame(messages)
    rows = {(r.lane, r.what): (r.start - at, r.end - at, r.message) for r in frame.itertuples()}
    assert rows == {("planner", "model call"): (timedelta(seconds=1), timedelta(seconds=4), 2),
                    ("approvals", "approval"): (timedelta(seconds=5), timedelta(seconds=65), 3),
                    ("coder", "sandbox run"): (timedelta(seconds=68), timedelta(seconds=70), 5)}
    assert timeline.lanes(frame) == ["planner", "coder", "approvals"]


@pytest.mark.parametrize(("event", "number"), [
    ({"selection": {"pick": [{"message": 7}]}}, 7), ({"selection": {"pick": {"message": [3]}}}, 3),
    ({"selection": {"pick": []}}, None), ({"selection": {}}, None), (None, None)])
def test_a_click_on_a_bar_picks_its_message(event, number):
    assert timeline.picked(event) == number


# --- Stop on a waiting run -------------------------------------------------------------------------------------


def _waiting_run(script) -> str:
    team = hashed(load_spec(TEAMS / "approval_team.yaml"))
    model = script({"planner": [plan("Write add(a, b) returning the sum")] * 2,
                    "coder": [code("def add(a, b):\n    return a + b")], "critic": [approve()]})
    result = run_team(team, "Write add(a, b).\nassert add(2, 3) == 5", model=model)
    assert result.status == "waiting", result.error
    return result.run_id


def test_stop_on_a_waiting_run_stops_it_and_its_prompt_goes(dev_team, script):
    run_id = _waiting_run(script)
    app = _opened(_app(dev_team), run_id)
    assert "**waiting**" in _progress(app) and app.button(key="run_stop").disabled is False
    assert _prompt(app).startswith("**Waiting for your approval: after plan**")
    app.button(key="run_stop").click().run()
    assert not app.exception, app.exception
    info = shared_store().get_run(run_id)
    assert info.status == "failed" and info.error == worker.STOPPED
    assert "**stopped**" in _progress(app)
    assert _prompt(app) == "" and not any(b.label in ("Approve", "Reject") for b in app.button)  # prompt gone
    assert [w.value for w in app.warning] == [f"Stopped: {worker.STOPPED}"]
    assert app.button(key="run_stop").disabled is True
    stopped = shared_store().messages(run_id)[-1]
    assert (stopped.kind, stopped.error_type, stopped.fatal) == ("error", "stopped", True)
    # like a run stopped while it works, it can be resumed: it asks for the same approval again
    assert resume_run(run_id).status == "waiting"
    assert resume_run(run_id, decision=ApprovalDecision.approve()).pending.point == "before_execution"


def test_stop_waiting_leaves_a_run_that_is_not_waiting_alone(dev_team):
    run_id = _write_run(3)
    assert worker.stop_waiting(run_id) is False and shared_store().get_run(run_id).status == "done"


# --- newest in view ---------------------------------------------------------------------------------------------


def test_the_newest_message_is_on_top_above_the_token_chart(dev_team):
    run_id = _write_run(120)
    app = _opened(_app(dev_team), run_id)
    first = app.chat_message[0]
    assert "message 120." in "\n".join(str(getattr(c, "value", "")) for c in first.children.values()) or \
        "message 120." in _bubbles(app)[first.name]
    numbers = [int(c.value.split("#")[1].split(" ")[0]) for c in app.caption if " · #" in c.value]
    assert numbers[:3] == [120, 119, 118] and numbers == sorted(numbers, reverse=True)
    tokens = next(e for e in app.expander if e.label == "Tokens and cost per agent")
    assert tokens.proto.expanded is False  # folded away under the transcript


def test_a_run_page_still_shows_when_nothing_was_timed(dev_team):
    run_id = _write_run(3)
    app = _opened(_app(dev_team), run_id)
    assert "no model calls, sandbox runs or approvals yet" in [c.value for c in app.caption]

