"""One table of message kinds: every kind of the union is labelled and drawn by the CLI, the studio and the notebook.

The instances come from the union in ``studio.messages`` (not from a list kept here), so a kind added
there is rendered by every test below; and a kind that a surface does not draw yet stops that surface
from importing, naming the kind.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import Field
from rich.console import Console
from streamlit.testing.v1 import AppTest

from studio.api import notebook
from studio.api.run import Run
from studio.kinds import KIND_NAMES, KINDS, KindNotDrawn, covering, kind_names
from studio.messages import MESSAGE_TYPES, Message, PlanStep, Task
from studio.render import _DRAW as CLI_DRAW
from studio.render import print_message
from studio.ui import transcript

MARK = "zq7-mark"
"""Put in every free text of every message; each surface must show it somewhere in the message's body."""
MEMBERS = get_args(get_args(Message)[0])
_METADATA = {"id", "run_id", "sender", "topic", "parent_id", "created_at", "usage", "memory_ids", "branch"}


def _sample(annotation: Any) -> Any:
    """A value of ``annotation`` that carries MARK where it holds text (``None`` leaves the default)."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)[0]
    if annotation is str:
        return f"{MARK} <b>"  # markup must come out as text on every surface
    if annotation == list[str]:
        return [MARK]
    if annotation == list[PlanStep]:
        return [PlanStep(id="s1", description=MARK)]
    if get_origin(annotation) is dict:
        return {"query": MARK}
    return None


def one_of_each() -> list[Any]:
    """One message of every member of the union, every text field holding MARK; sent by an agent named after
    its kind."""
    out = []
    for member in MEMBERS:
        fields = {name: _sample(info.annotation) for name, info in member.model_fields.items()
                  if name not in _METADATA and name != "kind"}
        out.append(member(run_id="r", sender=f"agent-{member.model_fields['kind'].default}",
                          **{k: v for k, v in fields.items() if v is not None}))
    return out


MESSAGES = one_of_each()


def test_the_registry_and_the_samples_cover_exactly_the_union():
    assert KIND_NAMES == tuple(m.model_fields["kind"].default for m in MESSAGE_TYPES) == kind_names(Message)
    assert set(KINDS) == set(KIND_NAMES) == {m.kind for m in MESSAGES}
    assert all(kind.label and kind.icon and kind.colour for kind in KINDS.values())
    assert all(MARK in KINDS[m.kind].summary(m) for m in MESSAGES)


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.kind)
def test_the_cli_labels_and_draws_every_kind(message):
    console = Console(record=True, width=200, color_system=None)
    print_message(console, message)
    out = console.export_text()
    assert f"{message.sender} · {KINDS[message.kind].label}" in out
    assert MARK in out


def _studio_page(messages):
    from studio.ui.transcript import render_transcript

    render_transcript(messages, {})


def _texts(block) -> list[str]:
    """Every text a block shows (markdown, captions, code, alerts, plain text, expander labels), nested ones too."""
    values = [getattr(block, attr, None) for attr in ("value", "label")]
    return [v for v in values if isinstance(v, str)] + [t for c in getattr(block, "children", {}).values()
                                                        for t in _texts(c)]


def test_the_studio_labels_and_draws_every_kind():
    app = AppTest.from_function(_studio_page, args=(MESSAGES,), default_timeout=30).run()
    assert not app.exception, app.exception
    bubbles = {bubble.name: "\n".join(_texts(bubble)) for bubble in app.chat_message}
    assert len(bubbles) == len(MESSAGES)
    for index, message in enumerate(MESSAGES):
        kind = KINDS[message.kind]
        shown = bubbles[message.sender]
        assert f"{kind.icon} {kind.label} · #{index + 1}" in shown, shown
        assert MARK in shown, (message.kind, shown)


def test_the_notebook_labels_and_draws_every_kind():
    html = Run("r", "done", MESSAGES)._repr_html_()
    rows = html.split("<tr>")[2:]  # after the header row
    assert len(rows) == len(MESSAGES)
    for row, message in zip(rows, MESSAGES, strict=True):
        kind = KINDS[message.kind]
        assert f"<b>{message.sender}</b>" in row and f"<td>{kind.label}</td>" in row  # HTML shows no Material name
        assert f"{MARK} &lt;b&gt;" in row, row
    assert "<b>" not in html.replace("<b>agent-", "")  # every text is escaped
    assert ":material/" not in html

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(obj._repr_html_())

    view = notebook.LiveView(Handle(), {}, max_rounds=6)
    for message in MESSAGES:
        view.message(message)
    view.close("done")
    assert all(f"<td>{KINDS[m.kind].label}</td>" in shown[-1] for m in MESSAGES)


class Poll(Task):
    """A kind that no table knows yet."""

    kind: Literal["poll"] = "poll"


WITH_POLL = Annotated[Union[(*MEMBERS, Poll)], Field(discriminator="kind")]  # noqa: UP007


@pytest.mark.parametrize("where, table", [
    ("the kind registry", KINDS), ("the CLI", CLI_DRAW), ("the studio", transcript._DRAW),
    ("the notebook", notebook._BODY),
])
def test_a_kind_added_to_the_union_fails_where_it_is_not_drawn(where, table):
    assert "poll" in kind_names(WITH_POLL)
    assert covering(where, table) is table
    with pytest.raises(KindNotDrawn, match=f"^{where} does not draw the message kind\\(s\\) poll yet"):
        covering(where, table, kinds=kind_names(WITH_POLL))


def test_a_new_kind_stops_each_surface_that_does_not_draw_it_from_importing():
    """In a fresh interpreter: the registry gains ``poll``, the union too; the CLI and the studio then refuse to
    import, naming the kind, while the notebook draws it through the registry's summary."""
    script = textwrap.dedent("""
        import importlib
        import studio.kinds as kinds
        union = kinds.KIND_NAMES
        kinds.KINDS["poll"] = kinds.Kind("poll", "?", "white", lambda m: m.content)
        for name, first in (("studio.render", ()), ("studio.ui.transcript", ("studio.render",)),
                            ("studio.api.notebook", ())):
            kinds.KIND_NAMES = union
            for module in first:  # what it needs, imported before the kind is added
                importlib.import_module(module)
            kinds.KIND_NAMES = (*union, "poll")
            try:
                importlib.import_module(name)
                print(name, "imported")
            except kinds.KindNotDrawn as error:
                print(name, "refused:", error)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("studio.render refused: the CLI (studio/render.py) does not draw the message "
                               "kind(s) poll yet"), out.stdout
    assert lines[1].startswith("studio.ui.transcript refused: the studio (studio/ui/transcript.py) does not draw "
                               "the message kind(s) poll yet"), out.stdout
    assert lines[2] == "studio.api.notebook imported", out.stdout
