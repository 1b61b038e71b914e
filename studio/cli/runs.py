"""``huddle runs``: browse the run log (list, show)."""

from __future__ import annotations

import json

import typer

from studio.cli._common import fail, open_log

__all__ = ["app"]

app = typer.Typer(help="Browse past runs in the run log.", no_args_is_help=True)


@app.command("list")
def runs_list(
    json_out: bool = typer.Option(False, "--json", help="One JSON object per run."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many runs, newest first."),
) -> None:
    """List runs, newest first, with what each spent: tokens, dollars (when any) and working seconds."""
    from studio.llm.budget import working_seconds
    from studio.redact import redact_data

    log = open_log()
    # redacted, also runs stored before the redactor; seconds: the run's working time, from its log
    rows = [redact_data({**r.summary(), "seconds": round(working_seconds(log.messages(r.run_id)), 3)})
            for r in log.runs(limit)]
    if json_out:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    from rich.console import Console

    from studio.render import runs_table

    Console().print(runs_table(rows) if rows else "no runs yet: try huddle run examples/teams/dev_team.yaml …")


@app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    json_out: bool = typer.Option(False, "--json", help="The messages as JSON lines, as the run printed them."),
) -> None:
    """Show a run's messages in order."""
    log = open_log()
    info = log.get_run(run_id)
    if info is None:
        fail(f"no run {run_id!r} in the run log (or the prefix is ambiguous); see huddle runs list")
    messages = log.messages(info.run_id)
    from studio.render import print_json_line, print_message

    if json_out:
        for message in messages:
            print_json_line(message)
        return
    from rich.console import Console

    from studio.cli._budget import spent_lines

    console = Console()
    console.print(f"[bold]{info.team}[/] · run {info.run_id} · {info.status} · {info.created_at[:19]}")
    for line in spent_lines(info.spec, messages):
        console.print(f"[dim]{line}[/]", soft_wrap=True)
    for message in messages:
        print_message(console, message)
