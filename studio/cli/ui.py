"""``huddle ui``: start the Streamlit studio on this machine and print its address."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import typer

from studio.cli._common import fail

__all__ = ["GRACE_S", "serve", "ui"]

GRACE_S = 10.0
"""How long the server has to stop after a signal before it is killed (a run in progress may hold it up)."""


def ui(
    team: Path | None = typer.Option(None, "--team", "-t", help="Team file to open on the Build page."),
    port: int = typer.Option(8501, "--port", "-p", min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback unless you say otherwise "
                                                         "(another address needs a token or --insecure)."),
    token_env: str | None = typer.Option(None, "--token-env", metavar="NAME",
                                         help="Ask for the token this environment variable holds before the "
                                              "studio shows anything."),
    new_token: bool = typer.Option(False, "--new-token", help="Make a login token, print it once, and ask for it."),
    insecure: bool = typer.Option(False, "--insecure", help="Serve a non-loopback address without a login: "
                                                            "anyone who reaches it can run your teams."),
) -> None:
    """Open the studio in the browser: build a team, run it live, browse memory and past runs."""
    from studio.exposure import TEAM_ENV, UI_TOKEN_ENV, AccessError, port_free, server_token, streamlit_command
    from studio.spec import SpecError, load_spec

    try:
        token = server_token(host, "your teams, runs, memory and provider keys", token_env=token_env,
                             new_token=new_token, insecure=insecure)
    except AccessError as exc:
        fail(str(exc))
    env = {k: v for k, v in os.environ.items() if k != UI_TOKEN_ENV}  # a login only when this command asks
    if token is not None:
        env[UI_TOKEN_ENV] = token  # the environment, not argv: ps shows a command line to every user
    if team is not None:
        try:
            load_spec(team)
        except SpecError as exc:
            fail(str(exc))
        env[TEAM_ENV] = str(team.resolve())
    if not port_free(host, port):
        fail(f"cannot serve on {host}:{port}: the port is in use or the address is not this machine's; "
              "pick another with --port or --host")
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"Huddle studio: http://{shown}:{port}  (Ctrl-C to stop)")
    if token is None and insecure:
        typer.echo(f"warning: --insecure: the studio has no login; anyone who can reach {host}:{port} can run your "
                   "teams and read your runs and memory", err=True)
    elif token is not None:
        typer.echo("the studio asks for its token before it shows anything", err=True)
    if new_token:
        typer.echo(f"token (shown once, stored nowhere): {token}", err=True)
    sys.stderr.flush()
    raise typer.Exit(serve(streamlit_command(host, port), env))


def serve(command: list[str], env: dict[str, str], grace_s: float = GRACE_S) -> int:
    """Run the studio's server until it exits; SIGTERM, SIGINT and SIGHUP to this process stop it first.

    A process manager (or ``docker stop``) signals only this process: the server must not outlive it as an
    orphan that keeps the port. The first signal is passed on as SIGTERM, Streamlit's clean shutdown; a server
    still running ``grace_s`` seconds later, or at a second signal, is killed.

    Returns:
        0 when a SIGTERM or SIGHUP stopped it, 130 for SIGINT (Ctrl-C), else the server's own exit status.
    """
    received: list[int] = []
    deadline: list[threading.Timer] = []
    server: subprocess.Popen | None = None

    def stop() -> None:
        if server is None or server.poll() is not None:
            return
        if deadline:  # asked twice: stop waiting
            server.kill()
            return
        server.send_signal(signal.SIGTERM)
        deadline.append(threading.Timer(grace_s, _kill, args=(server,)))
        deadline[0].daemon = True
        deadline[0].start()

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        stop()

    # The handlers come first: a signal while the server starts must stop it too, not leave it behind.
    before = {number: signal.signal(number, forward) for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        if received:
            stop()
        code = server.wait()
    finally:
        for timer in deadline:
            timer.cancel()
        for number, handler in before.items():
            signal.signal(number, handler)
    if not received:
        return code
    return 130 if signal.SIGINT in received else 0


def _kill(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.kill()
