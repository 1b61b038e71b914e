"""Export a team spec as a standalone Python script, a Jupyter notebook or YAML.

The script and the notebook build the team in code through the public API
(:class:`studio.Team` and :class:`studio.Role`), writing only the settings that
differ from the defaults, so the team they build has exactly the spec they came
from. Every export goes through :func:`studio.redact.redact`: none carries a secret.

Example:
    >>> from studio.spec import RoleSpec, TeamSpec
    >>> duo = TeamSpec(name="duo", roles=[RoleSpec(name="coder", kind="coder"),
    ...                                   RoleSpec(name="tester", kind="tester", acts_as="critic")])
    >>> print(team_source(duo))
    Team(
        "duo",
        roles=[
            Role.coder(),
            Role.custom("tester", acts_as="critic"),
        ],
    )
"""

from __future__ import annotations

import re
import textwrap
from typing import Any, Literal

from studio.redact import redact
from studio.spec import McpServer, PythonTool, RoleSpec, TeamSpec, approval_label, dump_spec

__all__ = ["EXAMPLE_TASK", "FORMATS", "server_label", "team_source", "to_notebook", "to_script", "to_yaml"]

FORMATS = ("script", "notebook", "yaml")
EXAMPLE_TASK = "Write fizzbuzz(n) with a test"
WIDTH = 120
"""Longest line written (the repository's ruff line length)."""

# What the notebook prints for each message, as the script does: `[sender · kind] first line`, the rest indented.
_PRINT_LOOP = """\
for message in run.messages:
    first, *rest = message.content.splitlines() or [""]
    print(f"[{message.sender} · {message.kind}] {first}")
    for line in rest:
        print(f"  {line}" if line else "")"""


def _string(text: str) -> str:
    """A Python string literal, in double quotes where the text allows."""
    literal = repr(text)
    return f'"{literal[1:-1]}"' if literal[0] == "'" and '"' not in text else literal


