"""``huddle optimize TEAM_FILE TASKS.jsonl -o BETTER.yaml``: search edits of a team on the user's tasks.

Exit codes: 0 when the search ran and the report is written, 2 for a user error found before
it starts (team file, task file with fewer than four tasks, model, a budget of zero or less,
``--prefer``, ``--split``, a journal in ``--out`` from another search), 1 when something crashed
mid-way, 130 on Ctrl-C: every grade made is in the journal, and the same command resumes.
"""

from __future__ import annotations

from pathlib import Path

import typer

from studio.batch.cluster import LOCAL
from studio.cli._common import EXIT_INTERRUPTED, EXIT_TERMINATED, fail, sigterm_as_ctrl_c
from studio.cli.eval import _prepare, _user_errors

__all__ = ["optimize_command"]


def _checked(budget_tokens: int | None, budget_hours: float | None, prefer: str, split: float) -> None:
    from studio.optimize.front import PREFER

    if budget_tokens is None and budget_hours is None:
        fail("give a budget: --budget-tokens N (tokens the search may spend) or --budget-hours H")
    if budget_tokens is not None and budget_tokens < 1:
        fail(f"--budget-tokens: expected a number of tokens above 0, got {budget_tokens}")
    if budget_hours is not None and budget_hours <= 0:
        fail(f"--budget-hours: expected a number of hours above 0, got {budget_hours}")
    if prefer not in PREFER:
        fail(f"--prefer: expected one of {', '.join(PREFER)}, got {prefer!r}")
    if not 0 < split < 1:
        fail(f"--split: expected the search split's share of the tasks, between 0 and 1 (e.g. 0.5), got {split}")


def optimize_command(
    team_file: Path = typer.Argument(..., metavar="TEAM_FILE", help="The starting team (YAML or JSON)."),
    tasks_file: Path = typer.Argument(..., metavar="TASKS.jsonl", help="Your tasks with hidden tests (as huddle "
                                                                       "eval reads them), at least 4."),
    output: Path = typer.Option(..., "--output", "-o", metavar="BETTER.yaml", help="Where to write the chosen team."),
    budget_tokens: int | None = typer.Option(None, "--budget-tokens", metavar="N",
                                             help="Tokens the search may spend (the held-out grading is extra)."),
    budget_hours: float | None = typer.Option(None, "--budget-hours", metavar="H",
                                              help="Hours of grading the search may spend."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model for every role (and the baselines)."),
    split: float = typer.Option(0.5, "--split", help="The search split's share of the tasks; the rest is held out."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the search."),
    prefer: str = typer.Option("balanced", "--prefer", help="The point of the front to choose: accuracy, cost or "
                                                            "balanced."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the journal and the report (default: next to "
                                                        "--output, BETTER.optimize/)."),
    compare: list[Path] | None = typer.Option(None, "--compare", metavar="TEAM_FILE",
                                              help="Also grade this team on the held-out split (repeatable)."),
    ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                   help="Grade each rung's tasks at once on Ray (alone: a local instance)."),
) -> None:
    """Search edits of TEAM_FILE on part of TASKS.jsonl; write the chosen team and a report.

    The tasks are split in two: the search grades teams on one part only; the chosen team is graded once on
    the other (held-out) part, beside the starting team, a single call and sample-vote at its budget. Every
    grade goes to a journal in --out: stopped (Ctrl-C, a crash, the budget), the same command resumes.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from studio.optimize import MIN_TASKS, OptimizeError, optimize
    from studio.spec import dump_spec, load_spec

    _checked(budget_tokens, budget_hours, prefer, split)
    try:
        spec, tasks, gateway, _ = _prepare(team_file, tasks_file, model, ("single-call",), None, ray)
        others = {path.stem: load_spec(path) for path in compare or []}
    except _user_errors() as exc:
        fail(str(exc))
    if len(tasks) < MIN_TASKS:
        fail(f"{tasks_file}: {len(tasks)} task(s); a search needs at least {MIN_TASKS} (two to search on, two held "
             "out)")
    folder = out or output.with_suffix(".optimize")
    console = Console(stderr=True)
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.fields[spent]}"), TimeElapsedColumn(), console=console, transient=True)
    by_tokens = budget_tokens is not None
    total = float(budget_tokens) if budget_tokens is not None else float(budget_hours or 0) * 3600
    bar = progress.add_task("grading the starting team…", total=total, spent="")
    state = {"graded": 0, "generation": 0, "tokens": 0, "seconds": 0.0}

    def event(kind: str, **info) -> None:
        if kind == "graded":
            state["graded"] += 1
            state["tokens"] += info["tokens"]
            state["seconds"] += info["seconds"]
            spent = state["tokens"] if by_tokens else state["seconds"]
            progress.update(bar, completed=min(total, spent),
                            spent=f"{state['tokens']:,} tokens" if by_tokens else f"{state['seconds'] / 3600:.2f} h")
        elif kind == "generation":
            state["generation"] = info["number"]
            console.print(f"generation {info['number']}: " + "; ".join(info["proposals"]), highlight=False)
        elif kind == "rejected":
            console.print(f"skipped (invalid): {info['change']}: {'; '.join(info['problems'])}", highlight=False)
        if kind in ("task", "held_out"):
            what = (f"held-out: {info['team']} on {info['task']}" if kind == "held_out" else
                    f"gen {state['generation']} · {info['change'][:50]} · rung {info['rung']} · {info['task']}")
            progress.update(bar, description=f"{what} · {state['graded']} graded")

    try:
        with sigterm_as_ctrl_c() as terminated, progress:  # a long search often runs in the background
            report = optimize(spec, tasks, folder, model=model, split=split, seed=seed, budget_tokens=budget_tokens,
                              budget_hours=budget_hours, prefer=prefer,
                              ray=False if ray is None else (True if ray == LOCAL else ray), compare=others,
                              gateway=gateway, on_event=event)
    except KeyboardInterrupt:
        how = "stopped by SIGTERM" if terminated else "interrupted"
        grades = f"{state['graded']} grade" + ("" if state["graded"] == 1 else "s")
        typer.echo(f"{how} after {grades}: they are in {folder / 'journal.jsonl'}; run the same command to resume",
                   err=True)
        raise typer.Exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED) from None
    except OptimizeError as exc:
        fail(str(exc))
    except _user_errors() as exc:
        fail(str(exc))
    except Exception as exc:  # a bug: say where, keep what was graded
        typer.echo(f"error: the search crashed: {type(exc).__name__}: {exc}; the {state['graded']} grades made are "
                   f"in {folder / 'journal.jsonl'}, and the same command resumes", err=True)
        raise typer.Exit(1) from None
    output.write_text(f"# Chosen by huddle optimize from {team_file} ({report.chosen.change}); report: "
                      f"{report.paths['report']}\n" + dump_spec(report.team, minimal=True), encoding="utf-8")
    console = Console()
    console.print(report.markdown().split("## The front")[0].strip(), highlight=False)
    console.print(f"\nwrote {output}; report {report.paths['report']}, front {report.paths['chart']}, "
                  f"journal {report.paths['journal']}", highlight=False)
