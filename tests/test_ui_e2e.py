"""The studio in a real browser: Playwright drives Debian's chromium against ``huddle ui`` on loopback.

Never a downloaded browser: ``/usr/bin/chromium`` comes from the Debian package
(``apt-get install chromium``; ``.ci/run`` installs it). The test fails, not
skips, without it.
"""

from __future__ import annotations

import re
import time

from conftest import DEV_SCRIPT
from test_ui_cli import start_ui, stop_ui


def test_run_the_example_team_in_the_browser(browser, home, dev_team_file, tmp_path):
    proc, port = start_ui(home, "--team", str(dev_team_file))
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.goto(f"http://127.0.0.1:{port}/run", wait_until="networkidle")
        page.get_by_text("dev-team").first.wait_for(timeout=60_000)  # the example team is loaded
        page.get_by_role("textbox", name="Task").fill("Write fizzbuzz(n)")
        page.get_by_role("textbox", name="Model override").fill(f"scripted:{DEV_SCRIPT}")
        page.get_by_role("textbox", name="Model override").press("Enter")
        page.get_by_role("button", name="Start").click()
        page.get_by_text(re.compile("Final result")).wait_for(timeout=90_000)
        text = _settled_text(page, EXPECTED)
        page.screenshot(path=str(tmp_path / "studio-run.png"), full_page=True)
    finally:
        stop_ui(proc)
    missing = [part for part in EXPECTED if part not in text]
    assert missing == [], f"not on the page: {missing}"
    assert (tmp_path / "studio-run.png").stat().st_size > 10_000


EXPECTED = (
    "orchestrator", "planner", "coder", "critic",  # each role's messages
    "Write fizzbuzz(n) returning the string for n",  # the planner's plan
    "where fizzbuzz(7) = ''",  # the failed execution the coder fixed
    "Final result: approved", 'return "Fizz" * (n % 3 == 0)',  # the final result and its code
)


def _settled_text(page, expected, timeout_s: float = 30) -> str:
    """The page's text once it shows everything expected (the page reruns once more when a run ends)."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = page.inner_text("body")
        if all(part in text for part in expected) or time.monotonic() > deadline:
            return text
        time.sleep(0.5)
