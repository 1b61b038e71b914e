"""Approval on the command line: ask a person at each approval point, or answer from flags.

``huddle run`` asks at the terminal (approve, edit in ``$EDITOR``, or reject
with feedback); ``--auto-approve`` approves everything; ``--approve``,
``--reject TEXT`` and ``--edit FILE`` answer a waiting run given by
``--resume``. Without a terminal and without an answer, the run stays waiting
(exit code 3) and can be answered later, from any process.

Before a tool call (point ``before_tool``) the request is the call,
``name({"arg": ...})``: a person sees the tool's name and its arguments, and
an edit is the new arguments, a JSON object.

Example:
    >>> tool_call_parts('search({"query": "x"})')
    ('search', '{"query": "x"}')
    >>> tool_arguments('[1, 2]')
    Traceback (most recent call last):
    ValueError: the arguments must be a JSON object ({"name": value, ...}), got a list
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from pipelines.approval import TOOL_POINT, tool_call_parts

__all__ = ["EXIT_WAITING", "TOOL_POINT", "ask_person", "check_answer", "decision_from_flags", "tool_arguments",
           "tool_call_parts"]

EXIT_WAITING = 3
"""Exit code of ``huddle run`` when the run waits for an approval nobody gave."""


def tool_arguments(text: str) -> str:
    """``text`` as a JSON object on one line: the arguments a person gave a tool call.

    Raises:
        ValueError: it is not JSON, or not a JSON object (see :func:`pipelines.approval.tool_arguments`).
    """
    from pipelines.approval import tool_arguments as parsed

    return json.dumps(parsed(text), ensure_ascii=False)


def _pretty(arguments: str) -> str:
    """Arguments JSON indented for a person to read (as it came when it is not JSON)."""
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        return arguments


def check_answer(decision, request):
    """``decision`` for ``request``: an edit of a tool call's arguments must be a JSON object (made compact).

    Raises:
        typer.BadParameter: an edit of a tool call that is not a JSON object, saying what to write.
    """
    if decision is None or request is None or request.point != TOOL_POINT or decision.action != "edit":
        return decision
    from pipelines import ApprovalDecision

    try:
        return ApprovalDecision.edit(tool_arguments(decision.text), decision.feedback)
    except ValueError as exc:
        raise typer.BadParameter(f"--edit: tool call {tool_call_parts(request.content)[0]}: {exc}") from None


def decision_from_flags(approve: bool, reject: str | None, edit: Path | None):
    """The answer given on the command line, or ``None``.

    Raises:
        typer.BadParameter: more than one answer, or an edit file that cannot be read.
    """
    from pipelines import ApprovalDecision

    given = [flag for flag, on in (("--approve", approve), ("--reject", reject is not None),
                                   ("--edit", edit is not None)) if on]
    if len(given) > 1:
        raise typer.BadParameter(f"give one answer, not {' and '.join(given)}")
    if approve:
        return ApprovalDecision.approve()
    if reject is not None:
        if not reject.strip():
            raise typer.BadParameter("--reject needs the reason, e.g. --reject \"use a loop\"")
        return ApprovalDecision.reject(reject)
    if edit is not None:
        from studio.safe_input import TEXT_BYTES, InputError, read_text

        try:
            return ApprovalDecision.edit(read_text(edit, TEXT_BYTES))
        except OSError as exc:
            raise typer.BadParameter(f"--edit {edit}: cannot read it ({exc.strerror or exc})") from None
        except InputError as exc:
            raise typer.BadParameter(f"--edit {edit}: {exc}") from None
    return None


def ask_person(console, request):
    """Show ``request`` (an Approval message) and ask at the terminal; ``None`` when there is no terminal."""
    from rich.panel import Panel
    from rich.prompt import Prompt
    from rich.syntax import Syntax

    from pipelines import ApprovalDecision

    if not sys.stdin.isatty():
        return None
    if request.point == TOOL_POINT:
        return _ask_tool_call(console, request)
    point = request.point.replace("_", " ")
    body = Syntax(request.content, "python") if request.point != "after_plan" else request.content
    console.print(Panel(body, title=f"approval: {point}", border_style="magenta"))
    choice = Prompt.ask("[a]pprove, [e]dit or [r]eject", choices=["a", "e", "r"], default="a", console=console)
    if choice == "a":
        return ApprovalDecision.approve()
    if choice == "e":
        import click  # typer >= 0.2x vendors its own click and no longer re-exports click.edit as typer.edit

        edited = click.edit(request.content)
        return ApprovalDecision.edit(edited) if edited and edited.strip() else ApprovalDecision.approve()
    feedback = ""
    while not feedback.strip():
        feedback = Prompt.ask("why, and what should change", console=console)
    return ApprovalDecision.reject(feedback)


def _ask_tool_call(console, request):
    """Ask about one tool call: approve it, edit its arguments (a JSON object, asked again until it is) or reject."""
    import click
    from rich.panel import Panel
    from rich.prompt import Prompt
    from rich.syntax import Syntax

    from pipelines import ApprovalDecision

    name, arguments = tool_call_parts(request.content)
    shown = _pretty(arguments)
    console.print(Panel(Syntax(shown, "json"), title=f"approval: Tool call: {name}", border_style="magenta"))
    choice = Prompt.ask("[a]pprove, [e]dit the arguments or [r]eject", choices=["a", "e", "r"], default="a",
                        console=console)
    while choice == "e":
        edited = click.edit(shown, extension=".json")
        if not edited or not edited.strip() or edited.strip() == shown.strip():
            return ApprovalDecision.approve()
        try:
            return ApprovalDecision.edit(tool_arguments(edited))
        except ValueError as exc:
            console.print(f"[red]{exc}[/]")
            shown = edited
            choice = Prompt.ask("[e]dit again, [a]pprove as it was or [r]eject", choices=["e", "a", "r"],
                                default="e", console=console)
    if choice == "a":
        return ApprovalDecision.approve()
    feedback = ""
    while not feedback.strip():
        feedback = Prompt.ask("why, and what should it do instead", console=console)
    return ApprovalDecision.reject(feedback)
