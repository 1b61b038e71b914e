"""The notebooks in notebooks/: each runs top to bottom, offline, and shows what its story promises.

Every notebook is executed with nbclient in a real kernel, with the notebook's folder as the working
directory and ``HUDDLE_HOME`` in this test's tmp folder (the kernel inherits the environment that
conftest's autouse fixture set). The checks read the cells' real outputs (cells are found by their
ids) and the run log the kernel wrote, including that every scripted reply was used, none left over.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from studio.bus.sqlite import RunLog, calls_per_sender

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
Cells = dict[str, nbformat.NotebookNode]


def execute(name: str) -> Cells:
    """Run the notebook top to bottom; its cells by id, with their outputs."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return {cell.id: cell for cell in nb.cells}


def text(cell: nbformat.NotebookNode) -> str:
    """What a cell printed, and the plain-text form of what it displayed."""
    return "".join(out["text"] if out["output_type"] == "stream" else out.get("data", {}).get("text/plain", "")
                   for out in cell.outputs)


def html(cell: nbformat.NotebookNode) -> str:
    """The HTML a cell displayed (a live view's latest update included)."""
    return "".join(out.get("data", {}).get("text/html", "") for out in cell.outputs)


def script_replies(model: str) -> dict[str, int]:
    """Replies per role in the script behind a ``scripted:PATH`` model (a relative path is the notebooks')."""
    path = Path(model.removeprefix("scripted:"))
    data = yaml.safe_load((path if path.is_absolute() else NOTEBOOKS / path).read_text(encoding="utf-8"))
    return {role: len(replies) for role, replies in data.items()}


def runs_of(home: Path) -> list:
    """The runs the notebook made, oldest first; each scripted one used every reply of its script exactly once."""
    log = RunLog(home / "runs.db")
    try:
        runs = list(reversed(log.runs()))
        for info in runs:
            assert info.status == "done", (info.run_id, info.error)
            assert info.model and info.model.startswith("scripted:"), info.model
            calls = {key: n for key, n in calls_per_sender(log.messages(info.run_id)).items() if n}
            assert calls == script_replies(info.model), \
                f"run {info.run_id} on {info.model} did not use its script exactly"
        return runs
    finally:
        log.close()


def check_quickstart(cells: Cells, home: Path) -> None:
    assert "<svg" in html(cells["build-team"]) and "Team leap-team" in html(cells["build-team"])
    assert "<p>done · " in html(cells["run"]) and "is_leap" in html(cells["run"])  # the live view, at its end
    assert "approved: True · stop reason: approved · tests: 4 passed, 0 failed" in text(cells["final"])
    assert "year % 400 == 0" in text(cells["final"])
    assert "calls=7" in text(cells["usage"])
    tokens = text(cells["dataframe"])
    assert all(re.search(rf"^{role}\s+[1-9]\d*\s+[1-9]\d*$", tokens, re.M)
               for role in ("orchestrator", "planner", "coder", "critic")), tokens
    assert "done · 11 messages" in html(cells["timeline"])
    assert "same messages: True" in text(cells["reload"])
    assert "Team dev-team" in html(cells["load"])
    runs = runs_of(home)
    assert [r.team for r in runs] == ["leap-team"]


def check_memory(cells: Cells, home: Path) -> None:
    assert "2 files, 4 chunks: 4 new, 0 already stored" in text(cells["ingest"])
    assert "{'knowledge': 4, 'episodes': 0, 'reflections': 0}" in text(cells["ingest"])
    hits = text(cells["search"]).splitlines()
    assert len(hits) == 3 and "conventions.md" in hits[0] and all("(user · external)" in h for h in hits)
    first = text(cells["first-memory"])
    assert re.search(r"critic · reflection r-[0-9a-f]{16}", first) and "orchestrator · decision   -" in first
    assert "{'knowledge': 4, 'episodes': 1, 'reflections': 1}" in text(cells["reflections"])
    lesson = re.search(r"critic: lesson → reflections (r-[0-9a-f]{16}): fizzbuzz: test the plain-number case",
                       text(cells["reflections"]))
    assert lesson, text(cells["reflections"])
    assert f"{lesson[1]}  " in text(cells["lesson-search"]) and "written by critic" in text(cells["lesson-search"])
    second = text(cells["second-memory"])
    assert f"the lesson {lesson[1]} was in the prompts of: coder, critic, planner" in second, second
    assert "code versions: 2 in the first run, 1 in the second; approved: True" in second
    first_run, second_run = runs_of(home)
    log = RunLog(home / "runs.db")
    try:  # the run log agrees with what the notebook printed
        assert any(lesson[1] in m.memory_ids for m in log.messages(second_run.run_id) if m.sender == "coder")
        assert not any(lesson[1] in m.memory_ids for m in log.messages(first_run.run_id) if m.kind != "reflection")
    finally:
        log.close()


