"""``huddle sandbox``: see how well this machine isolates model-written code, and run a file the way a team would.

``--team`` takes a team file whose ``sandbox`` settings (limits, network) are
used; the defaults otherwise.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import typer

from studio.cli._common import fail

app = typer.Typer(help="The sandbox the coder's code runs in: check isolation, run a file.", no_args_is_help=True)

TEAM_HELP = "Team file (YAML/JSON) whose sandbox settings to use; the defaults when omitted."


def _settings(team: Path | None):
    from studio.spec import SandboxSpec, SpecError, load_spec

    if team is None:
        return SandboxSpec()
    try:
        return load_spec(team).sandbox
    except SpecError as exc:
        fail(str(exc))


def _result_dict(result) -> dict:
    return {"ok": result.ok, "exit_code": result.exit_code, "limit": result.limit, "passed": result.passed,
            "failed": result.failed, "duration_ms": round(result.duration_s * 1000, 1),
            "peak_memory_mb": result.peak_memory_mb, "network": result.network, "filesystem": result.filesystem,
            "processes_contained": result.processes_contained, "workspace": str(result.workspace),
            "stdout": result.stdout, "stderr": result.stderr,
            "tests": [{"name": t.name, "ok": t.ok, "message": t.message} for t in result.tests or []]}


@app.command()
def check(
    team: Path | None = typer.Option(None, "--team", "-t", help=TEAM_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Run a trivial snippet and report which isolation this machine gives (network, filesystem, processes)."""
    import tempfile

    from rich.console import Console
    from rich.table import Table

    from sandbox import Sandbox, SandboxError

    spec = _settings(team).model_copy(update={"require_isolation": False})
    try:
        result = Sandbox(spec, tempfile.mkdtemp(prefix="huddle-check-")).run({"check.py": "pass\n"}, entry="check.py")
    except SandboxError as exc:
        fail(str(exc))
    rows = {
        "network": (result.network_isolated or spec.network,
                    {"cut": "cut off (own network namespace)", "tcp-blocked": "TCP blocked (Landlock)",
                     "open": "reachable" + (" (allowed by the team)" if spec.network else "")}[result.network]),
        "filesystem": (result.filesystem == "isolated", {
            "isolated": "a private root with only the interpreter, system folders (read-only) and the workspace; "
                        "Landlock on top",
            "private-root": "a private root, without Landlock (kernel older than 5.13)",
            "landlock": "Landlock only (no mount namespace): reads limited, writes only in the workspace",
            "open": "open: the code can read and write what your user can"}[result.filesystem]),
        "processes": (result.processes_contained,
                      "own PID namespace: nothing outlives a run" if result.processes_contained
                      else "process group only: a process that calls setsid() can outlive a run"),
        "start-up": (result.ok, f"{result.duration_s * 1000:.0f} ms for a trivial snippet"),
    }
    if json_out:
        typer.echo(json.dumps({**{k: {"ok": ok, "detail": d} for k, (ok, d) in rows.items()},
                               "platform": platform.platform(), "python": sys.version.split()[0]}))
        return
    table = Table("isolation", "", "detail", box=None, title=f"sandbox on {platform.platform()}", title_justify="left")
    for name, (ok, detail) in rows.items():
        table.add_row(name, "[green]✓[/]" if ok else "[yellow]![/]", detail)
    Console().print(table)
    if not all(ok for ok, _ in rows.values()):
        typer.echo("Some isolation is missing: set `sandbox: {enabled: false}` or run Huddle on Linux 5.13+ "
                   "with user namespaces and Landlock enabled.")


@app.command()
def run(
    file: Path = typer.Argument(..., help="Python file to run (as solution.py, so tests can import it)."),
    tests: list[Path] = typer.Option([], "--tests", help="Test file(s): test_* functions and assert lines."),
    team: Path | None = typer.Option(None, "--team", "-t", help=TEAM_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Run FILE in the sandbox with a team's limits (and its tests); exit 0 when it ran clean, 1 when not."""
    from rich.console import Console

    from sandbox import LIMIT_TEXT, Sandbox, SandboxError
    from studio.home import huddle_home
    from studio.safe_input import TEXT_BYTES, InputError, read_text

    spec = _settings(team)
    files = {}
    for path, name in [(file, "solution.py"), *((t, f"test_{i}_{t.name}") for i, t in enumerate(tests, 1))]:
        try:
            files[name] = read_text(path, TEXT_BYTES)
        except (OSError, InputError) as exc:
            fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        result = Sandbox(spec, huddle_home() / "workspaces" / "cli").run(
            files, entry="solution.py", tests=[n for n in files if n != "solution.py"], name=file.stem)
    except SandboxError as exc:
        fail(str(exc))
    if json_out:
        typer.echo(json.dumps(_result_dict(result)))
    else:
        console = Console()
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        for test in result.tests or []:
            console.print(f"[{'green' if test.ok else 'red'}]{'✓' if test.ok else '✗'}[/] {test.name}"
                          + (f"\n  {test.message}" if test.message else ""), highlight=False)
        if result.limit:
            console.print(f"[red]stopped:[/] {LIMIT_TEXT[result.limit]}")
        console.print(f"[dim]{result.summary()} · workspace {result.workspace}[/]", highlight=False)
    raise typer.Exit(0 if result.ok else 1)