def _flat(value: Any) -> str:
    """``value`` (JSON-like, or a tuple) as Python source on one line."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_flat, value)) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(map(_flat, value)) + "]"
    return repr(value)  # bool, int, float, None


def _pieces(text: str, room: int) -> list[str]:
    """String literals, each at most ``room`` wide, that concatenate to ``text`` (cut after newlines and spaces)."""
    pieces: list[str] = []
    for line in text.splitlines(keepends=True):
        current = ""
        for word in re.findall(r"\S*\s*", line)[:-1] or [line]:
            while len(_string(word)) > room:  # one long word: cut it by characters
                cut = max(1, room - 2 - (len(_string(word)) - len(word)))
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(word[:cut])
                word = word[cut:]
            if current and len(_string(current + word)) > room:
                pieces.append(current)
                current = ""
            current += word
        if current:
            pieces.append(current)
    return [_string(p) for p in pieces]


def _expr(value: Any, indent: int, used: int) -> str:
    """``value`` as source starting on a line indented ``indent``.

    ``used`` columns are taken on its first line (the text before it and the comma after it). Too long for
    one line: one item (or string piece) per line.
    """
    flat = _flat(value)
    if used + len(flat) <= WIDTH or not isinstance(value, (str, dict, list, tuple)) or not value:
        return flat
    if isinstance(value, str):
        lines, brackets = _pieces(value, WIDTH - indent - 4), "()"
    elif isinstance(value, dict):
        lines = [f"{_string(k)}: {_expr(v, indent + 4, indent + len(_string(k)) + 7)}," for k, v in value.items()]
        brackets = "{}"
    else:
        lines = [f"{_expr(v, indent + 4, indent + 5)}," for v in value]
        brackets = "()" if isinstance(value, tuple) else "[]"
    inner = " " * (indent + 4)
    return brackets[0] + "\n" + "".join(f"{inner}{line}\n" for line in lines) + " " * indent + brackets[1]


def _call(func: str, positional: list[Any], keywords: dict[str, Any], indent: int) -> str:
    """``func(...)`` on one line (at column ``indent``, a comma after it) when it fits, else one argument per line."""
    args = [_flat(v) for v in positional] + [f"{k}={_flat(v)}" for k, v in keywords.items()]
    flat = f"{func}({', '.join(args)})"
    if indent + len(flat) + 1 <= WIDTH:
        return flat
    inner = indent + 4
    parts = [_expr(v, inner, inner + 1) for v in positional]
    parts += [f"{k}={_expr(v, inner, inner + len(k) + 2)}" for k, v in keywords.items()]
    return f"{func}(\n" + "".join(f"{' ' * inner}{p},\n" for p in parts) + " " * indent + ")"


def _role(role: RoleSpec, indent: int) -> str:
    settings = role.model_dump(by_alias=True, exclude_defaults=True, mode="json")
    for key in ("name", "kind", "acts_as"):
        settings.pop(key, None)
    if role.builtin:
        return _call(f"Role.{role.kind}", [role.name] if role.name != role.kind else [], settings, indent)
    own = {} if role.kind == role.name.lower().replace("-", "_") else {"kind": role.kind}
    return _call("Role.custom", [role.name], {"acts_as": role.acts_as, **own, **settings}, indent)


def server_label(server: McpServer) -> str:
    """Where an MCP server is, for people: its command line (stdio) or its URL; never a header's value.

    Example:
        >>> server_label(McpServer(command="python", args=["notes.py"], env=["NOTES_DB"]))
        'python notes.py (env: NOTES_DB)'
    """
    if server.url is not None:
        return server.url
    return " ".join([server.command or "", *server.args]) + (f" (env: {', '.join(server.env)})" if server.env else "")


def _tool_notes(role: RoleSpec) -> list[str]:
    """Comments above a role whose function tools were defined in ``__main__`` (a notebook or a script)."""
    return [f"{tool.python} must be importable where this runs: move it into a module and name that instead"
            for tool in role.tools if isinstance(tool, PythonTool) and tool.python.startswith("__main__:")]


def _flow(spec: TeamSpec) -> Any:
    """The ``flow`` argument: a list of ``(from, to)`` pairs, or a mapping when entry or max_rounds are set."""
    fields = spec.flow.model_dump(exclude_defaults=True)
    edges = [(e.source, e.target) for e in spec.flow.edges]
    if set(fields) <= {"edges"}:
        return edges or None
    return {key: edges if key == "edges" else value for key, value in fields.items()}


def team_source(spec: TeamSpec, indent: int = 0) -> str:
    """The ``Team(...)`` expression that builds ``spec`` (its first line unindented, the rest at ``indent``)."""
    pad, inner = " " * indent, " " * (indent + 4)
    lines = ["Team(", f"{inner}{_expr(spec.name, indent + 4, indent + 5)},"]
    if spec.description:
        lines.append(f"{inner}description={_expr(spec.description, indent + 4, indent + 17)},")
    lines.append(f"{inner}roles=[")
    for role in spec.roles:
        lines += [f"{pad}        # {note}" for note in _tool_notes(role)]
        lines.append(f"{pad}        {_role(role, indent + 8)},")
    lines.append(f"{inner}],")
    keywords = {"flow": _flow(spec)}
    for part in ("defaults", "memory", "sandbox"):
        keywords[part] = getattr(spec, part).model_dump(exclude_defaults=True, mode="json") or None
    keywords["mcp_servers"] = {name: server.model_dump(exclude_defaults=True, mode="json")
                               for name, server in spec.mcp_servers.items()} or None
    keywords["approval"] = [p if isinstance(p, str) else p.model_dump(mode="json") for p in spec.approval] or None
    keywords["budget"] = (spec.budget.model_dump(exclude_none=True, mode="json") or None) if spec.budget else None
    for key, value in keywords.items():
        if value is not None:
            lines.append(f"{inner}{key}={_expr(value, indent + 4, indent + len(key) + 6)},")
    lines.append(f"{pad})")
    return "\n".join(lines)


def _docstring_text(text: str) -> str:
    """``text`` made safe inside a triple-quoted docstring, wrapped and without trailing spaces."""
    text = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = [wrapped for line in text.splitlines() or [""] for wrapped in textwrap.wrap(line, 100) or [""]]
    return "\n".join(line.rstrip() for line in lines)


def _file_name(spec: TeamSpec, given: str | None) -> str:
    """The script's name in its usage text: the one given, else from the team's name (short: the text fits)."""
    if given and len(given) <= 60:
        return _docstring_text(given)
    return (re.sub(r"[^a-z0-9]+", "_", spec.name.lower()).strip("_")[:40].rstrip("_") or "team") + ".py"


_SCRIPT = '''\
"""{title}

