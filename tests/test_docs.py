"""Every ```python block in docs/*.md and README.md runs, offline, against the scripted model.

The blocks of one page share a namespace and run in order, as a reader would paste them into one
notebook. They run in a working directory of their own (with ``examples/``, ``benchmarks/`` and
``docs/``, ``notebooks/`` linked in, so the paths the docs use resolve and what a block writes stays out of the
repository) and in this test's ``HUDDLE_HOME`` (conftest's autouse fixture), with the network guard on.

A block that cannot run here, because it needs a real provider key or a server, carries an HTML
comment on the line before its fence: ``<!-- no-run: why -->``. The reason is required.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```(\S*)\s*$")
NO_RUN = re.compile(r"^<!-- no-run: (.+?) -->$")
LINKED = ("examples", "benchmarks", "docs", "notebooks")


def python_blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """The page's ```python blocks: (line of the opening fence, code, no-run reason or None)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```")
        if opening.group(1) == "python":
            marker = NO_RUN.match(lines[i - 1]) if i else None
            blocks.append((i + 1, "\n".join(lines[i + 1:end]) + "\n", marker.group(1) if marker else None))
        i = end + 1
    return blocks


def run_block(code: str, where: str, first_line: int, namespace: dict) -> None:
    """Run one block in ``namespace``; a top-level ``await`` works as in Jupyter."""
    source = "\n" * first_line + code  # tracebacks give the page's own line numbers
    compiled = compile(source, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if compiled.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(compiled, namespace))
    else:
        exec(compiled, namespace)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    monkeypatch.chdir(folder)
    return folder


def test_pages_are_found():
    assert len(PAGES) > 10
    assert sum(len(python_blocks(page)) for page in PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_python_blocks_run(page: Path, workdir: Path, capsys):
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for line, code, no_run in python_blocks(page):
        if no_run is None:
            run_block(code, f"{page.relative_to(ROOT)}", line, namespace)
    capsys.readouterr()


def test_no_run_is_rare():
    """Skipping a block is for blocks that need a provider key or a server, and must say which."""
    skipped = [(page.name, line, why) for page in PAGES for line, _, why in python_blocks(page) if why]
    assert len(skipped) <= 3, skipped
    assert all(re.search(r"key|server|cluster", why) for _, _, why in skipped), skipped


def test_readme_links_point_to_docs_pages():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)", text)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, missing
    assert len(text.splitlines()) <= 300


def test_readme_team_file_is_valid():
    """The README's ten-line team file is a valid team spec."""
    from studio.spec import parse_spec

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    files = [block for block in re.findall(r"^```yaml\n(.*?)^```$", text, re.M | re.S) if "roles:" in block]
    assert files
    for block in files:
        assert len(block.splitlines()) <= 10
        parse_spec(yaml.safe_load(block))


def test_site_builds_strict(tmp_path):
    """``make docs``: the site builds with ``--strict`` (links, anchors, nav, the API pages' docstrings)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "api" / "studio-api" / "index.html").exists()
    assert "fonts.googleapis" not in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
