"""``huddle runs``: browse the run log (list, show)."""

from __future__ import annotations

import json

import typer

from studio.cli._common import fail, open_log
from studio.cli.replay import export_cassette_command, fork_command
from studio.cli.rundiff import diff_command

__all__ = ["app"]

app = typer.Typer(help="Browse past runs in the run log.", no_args_is_help=True)
app.command("diff")(diff_command)


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
    calls: bool = typer.Option(False, "--calls", help="The run's recorded calls instead (its cassette): each "
                               "model call, tool, sandbox run and memory search, with its request's hash."),
) -> None:
    """Show a run's messages in order (or, with --calls, the calls it recorded)."""
    log = open_log()
    info = log.get_run(run_id)
    if info is None:
        fail(f"no run {run_id!r} in the run log (or the prefix is ambiguous); see huddle runs list")
    if calls:
        _show_calls(log.calls(info.run_id), json_out)
        return
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


def _show_calls(records: list[dict], json_out: bool) -> None:
    if json_out:
        for record in records:
            typer.echo(json.dumps(record))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "kind", "who", "request hash", "outcome")
    for number, record in enumerate(records, 1):
        outcome = ("refused" if "refused" in record else "failed" if "failed" in record
                   else "served" if record.get("served") else "made")
        table.add_row(str(number), record["kind"], str(record.get("key", "")), str(record.get("hash", "")), outcome)
    Console().print(table if records else "no recorded calls (a run from before runs recorded them)")


app.command("export-cassette")(export_cassette_command)
app.command("fork")(fork_command)
