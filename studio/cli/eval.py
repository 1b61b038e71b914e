"""``huddle eval``: run a team on tasks with hidden tests, optionally against baselines on the same model.

Exit codes: 0 when the evaluation ran (whatever the pass rate), 2 for a user
error found before it starts (team file, task file, model, ``--limit``,
``--baseline``, ``--budget-tokens``, ``--ray``), 1 when something crashed
mid-way, 130 on Ctrl-C. Each stop says how far it got.

``--budget-tokens N`` gives the team and every baseline the same token budget
on each task (see :func:`studio.eval.suite.evaluate`).

``--ray`` alone runs the tasks at once on a local Ray instance; ``--ray ADDRESS``
(``auto``, ``ray://head:10001``, ``head:6379``) on that cluster. Click options
cannot take an optional value, so :class:`EvalCommand` gives a bare ``--ray``
the value ``local`` before parsing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from typer.core import TyperCommand

from studio.batch.cluster import LOCAL, is_address
from studio.cli._common import fail
from studio.eval.report import BASELINES, baseline_names

__all__ = ["EvalCommand", "eval_command", "with_ray_value"]


def with_ray_value(args: list[str]) -> list[str]:
    """``args`` with ``local`` after each ``--ray`` that is not followed by a Ray address.

    Example:
        >>> with_ray_value(["--ray", "team.yaml", "tasks.jsonl", "--ray", "auto", "--json", "--ray"])
        ['--ray', 'local', 'team.yaml', 'tasks.jsonl', '--ray', 'auto', '--json', '--ray', 'local']
    """
    out: list[str] = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg == "--ray" and (i + 1 == len(args) or not is_address(args[i + 1])):
            out.append(LOCAL)
    return out


class EvalCommand(TyperCommand):
    """``huddle eval``, where ``--ray`` may stand alone (a local Ray instance) or take an address."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        """Parse as usual once a bare ``--ray`` has been given its local value."""
        return super().parse_args(ctx, with_ray_value(args))


def _user_errors() -> tuple[type[BaseException], ...]:
    from memory.embedder import EmbedderError
    from memory.items import MemoryStoreError
    from sandbox import SandboxError
    from studio.batch.cluster import RayUnavailable
    from studio.eval import EvalError
    from studio.llm import ModelConfigError
    from studio.llm.scripted import ScriptError
    from studio.spec import SpecError

    return (SpecError, EvalError, ModelConfigError, ScriptError, EmbedderError, MemoryStoreError, SandboxError,
            RayUnavailable)


def _baseline_names(given: list[str] | None) -> tuple[str, ...]:
    """The baselines of every ``--baseline`` (each one name or a comma-separated list), in order, once each."""
    try:
        return baseline_names(given or [])
    except ValueError:
        bad = next(n.strip() for g in given or [] for n in g.split(",") if n.strip() not in ("", *BASELINES))
        fail(f"--baseline: expected {', '.join(BASELINES)} (repeat --baseline or separate them with commas), "
              f"got {bad!r}")


def _prepare(team_file: Path, tasks_file: Path, model: str | None, baseline: tuple[str, ...], limit: int | None,
             ray: str | None = None, budget_tokens: int | None = None):
    """Everything checked before the first run: (spec, tasks, gateway, baseline model or None).

    With ``ray``, Ray is reached here too (started, for ``local``), so a wrong address is a user error.
    """
    from studio.eval import baseline_model, load_tasks
    from studio.llm import Gateway, check_model
    from studio.spec import load_spec

    if limit is not None and limit < 1:
        fail(f"--limit: expected a number of tasks of at least 1, got {limit}")
    if budget_tokens is not None and budget_tokens < 1:
        fail(f"--budget-tokens: expected a number of tokens per task of at least 1, got {budget_tokens}")
    spec = load_spec(team_file)
    tasks = load_tasks(tasks_file)[:limit]
    base = baseline_model(spec, model) if baseline else None
    gateway = Gateway(spec.defaults.max_concurrency, limits=spec.defaults.providers)
    for name in sorted({spec.model_for(r.name, model) for r in spec.roles} | ({base} if base else set())):
        check_model(name, api_base=spec.defaults.api_base)
        if name.startswith("scripted:"):
            gateway.script(name)  # a broken script file is the user's to fix, before anything runs
    if ray is not None:
        from studio.batch.cluster import connect

        to = os.environ.get("RAY_ADDRESS") if ray == LOCAL else ray
        typer.echo(f"connecting to Ray at {to}…" if to else "starting a local Ray instance…", err=True)
        connect(None if ray == LOCAL else ray)
    return spec, tasks, gateway, base


def _mark(result) -> str:
    return "[green]pass[/]" if result.passed else "[red]fail[/]"


def _stops_shown(report) -> bool:
    """Whether the table has a ``stopped`` column per system: a budget per task, or a run a budget stopped."""
    return report.budget_tokens is not None or any(r.budget_stop for r in report.results)


def _table(report):
    """One row per task, a column group per system, then a totals row.

    The team: pass/fail, attempts, tokens, cost, seconds; each baseline: pass/fail, tokens, seconds. With a
    budget, each system also ``stopped`` (``budget`` where the budget stopped it; the count in the totals).
    """
    from rich import box
    from rich.table import Table

    stops = _stops_shown(report)
    table = Table("task", "team", "attempts", "tokens", "cost", "seconds", *(["stopped"] if stops else []),
                  box=box.SIMPLE_HEAD)
    for name in report.baselines:
        for column in (name, "tokens", "seconds", *(["stopped"] if stops else [])):
            table.add_column(column)
    rows = report.rows()

    def stop(result) -> list[str]:
        return (["budget" if result.budget_stop else ""]) if stops else []

    for row in rows:
        team = row["team"]
        cells = [team.task_id, _mark(team), str(team.attempts), f"{team.tokens:,}", f"${team.cost_usd:.4f}",
                 f"{team.seconds:.1f}", *stop(team)]
        for name in report.baselines:
            cells += [_mark(row[name]), f"{row[name].tokens:,}", f"{row[name].seconds:.1f}", *stop(row[name])]
        table.add_row(*cells)
    s = report.summary()
    table.add_section()
    team = s["systems"]["team"]
    cells = ["[bold]total[/]", f"{team['passed']}/{s['total']}", str(sum(r["team"].attempts for r in rows)),
             f"{team['tokens']:,}", f"${team['cost_usd']:.4f}", f"{team['seconds']:.1f}",
             *([str(team["budget_stops"])] if stops else [])]
    for name in report.baselines:
        stats = s["systems"][name]
        cells += [f"{stats['passed']}/{s['total']}", f"{stats['tokens']:,}", f"{stats['seconds']:.1f}",
                  *([str(stats["budget_stops"])] if stops else [])]
    table.add_row(*cells)
    return table


def _closing_line(report) -> str:
    """Each system's pass rate, and the team's ratio to each baseline's."""
    s = report.summary()
    systems = s["systems"]
    parts = [f"team {systems['team']['passed']}/{s['total']} ({systems['team']['pass_rate']:.0%})"]
    for name in report.baselines:
        stats = systems[name]
        ratio = f"team {stats['ratio']:.2f}× its pass rate" if stats["ratio"] is not None else \
            "ratio n/a (it passed none)"
        parts.append(f"{name} {stats['passed']}/{s['total']} ({stats['pass_rate']:.0%}): {ratio}")
    if report.budget_tokens is not None:
        stopped = ", ".join(f"{name} {stats['budget_stops']}" for name, stats in systems.items())
        parts.append(f"budget {report.budget_tokens:,} tokens per task (stopped by it: {stopped})")
    return " · ".join(parts)