def check_custom_role(cells: Cells, home: Path) -> None:
    assert text(cells["tester"]).strip() == "('tester', 'critic')"
    assert "tester → critic" in html(cells["team"])
    said = text(cells["tester-said"]).splitlines()
    assert said == ["review · revise: Only a value inside the range is tested. Add tests below low, above high "
                    "and on both boundaries.",
                    "review · approve: Inside, below, above and both boundaries are tested, and all pass."]
    ran = text(cells["executions"])
    assert re.search(r"OK: tests: 1 passed.*\nOK: tests: 3 passed", ran) and "def test_boundaries" in ran
    (run,) = runs_of(home)
    tester = run.spec["roles"][1]
    assert (tester["name"], tester["kind"], tester["acts_as"]) == ("tester", "tester", "critic")


def check_export(cells: Cells, home: Path) -> None:
    script = text(cells["script"])
    assert "def main(" in script and "def build_team() -> Team:" in script and 'memory={"enabled": False}' in script
    printed = text(cells["run-script"])
    assert printed.startswith("[user · task] Write fizzbuzz(n) with a test\n"), printed
    assert "[critic · review] APPROVE: Correct, and its test passes." in printed and "exit code 0" in printed
    assert "11 messages from the script, 11 from the notebook\nsame messages: True" in text(cells["compare"])
    exported = text(cells["notebook"])
    assert "fizzbuzz_team.ipynb" in exported and "code     team = Team(" in exported
    by_script, by_notebook = runs_of(home)  # the script's run went to the same run log
    assert by_script.team == by_notebook.team == "fizzbuzz-team" and by_script.run_id != by_notebook.run_id
    assert by_script.messages == by_notebook.messages == 11


def check_flows(cells: Cells, home: Path) -> None:
    assert text(cells["bon-team"]).strip() == "'done'"
    lines = text(cells["candidates"]).splitlines()
    assert [line[:11] for line in lines[:3]] == ["c1: FAILED:", "c2: OK: tes", "c3: FAILED:"]
    assert lines[3:] == ["chosen: c2, order ['c2', 'c1', 'c3']",
                         "The critic approved the code. Last run: ok (2 passed, 0 failed, exit 0)."]
    assert text(cells["approval-team"]).startswith("waiting after_plan\ns1. Write add(a, b) returning the sum")
    assert text(cells["approve-plan"]).startswith("waiting before_final\ndef add(a, b):\n    return a + b")
    assert '"""The sum of a and b."""' in text(cells["reject"]) and text(cells["reject"]).startswith("waiting")
    final = text(cells["approve-final"]).splitlines()
    assert final[0] == "done · The critic approved the code. Last run: ok (1 passed, 0 failed, exit 0)."
    assert [line.strip() for line in final[1:]] == [
        "after_plan: requested", "after_plan: approved", "before_final: requested",
        "before_final: rejected (Add a docstring)", "before_final: requested", "before_final: approved"]
    assert [r.team for r in runs_of(home)] == ["fizz-search", "careful-team"]


def check_optimize(cells: Cells, home: Path) -> None:
    search = text(cells["search"])
    start, chosen = (int(n.replace(",", "")) for n in re.findall(r"at ([\d,]+)", search))
    assert "start 4/4" in search and "chosen 4/4" in search and chosen < start, search
    held = text(cells["held-out"])
    assert re.search(r"^chosen\s+4/4 passed", held, re.M) and re.search(r"^start\s+4/4 passed", held, re.M), held
    assert "sample-vote" in held and "single-call" in held
    assert "-  candidates: 8" in text(cells["diff"]) and "best_of_n" in text(cells["diff"])
    assert "image/png" in cells["chart"].outputs[0]["data"]
    log = RunLog(home / "runs.db")
    try:
        assert len(log.runs(limit=1000)) > 8  # the search's runs and the held-out grading's, in the run log
    finally:
        log.close()


CHECKS: dict[str, Callable[[Cells, Path], None]] = {
    "flows_and_approval.ipynb": check_flows,
    "quickstart.ipynb": check_quickstart,
    "memory_and_reflection.ipynb": check_memory,
    "custom_role.ipynb": check_custom_role,
    "export.ipynb": check_export,
    "optimize.ipynb": check_optimize,
}


def test_every_notebook_has_its_checks():
    assert NAMES == sorted(CHECKS)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_shows_its_story(name, home):
    CHECKS[name](execute(name), home)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: cell {cell.id} has outputs"
            assert "execution" not in cell.metadata, f"{name}: cell {cell.id} keeps execution timings"


def test_every_script_is_used_by_a_notebook():
    sources = "".join(json.dumps(nbformat.read(NOTEBOOKS / n, as_version=4).cells) for n in NAMES)
    for script in sorted((NOTEBOOKS / "scripts").glob("*.yaml")):
        assert f"scripts/{script.name}" in sources, f"{script.name} is used by no notebook"


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_ruff_passes_on_the_notebooks():
    done = ruff("notebooks/")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_lints_notebook_cells(tmp_path):
    """The check above means something: ruff reads the code in .ipynb cells, with the repository's rules."""
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\n")])
    nbformat.write(bad, tmp_path / "bad.ipynb")
    done = ruff("--config", str(ROOT / "pyproject.toml"), str(tmp_path / "bad.ipynb"))
    assert done.returncode == 1 and "F401" in done.stdout, done.stdout + done.stderr
