"""The Run page in a real browser (Debian's chromium): the coder's words arrive before its first message is published,
the Build page's canvas lights the coder meanwhile, and a click on a bar of the run's timeline shows its message.

It also takes the Run page's screenshot (the run, its team picture and timeline)
and the Runs page's (a replay with the timeline) for ``docs/``.
"""

from __future__ import annotations

import re
import time

from _replies import approve
from conftest import ROOT, duo_team
from test_ui_cli import start_ui, stop_ui

from studio.bus.sqlite import RunLog
from studio.spec import dump_spec

FIRST_WORDS = "A first version, arriving word by word"
CANVAS = 'iframe[title="streamlit_flow.streamlit_flow"]'
"""The Build page's canvas (streamlit-flow draws it in a frame of its own)."""
SLOW_REPLY = (f"{FIRST_WORDS} so that the page can show it while the model is still writing. It returns the "
              "string for n, with a test of its own.\n```python\ndef fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) "
              "+ 'Buzz' * (n % 5 == 0) or str(n)\n\ndef test_fizzbuzz():\n    assert fizzbuzz(15) == 'FizzBuzz'\n"
              "    assert fizzbuzz(7) == '7'\n```")


def _model_kinds(home) -> list[str]:
    """The kinds of the model-made messages in the run log (the task is the user's)."""
    log = RunLog(home / "runs.db")
    runs = log.runs(limit=1)
    return [m.kind for m in log.messages(runs[0].run_id) if m.sender != "user"] if runs else []


def test_tokens_arrive_on_the_run_page_before_the_first_message(browser, home, script, tmp_path):
    team = tmp_path / "duo.yaml"
    team.write_text(dump_spec(duo_team(timeout_s=10)))
    model = script({"coder": [{"content": SLOW_REPLY, "delay_s": 16.0}], "critic": [approve("keep it small")]})
    proc, port = start_ui(home, "--team", str(team))
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(f"http://127.0.0.1:{port}/run", wait_until="networkidle")
        page.get_by_text("duo").first.wait_for(timeout=60_000)
        page.get_by_role("textbox", name="Task").fill("Write fizzbuzz(n)")
        page.get_by_role("textbox", name="Model override").fill(model)
        page.get_by_role("textbox", name="Model override").press("Enter")
        page.get_by_role("button", name="Start").click()
        page.get_by_text(re.compile(r"coder is speaking")).first.wait_for(timeout=60_000)
        page.get_by_text(re.compile(FIRST_WORDS)).first.wait_for(timeout=30_000)
        published = _model_kinds(home)
        shown = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "streaming.png"), full_page=True)
        assert published == [], f"the coder's words should show before any message; the log has {published}"
        assert "assert fizzbuzz(7)" not in shown  # the reply's end is still on its way
        assert page.locator("svg").filter(has_text="speaking").count() >= 1  # the coder lit on the team picture

        page.get_by_role("link", name="Build", exact=True).click()  # the same session, on the Build page
        lit = page.frame_locator(CANVAS).locator(".huddle-speaking")
        lit.wait_for(timeout=30_000)
        assert lit.inner_text().split() == ["coder", "coder", "speaking"]  # name, kind, and what it does now
        assert not _model_kinds(home)  # still before the coder's message
        page.get_by_role("link", name="Run", exact=True).click()

        page.get_by_text(re.compile("Final result")).wait_for(timeout=90_000)
        page.locator(".vega-embed").first.wait_for(timeout=30_000)
        _settle(page, "coder is speaking")
        page.screenshot(path=str(ROOT / "docs" / "studio-run.png"), full_page=True)

        timeline = page.locator('[data-testid="stExpander"]').filter(has_text="Timeline")
        review = timeline.locator('[aria-roledescription="bar"][aria-label*="lane: critic"]')
        assert review.count() == 1 and "review" in review.get_attribute("aria-label")
        review.click()  # the critic's model call: its message shows under the chart
        number = re.search(r"#: (\d+)", review.get_attribute("aria-label")).group(1)
        timeline.get_by_text(f"message #{number}, picked on the timeline").wait_for(timeout=30_000)
        assert "keep it small" in timeline.inner_text()  # the critic's review itself, its lesson included

        page.goto(f"http://127.0.0.1:{port}/runs", wait_until="networkidle")
        page.get_by_text("Replay a run").first.wait_for(timeout=60_000)
        page.locator(".vega-embed").first.wait_for(timeout=30_000)
        time.sleep(1.5)  # the charts draw after they mount
        page.screenshot(path=str(ROOT / "docs" / "studio-runs.png"), full_page=True)
    finally:
        stop_ui(proc)
    assert _model_kinds(home)[:1] == ["code"]
    for name in ("studio-run.png", "studio-runs.png"):
        assert (ROOT / "docs" / name).stat().st_size > 20_000


def _settle(page, gone: str, timeout_s: float = 20) -> None:
    """Wait until ``gone`` left the page (it reruns once more when a run ends), and the charts are drawn."""
    deadline = time.monotonic() + timeout_s
    while gone in page.inner_text("body") and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.5)
