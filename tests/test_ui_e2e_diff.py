"""Fork from here and the run diff in a real browser (Debian's chromium); takes the diff's screenshot for ``docs/``."""

from __future__ import annotations

import re
import time

from _replies import approve, code, revise
from conftest import ROOT, duo_team
from test_ui_cli import start_ui, stop_ui

from studio.bus.sqlite import RunLog
from studio.runner import run_team

FIZZ = "def fizzbuzz(n):\n    return 'Fizz' * (n % 3 == 0) + 'Buzz' * (n % 5 == 0) or str(n)"
FIZZ_AGAIN = FIZZ + "\n\n\nassert fizzbuzz(0) == 'FizzBuzz'"


def test_fork_from_here_then_diff_with_the_parent_in_the_browser(browser, home, script):
    parent = run_team(duo_team(timeout_s=10), "Write fizzbuzz(n)", home=home,
                      model=script({"coder": [code(FIZZ)], "critic": [approve("keep it small")]}))
    assert parent.status == "done"
    code_at = next(i for i, m in enumerate(parent.messages) if m.kind == "code") + 1  # its number on the page
    # the fork's live part: the critic asks for a change this time, and the coder makes it
    then = script({"coder": [code(FIZZ), code(FIZZ_AGAIN)], "critic": [revise("Show that 0 works."), approve()]})
    proc, port = start_ui(home)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1700})
        page.set_default_timeout(60_000)
        page.goto(f"http://127.0.0.1:{port}/runs", wait_until="networkidle")
        page.get_by_text("Replay a run").first.wait_for()
        slider = page.get_by_role("slider").first
        slider.focus()
        for _ in range(len(parent.messages) - code_at):  # from the last message back to the coder's code
            slider.press("ArrowLeft")
        page.get_by_text(re.compile(f"Fork from here \\(message #{code_at}\\)")).click()
        page.get_by_role("textbox", name="Model for the rest").fill(then)
        page.get_by_role("textbox", name="Model for the rest").press("Enter")
        page.get_by_role("button", name="Fork").click()
        page.get_by_text(re.compile(r"Forked: run")).wait_for()
        log = RunLog(home / "runs.db")
        deadline = time.monotonic() + 60
        while (fork := log.runs(limit=1)[0]).status == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert (fork.parent_run, fork.status) == (parent.run_id, "done")
        assert fork.fork_at == parent.messages[code_at - 1].id

        page.reload(wait_until="networkidle")
        page.get_by_role("tab", name=re.compile("Diff two runs")).click()  # B: the fork, A: its parent
        page.get_by_text(re.compile("First divergence at pair")).wait_for()
        shown = page.inner_text("body")
        assert "critic" in shown and "Show that 0 works." in shown
        time.sleep(1.0)
        page.screenshot(path=str(ROOT / "docs" / "studio-diff.png"), full_page=True)
    finally:
        stop_ui(proc)
    kept = log.messages(fork.run_id)[:code_at]
    assert [(m.kind, m.content) for m in kept] == [(m.kind, m.content) for m in parent.messages[:code_at]]
    assert (ROOT / "docs" / "studio-diff.png").stat().st_size > 20_000
