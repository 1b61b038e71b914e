"""``huddle ui``: start the Streamlit studio on this machine and print its address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import typer

__all__ = ["ui"]

APP = Path(__file__).parent / "ui" / "app.py"


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def streamlit_command(host: str, port: int) -> list[str]:
    """The command line that serves the studio (headless: it prints the address instead of opening a browser)."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal"]


def ui(
    team: Path | None = typer.Option(None, "--team", "-t", help="Team file to open on the Build page."),
    port: int = typer.Option(8501, "--port", "-p", min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback unless you say otherwise."),
) -> None:
    """Open the studio in the browser: build a team, run it live, browse memory and past runs."""
    from studio.spec import SpecError, load_spec
    from studio.ui.state import TEAM_ENV

    env = dict(os.environ)
    if team is not None:
        try:
            load_spec(team)
        except SpecError as exc:
            _fail(str(exc))
        env[TEAM_ENV] = str(team.resolve())
    if not _port_free(host, port):
        _fail(f"cannot serve on {host}:{port}: the port is in use or the address is not this machine's; "
              "pick another with --port or --host")
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"Huddle studio: http://{shown}:{port}  (Ctrl-C to stop)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: the studio has no login; anyone who can reach {host}:{port} can run your teams",
                   err=True)
    try:
        code = subprocess.run(streamlit_command(host, port), env=env, stdout=subprocess.DEVNULL).returncode
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)
