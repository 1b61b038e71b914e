"""The Build page in a real browser (Debian's chromium under Playwright, as in tests/test_ui_e2e.py): example
teams loaded over each other stay themselves, an edit survives a reload, and Save writes the intended team.

It also takes the Build page's screenshot in docs/studio-build.png.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml
from playwright.sync_api import expect
from test_ui_cli import start_ui, stop_ui

from studio.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
TEAMS = ROOT / "examples" / "teams"
PAIRS = [("dev_team", "approval_team"), ("approval_team", "dev_team"), ("cross_team", "solver_team"),
         ("solver_team", "cross_team")]
"""The load that corrupted the team in issue 22 (both orders), and two teams with more to lose."""
SETTLE_MS = 2_500
"""The corruption came seconds after the load, with no user action: wait that long before judging."""


def _load(page, example: str) -> None:
    page.get_by_role("combobox", name=re.compile("Example teams")).click()
    page.get_by_role("option", name=example, exact=True).click()
    page.get_by_role("button", name="Load example").click()
    page.get_by_text(f"Loaded the example {example}.yaml").wait_for(timeout=60_000)
    page.wait_for_timeout(SETTLE_MS)


def _save(page, name: str) -> None:
    button = page.get_by_role("button", name="Save", exact=True)
    expect(button).to_be_enabled(timeout=60_000)
    button.click()
    page.get_by_text(f"Saved team '{name}'").wait_for(timeout=60_000)


def test_loads_over_loads_an_edit_a_reload_and_save_in_the_browser(browser, home, tmp_path):
    team_file = tmp_path / "my_team.yaml"
    shutil.copy(TEAMS / "dev_team.yaml", team_file)
    proc, port = start_ui(home, "--team", str(team_file))
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        page.set_default_timeout(60_000)  # a shared, busy machine: a rerun can take seconds
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        page.get_by_text("Team dev-team is valid").wait_for(timeout=60_000)
        for first, second in PAIRS:
            _load(page, first)
            _load(page, second)
            expected = load_spec(TEAMS / f"{second}.yaml")
            _save(page, expected.name)
            assert load_spec(team_file) == expected, f"{second} loaded over {first}"

        _load(page, "dev_team")
        _load(page, "approval_team")
        name = page.get_by_role("textbox", name="Team name")
        name.fill("approval-edited")
        name.press("Enter")
        page.get_by_text("unsaved changes").wait_for(timeout=60_000)
        page.wait_for_timeout(SETTLE_MS)

        page.reload(wait_until="networkidle")
        page.get_by_text("Restored your unsaved changes").wait_for(timeout=60_000)
        assert page.get_by_role("textbox", name="Team name").input_value() == "approval-edited"
        page.wait_for_timeout(SETTLE_MS)  # the first draw of the canvas reruns the page once more
        _save(page, "approval-edited")
        expect(page.get_by_text("unsaved changes")).to_have_count(0, timeout=60_000)
        page.set_viewport_size({"width": 1440, "height": 1500})  # the save bar and the canvas
        page.wait_for_timeout(1_500)
        page.screenshot(path=str(ROOT / "docs" / "studio-build.png"))
    finally:
        stop_ui(proc)
    intended = yaml.safe_load((TEAMS / "approval_team.yaml").read_text()) | {"name": "approval-edited"}
    text = team_file.read_text()
    assert load_spec(team_file) == parse_spec(intended)
    assert text.startswith("# Human approval") and "null" not in text  # minimal, under the file's comments
    assert (ROOT / "docs" / "studio-build.png").stat().st_size > 20_000