def _print_report(console, report) -> None:
    from rich.markup import escape

    console.print(_table(report))
    for row in report.rows():
        for result in row.values():
            if not result.passed:
                console.print(f"[red]✗[/] {escape(result.task_id)} ({result.system}): {escape(result.reason)}",
                              highlight=False)
    if report.rows():
        console.print(f"[bold]{escape(_closing_line(report))}[/]", highlight=False)


def eval_command(
    team_file: Path = typer.Argument(..., metavar="TEAM_FILE", help="Team spec (YAML or JSON)."),
    tasks_file: Path = typer.Argument(..., metavar="TASKS.jsonl",
                                      help="One task a line: {id, prompt, entry_point, tests}, or HumanEval / "
                                           "MBPP records as published (.jsonl or .jsonl.gz)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model for every role (and the baselines): a "
                                                                 "litellm string, local/smollm2 or scripted:PATH."),
    baseline: list[str] | None = typer.Option(
        None, "--baseline", metavar="NAME[,NAME]",
        help="Also run baselines on each task, on the coder's model (repeatable, or comma-separated): single-call "
             "(one plain call), sample-vote (samples within the team's tokens, the team's vote picks), retry "
             "(samples until one passes the task's example)."),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Only the first N tasks."),
    budget_tokens: int | None = typer.Option(
        None, "--budget-tokens", metavar="N",
        help="The same token budget on each task for the team and every baseline: the team's run stops before a "
             "call that could pass it (graded on its best work so far), the single call's max_tokens is capped to "
             "fit, sample-vote and retry draw within N instead of the team's tokens."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per task, then the summary."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write results.jsonl and chart.png to this folder."),
    ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                   help="Run the tasks at once on Ray: alone, a local instance ($RAY_ADDRESS when "
                                        "set); with an address (auto, ray://HOST:10001, HOST:6379), that cluster."),
) -> None:
    """Run TEAM_FILE on every task of TASKS.jsonl and grade its code on the task's hidden tests.

    The team sees only each prompt. Exit 0 when the evaluation ran, whatever the pass rate. With --ray
    the tasks run at once on Ray workers; every run still lands in this machine's run log.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from studio.eval import EvalReport, evaluate, write_outputs

    names = _baseline_names(baseline)
    try:
        spec, tasks, gateway, base = _prepare(team_file, tasks_file, model, names, limit, ray, budget_tokens)
    except _user_errors() as exc:
        fail(str(exc))
    where = ""
    if ray is not None:
        from studio.batch.cluster import describe

        where = f"on Ray ({describe()})"
    report = EvalReport(spec.name, model, base, baselines=names, budget_tokens=budget_tokens)
    console = Console(stderr=json_out)
    if not console.is_terminal:  # a file or a pipe: the whole table, not one cut to 80 columns
        console = Console(stderr=json_out, width=240)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[score]}"), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True)
    bar = progress.add_task(where if ray is not None else "starting…", total=len(tasks), score="")

    def started(task, system) -> None:
        done = len(report.rows())
        progress.update(bar, description=f"task {done + 1}/{len(tasks)} {task.id} ({system})")

    def finished(result) -> None:
        report.results.append(result)
        if result.system != report.systems[-1]:
            return
        systems = report.summary()["systems"]
        score = "passed: " + ", ".join(f"{name} {stats['passed']}" for name, stats in systems.items())
        progress.update(bar, advance=1, score=score)
        if json_out:
            typer.echo(json.dumps(report.task_objects()[-1]))

    code = 0
    try:
        with progress:
            if ray is None:
                evaluate(spec, tasks, model, baseline=names, on_result=finished, on_start=started, gateway=gateway,
                         budget_tokens=budget_tokens)
            else:
                report.workers = evaluate(spec, tasks, model, baseline=names, on_result=finished,
                                          ray=True if ray == LOCAL else ray, budget_tokens=budget_tokens).workers
    except KeyboardInterrupt:
        code = 130
    except _user_errors() as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 2
    except Exception as exc:  # a bug: say where, keep what was done
        typer.echo(f"error: the evaluation crashed: {type(exc).__name__}: {exc}", err=True)
        code = 1
    order = {task.id: i for i, task in enumerate(tasks)}  # on Ray, tasks finish in any order
    report.results.sort(key=lambda r: (order[r.task_id], report.systems.index(r.system)))
    finished_tasks = len(report.rows())
    if json_out:
        typer.echo(json.dumps({**report.summary(), "complete": not code}))
    elif finished_tasks or not code:
        _print_report(console, report)
        if report.workers:
            count = len(report.workers)
            console.print(f"ran {where}: {count} worker process{'es' * (count != 1)}", highlight=False)
    if code:
        typer.echo(f"{'interrupted' if code == 130 else 'stopped'} after {finished_tasks} of {len(tasks)} tasks",
                   err=True)
        raise typer.Exit(code)
    if out is not None:
        paths = write_outputs(report, out)
        for name, path in paths.items():
            typer.echo(f"{name}: {path}", err=json_out)
