"""``huddle export``: a team file as a standalone Python script, a Jupyter notebook or validated YAML."""

from __future__ import annotations

from pathlib import Path

import typer

from studio.cli._common import fail

__all__ = ["export"]

_WHAT = {"script": "Python script", "notebook": "Jupyter notebook", "yaml": "YAML team spec"}
_SUFFIXES = {".py": "script", ".ipynb": "notebook", ".yaml": "yaml", ".yml": "yaml"}


def export(
    team_file: Path = typer.Argument(..., help="Team spec (YAML or JSON)."),
    to: str | None = typer.Option(None, "--to", "-t",
                                  help="script, notebook or yaml; by default from the -o suffix (.py, .ipynb, "
                                       ".yaml), else script."),
    output: str | None = typer.Option(None, "--output", "-o",
                                      help="File to write; '-' or none prints to stdout (script and yaml only)."),
) -> None:
    """Export TEAM_FILE as a runnable Python script, a Jupyter notebook or YAML (secrets are redacted)."""
    from studio.export import FORMATS, to_notebook, to_script, to_yaml
    from studio.spec import SpecError, load_spec

    to_stdout = output in (None, "-")
    target = Path(output or "")  # used only when not to_stdout
    fmt = to or (None if to_stdout else _SUFFIXES.get(target.suffix.lower())) or "script"
    if fmt not in FORMATS:
        fail(f"--to: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "notebook" and to_stdout:
        fail("--to notebook writes a file: give one with -o, e.g. -o team.ipynb")
    try:
        spec = load_spec(team_file)
    except SpecError as exc:
        fail(str(exc))
    if fmt == "script":
        text = to_script(spec, filename=None if to_stdout else target.name)
    elif fmt == "yaml":
        text = to_yaml(spec)
    else:
        import nbformat

        text = nbformat.writes(nbformat.from_dict(to_notebook(spec))) + "\n"
    if to_stdout:
        typer.echo(text, nl=False)
        return
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"wrote {output}: team {spec.name!r} as a {_WHAT[fmt]}")
