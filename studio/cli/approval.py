"""Approval on the command line: ask a person at each approval point, or answer from flags.

``huddle run`` asks at the terminal (approve, edit in ``$EDITOR``, or reject
with feedback); ``--auto-approve`` approves everything; ``--approve``,
``--reject TEXT`` and ``--edit FILE`` answer a waiting run given by
``--resume``. Without a terminal and without an answer, the run stays waiting
(exit code 3) and can be answered later, from any process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

__all__ = ["EXIT_WAITING", "ask_person", "decision_from_flags"]

EXIT_WAITING = 3
"""Exit code of ``huddle run`` when the run waits for an approval nobody gave."""


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
