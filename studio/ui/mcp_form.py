"""The MCP servers of the team on the Build page: add, edit and remove them, and list what tools each offers.

A server is listed only when someone asks (the "List its tools" button): starting
a stdio server or reaching a URL on every rerun would make the page slow and
could start programs the person did not mean to. What a server listed is cached
per server spec in the session, with the connection, so trying one of its tools
(``studio.ui.tools_form``) reuses it; a server that cannot be reached shows the
error that names it.

Example:
    >>> server_from_line("python -m notes_server --db 'my notes.db'")
    {'command': 'python', 'args': ['-m', 'notes_server', '--db', 'my notes.db']}
    >>> server_from_line("http://127.0.0.1:8000/mcp")
    {'url': 'http://127.0.0.1:8000/mcp'}
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import streamlit as st

from studio.ui import icons, state
from studio.ui.build_fields import guard, key, md, number, replace_team, text, writer
from studio.ui.team_edit import roles, set_path

__all__ = ["Listing", "ask_tools", "list_tools", "listing", "server_from_line", "servers", "servers_form"]

_LISTINGS = "build_mcp_listings"
_POOLS = "build_mcp_pools"
_NEW = "build_mcp_new_name"
_NEW_LINE = "build_mcp_new_line"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")

Listing = tuple[list[Any], str]
"""What listing a server gave: (its tools, ``""``) or ([], the error naming the server)."""


def servers(data: dict[str, Any]) -> dict[str, Any]:
    """The team's ``mcp_servers`` as edited (``{}`` when unset or not a mapping)."""
    found = data.get("mcp_servers")
    return found if isinstance(found, dict) else {}


def server_from_line(line: str) -> dict[str, Any]:
    """A server's fields from one line: a URL (streamable HTTP) or a command line (stdio)."""
    line = line.strip()
    if re.match(r"^https?://", line):
        return {"url": line}
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    return {"command": words[0], **({"args": words[1:]} if words[1:] else {})} if words else {"command": ""}


def _spec_key(server: Any) -> str:
    return json.dumps(server, sort_keys=True, default=str)


def listing(server: Any) -> Listing | None:
    """What the server with these fields listed in this session, or ``None`` if nobody asked yet."""
    return st.session_state.get(_LISTINGS, {}).get(_spec_key(server))


def list_tools(name: str, server: Any) -> Listing:
    """Connect to the server ``name`` (fields ``server``), list its tools and cache them with the connection."""
    from pydantic import ValidationError

    from studio.spec import McpServer
    from studio.tools.mcp import McpPool, McpServerError

    spec_key = _spec_key(server)
    listings: dict[str, Listing] = st.session_state.setdefault(_LISTINGS, {})
    pools: dict[str, Any] = st.session_state.setdefault(_POOLS, {})
    old = pools.pop(spec_key, None)
    if old is not None:
        old.close()  # asked again: list afresh (the server may have changed)
    try:
        spec = McpServer.model_validate(server)
    except ValidationError as exc:
        found: Listing = ([], f"MCP server {name!r}: fix its fields first ({exc.errors()[0]['msg']})")
    else:
        pool = McpPool({name: spec})
        try:
            found = (pool.tools(name), "")
            pools[spec_key] = pool
        except McpServerError as exc:
            pool.close()
            found = ([], str(exc))
    listings[spec_key] = found
    return found


def ask_tools(name: str, server: Any) -> None:
    """:func:`list_tools` as a button's callback (what it found shows from the cache)."""
    list_tools(name, server)


def _add() -> None:
    name, line = st.session_state.get(_NEW, "").strip(), st.session_state.get(_NEW_LINE, "").strip()
    data = state.team_data()
    if not _NAME.match(name) or name in servers(data) or not line:
        st.session_state["build_mcp_note"] = (
            "Give the server a new name (a letter, then letters, digits, _ or -) and its command line or URL.")
        return
    st.session_state.pop("build_mcp_note", None)
    replace_team(set_path(data, ("mcp_servers",), {**servers(data), name: server_from_line(line)}))
    st.session_state[_NEW] = st.session_state[_NEW_LINE] = ""


def _remove(name: str) -> None:
    """Remove the server, and every role's tools from it (they would name a server the team no longer has)."""
    data = state.team_data()
    rest = {k: v for k, v in servers(data).items() if k != name}
    data = set_path(data, ("mcp_servers",), rest or None)
    for index, role in enumerate(roles(data)):
        tools = role.get("tools") if isinstance(role, dict) else None
        if isinstance(tools, list):
            kept = [t for t in tools if not (isinstance(t, dict) and t.get("mcp") == name)]
            data = set_path(data, ("roles", index, "tools"), kept or None)
    replace_team(data)


def _set_transport(name: str, widget: str) -> None:
    data = state.team_data()
    old = servers(data).get(name)
    keep = {k: v for k, v in old.items() if k == "timeout_s"} if isinstance(old, dict) else {}
    new = {"url": "http://127.0.0.1:8000/mcp"} if st.session_state[widget] == "HTTP" else {"command": "python"}
    replace_team(set_path(data, ("mcp_servers", name), {**new, **keep}))


