"""The root ``huddle`` command's own parts: its group class (no ``<bool>`` in any ``--help``) and ``--version``."""

from __future__ import annotations

from typing import Any

import typer
import typer.core

__all__ = ["RootGroup", "root"]


class RootGroup(typer.core.TyperGroup):
    """The root command: on top of typer's, no ``<bool>`` after a flag in any command's ``--help``.

    Typer shows a type after every option, a flag (``--json``) and ``--help`` included, as if it took a value.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _no_flag_types(self, None)


def _no_flag_types(command: Any, parent: Any) -> None:
    """Give every flag of ``command`` and its subcommands (their ``--help`` too) an empty metavar."""
    ctx = command.context_class(command, parent=parent, **command.context_settings)
    for param in command.get_params(ctx):  # the --help option is made here, once, as it would be when asked
        if param.param_type_name == "option" and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _no_flag_types(sub, ctx)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"huddle {version('huddle-studio')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("huddle (version unknown: the huddle-studio package is not installed)")
        raise typer.Exit()


def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Huddle: run teams of LLM agents from the command line."""
