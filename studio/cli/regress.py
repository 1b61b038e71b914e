"""``huddle test TEAM_FILE CASSETTE_DIR``: replay every recorded run in a folder against the team, fail on drift.

Each ``*.jsonl`` cassette under the folder (sub-folders too) is replayed with every call served from it (no model,
no cost; see :mod:`studio.testing`). A table shows each cassette (calls served, status, milliseconds, verdict),
then what drifted and a summary.

Exit codes: 0 when every cassette replays as recorded (and, with ``--tests``, passes its tests); 1 on drift (a
changed request: the role, the call and the request diff; a changed outcome; failing tests); 2 for bad input (no
such folder, no cassette in it, a cassette that is truncated, not a cassette, or from another team), checked
before anything is replayed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from studio.cli._common import fail, user_errors

__all__ = ["EXIT_DRIFT", "test_command"]

EXIT_DRIFT = 1
"""Exit code of ``huddle test`` when a cassette drifted (or, with ``--tests``, fails its tests)."""


def _errors() -> tuple[type[BaseException], ...]:
    from studio.eval import EvalError
    from studio.replay import CassetteError

    return (*user_errors(), CassetteError, EvalError)


def test_command(
    team_file: Path = typer.Argument(..., help="The team file as it is now (YAML or JSON)."),
    cassette_dir: Path = typer.Argument(..., help="A folder of cassettes (*.jsonl, sub-folders too), written "
                                        "by `huddle runs export-cassette RUN -o FILE`."),
    tests: bool = typer.Option(False, "--tests", help="Also fail when a replayed outcome fails its tests: the "
                               "hidden tests of --tasks, else what the run's final carries."),
    tasks_file: Path | None = typer.Option(None, "--tasks", help="An eval task file (as for `huddle eval`) "
                                           "whose hidden tests grade the cassettes with the same task prompt; "
                                           "implies --tests. Keep it outside CASSETTE_DIR."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object: each cassette and the summary."),
) -> None:
    """Replay every cassette in CASSETTE_DIR against TEAM_FILE; exit 1 when one drifted, 0 when none did.

    Drift is a changed request (a role's model call asks something else: the role, the call number and the
    request diff are shown), a changed outcome (status, final or transcript), or with --tests an outcome that
    fails its tests. Nothing calls a model: every response is served from the cassette.
    """
    from studio.eval import load_tasks
    from studio.spec import load_spec
    from studio.testing import check_cassette, find_cassettes, load_cassettes

    started = time.perf_counter()
    try:
        spec = load_spec(team_file)
        tasks = load_tasks(tasks_file) if tasks_file is not None else []
        paths = find_cassettes(cassette_dir)
        recordings = load_cassettes(paths, spec)
        checks = [check_cassette(r, spec, tests=tests or tasks_file is not None, tasks=tasks) for r in recordings]
    except _errors() as exc:
        fail(str(exc))
    seconds = time.perf_counter() - started
    names = [_name(p, cassette_dir) for p in paths]
    report = _report(spec.name, names, checks, seconds)
    if json_out:
        typer.echo(json.dumps(report))
    else:
        _print(report)
    if not report["passed"]:
        raise typer.Exit(EXIT_DRIFT)


def _name(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def _report(team: str, names: list[str], checks: list[Any], seconds: float) -> dict[str, Any]:
    rows = []
    for name, check in zip(names, checks, strict=True):
        d = check.outcome.diverged
        rows.append({
            "cassette": name, "run_id": check.recording.run_id, "ok": check.ok, "verdict": check.verdict,
            "served": check.outcome.served, "calls": len(check.recording.calls),
            "status": check.outcome.result.status, "recorded_status": check.recording.status,
            "ms": round(check.ms, 1), "problems": check.problems,
            "diverged": None if d is None else {"role": d.key, "call": d.index + 1, "diff": check.diff},
            "tests": None if check.grade is None else {"passed": check.grade.passed, "graded_by": check.grade.how,
                                                       "detail": check.grade.detail},
        })
    failed = sum(not r["ok"] for r in rows)
    return {"team": team, "passed": not failed, "cassettes": rows,
            "summary": {"cassettes": len(rows), "passed": len(rows) - failed, "failed": failed,
                        "served": sum(r["served"] for r in rows), "seconds": round(seconds, 3)}}


def _print(report: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.table import Table

    console = Console()
    table = Table("cassette", "calls served", "status", "ms", "result", box=box.SIMPLE_HEAD,
                  title=f"huddle test · {report['team']}", title_justify="left")
    for row in report["cassettes"]:
        status = row["status"] if row["status"] == row["recorded_status"] else \
            f"{row['recorded_status']} -> {row['status']}"
        mark = "[green]pass[/]" if row["ok"] else f"[red]{row['verdict']}[/]"
        table.add_row(row["cassette"], f"{row['served']}/{row['calls']}", status, f"{row['ms']:.0f}", mark)
    console.print(table)
    for row in report["cassettes"]:
        if row["ok"]:
            continue
        console.print(f"[bold red]{row['verdict']}[/] {row['cassette']} (run {row['run_id']})", highlight=False)
        for problem in row["problems"]:
            console.print(f"  {problem}", highlight=False, markup=False)
        if row["diverged"] and row["diverged"]["diff"]:
            console.print(Syntax(row["diverged"]["diff"], "diff", word_wrap=True))
    s = report["summary"]
    verdict = "[bold green]passed[/]" if report["passed"] else "[bold red]failed[/]"
    console.print(f"{verdict}: {s['passed']} of {s['cassettes']} cassettes pass; {s['served']} calls served, "
                  f"no model call, {s['seconds']:.2f} s", highlight=False)
