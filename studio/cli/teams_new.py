"""``huddle teams new "DESCRIPTION" -o TEAM.yaml``: a team file drafted by a model from a sentence, always valid.

The model (the embedded one unless ``--model``) drafts the team under a JSON schema; :mod:`studio.teamgen`
repairs the draft against the description, so the file always validates. The command writes it (with a comment
header: the description, the model, what was repaired), then prints what ``huddle teams validate`` prints for it
and the repairs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import typer

from studio.cli._common import fail

__all__ = ["teams_new_command"]

_EXAMPLE = '"a planner, a coder and a reviewer that write Python functions"'


def _check_output(output: Path, force: bool) -> None:
    """Exit 2 naming ``--output`` when the file cannot or may not be written."""
    if output.is_dir():
        fail(f"--output: {output} is a folder; name the team file to write, e.g. {output / 'team.yaml'}")
    if output.exists() and not force:
        fail(f"--output: {output} exists; pass --force to overwrite it")
    folder = output.parent
    if not folder.is_dir():
        fail(f"--output: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK) or (output.exists() and not os.access(output, os.W_OK)):
        fail(f"--output: cannot write {output} (permission denied)")


def _generate(description: str, model: str):
    """The generated team, with a spinner on the terminal while the model writes."""
    from rich.console import Console

    from studio.llm import ModelCallError, ModelConfigError
    from studio.llm.scripted import ScriptError, ScriptExhausted
    from studio.redact import redact
    from studio.teamgen import generate_team

    console = Console(stderr=True)
    written = 0
    try:
        with console.status(f"{model} is drafting the team…") as status:
            def progress(piece: str) -> None:
                nonlocal written
                written += len(piece)
                status.update(f"{model} is drafting the team… {written} characters")

            return generate_team(description, model, on_token=progress)
    except (ModelConfigError, ScriptError) as exc:
        fail(redact(str(exc)))
    except (ModelCallError, ScriptExhausted) as exc:  # the model failed, not the user: exit 1
        fail(redact(str(exc)), code=1)


def teams_new_command(validate: Callable[[Path], None]) -> Callable[..., None]:
    """The ``teams new`` command; ``validate`` prints what ``huddle teams validate`` prints for a file."""

    def teams_new(
        description: str = typer.Argument(..., help="What the team is for, in a sentence."),
        output: Path = typer.Option(..., "--output", "-o", help="The team file to write (.yaml, or .json)."),
        model: str | None = typer.Option(None, "--model", "-m", help="The model that drafts the team: a litellm "
                                         "string, local/smollm2 (the default) or scripted:PATH."),
        force: bool = typer.Option(False, "--force", help="Overwrite the output file if it exists."),
    ) -> None:
        """Draft a team file from DESCRIPTION: roles, flow, instructions and tools; it always validates.

        The model fills a small draft under a JSON schema; the draft is then repaired against the description
        (the roles it names, the flow it asks for, the tools it needs), and every repair is listed.
        """
        from studio.spec import DEFAULT_MODEL, dump_spec

        text = " ".join(description.split())
        if not text:
            fail(f"DESCRIPTION: describe the team in a sentence, e.g. huddle teams new {_EXAMPLE} -o team.yaml")
        _check_output(output, force)
        chosen = model or DEFAULT_MODEL
        made = _generate(text, chosen)
        content = dump_spec(made.spec, "json") if output.suffix.lower() == ".json" else made.yaml()
        try:
            output.write_text(content, encoding="utf-8")
        except OSError as exc:
            fail(f"--output: cannot write {output}: {exc.strerror or exc}")
        typer.echo(f"wrote {output}: drafted by {chosen}")
        validate(output)
        if made.notes:
            typer.echo("repaired:")
            for note in made.notes:
                typer.echo(f"  - {note}")
        else:
            typer.echo("repaired: nothing, the draft is as the model wrote it")

    return teams_new
