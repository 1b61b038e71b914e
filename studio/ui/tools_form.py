r"""A role's tools on the Build page: built-in tools, Python functions, each MCP server's tools, and "try a tool".

A role's ``tools`` list mixes three kinds of entry (see ``studio.spec.tools``);
each widget here edits the entries of one kind and leaves the others where they
are. An MCP server's tools are offered by name once the server was listed (the
"List tools" button, cached per server spec by ``studio.ui.mcp_form``); names
can also be typed before that. "Try a tool" calls one tool with JSON arguments
through :meth:`studio.tools.Tool.call`, exactly as a role would, and shows what
the role would be shown.

Example:
    >>> tools = ["memory_search", {"python": "a:b"}, {"mcp": "notes"}]
    >>> replace_entries(tools, "python", [{"python": "c:d"}, {"python": "e:f"}])
    ['memory_search', {'python': 'c:d'}, {'python': 'e:f'}, {'mcp': 'notes'}]
    >>> python_entries("statistics:mean\njson:dumps as to_json\n")
    [{'python': 'statistics:mean'}, {'python': 'json:dumps', 'name': 'to_json'}]
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import streamlit as st

from studio.spec import TOOLS
from studio.ui import icons, state
from studio.ui.build_fields import guard, key, md, show_problems
from studio.ui.mcp_form import ask_tools, listing, servers
from studio.ui.team_edit import get_path, roles, set_path

__all__ = ["category", "python_entries", "replace_entries", "role_tools", "try_tool", "tryable"]

_OUTCOME = "build_try_outcome"


def category(entry: Any) -> str:
    """What kind of tools entry this is: ``builtin``, ``python``, ``mcp:SERVER`` or ``other``."""
    if isinstance(entry, str):
        return "builtin"
    if isinstance(entry, dict) and "mcp" in entry:
        return f"mcp:{entry['mcp']}"
    if isinstance(entry, dict) and "python" in entry:
        return "python"
    return "other"


def replace_entries(tools: list[Any], which: str, new: list[Any]) -> list[Any]:
    """``tools`` with its entries of kind ``which`` replaced by ``new``, where the first of them was (else last)."""
    out: list[Any] = []
    placed = False
    for entry in tools:
        if category(entry) != which:
            out.append(entry)
        elif not placed:
            out += new
            placed = True
    return out if placed else out + new


def python_entries(value: str) -> list[dict[str, str]]:
    """Python tools from lines of ``package.module:function`` (``… as NAME`` names the tool)."""
    found = []
    for line in value.splitlines():
        ref, _, name = line.strip().partition(" as ")
        if ref.strip():
            found.append({"python": ref.strip(), **({"name": name.strip()} if name.strip() else {})})
    return found


def _tools(data: dict[str, Any], index: int) -> list[Any]:
    found = get_path(data, ("roles", index, "tools"))
    return found if isinstance(found, list) else []


def _write(index: int, which: str, new: list[Any]) -> None:
    data = state.team_data()
    state.commit(set_path(data, ("roles", index, "tools"), replace_entries(_tools(data, index), which, new) or None))


def _on(index: int, which: str, widget: str, convert: Callable[[Any], list[Any]]) -> None:
    _write(index, which, convert(st.session_state[widget]))


def _mcp_entry(index: int, server: str, field: str, widget: str) -> None:
    data = state.team_data()
    old = next((t for t in _tools(data, index) if category(t) == f"mcp:{server}"), {"mcp": server})
    entry = {k: v for k, v in old.items() if k != field}
    if st.session_state[widget]:
        entry[field] = list(st.session_state[widget])
    _write(index, f"mcp:{server}", [entry])


def _toggle_server(index: int, server: str, widget: str) -> None:
    _write(index, f"mcp:{server}", [{"mcp": server}] if st.session_state[widget] else [])


def _listed_names(server: Any) -> tuple[list[str], str | None]:
    found = listing(server)
    if found is None:
        return [], None
    return [t.name for t in found[0]], found[1]


def _server_tools(data: dict[str, Any], index: int, name: str, server: Any) -> None:
    entry = next((t for t in _tools(data, index) if category(t) == f"mcp:{name}"), None)
    widget = key("roles", index, "tools", "mcp", name)
    st.checkbox(f"Tools of MCP server **{md(name)}**", value=entry is not None, key=widget,
                on_change=guard(_toggle_server), args=(index, name, widget))
    if entry is None:
        return
    names, error = _listed_names(server)
    allow = entry.get("allow") if isinstance(entry.get("allow"), list) else []
    deny = entry.get("deny") if isinstance(entry.get("deny"), list) else []
    options = list(dict.fromkeys([*names, *map(str, allow), *map(str, deny)]))
    left, right = st.columns(2)
    for column, field, label, chosen, help in (
            (left, "allow", "Allow (none: all of its tools)", allow,
             "Models handle about 20 tools well: pick the ones this role needs."),
            (right, "deny", "Deny", deny, "Never these, even when allowed.")):
        widget = key("roles", index, "tools", "mcp", name, field)
        column.multiselect(label, options, default=[str(c) for c in chosen], key=widget, accept_new_options=True,
                           help=help, on_change=guard(_mcp_entry), args=(index, name, field, widget))
    if error:
        st.error(md(error), icon=icons.ALERTS["server"])
    elif error is None:
        st.button(f"List tools of {name}", key=f"build_tools_list_{index}_{name}", on_click=guard(ask_tools),
                  args=(name, server), help="Starts or reaches the server now and asks for its tools.")


def role_tools(data: dict[str, Any], problems: list[str], index: int) -> None:
    """The tools of role ``index``: built-in ones, Python functions, each server's tools; then "try a tool"."""
    tools = _tools(data, index)
    widget = key("roles", index, "tools")
    st.multiselect("Tools", list(TOOLS), default=[t for t in tools if t in TOOLS], key=widget,
                   help="memory_search: the role searches the shared memory with its own query.",
                   on_change=guard(_on), args=(index, "builtin", widget, list))
    widget = key("roles", index, "tools", "python")
    st.text_area("Python functions (one package.module:function a line; add `as NAME` to rename)", height=80,
                 value="\n".join(str(t.get("python")) + (f" as {t['name']}" if t.get("name") else "")
                                 for t in tools if category(t) == "python"),
                 key=widget, on_change=guard(_on), args=(index, "python", widget, python_entries),
                 help="Typed functions importable where the team runs; their docstring and annotations tell "
                      "the model how to call them.")
    for name, server in servers(data).items():
        _server_tools(data, index, name, server)
    show_problems(problems, f"roles[{index}].tools")
    with st.expander("Try a tool"):
        _try_form(data, index)


