"""``huddle runs diff A B``: two runs' transcripts aligned, the first divergence marked, spend per role, test flips.

The alignment itself is :func:`studio.rundiff.diff_runs`; this module finds the
two runs in the run log and prints the result, as tables or as one JSON object.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from studio.cli._common import fail, open_log

if TYPE_CHECKING:  # `huddle --help` imports this module: the models load when the command runs
    from studio.messages import Message
    from studio.rundiff import Pair, RunDiff

__all__ = ["CONTEXT", "diff_command", "pair_rows"]

CONTEXT = 3
"""Identical messages kept on each side of a difference; longer identical stretches fold into one line."""
_MARKS = {"same": "=", "changed": "~", "only_a": "-", "only_b": "+"}
_WIDTH = 70


def diff_command(
    run_a: str = typer.Argument(..., help="Run A (a unique id prefix is enough)."),
    run_b: str = typer.Argument(..., help="Run B, compared with A (a unique id prefix is enough)."),
    json_out: bool = typer.Option(False, "--json", help="The diff as one JSON object."),
    show_all: bool = typer.Option(False, "--all", help="Every pair, without folding identical stretches."),
) -> None:
    """Align the transcripts of runs A and B (by sender and kind) and show where they first part.

    Each row pairs a message of A with one of B: = same, ~ changed (same sender and kind, other content),
    - only in A, + only in B. Then each role's tokens, cost and latency in A, in B and B - A, and the test
    outcomes that flipped (passed in one run, failed in the other).
    """
    log = open_log()
    infos = []
    for given in (run_a, run_b):
        info = log.get_run(given)
        if info is None:
            fail(f"no run {given!r} in the run log (or the prefix is ambiguous); see huddle runs list")
        infos.append(info)
    from studio.rundiff import diff_runs

    a, b = (log.messages(info.run_id) for info in infos)
    diff = diff_runs(a, b, status_a=infos[0].status, status_b=infos[1].status)
    from studio.redact import redact_data

    if json_out:
        out = {**diff.as_dict(), "run_a": infos[0].run_id, "run_b": infos[1].run_id,
               "status_a": infos[0].status, "status_b": infos[1].status}
        typer.echo(json.dumps(redact_data(out)))
        return
    _print(infos, a, b, diff, show_all)


def pair_rows(diff: RunDiff, context: int = CONTEXT) -> list[Pair | int]:
    """The pairs to show: each difference with ``context`` same pairs around it, a fold (its length) elsewhere.

    Example:
        >>> from studio.rundiff import Pair, RunDiff
        >>> same = [Pair("same", i, i, "user", "task") for i in range(10)]
        >>> rows = pair_rows(RunDiff("a", "b", (*same, Pair("only_b", None, 10, "coder", "code")), 10, (), ()), 2)
        >>> [r if isinstance(r, int) else r.status for r in rows]
        [8, 'same', 'same', 'only_b']
    """
    keep = [False] * len(diff.pairs)
    for k, pair in enumerate(diff.pairs):
        if pair.status != "same":
            for near in range(max(0, k - context), min(len(keep), k + context + 1)):
                keep[near] = True
    edged = [True, *keep, True]
    for k in range(len(keep)):  # a fold of one message would take a line, as the message does
        keep[k] = keep[k] or (edged[k] and edged[k + 2])
    rows: list[Pair | int] = []
    for k, pair in enumerate(diff.pairs):
        if keep[k]:
            rows.append(pair)
        elif rows and isinstance(rows[-1], int):
            rows[-1] += 1
        else:
            rows.append(1)
    return rows


def _cell(messages: list[Message], index: int | None) -> str:
    """``#n sender · kind: summary`` of one message (redacted, one line, cut), empty when absent."""
    if index is None:
        return ""
    from rich.markup import escape

    from studio.kinds import KINDS
    from studio.redact import redact_data
    from studio.render import sender_text

    message = redact_data(messages[index])
    text = " ".join(KINDS[message.kind].summary(message).split())
    text = text if len(text) <= _WIDTH else text[:_WIDTH - 1] + "…"
    return escape(f"#{index + 1} {sender_text(message)} · {message.kind}: {text}")


def _print(infos: list[Any], a: list[Message], b: list[Message], diff: RunDiff, show_all: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for side, info in zip("AB", infos, strict=True):
        console.print(f"[bold]{side}[/] run {info.run_id} · {info.team} · {info.status} · {info.task[:60]}")
    counts = diff.counts()
    console.print(f"{len(diff.pairs)} pairs: {counts['same']} same, {counts['changed']} changed, "
                  f"{counts['only_a']} only in A, {counts['only_b']} only in B"
                  + (" (banded alignment: a very long diff)" if diff.method == "banded" else ""))
    if diff.first_divergence is None:
        console.print("[green]no divergence: the transcripts match message for message[/]")
    else:
        first = diff.pairs[diff.first_divergence]
        where = " vs ".join(f"{side} #{i + 1}" for side, i in (("A", first.a), ("B", first.b)) if i is not None)
        what = f" ({', '.join(first.fields)} differ)" if first.fields else f" ({first.status.replace('_', ' ')})"
        console.print(f"[bold red]first divergence: pair {diff.first_divergence + 1}, {where}, "
                      f"{first.sender} · {first.kind}{what}[/]")
    table = Table("", "A", "B", title="Transcripts, aligned", title_justify="left")
    for row in (list(diff.pairs) if show_all else pair_rows(diff)):
        if isinstance(row, int):
            table.add_row("", f"[dim]… {row} identical message(s)[/]", f"[dim]… {row} identical message(s)[/]")
            continue
        first_row = diff.first_divergence is not None and row is diff.pairs[diff.first_divergence]
        table.add_row((">" if first_row else "") + _MARKS[row.status], _cell(a, row.a), _cell(b, row.b),
                      style="bold red" if first_row else ("dim" if row.status == "same" else None))
    console.print(table)
    console.print(_roles_table(diff))
    if not diff.flips:
        console.print("test outcomes: no flips")
    for flip in diff.flips:
        colour = "red" if flip.broke else "green"
        console.print(f"[{colour}]flip: {flip.subject}: {flip.a} in A, {flip.b} in B[/]")


def _roles_table(diff: RunDiff) -> Any:
    from rich.table import Table

    table = Table("role", "tokens A", "tokens B", "Δ tokens", "cost A", "cost B", "Δ cost", "latency A",
                  "latency B", "Δ latency", title="Per role (B - A)", title_justify="left")
    for role in diff.roles:
        d = role.delta
        table.add_row(role.role, f"{role.a.tokens:,}", f"{role.b.tokens:,}", f"{d.tokens:+,}",
                      f"${role.a.cost_usd:.4f}", f"${role.b.cost_usd:.4f}", f"{round(d.cost_usd, 4) or 0.0:+.4f}",
                      f"{role.a.latency_ms / 1000:.2f}s", f"{role.b.latency_ms / 1000:.2f}s",
                      f"{round(d.latency_ms / 1000, 2) or 0.0:+.2f}s")  # no -0.00s
    return table
