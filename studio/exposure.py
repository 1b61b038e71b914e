"""Who may reach a server Huddle starts: loopback stays open, any other address needs a token or ``--insecure``.

``huddle memory serve``, ``huddle ui`` and ``Team.studio()`` share these rules, and the
last two the command line that serves the studio (:func:`streamlit_command`). A token comes from
``--token-env NAME`` (the variable holds it; it never appears on a command line)
or ``--new-token`` (made here and printed once to the terminal, never logged).

Example:
    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0")
    (True, False)
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
import sys
from pathlib import Path

__all__ = ["MIN_TOKEN_CHARS", "TEAM_ENV", "UI_APP", "UI_TOKEN_ENV", "AccessError", "is_loopback", "port_free",
           "server_token", "streamlit_command", "token_matches"]

UI_TOKEN_ENV = "HUDDLE_UI_TOKEN"
"""``huddle ui`` hands the studio its login token in this variable of the Streamlit process (never on its
command line, where ``ps`` shows it to every user)."""

TEAM_ENV = "HUDDLE_UI_TEAM"
"""The team file the studio's Build page opens first (set by ``huddle ui --team`` and ``Team.studio()``)."""

UI_APP = Path(__file__).parent / "ui" / "app.py"
"""The Streamlit script of the studio."""

MIN_TOKEN_CHARS = 16
"""Shorter tokens are refused: a guessable token is no better than none."""


class AccessError(Exception):
    """The flags do not say how the server is protected (the CLI exits 2 with this message)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, ``127.x``, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any address
        return False


def server_token(host: str, what: str, *, token_env: str | None, new_token: bool, insecure: bool) -> str | None:
    """The token the server will ask for, or ``None`` when it is served open (loopback, or ``--insecure``).

    Args:
        host: the address the server will listen on.
        what: what the server exposes, for the message (``every stored document``).
        token_env: ``--token-env``: the environment variable that holds the token.
        new_token: ``--new-token``: make one.
        insecure: ``--insecure``: serve a non-loopback address without a token.

    Raises:
        AccessError: the flags contradict each other, the variable is unset or too short, or ``host`` is not
            loopback and neither a token nor ``--insecure`` was given.
    """
    if token_env and new_token:
        raise AccessError("give --token-env NAME or --new-token, not both")
    if insecure and (token_env or new_token):
        raise AccessError("--insecure serves without a token: drop it, or drop --token-env/--new-token")
    if token_env:
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise AccessError(f"--token-env {token_env}: ${token_env} is not set or empty here; export it first (e.g. "
                              f"export {token_env}=$(python -c 'import secrets; print(secrets.token_urlsafe())'))")
        if len(token) < MIN_TOKEN_CHARS:
            raise AccessError(f"--token-env {token_env}: the token is {len(token)} characters; use at least "
                              f"{MIN_TOKEN_CHARS} (a random one: python -c 'import secrets; "
                              "print(secrets.token_urlsafe())')")
        return token
    if new_token:
        return secrets.token_urlsafe(32)
    if insecure or is_loopback(host):
        return None
    raise AccessError(f"--host {host} lets other machines in, and without a token anyone who can reach it gets "
                      f"{what}: give --token-env NAME (a variable that holds a token) or --new-token (one is made "
                      "and printed once), or --insecure to serve it open on a network you trust")


def token_matches(given: str | bytes | None, token: str) -> bool:
    """Whether ``given`` is ``token``, compared in constant time."""
    if not given or not token:
        return False
    raw = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(raw, token.encode())


def streamlit_command(host: str, port: int) -> list[str]:
    """The command line that serves the studio (headless: it prints the address instead of opening a browser)."""
    return [sys.executable, "-m", "streamlit", "run", str(UI_APP), "--server.address", host, "--server.port",
            str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false", "--client.toolbarMode", "minimal"]


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (nothing else holds it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As the servers do (uvicorn, Streamlit): connections of a server just stopped, left in TIME_WAIT, do
        # not hold the port; a socket listening on it still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
