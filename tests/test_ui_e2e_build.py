"""The Build page in a real browser (Debian's chromium under Playwright, as in tests/test_ui_e2e.py): every example
team loaded over every other, both orders, stays itself; an edit survives a reload; Save writes the intended team.

One browser session walks an Eulerian circuit of the complete directed graph of the example teams: each load goes
from the team shown to the next, so the 72 loads of nine examples take every ordered pair once. After each load the
page must show exactly the loaded team (name, roles, flow type, approval points, the canvas's nodes, and the YAML
the page holds) once the canvas has drawn it and the runs the load caused (its own, then the one the canvas's first
draw asks for) have ended, and still after the next rerun, when the next example is picked (the old bug renamed
role 0 seconds after a load, with no user action). On three of the teams, one field is edited, the page
reloaded (the edit must come back), and saved: the file must then hold that team with that edit.

It also takes the Build page's screenshot in docs/studio-build.png.
"""

from __future__ import annotations

import re
import shutil
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import Page, expect
from test_ui_cli import start_ui, stop_ui

from studio.spec import TeamSpec, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
TEAMS = ROOT / "examples" / "teams"
EDITS: dict[str, tuple[str, str, Any]] = {
    "approval_team": ("Team name", "name", "approval-edited"),
    "cross_team": ("Max rounds", "flow.max_rounds", 9),
    "solver_team": ("Description", "description", "Edited in the browser."),
}
"""Example to (the field's label, its path in the spec, the value typed) for the teams edited, reloaded and saved."""
WATCH = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  let last = app.getAttribute('data-test-script-state');
  window.hudRuns = 0;
  new MutationObserver(() => {
    const now = app.getAttribute('data-test-script-state');
    if (now === 'notRunning' && last !== 'notRunning') window.hudRuns += 1;
    last = now;
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
"""Counts the script runs the page sees end (Streamlit marks its root with the script's state)."""
SETTLED = """([mark, runs]) => window.hudRuns >= mark + runs
  && document.querySelector('[data-testid="stApp"]').getAttribute('data-test-script-state') === 'notRunning'"""
"""True once ``runs`` more runs than ``mark`` have ended and none is going on."""
SNAPSHOT = """() => {
  const field = (tid, label) => [...document.querySelectorAll(`[data-testid="${tid}"]`)]
    .find(e => (e.querySelector('[data-testid="stWidgetLabel"]')?.innerText || '').trim() === label);
  const yaml = [...document.querySelectorAll('[data-testid="stExpander"]')]
    .find(e => (e.querySelector('summary')?.innerText || '').trim().endsWith('YAML'))
    ?.querySelector('[data-testid="stCode"] code');
  const approvals = field('stMultiSelect', 'Human approval');
  return {
    name: field('stTextInput', 'Team name')?.querySelector('input')?.value ?? null,
    flow: field('stSelectbox', 'Flow')?.querySelector('input')?.value ?? null,
    approvals: approvals ? [...approvals.querySelectorAll('[data-tag]')]
      .map(t => t.getAttribute('aria-label').split(' — ')[0]) : null,
    summary: [...document.querySelectorAll('[data-testid="stAlert"]')].map(a => a.innerText)
      .find(t => t.includes(' is valid: ') || t.includes('not valid yet')) ?? null,
    yaml: yaml ? yaml.textContent : null,
  };
}"""
CANVAS = 'iframe[title="streamlit_flow.streamlit_flow"]'


def circuit(names: list[str], start: str) -> list[str]:
    """A walk from ``start`` back to it taking every ordered pair of different names once (Hierholzer's)."""
    unused = {a: [b for b in reversed(names) if b != a] for a in names}
    stack, walk = [start], []
    while stack:
        if unused[stack[-1]]:
            stack.append(unused[stack[-1]].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


def _expected(spec: TeamSpec) -> dict[str, Any]:
    roles = ", ".join(f"{r.name} ({r.kind})" for r in spec.roles)
    return {"name": spec.name, "flow": spec.flow.type, "approvals": list(spec.approval),
            "summary": f"Team {spec.name} is valid: {roles}."}


def _runs(page: Page) -> int:
    """How many script runs the page has seen end since :data:`WATCH` was installed."""
    return int(page.evaluate("() => window.hudRuns"))


def _settled(page: Page, mark: int, runs: int) -> None:
    """Wait until ``runs`` more script runs than ``mark`` have ended and no other one is going on."""
    page.wait_for_function(SETTLED, arg=[mark, runs], polling=50)


def _canvas_nodes(page: Page, spec: TeamSpec, timeout_s: float = 60) -> None:
    """Wait until the canvas draws exactly ``spec``'s roles (and the start node)."""
    wanted = sorted(["start", *(r.name for r in spec.roles)])
    deadline, drawn = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            drawn = sorted(t.split("\n")[0] for t in page.frame_locator(CANVAS).locator(".react-flow__node")
                           .all_inner_texts())
        except Exception:  # the component remounts (a new key per load): its old frame goes away
            drawn = None
        if drawn == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"the canvas shows {drawn}, not {spec.name}'s {wanted}")


def _check(page: Page, spec: TeamSpec, when: str) -> None:
    """The page shows exactly ``spec``: its fields, its summary and the YAML it holds."""
    shown = page.evaluate(SNAPSHOT)
    held = shown.pop("yaml")
    assert held is not None, "the YAML expander shows no code"
    shown["summary"] = (shown["summary"] or "").split("\n")[-1]  # after the alert's icon
    assert shown == _expected(spec), f"{when}: the page shows {shown}"
    assert parse_spec(yaml.safe_load(held)) == spec, f"{when}: the page holds\n{held}"


def _open(page: Page, spec: TeamSpec) -> None:
    """After a page (re)load: open the YAML expander, watch the runs, wait for the canvas and its rerun."""
    page.get_by_text("YAML", exact=True).click()  # open for good: its code is the team the page holds
    page.evaluate(WATCH)
    _canvas_nodes(page, spec)
    page.wait_for_timeout(500)  # the canvas's first draw asks for a rerun
    _settled(page, 0, 0)


def _load(page: Page, example: str, spec: TeamSpec, shown: TeamSpec, before: str) -> None:
    """Pick ``example`` (a rerun: the team ``shown`` must stay), load it, and check the page once it settled."""
    gallery = page.get_by_role("combobox", name=re.compile("Example teams"))
    if gallery.input_value() != example:
        mark = _runs(page)
        gallery.click()
        page.get_by_role("option", name=example, exact=True).click()
        _settled(page, mark, 1)
        _check(page, shown, f"{before}, a rerun after its load")
    mark = _runs(page)
    page.get_by_role("button", name="Load example").click()
    page.get_by_text(f"Loaded the example {example}.yaml").wait_for()
    _canvas_nodes(page, spec)
    _settled(page, mark, 2)  # the load's run, then the run the canvas's first draw asks for
    _check(page, spec, f"{example} loaded over {before}")


def _save(page: Page, name: str) -> None:
    button = page.get_by_role("button", name="Save", exact=True)
    expect(button).to_be_enabled(timeout=60_000)
    button.click()
    page.get_by_text(f"Saved team '{name}'").wait_for()


def _edit_reload_save(page: Page, example: str, team_file: Path) -> TeamSpec:
    """Edit one field of the example shown, reload, save; returns the team the file must now hold."""
    label, path, value = EDITS[example]
    intended = yaml.safe_load((TEAMS / f"{example}.yaml").read_text())
    *parents, leaf = path.split(".")
    node = intended
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    spec = parse_spec(intended)
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Control+Enter" if label == "Description" else "Enter")
    expect(page.locator('[data-testid="stExpander"] [data-testid="stCode"]')).to_contain_text(str(value))
    _settled(page, _runs(page), 0)
    _check(page, spec, f"{example} edited")

    page.reload(wait_until="networkidle")
    page.get_by_text("Restored your unsaved changes").wait_for()
    _open(page, spec)
    _check(page, spec, f"{example} edited, after a reload")
    _save(page, spec.name)
    expect(page.get_by_text("unsaved changes")).to_have_count(0, timeout=60_000)
    assert load_spec(team_file) == spec, f"the saved {example} with {path}={value!r}"
    assert team_file.read_text().startswith((TEAMS / f"{example}.yaml").read_text().splitlines()[0])  # comments kept
    return spec


def test_every_example_loads_over_every_other_and_edits_survive_a_reload_and_save(browser, home, tmp_path):
    examples = sorted(p.stem for p in TEAMS.glob("*.yaml"))
    walk = circuit(examples, "dev_team")
    pairs = list(pairwise(walk))
    assert sorted(pairs) == sorted((a, b) for a in examples for b in examples if a != b)  # each ordered pair once
    specs = {name: load_spec(TEAMS / f"{name}.yaml") for name in examples}
    team_file = tmp_path / "my_team.yaml"
    shutil.copy(TEAMS / "dev_team.yaml", team_file)
    started = time.monotonic()
    proc, port = start_ui(home, "--team", str(team_file))
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        page.set_default_timeout(60_000)  # a shared, busy machine: a rerun can take seconds
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        page.get_by_text("Team dev-team is valid").wait_for()
        shown = specs["dev_team"]
        _open(page, shown)
        _check(page, shown, "the team file")
        edited = set()
        for before, after in pairs:
            _load(page, after, specs[after], shown, before)
            shown = specs[after]
            if after in EDITS and after not in edited:
                edited.add(after)
                shown = _edit_reload_save(page, after, team_file)
        assert edited == set(EDITS)
        _save(page, "dev-team")  # the last example loaded, as it is: the file must be the example again
        expect(page.get_by_text("unsaved changes")).to_have_count(0, timeout=60_000)
        canvas = page.frame_locator(CANVAS)
        canvas.locator(".react-flow__node").filter(has_text="coder").first.click(button="right")
        page.wait_for_timeout(500)
        expect(canvas.get_by_text("Edit Node")).to_have_count(0)  # its dialog would edit the drawing, not the role
        page.get_by_text("YAML", exact=True).click()  # folded again for the picture
        page.set_viewport_size({"width": 1440, "height": 1500})  # the save bar and the canvas
        page.wait_for_timeout(1_500)
        page.screenshot(path=str(ROOT / "docs" / "studio-build.png"))
    finally:
        stop_ui(proc)
    took = time.monotonic() - started
    print(f"{len(pairs)} loads, {len(EDITS)} edits, reloads and saves: {took:.0f}s")
    text = team_file.read_text()
    assert load_spec(team_file) == specs["dev_team"] and walk[-1] == "dev_team"
    assert text.startswith("# The default team") and "null" not in text  # minimal, under the example's comments
    assert (ROOT / "docs" / "studio-build.png").stat().st_size > 20_000
