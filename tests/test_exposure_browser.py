"""The studio's login in a real browser (Debian's chromium, as in tests/test_ui_e2e.py): over Streamlit's own
websocket, a session without the token gets the login and nothing of the teams, runs or memory, on every page's
address; a wrong token is refused; the right one opens the studio."""

from __future__ import annotations

from test_ui_cli import start_ui, stop_ui

TOKEN = "browser-token-0123456789abcdef"



def test_a_browser_without_the_token_sees_only_the_login(browser, home, dev_team_file, monkeypatch):
    monkeypatch.setenv("STUDIO_TOKEN", TOKEN)
    proc, port = start_ui(home, "--team", str(dev_team_file), "--host", "127.0.0.1", "--token-env", "STUDIO_TOKEN")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        for path in ("", "runs"):  # the default page, and one asked for by its address
            page.goto(f"http://127.0.0.1:{port}/{path}", wait_until="networkidle")
            page.get_by_label("Token", exact=True).wait_for(timeout=60_000)
            page.wait_for_timeout(500)  # let anything else the server sends arrive
            text = page.inner_text("body")
            for secret in ("dev-team", "planner", "Build a team", "providers with a key", str(home)):
                assert secret not in text, (path, secret)
        field = page.get_by_label("Token", exact=True)
        field.fill("not-the-token-at-all-0000")
        field.press("Enter")
        page.get_by_text("That is not this studio's token.").wait_for(timeout=30_000)
        assert "dev-team" not in page.inner_text("body")
        field.fill(TOKEN)
        field.press("Enter")
        page.get_by_text("Build a team").first.wait_for(timeout=60_000)
        assert "dev-team" in page.inner_text("body")
    finally:
        stop_ui(proc)
