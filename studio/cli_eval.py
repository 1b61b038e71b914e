"""``huddle eval``: run a team on tasks with hidden tests, optionally against a single model call.

Exit codes: 0 when the evaluation ran (whatever the pass rate), 2 for a user
error found before it starts (team file, task file, model, ``--limit``,
``--baseline``), 1 when something crashed mid-way, 130 on Ctrl-C. Each stop
says how far it got.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["eval_command"]

BASELINES = ("single-call",)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _user_errors() -> tuple[type[BaseException], ...]:
    from memory.embedder import EmbedderError
    from memory.items import MemoryStoreError
    from sandbox import SandboxError
    from studio.eval import EvalError
    from studio.llm import ModelConfigError
    from studio.scripted import ScriptError
    from studio.spec import SpecError

    return SpecError, EvalError, ModelConfigError, ScriptError, EmbedderError, MemoryStoreError, SandboxError


def _prepare(team_file: Path, tasks_file: Path, model: str | None, baseline: str | None, limit: int | None):
    """Everything checked before the first run: (spec, tasks, gateway, baseline model or None)."""
    from studio.eval import baseline_model, load_tasks
    from studio.llm import Gateway, check_model
    from studio.spec import load_spec

    if baseline is not None and baseline not in BASELINES:
        _fail(f"--baseline: expected {' or '.join(BASELINES)} (one plain model call per task), got {baseline!r}")
    if limit is not None and limit < 1:
        _fail(f"--limit: expected a number of tasks of at least 1, got {limit}")
    spec = load_spec(team_file)
    tasks = load_tasks(tasks_file)[:limit]
    base = baseline_model(spec, model) if baseline else None
    gateway = Gateway(spec.defaults.max_concurrency, limits=spec.defaults.providers)
    for name in sorted({spec.model_for(r.name, model) for r in spec.roles} | ({base} if base else set())):
        check_model(name)
        if name.startswith("scripted:"):
            gateway.script(name)  # a broken script file is the user's to fix, before anything runs
    return spec, tasks, gateway, base


def _mark(result) -> str:
    return "[green]pass[/]" if result.passed else "[red]fail[/]"


def _table(report):
    from rich import box
    from rich.table import Table

    with_base = report.baseline_model is not None
    table = Table("task", "team", "attempts", "tokens", "cost", "seconds", box=box.SIMPLE_HEAD)
    if with_base:
        for name in ("baseline", "b. tokens", "b. seconds"):
            table.add_column(name)
    for team, base in report.pairs():
        row = [team.task_id, _mark(team), str(team.attempts), f"{team.tokens:,}", f"${team.cost_usd:.4f}",
               f"{team.seconds:.1f}"]
        table.add_row(*row, *([_mark(base), f"{base.tokens:,}", f"{base.seconds:.1f}"] if base else []))
    s = report.summary()
    table.add_section()
    attempts = sum(t.attempts for t, _ in report.pairs())
    table.add_row("[bold]total[/]", f"{s['team_passed']}/{s['total']}", str(attempts), f"{s['team_tokens']:,}",
                  f"${s['team_cost_usd']:.4f}", f"{s['team_seconds']:.1f}",
                  *([f"{s['baseline_passed']}/{s['total']}", f"{s['baseline_tokens']:,}",
                     f"{s['baseline_seconds']:.1f}"] if with_base else []))
    return table


def _print_report(console, report) -> None:
    from rich.markup import escape

    console.print(_table(report))
    for team, base in report.pairs():
        for result in (team, base):
            if result is not None and not result.passed:
                console.print(f"[red]✗[/] {escape(result.task_id)} ({result.system}): {escape(result.reason)}",
                              highlight=False)
    s = report.summary()
    if not s["total"]:
        return
    line = f"team {s['team_passed']}/{s['total']} ({s['team_pass_rate']:.0%})"
    if s["baseline_passed"] is not None:
        ratio = f"{s['ratio']:.2f}× the baseline's pass rate" if s["ratio"] is not None else \
            "ratio n/a (the baseline passed none)"
        line += f" · single call {s['baseline_passed']}/{s['total']} ({s['baseline_pass_rate']:.0%}) · {ratio}"
    console.print(f"[bold]{line}[/]", highlight=False)


def eval_command(
    team_file: Path = typer.Argument(..., metavar="TEAM_FILE", help="Team spec (YAML or JSON)."),
    tasks_file: Path = typer.Argument(..., metavar="TASKS.jsonl",
                                      help="One task a line: {id, prompt, entry_point, tests}."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model for every role (and the baseline): a "
                                                                 "litellm string, local/smollm2 or scripted:PATH."),
    baseline: str | None = typer.Option(None, "--baseline", help="Also run a baseline on each task: single-call "
                                                                  "(one plain call to the same model)."),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Only the first N tasks."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per task, then the summary."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write results.jsonl and chart.png to this folder."),
) -> None:
    """Run TEAM_FILE on every task of TASKS.jsonl and grade its code on the task's hidden tests.

    The team sees only each prompt. Exit 0 when the evaluation ran, whatever the pass rate.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from studio.eval import EvalReport, evaluate, write_outputs

    try:
        spec, tasks, gateway, base = _prepare(team_file, tasks_file, model, baseline, limit)
    except _user_errors() as exc:
        _fail(str(exc))
    report = EvalReport(spec.name, model, base)
    console = Console(stderr=json_out)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[score]}"), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True)
    bar = progress.add_task("starting…", total=len(tasks), score="")

    def started(task, system) -> None:
        done = len(report.pairs())
        progress.update(bar, description=f"task {done + 1}/{len(tasks)} {task.id} ({system})")

    def finished(result) -> None:
        report.results.append(result)
        if result.system != ("baseline" if base else "team"):
            return
        s = report.summary()
        score = f"passed: team {s['team_passed']}" + (f", baseline {s['baseline_passed']}" if base else "")
        progress.update(bar, advance=1, score=score)
        if json_out:
            typer.echo(json.dumps(report.task_objects()[-1]))

    code = 0
    try:
        with progress:
            evaluate(spec, tasks, model, baseline=base is not None, on_result=finished, on_start=started,
                     gateway=gateway)
    except KeyboardInterrupt:
        code = 130
    except _user_errors() as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 2
    except Exception as exc:  # a bug: say where, keep what was done
        typer.echo(f"error: the evaluation crashed: {type(exc).__name__}: {exc}", err=True)
        code = 1
    finished_tasks = len(report.pairs())
    if json_out:
        typer.echo(json.dumps({**report.summary(), "complete": not code}))
    elif finished_tasks or not code:
        _print_report(console, report)
    if code:
        typer.echo(f"{'interrupted' if code == 130 else 'stopped'} after {finished_tasks} of {len(tasks)} tasks",
                   err=True)
        raise typer.Exit(code)
    if out is not None:
        paths = write_outputs(report, out)
        for name, path in paths.items():
            typer.echo(f"{name}: {path}", err=json_out)