def _lines(value: str) -> list[str] | None:
    return [line.strip() for line in value.splitlines() if line.strip()] or None


def _names(value: str) -> list[str] | None:
    return [n for n in re.split(r"[\s,]+", value) if n] or None


def _headers(value: str) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for line in value.splitlines():
        name, sep, text_ = line.partition(":")
        if line.strip():
            found[name.strip()] = text_.strip() if sep else ""
    return found or None


def _list_widget(data: dict[str, Any], path: tuple[str, ...], label: str, convert: Any, shown: str,
                 help: str) -> None:
    widget = key(*path)
    st.text_area(label, value=shown, key=widget, help=help, height=80, on_change=writer(path, widget, convert))


def _server(data: dict[str, Any], problems: list[str], name: str, server: Any) -> None:
    here = [line for line in problems if line.startswith((f"mcp_servers.{name}.", f"mcp_servers.{name}:"))]
    for line in here:
        st.error(md(line), icon=icons.ALERTS["problem"])
    if not isinstance(server, dict):
        st.error(f"mcp_servers.{name} is not a mapping; remove it.", icon=icons.ALERTS["problem"])
        return
    http = "url" in server
    widget = key("mcp_servers", name, "transport")
    st.radio("Transport", ["stdio", "HTTP"], index=1 if http else 0, key=widget, horizontal=True,
             on_change=guard(_set_transport), args=(name, widget),
             help="stdio: Huddle starts the server as a program; HTTP: it connects to a streamable HTTP URL.")
    path = ("mcp_servers", name)
    if http:
        text(data, [], "URL", (*path, "url"), help="http(s)://host:port/mcp")
        headers = server.get("headers")
        _list_widget(data, (*path, "headers"), "Headers (one Name: value a line)", _headers,
                     "\n".join(f"{k}: {v}" for k, v in headers.items()) if isinstance(headers, dict) else "",
                     "Never a secret itself: refer to an environment variable as ${NAME}, "
                     "e.g. Authorization: Bearer ${NOTES_TOKEN}.")
    else:
        text(data, [], "Command", (*path, "command"), keep_empty=True, help="The program: python, npx, uvx, …")
        args = server.get("args")
        _list_widget(data, (*path, "args"), "Arguments (one a line)", _lines,
                     "\n".join(map(str, args)) if isinstance(args, list) else "",
                     "Each argument on its own line, as the program gets it.")
        env = server.get("env")
        widget = key(*path, "env")
        st.text_input("Environment variables passed on (names only)", key=widget,
                      value=", ".join(map(str, env)) if isinstance(env, list) else "",
                      on_change=writer((*path, "env"), widget, _names),
                      help="Only these variables of the environment reach the server; their values are never "
                           "written in the team file.")
    number(data, [], "Timeout per call (s)", (*path, "timeout_s"), integer=False, default=30.0)
    listed, remove = st.columns(2)
    listed.button("List its tools", key=f"build_mcp_list_{name}", on_click=guard(ask_tools), args=(name, server),
                  help="Starts or reaches the server now and asks for its tools.")
    remove.button("Remove this server", key=f"build_mcp_rm_{name}", on_click=guard(_remove), args=(name,),
                  help="Also removes its tools from every role.")
    found = listing(server)
    if found is not None:
        tools, error = found
        if error:
            st.error(md(error), icon=icons.ALERTS["server"])
        else:
            st.markdown("\n".join(f"- `{t.name}` — {md(t.description.splitlines()[0] if t.description else '')}"
                                  for t in tools) or "*(no tools)*")


def servers_form(data: dict[str, Any], problems: list[str]) -> None:
    """Each MCP server in an expander (fields, list its tools, remove), and a row to add one."""
    found = servers(data)
    if data.get("mcp_servers") is not None and not isinstance(data.get("mcp_servers"), dict):
        st.error("`mcp_servers` is not a mapping of name to server; remove it.", icon=icons.ALERTS["problem"])
    for name, server in found.items():
        where = server.get("url") or server.get("command") if isinstance(server, dict) else "?"
        with st.expander(f"{name} — {where or '(not set)'}", icon=icons.ALERTS["server"],
                         expanded=listing(server) is not None):
            _server(data, problems, name, server)
    name_col, line_col = st.columns([1, 2])
    name_col.text_input("New server's name", key=_NEW, placeholder="notes")
    line_col.text_input("Its command line or URL", key=_NEW_LINE,
                    placeholder="python -m notes_server  or  http://127.0.0.1:8000/mcp")
    st.button("Add MCP server", key="build_mcp_add", on_click=guard(_add))
    if st.session_state.get("build_mcp_note"):
        st.error(st.session_state["build_mcp_note"], icon=icons.ALERTS["problem"])