def tryable(data: dict[str, Any], index: int) -> dict[str, Callable[[], Any]]:
    """Each tool of role ``index`` that can be tried here, by label, as a function that makes it.

    Those are its Python functions, and the allowed tools of each MCP server listed in this session.
    """
    found: dict[str, Callable[[], Any]] = {}
    team_servers = servers(data)
    for entry in _tools(data, index):
        if category(entry) == "python":
            ref, name = str(entry["python"]), entry.get("name")
            found[f"{name or ref.rpartition(':')[2].rpartition('.')[2]} (python {ref})"] = partial(
                _python_tool, ref, name)
        elif category(entry).startswith("mcp:") and entry["mcp"] in team_servers:
            listed = listing(team_servers[entry["mcp"]])
            allow, deny = entry.get("allow"), entry.get("deny") or []
            for tool in listed[0] if listed else []:
                if (not allow or tool.name in allow) and tool.name not in deny:
                    found[f"{tool.name} (mcp {entry['mcp']})"] = partial(_same, tool)
    return found


def _python_tool(ref: str, name: str | None) -> Any:
    from studio.tools import function_tool, import_function

    return function_tool(import_function(ref), name=name, source=f"python {ref}")


def _same(tool: Any) -> Any:
    return tool


def try_tool(make: Callable[[], Any], arguments: str) -> tuple[bool, str]:
    """Make the tool and call it with ``arguments`` (JSON text): (ok, what the role would be shown)."""
    from studio.tools import ToolConfigError

    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        return False, f"the arguments are not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if not isinstance(parsed, dict):
        return False, 'the arguments must be a JSON object, e.g. {"query": "text"}'
    try:
        tool = make()
    except ToolConfigError as exc:
        return False, str(exc)
    outcome = tool.call(parsed)
    return outcome.ok, outcome.text


def _run_try(index: int) -> None:
    data = state.team_data()
    label = st.session_state.get(f"build_try_tool_{index}")
    make = tryable(data, index).get(label or "")
    if make is None:
        return
    ok, text = try_tool(make, st.session_state.get(f"build_try_args_{index}", "{}"))
    st.session_state[_OUTCOME] = (role_key(data, index), label, ok, text)


def role_key(data: dict[str, Any], index: int) -> str:
    """Which role an outcome belongs to (its index and name: a removed or renamed role drops it)."""
    role = roles(data)[index] if index < len(roles(data)) else {}
    return f"{index}:{role.get('name') if isinstance(role, dict) else ''}"


def _try_form(data: dict[str, Any], index: int) -> None:
    found = tryable(data, index)
    if not found:
        st.caption("Add a Python function, or pick an MCP server's tools and list them, to try them here.")
        return
    label = st.selectbox("Tool", list(found), key=f"build_try_tool_{index}") or next(iter(found))
    try:
        tool = found[label]()
    except ValueError as exc:  # ToolConfigError: the function does not import
        st.error(md(str(exc)), icon=icons.ALERTS["problem"])
        return
    st.caption(md(tool.description.splitlines()[0] if tool.description else tool.name))
    with st.popover("Its arguments' JSON schema"):
        st.json(tool.parameters)
    st.text_area("Arguments (a JSON object)", value="{}", key=f"build_try_args_{index}", height=90)
    st.button("Call it", key=f"build_try_run_{index}", on_click=guard(_run_try), args=(index,))
    outcome = st.session_state.get(_OUTCOME)
    if outcome and outcome[0] == role_key(data, index) and outcome[1] == label:
        _, _, ok, text = outcome
        (st.success if ok else st.error)(f"{label}: {'ok' if ok else 'failed'}",
                                         icon=icons.ALERTS["valid" if ok else "failed"])
        st.text(text or "(empty)")