Exported from its team spec with `huddle export`: the team is built in code with
Huddle's Python API, so no YAML file is needed. Run it with

    python {filename} "{task}"
    python {filename} "{task}" --model scripted:PATH

Each role uses its own model unless --model names one for all of them. The script
prints each message on stdout as it is published (`[sender · kind] first line`, the
rest of it indented), and each model's reply on stderr as it streams in (not with
--quiet). It exits with 0 when the run is done, 1 when it failed, 2 when it could
not start (say, a missing API key), 3 when it waits for a person's approval (answer
with `huddle run --resume RUN_ID --approve`, or run with --auto-approve) and 4 when
it ended unsolved (its code fails the task's tests, whatever a role claimed).
"""

import argparse
import sys
import threading

from studio import Role, Team


def build_team() -> Team:
    """The team, exactly as its spec describes it (settings left at their defaults are not repeated)."""
    return {team}


RESTART = "\\x18"
"""What `on_token` gets when a model call failed part way and is tried again: its reply starts over."""


class Printer:
    """Prints a run as it goes: each reply on stderr as it streams in, each message on stdout when published."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # parallel branches speak from several threads
        self.speaking: str | None = None

    def piece(self, role: str, piece: str) -> None:
        """A piece of the reply of ``role`` (``role.branch`` on a branch); the role's name starts each reply."""
        with self.lock:
            if piece == RESTART:  # what the failed try said is void: the next try's reply starts on a new line
                if role != self.speaking:  # a parallel branch spoke since: say whose words are dropped
                    self._end_reply()
                    sys.stderr.write(f"{{role}} >")
                sys.stderr.write(" [dropped: the call failed part way; trying again]\\n")
                sys.stderr.flush()
                self.speaking = None
                return
            if role != self.speaking:
                self._end_reply()
                sys.stderr.write(f"{{role}} > ")
                self.speaking = role
            sys.stderr.write(piece)
            sys.stderr.flush()

    def published(self, message) -> None:
        """A message, once it is in the run log: `[sender · kind] first line`, then the rest indented."""
        with self.lock:
            self._end_reply()
            first, *rest = message.content.splitlines() or [""]
            print(f"[{{message.sender}} · {{message.kind}}] {{first}}")
            for line in rest:
                print(f"  {{line}}" if line else "")
            sys.stdout.flush()

    def _end_reply(self) -> None:
        if self.speaking is not None:
            sys.stderr.write("\\n")
            sys.stderr.flush()
            self.speaking = None


def main(argv: list[str] | None = None) -> int:
    """Run the team on the task given on the command line, printing what it says as it goes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="what the team should do")
    parser.add_argument("--model", help="model for every role: a litellm string, local/smollm2 or scripted:PATH")
    parser.add_argument("--auto-approve", action="store_true", help="approve every approval point without asking")
    parser.add_argument("--quiet", action="store_true", help="print the messages only, not the replies as they stream")
    args = parser.parse_args(argv)
    printer = Printer()
    try:
        run = build_team().run(args.task, model=args.model, display=False, auto_approve=args.auto_approve,
                               on_message=printer.published, on_token=None if args.quiet else printer.piece)
    except ValueError as exc:  # the team cannot run: a model, key or script file is missing
        print(f"error: {{exc}}", file=sys.stderr)
        return 2
    if run.status == "waiting":
        print(f"run {{run.run_id}} waits for approval ({{run.pending.point}}): huddle run --resume {{run.run_id}} "
              "--approve (or --reject WHY)", file=sys.stderr)
        return 3
    if run.status == "unsolved":  # the run ended, but its code fails the task's tests
        print(f"run {{run.run_id}} unsolved: {{run.final.content.splitlines()[0]}}", file=sys.stderr)
        return 4
    if run.status != "done":
        print(f"error: run {{run.run_id}} {{run.status}}: {{run.error}}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
'''


def _title(spec: TeamSpec) -> str:
    return f"The Huddle team '{spec.name}'" + (f": {spec.description}" if spec.description else ".")


def to_script(spec: TeamSpec, *, filename: str | None = None) -> str:
    """``spec`` as a standalone, runnable Python script (``build_team()`` and a ``main()`` command line).

    Args:
        spec: the team.
        filename: the script's file name, shown in its usage text (``<team name>.py`` by default).
    """
    text = _SCRIPT.format(title=_docstring_text(_title(spec)),
                          filename=_file_name(spec, filename), task=EXAMPLE_TASK,
                          team=team_source(spec, indent=4))
    return redact(text)


def to_notebook(spec: TeamSpec) -> dict[str, Any]:
    """``spec`` as a Jupyter notebook (nbformat 4, no outputs): intro, imports, parameters, team, run, messages."""
    from nbformat import v4

    intro = f"# {spec.name}\n\n" + (f"{spec.description}\n\n" if spec.description else "") + (
        "A Huddle team, exported from its team spec with `huddle export`. The team is built in code with "
        "Huddle's Python API. Set the task (and, if you like, one model for every role) in the parameters "
        "cell, then run the cells from top to bottom.")
    parameters = (f"TASK = {_string(EXAMPLE_TASK)}\n"
                  "MODEL = None  # None: each role's own model; or a litellm string, local/smollm2, scripted:PATH")
    run_code = "run = team.run(TASK, model=MODEL)\nrun"
    run_text = "The messages appear below as the roles publish them."
    if spec.approval:
        parameters += "\nAUTO_APPROVE = False  # True: approve every approval point without stopping"
        run_code = "run = team.run(TASK, model=MODEL, auto_approve=AUTO_APPROVE)\nrun"
        points = ", ".join(approval_label(p) for p in spec.approval)
        run_text += (f" The team stops for your approval ({points}): when `run.status` is "
                     "`waiting`, look at `run.pending` and go on with `run = run.approve()`, "
                     "`run.approve(edit=...)` or `run.reject(\"why\")`.")
    cells = [
        v4.new_markdown_cell(intro),
        v4.new_code_cell("from studio import Role, Team"),
        v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        v4.new_markdown_cell("## The team\n\nOnly the settings that differ from the defaults are written out."),
        v4.new_code_cell(f"team = {team_source(spec)}\nteam"),
        v4.new_markdown_cell(f"## Run it\n\n{run_text}"),
        v4.new_code_cell(run_code),
        v4.new_markdown_cell("## What it published"),
        v4.new_code_cell(f'{_PRINT_LOOP}\nprint(f"run {{run.run_id}}: {{run.status}}")'),
    ]
    for number, cell in enumerate(cells):
        cell["id"] = f"cell-{number}"  # stable ids: the same spec exports the same file
        cell["source"] = redact(cell["source"])
    return v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })


def to_yaml(spec: TeamSpec, fmt: Literal["yaml", "json"] = "yaml") -> str:
    """The validated spec written back out, minimal: no default and no ``null`` (what the studio's Save writes)."""
    return redact(dump_spec(spec, fmt, minimal=True))
