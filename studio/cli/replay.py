"""``huddle replay``, ``huddle runs export-cassette`` and ``huddle runs fork``: recorded runs run again.

Exit codes of ``huddle replay``: 0 when the replay is the recording (same transcript, no model call), 1 when it
diverged or its transcript differs (drift), 2 for bad input (no such run or file, a truncated cassette, another
team's cassette).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from studio.cli._common import fail, user_errors

__all__ = ["export_cassette_command", "fork_command", "replay_command"]

EXIT_DRIFT = 1
"""Exit code of ``huddle replay`` (and ``huddle test``) when the replay is not the recording."""


def _errors() -> tuple[type[BaseException], ...]:
    from studio.replay import CassetteError

    return (*user_errors(), CassetteError)


def replay_command(
    source: str = typer.Argument(..., help="A run id (a unique prefix is enough) or a cassette file."),
    team: Path | None = typer.Option(None, "--team", "-t", help="Replay this (changed) team file instead of the "
                                     "recorded spec: the replay stops at the first call it asks differently."),
    live: bool = typer.Option(False, "--live-from-divergence", help="Go on from the first divergent call with a "
                              "real model (--model), as a new run kept in the run log."),
    model: str | None = typer.Option(None, "--model", "-m", help="The model for --live-from-divergence."),
    keep: bool = typer.Option(False, "--keep", help="Keep the replayed run in the run log (for huddle runs diff)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object: same, served calls, divergence."),
) -> None:
    """Run a recorded run's team again, every call served from its cassette (exit 1 when it is not the recording).

    Every model call, tool, sandbox run and memory search is served: no model call, no cost, the same transcript.
    """
    from studio.replay import replay, request_diff
    from studio.spec import load_spec

    if live and not model:
        fail("--live-from-divergence needs --model MODEL (the model to go on with)")
    started = time.perf_counter()
    try:
        spec = load_spec(team) if team is not None else None
        outcome = replay(source, spec=spec, live_model=model if live else None, keep=keep)
    except _errors() as exc:
        fail(str(exc))
    seconds = time.perf_counter() - started
    diverged = outcome.diverged
    report = {"source": outcome.recording.source, "team": outcome.recording.team, "same": outcome.same,
              "served": outcome.served, "seconds": round(seconds, 4), "run_id": outcome.result.run_id or None,
              "status": outcome.result.status, "recorded_status": outcome.recording.status,
              "differences": outcome.differences,
              "diverged": None if diverged is None else {"role": diverged.key, "call": diverged.index + 1,
                                                         "diff": request_diff(diverged)}}
    if json_out:
        typer.echo(json.dumps(report))
    else:
        _print(report, live)
    if not outcome.same and not (live and diverged is not None):
        raise typer.Exit(EXIT_DRIFT)


def _print(report: dict, live: bool) -> None:
    from rich.console import Console
    from rich.syntax import Syntax

    console = Console(soft_wrap=True)
    where = f"{report['team']} · {report['source']}"
    if report["diverged"] is not None:
        d = report["diverged"]
        console.print(f"[bold red]diverged[/] {where}: {d['role']}'s model call {d['call']} asks something the "
                      "recording did not", highlight=False)
        if d["diff"]:
            console.print(Syntax(d["diff"], "diff", word_wrap=True))
        if live:
            console.print(f"went on live from there: run {report['run_id']} · {report['status']}", highlight=False)
        return
    if report["same"]:
        console.print(f"[bold green]same[/] {where}: {report['served']} calls served, no model call, "
                      f"{report['seconds'] * 1000:.0f} ms · {report['status']}", highlight=False)
        return
    console.print(f"[bold red]differs[/] {where}: status {report['recorded_status']} -> {report['status']}; "
                  f"messages differ at {', '.join(map(str, report['differences'])) or '-'}", highlight=False)


def export_cassette_command(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    out: Path = typer.Option(..., "--out", "-o", help="The cassette file to write (JSON lines)."),
) -> None:
    """Write a run's cassette (its messages and every call's request and response, secrets redacted)."""
    from studio.replay import recording_of_run, write_cassette

    try:
        recording = recording_of_run(run_id)
    except _errors() as exc:
        fail(str(exc))
    if not recording.calls:
        fail(f"run {recording.run_id} has no recorded calls (it was made before runs recorded them); run it again")
    path = write_cassette(recording, out)
    typer.echo(f"{path}: {len(recording.calls)} calls, {len(recording.messages)} messages of run "
               f"{recording.run_id} ({recording.team})")


def fork_command(
    run_id: str = typer.Argument(..., help="The run to fork (a unique prefix is enough)."),
    at: str = typer.Option(..., "--at", help="The message to fork at (its id or a unique prefix): it and the "
                           "messages before it are kept as they are, served from the run's cassette."),
    model: str | None = typer.Option(None, "--model", "-m", help="The model for the rest (the run's by default)."),
    sets: list[str] | None = typer.Option(None, "--set", help="Change the team for the rest: PATH=VALUE, e.g. "
                                          "roles.coder.instructions='Be brief' (repeatable)."),
) -> None:
    """Start a new run that keeps a run's messages up to one, then goes on live with a change."""
    from rich.console import Console

    from studio.render import print_message
    from studio.replay import fork_run, parse_sets, recording_of_run
    from studio.spec import parse_spec

    console = Console(soft_wrap=True)
    try:
        parent = recording_of_run(run_id)
        spec = parse_sets(parse_spec(parent.spec, parent.source), sets or [])
        result = fork_run(parent, at, model=model, spec=spec, on_message=lambda m: print_message(console, m))
    except _errors() as exc:
        fail(str(exc))
    console.print(f"run {result.run_id} · {result.status} · forked from {parent.run_id} at {at}", highlight=False)
    console.print(f"compare them:  huddle runs diff {parent.run_id} {result.run_id}", highlight=False)
