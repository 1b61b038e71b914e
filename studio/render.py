"""Render messages for a terminal (rich) or as JSON lines.

A message from a parallel branch (a plan step, a candidate, a sub-team) shows
its branch in front of its sender: ``[s2] coder · code``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.markdown import Markdown
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Column, Table

from studio.kinds import APPROVAL_COLOURS, KINDS, LEDGER_FACTS, covering
from studio.llm.budget import Spend
from studio.messages import (
    Approval,
    Code,
    DesignedTests,
    Execution,
    Final,
    Ledger,
    Message,
    Plan,
    Ranking,
    Reflection,
    Review,
    ToolResult,
    message_to_json,
)
from studio.redact import redact_data
from studio.spec import Budget

__all__ = ["APPROVAL_COLOURS", "LEDGER_FACTS", "hits_table", "ingest_summary", "print_json_line", "print_message",
           "runs_table", "sender_text", "spend_text", "usage_text"]

def print_json_line(message: Message) -> None:
    """Print one message as one JSON object on stdout, flushed at once.

    It is redacted: a log written before the redactor knew a secret's shape still prints none.
    """
    sys.stdout.write(message_to_json(redact_data(message)) + "\n")
    sys.stdout.flush()


def usage_text(message: Message, sep: str = ", ") -> str:
    """What the model calls behind ``message`` cost: ``tokens{sep}seconds[{sep}queued seconds][{sep}$cost]``.

    Empty without calls. The queue time (waiting for a concurrency or rate-limit slot) shows from 0.05 s.
    """
    u = message.usage
    if not u.calls:
        return ""
    queued = f"{sep}queued {u.queue_ms / 1000:.1f}s" if u.queue_ms >= 50 else ""
    cost = f"{sep}${u.cost_usd:.4f}" if u.cost_usd else ""
    return f"{u.prompt_tokens}+{u.completion_tokens} tok{sep}{u.latency_ms / 1000:.1f}s{queued}{cost}"


def _amount(name: str, value: float) -> str:
    return {"usd": f"${value:.4f}", "seconds": f"{value:.1f}s"}.get(name, f"{int(value):,}")


def _limit(name: str, value: float) -> str:
    dollars = f"${value:.2f}" if round(value, 2) == value else f"${value:g}"  # $0.50, $0.005
    return {"usd": dollars, "seconds": f"{value:g}s"}.get(name, f"{int(value):,}")


def spend_text(spent: Spend, budget: Budget | None = None, seconds: float | None = None) -> str:
    """What was spent, against ``budget``'s limits: the one meter line of the CLI, the studio and the notebook.

    Args:
        spent: tokens, dollars, seconds and model calls.
        budget: the limits to show after each number (unset ones show none).
        seconds: the seconds to show instead of ``spent.seconds`` (a run's working time).

    Example:
        >>> spend_text(Spend(tokens=1234, seconds=12.4, model_calls=5), Budget(tokens=20000, seconds=60))
        'tokens 1,234/20,000 · $0.0000 · 12.4s/60s · calls 5'
    """
    values = {"tokens": spent.tokens, "usd": spent.usd, "seconds": spent.seconds if seconds is None else seconds,
              "model_calls": spent.model_calls}
    parts = []
    for name, value in values.items():
        limit = getattr(budget, name) if budget is not None else None
        text = _amount(name, value) + (f"/{_limit(name, limit)}" if limit is not None else "")
        parts.append({"tokens": f"tokens {text}", "model_calls": f"calls {text}"}.get(name, text))
    return " · ".join(parts)


def sender_text(message: Message) -> str:
    """Who sent ``message``, its branch in front when it has one: ``[s2] coder``."""
    return f"[{message.branch}] {message.sender}" if message.branch else message.sender


def print_message(console: Console, message: Message) -> None:
    """A readable block for one message (redacted), then the memory ids behind it (if any)."""
    message = redact_data(message)
    _print_body(console, message)
    if message.memory_ids and not isinstance(message, Reflection):
        console.print(f"[dim]  memory used: {', '.join(message.memory_ids)}[/]")


def _print_body(console: Console, message: Message) -> None:
    kind = KINDS[message.kind]
    title = f"[{kind.colour}]{escape(sender_text(message))} · {kind.label}[/]"
    _DRAW[message.kind](console, title, message)


def _panel(console: Console, title: str, message: Message, body: Any) -> None:
    """``body`` in a panel in the kind's colour, ``title`` at its top and the usage at its bottom."""
    console.print(Panel(body, title=title, title_align="left", subtitle=usage_text(message) or None,
                        subtitle_align="right", border_style=KINDS[message.kind].colour.split()[-1]))


def _markdown(console: Console, title: str, message: Message) -> None:
    _panel(console, title, message, Markdown(message.content or "(empty)"))


def _as_typed(console: Console, title: str, message: Message) -> None:
    """The text as the person typed it, line breaks kept (Markdown would join them): a task."""
    _panel(console, title, message, escape(message.content or "(empty)"))


def _one_line(style: str) -> Callable[[Console, str, Any], None]:
    """A drawer that prints the title and the kind's summary after it, on one line, in ``style``."""
    def draw(console: Console, title: str, message: Message) -> None:
        console.print(f"{title}  [{style}]{escape(KINDS[message.kind].summary(message))}[/]")
    return draw


def _python(code: str) -> Syntax:
    return Syntax(code, "python", theme="ansi_dark", word_wrap=True)


def _code(console: Console, title: str, message: Code) -> None:
    if message.code:
        _panel(console, title, message, _python(message.code))
    else:
        _markdown(console, title, message)


def _final(console: Console, title: str, message: Final) -> None:
    if not message.code:
        _markdown(console, title, message)
        return
    title += "  [bold green]approved[/]" if message.approved else f"  [yellow]{message.stop_reason}[/]"
    if message.executed:
        ok = message.exit_code == 0 and not message.failed
        title += f"  [{'green' if ok else 'red'}]tests {message.passed} passed, {message.failed} failed[/]"
    _panel(console, title, message, _python(message.code))


def _plan(console: Console, title: str, message: Plan) -> None:
    # a step's own line breaks stay, indented under it; escaped, so "[x]" in a step is text, not a style
    _panel(console, title, message, "\n".join(escape(f"{s.id}. {s.description}").replace("\n", "\n    ")
                                              for s in message.steps))


def _tests(console: Console, title: str, message: DesignedTests) -> None:
    tests = "\n".join(message.tests)
    prose = message.content if message.content and message.content != tests else ""
    body = Group(*([escape(prose)] if prose else []), *([_python(tests)] if tests else []))
    _panel(console, f"{title}  [dim]{len(message.tests)} designed test(s)[/]", message, body)


def _review(console: Console, title: str, message: Review) -> None:
    colour = "green" if message.verdict == "approve" else "yellow"
    _panel(console, title, message, f"[{colour}]{message.verdict}[/]: {message.feedback}")


def _reflection(console: Console, title: str, message: Reflection) -> None:
    first = message.content.splitlines()[0] if message.content else ""
    console.print(f"{title}  [dim]{message.note} → {message.collection} {', '.join(message.memory_ids)}: {first}[/]")


def _tool_result(console: Console, title: str, message: ToolResult) -> None:
    state = "" if message.ok else " [red](failed)[/]"
    if message.memory_ids:  # memory_search: the items it found
        console.print(f"{title}{state}  [dim]{len(message.memory_ids)} item(s): {', '.join(message.memory_ids)}[/]")
        return
    shown = " ".join(message.content.split())
    console.print(f"{title}{state}  [dim]{escape(shown[:200]) + ('…' if len(shown) > 200 else '')}[/]")


def _ledger(console: Console, title: str, message: Ledger) -> None:
    title += f"  [yellow]replan {message.replan}[/]" if message.replan else ""
    _panel(console, title, message, _ledger_body(message))


def _ranking(console: Console, title: str, message: Ranking) -> None:
    title += f"  [bold]chosen {escape(message.chosen)}[/]" if message.chosen else ""
    _panel(console, title, message, _ranking_body(message))


def _approval(console: Console, title: str, message: Approval) -> None:
    point = message.point.replace("_", " ")
    if message.point == "before_tool":
        point = f"tool call {message.content.split('(', 1)[0]}" if message.status == "requested" else "tool call"
    if message.status != "requested":  # the person's answer, on one line
        feedback = f"  [dim]{escape(message.feedback)}[/]" if message.feedback else ""
        console.print(f"{title}  [{APPROVAL_COLOURS[message.status]}]{point}: {message.status}[/]{feedback}")
        return
    body = (escape(message.content or "(nothing to show)") if message.point == "after_plan"
            else _python(message.content.rstrip("\n")))  # what the person is asked to approve
    _panel(console, f"{title}  [yellow]{point}: waiting for approval[/]", message, body)


def _ledger_body(message: Ledger) -> str:
    """The reflection (on a replan), each non-empty fact list, then the plan, numbered; as rich markup."""
    lines = [f"[yellow]reflection:[/] {escape(message.reflection)}"] if message.reflection else []
    for heading, name in LEDGER_FACTS:
        facts = getattr(message, name)
        if facts:
            lines.append(f"[bold]{heading}:[/]")
            lines += [f"  - {escape(fact)}" for fact in facts]
    if message.plan:
        lines.append("[bold]plan:[/]")
        lines += [f"  {i}. {escape(step)}" for i, step in enumerate(message.plan, 1)]
    return "\n".join(lines) or escape(message.content or "(empty ledger)")


def _ranking_body(message: Ranking) -> str:
    """The branches best first, the chosen one marked, then the reason; as rich markup."""
    lines = [f"{i}. {escape(name)}" + ("  [bold green]★ chosen[/]" if name == message.chosen else "")
             for i, name in enumerate(message.order, 1)]
    if message.chosen and message.chosen not in message.order:
        lines.append(f"[bold green]★ chosen: {escape(message.chosen)}[/]")  # e.g. "merged" by the judge
    if message.reason:
        lines.append(f"[dim]reason:[/] {escape(message.reason)}")
    return "\n".join(lines) or escape(message.content or "(empty ranking)")


def _print_execution(console: Console, title: str, message: Execution, tail_lines: int = 8) -> None:
    """The outcome on one line, then each failure and the end of stderr (or stdout), dimmed."""
    colour = "green" if message.ok else "red"
    console.print(f"{title}  [{colour}]{escape(message.content)}[/]  [dim]{message.peak_memory_mb:.0f} MB · "
                  f"network {message.network} · files {message.filesystem}[/]")
    for failure in message.failures[:3]:
        console.print(Padding(f"[red]✗[/] {escape(failure)}", (0, 0, 0, 2)))
    output = (message.stderr if not message.ok else "") or message.stdout
    lines = output.rstrip().splitlines()[-tail_lines:]
    if lines:
        console.print(Padding(f"[dim]{escape(chr(10).join(lines))}[/]", (0, 0, 0, 2)))


_DRAW: dict[str, Callable[[Console, str, Any], None]] = dict(covering("the CLI (studio/render.py)", {
    "task": _as_typed, "plan": _plan, "code": _code, "execution": _print_execution, "review": _review,
    "decision": _one_line("dim"), "final": _final, "tool_call": _one_line("dim"), "tool_result": _tool_result,
    "reflection": _reflection, "tests": _tests, "error": _one_line("red"), "ledger": _ledger, "ranking": _ranking,
    "approval": _approval,
}))
"""How the terminal draws each kind after its title: (console, title, message)."""


def runs_table(rows: list[dict[str, Any]]) -> Table:
    """The run index as a table that fits 80 columns: the team and the task wrap, and no column is cut off.

    The cost column shows only when some run cost something (local and scripted runs cost nothing); the time
    column (a run's working seconds, ``seconds`` in a row) when the rows have it.
    """
    costs, times = any(r["cost_usd"] for r in rows), all("seconds" in r for r in rows)
    names = ["run", "team", "status", "started", "msgs", "tokens", *(["cost"] if costs else []),
             *(["time"] if times else [])]
    table = Table(*(Column(name, no_wrap=name != "team", overflow="fold") for name in names),
                  Column("task", overflow="fold", ratio=1), box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 1, 0, 0))
    for r in rows:
        colour = {"done": "green", "unsolved": "magenta", "failed": "red", "budget": "blue"}.get(r["status"], "yellow")
        started = r["created_at"][5:16].replace("T", " ")
        cost = [f"${r['cost_usd']:.4f}" if r["cost_usd"] else "-"] if costs else []
        took = [_duration(r["seconds"])] if times else []
        table.add_row(r["run_id"][:12], escape(r["team"]), f"[{colour}]{r['status']}[/]", started,
                      str(r["messages"]), str(r["prompt_tokens"] + r["completion_tokens"]), *cost, *took,
                      escape(r["task"][:120]))
    return table


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``2h07m``: short enough for a narrow column."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def hits_table(hits: list[Any], *, scores: bool) -> Group:
    """Memory items (search hits or a listing), readable in a narrow terminal.

    Each has a header line (id, collection, score, source, provenance) and the text, wrapped, under it.
    """
    rows: list[Any] = []
    for hit in hits:
        where = hit.source.rsplit("/", 1)[-1] or "?"
        locator = hit.metadata.get("locator")
        text = " ".join(hit.text.split())
        score = f"  [bold]{hit.score:.3f}[/]" if scores else ""
        run = hit.metadata.get("run_id")
        provenance = f"{hit.writer} · {hit.trust}" + (f" · run {run[:8]}" if run else "")
        rows.append(f"[cyan]{hit.id}[/]  {hit.collection}{score}  {escape(where)}"
                    + (f" › {escape(str(locator))}" if locator else "") + f"  [dim]({provenance})[/]")
        rows.append(Padding(escape(text[:400] + ("…" if len(text) > 400 else "")), (0, 0, 1, 4)))
    return Group(*rows)


def ingest_summary(report: Any, namespace: str, location: str) -> Table:
    """What an ingestion did: counts, then each skipped file with its reason."""
    table = Table(Column("ingested into", style="bold"), Column(f"{namespace} · knowledge · {location}"),
                  box=box.SIMPLE_HEAD)
    table.add_row("files read", str(report.files))
    table.add_row("chunks", f"{report.chunks} ({report.added} new, {report.duplicates} already stored)")
    table.add_row("skipped", str(len(report.skipped)))
    for path, reason in report.skipped[:20]:
        table.add_row(f"[yellow]  {path}[/]", reason)
    if len(report.skipped) > 20:
        table.add_row("", f"… and {len(report.skipped) - 20} more")
    return table
