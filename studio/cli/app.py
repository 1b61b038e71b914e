"""The ``huddle`` command line.

Heavy modules (litellm, langgraph, llama.cpp) are imported inside the commands
so that ``huddle --help`` answers at once. User mistakes exit with code 2 and a
message that says what to fix; a run that fails exits 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from studio.cli._common import (
    EXIT_BUDGET,
    EXIT_INTERRUPTED,
    EXIT_UNSOLVED,
    EXIT_USER,
    fail,
    user_errors,
)
from studio.cli._exit import leave_interrupted
from studio.cli._root import RootGroup, root
from studio.cli.eval import EvalCommand, eval_command
from studio.cli.export import export
from studio.cli.gc import gc
from studio.cli.mcp import app as mcp_app
from studio.cli.memory import app as memory_app
from studio.cli.optimize import optimize_command
from studio.cli.regress import test_command
from studio.cli.replay import replay_command
from studio.cli.runs import app as runs_app
from studio.cli.sandbox import app as sandbox_app
from studio.cli.teams_new import teams_new_command
from studio.cli.ui import ui

app = typer.Typer(help="Huddle: run teams of LLM agents from the command line.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, cls=RootGroup)
teams_app = typer.Typer(help="Work with team spec files.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(teams_app, name="teams")
app.add_typer(memory_app, name="memory")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(mcp_app, name="mcp")
app.command("ui")(ui)
app.command("export")(export)
app.command("gc")(gc)
app.command("eval", cls=EvalCommand)(eval_command)
app.command("optimize", cls=EvalCommand)(optimize_command)
app.command("test")(test_command)
app.command("replay")(replay_command)
app.callback()(root)  # --version

@app.command()
def run(
    team_file: Path | None = typer.Argument(None, help="Team spec (YAML or JSON)."),
    task: str | None = typer.Argument(None, help="What the team should do."),
    model: str | None = typer.Option(None, "--model", "-m",
                                        help="Model for every role: a litellm string, local/smollm2 or "
                                             "scripted:PATH."),
    json_out: bool = typer.Option(False, "--json", help="Print each message as one JSON line as it is published."),
    resume: str | None = typer.Option(None, "--resume", help="Continue the run with this id."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Approve every approval point."),
    approve: bool = typer.Option(False, "--approve", help="With --resume: approve what the run waits for."),
    reject: str | None = typer.Option(None, "--reject", help="With --resume: reject it, saying why."),
    edit: Path | None = typer.Option(None, "--edit", help="With --resume: replace the plan or code with this file "
                                                          "and approve."),
    budget_tokens: int | None = typer.Option(None, "--budget-tokens", help="Stop before a model call that could "
                                             "take the run past N tokens (prompt + completion)."),
    budget_usd: float | None = typer.Option(None, "--budget-usd", help="Stop before a call that could cost more "
                                            "than X dollars in all (every model needs a known price)."),
    budget_seconds: float | None = typer.Option(None, "--budget-seconds", help="Stop once the run has worked S "
                                                "seconds (waits for approval do not count)."),
    budget_calls: int | None = typer.Option(None, "--budget-calls", help="Stop before model call N + 1."),
    otel: bool = typer.Option(False, "--otel", help="Send the run's OpenTelemetry spans over OTLP/HTTP to "
                              "$OTEL_EXPORTER_OTLP_ENDPOINT (else http://localhost:4318); on anyway when it is set."),
) -> None:
    """Run TEAM_FILE on TASK, or continue a stopped or waiting run with --resume RUN_ID.

    At an approval point (the team's `approval:` list) the run asks at the terminal; without one it waits
    (exit 3) for `huddle run --resume RUN_ID --approve`, `--reject "why"` or `--edit FILE`.

    The --budget-* flags set limits over the team file's `budget:`;
    with --resume they raise the limits of a run a budget stopped.

    Exit codes: 0 done, 1 failed, 2 user error, 3 waiting for approval,
    4 unsolved (the code fails the task's tests), 5 stopped by a budget.
    """
    if otel:  # this process's runs (the run, and its resumes at an approval point) send their spans
        from studio.telemetry import set_tracing

        set_tracing(True)
    from rich.console import Console

    from studio.cli._budget import RunMeter, budget_from_flags, resumed_run, stop_note
    from studio.cli._live import LiveTokens
    from studio.cli.approval import EXIT_WAITING, ask_person, decision_from_flags
    from studio.llm.budget import spend_of
    from studio.messages import new_id
    from studio.render import print_json_line, print_message, spend_text
    from studio.runner import resume_run, run_team, with_budget
    from studio.spec import load_spec

    console = Console(stderr=json_out)
    try:
        budget = budget_from_flags(budget_tokens, budget_usd, budget_seconds, budget_calls)
    except typer.BadParameter as exc:
        fail(str(exc))
    meter = RunMeter()  # given the run's budgets below, once the spec is known
    # the speaking roles' tokens and the meter, live: on a terminal only (piped or --json output: messages alone)
    live = LiveTokens(console, meter=meter) if not json_out and console.is_terminal else None
    run_id = None
    turn, token = (live.turn, live.token) if live is not None else (None, None)

    def show(message) -> None:
        meter.message(message)
        if live is not None:
            live.message(message)
        if json_out:
            print_json_line(message)
        else:
            print_message(console, message)

    try:
        answer = decision_from_flags(approve, reject, edit)
    except typer.BadParameter as exc:
        fail(str(exc))
    if answer is not None and not resume:
        fail("--approve, --reject and --edit answer a waiting run: add --resume RUN_ID")
    try:
        if live is not None:
            live.start()
        if resume:
            if team_file or task:
                fail("--resume takes no TEAM_FILE or TASK: the run keeps its own")
            if answer is not None and answer.action == "edit":  # a tool call's new arguments: a JSON object
                from studio.cli.approval import check_answer
                from studio.runner import pending_approval, shared_store

                try:
                    answer = check_answer(answer, pending_approval(shared_store().messages(resume)))
                except typer.BadParameter as exc:
                    fail(str(exc))
            meter.use(*resumed_run(resume, budget))
            result = resume_run(resume, on_message=show, on_turn=turn, on_token=token, decision=answer,
                                budget=budget)
        else:
            if team_file is None or not task:
                fail("give a TEAM_FILE and a TASK, e.g. huddle run examples/teams/dev_team.yaml \"Write fizzbuzz\"")
            spec = load_spec(team_file)
            _check_scripts(spec, model)
            meter.use(with_budget(spec, budget))
            run_id = new_id()
            result = run_team(spec, task, model=model, on_message=show, on_turn=turn, on_token=token, run_id=run_id,
                              strict_tools=True, budget=budget)
        while result.status == "waiting":
            from pipelines import ApprovalDecision

            if live is not None:
                live.stop()
            meter.pause()  # a person's time is not the run's
            decision = ApprovalDecision.approve() if auto_approve else ask_person(console, result.pending)
            if decision is None:
                break
            meter.go()
            if live is not None:
                live.start()
            result = resume_run(result.run_id, on_message=show, on_turn=turn, on_token=token, decision=decision,
                                budget=budget)
    except KeyboardInterrupt:
        if live is not None:
            live.stop()
        typer.echo(f"interrupted: continue with  huddle run --resume {resume or run_id}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except user_errors() as exc:
        if live is not None:
            live.stop()
        fail(str(exc))
    finally:
        if live is not None:
            live.stop()
    meter.pause()
    spent = spend_text(spend_of(result.messages)[0], meter.budget, meter.seconds)  # the run log's sums
    console.print(f"[dim]run {result.run_id} · {result.status} · {spent}[/]", soft_wrap=True)
    if result.status == "budget":
        typer.echo(stop_note(result.run_id, result.final.content if result.final else "", meter.budget), err=True)
        raise typer.Exit(EXIT_BUDGET)
    if result.status == "waiting":
        assert result.pending is not None  # a waiting run waits for a request
        typer.echo(f"run {result.run_id} waits for approval ({result.pending.point.replace('_', ' ')}): answer "
                   f"with  huddle run --resume {result.run_id} --approve  (or --reject \"why\", or --edit FILE)",
                   err=True)
        raise typer.Exit(EXIT_WAITING)
    if result.status == "unsolved":
        summary = result.final.content.split("\n", 1)[0] if result.final is not None else ""
        typer.echo(f"run {result.run_id} is unsolved: {summary}", err=True)
        raise typer.Exit(EXIT_UNSOLVED)
    if result.status != "done":
        typer.echo(f"error: run {result.run_id} failed: {result.error}", err=True)
        raise typer.Exit(1)


def _check_scripts(spec, model: str | None) -> None:
    """Read each ``scripted:PATH`` file the run would use, so that one that cannot be read stops it early.

    Early means before it starts: a run that starts records itself and writes a post-mortem to memory.
    """
    from studio.llm import check_model
    from studio.llm.scripted import ScriptedModel

    for name in sorted({spec.model_for(role.name, model) for role in spec.roles}):
        if name.startswith("scripted:"):
            check_model(name)
            ScriptedModel.load(name.removeprefix("scripted:"))


@teams_app.command("validate")
def teams_validate(file: Path = typer.Argument(..., help="Team spec (YAML or JSON).")) -> None:
    """Check a team file; exit 2 with every problem listed if it is invalid."""
    from studio.spec import SpecError, approval_label, load_spec, tool_label

    try:
        spec = load_spec(file)
    except SpecError as exc:
        fail(str(exc))
    roles = ", ".join(f"{r.name} ({r.kind})" for r in spec.roles)
    typer.echo(f"ok: {file} defines team {spec.name!r} with {len(spec.roles)} roles: {roles}")
    flow, judge = spec.flow, spec.judge()
    details = {"magentic": f", up to {flow.max_stalls} stalls before a replan, {flow.max_replans} replans",
               "parallel_plan": f", {flow.max_parallel} steps at once, {flow.max_replans} replans",
               "best_of_n": f", {flow.candidates} candidates, {flow.max_parallel} at once"
                            + (f", until {flow.agree} agree" if flow.agree else "")
                            + (f" or {flow.give_up_after} lead nowhere" if flow.give_up_after else ""),
               "cross_team": ", sub-teams " + ", ".join(f"{t.name} ({' + '.join(t.roles)})" for t in flow.teams)
                             + f", judged by {judge.name if judge else '?'}"}.get(flow.type, "")
    typer.echo(f"flow: {flow.type}, up to {flow.max_rounds} rounds{details}")
    typer.echo(f"approval: {', '.join(approval_label(p) for p in spec.approval)}" if spec.approval
               else "approval: none (the run never stops for a person)")
    box = spec.sandbox
    typer.echo(f"sandbox: on, {box.timeout_s:g} s wall, {box.cpu_s} s CPU, {box.memory_mb} MB, {box.processes} "
               f"processes, network {'allowed' if box.network else 'cut'}, up to {box.max_attempts} attempts per step"
               if box.enabled else "sandbox: off (the coder's code is never run)")
    _servers_and_tools(spec)
    memory = spec.memory
    if not memory.enabled:
        typer.echo("memory: off")
        return
    store = memory.url or memory.path or "$HUDDLE_HOME/memory"
    typer.echo(f"memory: namespace {spec.memory_namespace()!r} at {store}, embedder {memory.embedder.model} "
               f"({memory.embedder.device}), top {memory.top_k} per prompt")
    for role in spec.roles:
        typer.echo(f"  {role.name}: reads {', '.join(role.reads()) or 'nothing'}; "
                   f"writes {', '.join(role.writes()) or 'nothing'}"
                   + (f"; tools {', '.join(tool_label(t) for t in role.tools)}" if role.tools else ""))


teams_app.command("new")(teams_new_command(teams_validate))


def _servers_and_tools(spec) -> None:
    """The team's MCP servers (a command line or a URL, never a header's value) and each role's tools."""
    from studio.export import server_label
    from studio.spec import tool_label

    if spec.mcp_servers:
        typer.echo(f"mcp servers: {len(spec.mcp_servers)}")
        for name, server in spec.mcp_servers.items():
            how = "http" if server.url is not None else "stdio"
            typer.echo(f"  {name}: {how} {server_label(server)}, {server.timeout_s:g} s per call")
    for role in (r for r in spec.roles if r.tools):
        typer.echo(f"tools of {role.name}: {'; '.join(tool_label(t) for t in role.tools)} "
                   f"(up to {role.max_tool_calls} calls a turn)")


def bad_argument(args: list[str]) -> str | None:
    r"""What is wrong with the first argument that is not valid UTF-8, or ``None`` when all are.

    Python hands such bytes over as lone surrogates (``\udcff``), which every later step (SQLite, the terminal,
    a JSON line) refuses with a traceback; the command line refuses them first.

    Example:
        >>> print(bad_argument(["runs", "show", "ab\udcffcd"]))
        argument 3 'ab\xffcd' is not valid UTF-8; retype it, or rename a file whose name has such bytes
    """
    for number, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            try:
                shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            except UnicodeEncodeError:
                shown = arg.encode("utf-8", "backslashreplace").decode("utf-8")
            return f"argument {number} '{shown}' is not valid UTF-8; retype it, or rename a file whose name " \
                   "has such bytes"
    return None


def main() -> None:
    """Console-script entry point: arguments that are not UTF-8 and input that cannot be decoded exit 2."""
    problem = bad_argument(sys.argv[1:])
    if problem:
        typer.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_USER)
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        leave_interrupted(EXIT_INTERRUPTED)
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            leave_interrupted(EXIT_INTERRUPTED)
        raise
    except UnicodeError as exc:  # a file read somewhere no check names it: still the user's input, not a bug
        typer.echo(f"error: some input is not UTF-8 text ({exc}); save files as UTF-8 and try again", err=True)
        sys.exit(EXIT_USER)
