"""Widgets of the Build page bound to one field of the team dict, with that field's problems under them.

Every widget writes its field in an ``on_change`` callback, which Streamlit
runs before the script: by the time the page validates, the edit is in the
dict, valid or not. A keyed widget keeps its own value across reruns (in the
browser too), so when the dict changes under the widgets (a loaded file, a
role removed on the canvas, a rename) :func:`replace_team` moves the team's
revision on, and with it every widget key: the widgets start afresh from the
dict. Every callback is made with :func:`guard`, which drops it when the
revision moved since it was drawn: the browser may still send a change of a
widget drawn for the team before (its old name, kind or approval points),
and that change must never land in the team now shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from studio.spec import DEFAULT_MODEL
from studio.ui import icons, state
from studio.ui.team_edit import FieldPath, get_path, problems_under, set_path, split_problem

__all__ = ["CUSTOM", "PREFIX", "UNSET", "guard", "key", "md", "model_choices", "model_picker", "number",
           "problem_md", "replace_team", "reset_widgets", "show_problems", "text", "toggle", "writer"]

PREFIX = "bld"
UNSET = "(team default)"
CUSTOM = "other model…"
PROVIDER_MODELS = {
    "OpenAI": ("gpt-4o-mini", "gpt-4o"),
    "Anthropic": ("anthropic/claude-3-5-haiku-latest", "anthropic/claude-3-5-sonnet-latest"),
    "Gemini": ("gemini/gemini-2.0-flash",),
    "Mistral": ("mistral/mistral-small-latest",),
    "Groq": ("groq/llama-3.1-8b-instant",),
    "DeepSeek": ("deepseek/deepseek-chat",),
    "OpenRouter": ("openrouter/openai/gpt-4o-mini",),
    "Together": ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",),
}
"""A few common models of each provider, offered when its key is set."""


def key(*path: str | int) -> str:
    """The widget key of the field at ``path`` in this revision (``bld3:roles.1.name``)."""
    return f"{PREFIX}{state.revision()}:" + ".".join(str(p) for p in path)


def reset_widgets() -> None:
    """Start every field widget afresh from the team dict on the next run."""
    state.commit(state.team_data(), reshaped=True)


def replace_team(data: dict[str, Any]) -> None:
    """Store ``data`` as the team and make the widgets show it (drawn afresh, under new keys)."""
    state.commit(data, reshaped=True)


def guard(callback: Callable[..., None]) -> Callable[..., None]:
    """``callback`` for a widget drawn now: it does nothing once the team was reshaped or replaced since."""
    drawn = state.revision()

    def call(*args: Any, **kwargs: Any) -> None:
        if state.revision() == drawn:
            callback(*args, **kwargs)
    return call


def writer(path: FieldPath, widget: str, convert: Callable[[Any], Any] = lambda v: v) -> Callable[[], None]:
    """A guarded ``on_change`` callback storing widget ``widget``'s value, through ``convert``, at ``path``."""

    def write() -> None:
        state.commit(set_path(state.team_data(), path, convert(st.session_state[widget])))
    return guard(write)


def md(text: str) -> str:
    """``text`` shown as is in Streamlit markdown (which reads ``_``, ``*``, ``$`` and more as markup)."""
    return re.sub(r"([\\`*_{}\[\]<>#|~$])", r"\\\1", text)


def problem_md(line: str) -> str:
    """A problem line as markdown: its field path in code style, the rest as is."""
    path, what = split_problem(line)
    return f"`{path}`: {md(what)}" if path else md(line)


def show_problems(problems: list[str], path: str, *, exact: bool = False) -> None:
    """Show the problems about ``path`` (and the fields inside it, unless ``exact``) right here."""
    for line in problems_under(problems, path, exact=exact):
        st.error(problem_md(line), icon=icons.ALERTS["problem"])


def _dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def text(data: dict[str, Any], problems: list[str], label: str, path: FieldPath, *, area: bool = False,
         keep_empty: bool = False, help: str | None = None) -> None:
    """A text field for ``path``; emptying it unsets the field unless ``keep_empty`` (a name stays ``""``)."""
    value = get_path(data, path)
    widget = key(*path)
    convert = (lambda v: v) if keep_empty else (lambda v: v or None)
    make = st.text_area if area else st.text_input
    make(label, value="" if value is None else str(value), key=widget, help=help,
         on_change=writer(path, widget, convert))
    show_problems(problems, _dotted(path))


def number(data: dict[str, Any], problems: list[str], label: str, path: FieldPath, *, integer: bool,
           default: float | None = None, help: str | None = None, fmt: str = "%.2f",
           placeholder: str = "default", clearable: bool = False) -> None:
    """A number field for ``path``; out-of-range values are kept (and shown as problems), emptying unsets it.

    ``fmt`` is how a decimal field shows its value (``%.4f`` for dollars), ``placeholder`` what an empty one
    says. A ``clearable`` field can be emptied in the browser even once it holds a number (Streamlit lets a
    person clear only a number field whose default is empty, so its value is seeded in the session instead).
    """
    value = get_path(data, path, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        value = None
    elif integer:
        value = int(value)
    else:
        value = float(value)
    widget = key(*path)
    if clearable:
        st.session_state.setdefault(widget, value)
        value = None
    st.number_input(label, value=value, step=1 if integer else 0.1, format=None if integer else fmt,
                    placeholder=placeholder, key=widget, help=help, on_change=writer(path, widget, lambda v: v))
    show_problems(problems, _dotted(path))


def toggle(data: dict[str, Any], problems: list[str], label: str, path: FieldPath, *, default: bool,
           help: str | None = None) -> None:
    """An on/off switch for a boolean field (its problems, and those of its section, under it)."""
    value = get_path(data, path, default)
    widget = key(*path)
    st.toggle(label, value=bool(value), key=widget, help=help, on_change=writer(path, widget, bool))
    show_problems(problems, _dotted(path[:-1]))


def model_choices(keys: dict[str, bool]) -> list[str]:
    """The embedded model, then common models of every provider whose key is set."""
    return [DEFAULT_MODEL] + [m for provider, ok in keys.items() if ok for m in PROVIDER_MODELS.get(provider, ())]


def _pick_model(path: FieldPath, widget: str) -> None:
    choice = st.session_state[widget]
    if choice == CUSTOM:
        return  # the text field below takes the model string
    state.commit(set_path(state.team_data(), path, None if choice == UNSET else choice))


def model_picker(data: dict[str, Any], problems: list[str], label: str, path: FieldPath, *, can_unset: bool) -> None:
    """A choice of models (with :data:`UNSET` for a role) and a text field for any litellm model string."""
    current = get_path(data, path)
    base = ([UNSET] if can_unset else []) + model_choices(state.providers())
    custom = isinstance(current, str) and bool(current) and current not in base
    options = base + ([current] if custom else []) + [CUSTOM]
    if current is None:
        current = UNSET if can_unset else DEFAULT_MODEL
    widget = key(*path)
    choice = st.selectbox(label, options, index=options.index(current) if current in options else len(options) - 1,
                          key=widget, on_change=guard(_pick_model), args=(path, widget),
                          help="A litellm model string; keys of the providers are read from the environment.")
    if choice == CUSTOM or custom:
        st.text_input("Model string", value=current if custom else "", key=widget + ".text",
                      placeholder="e.g. ollama/llama3.1 or openrouter/meta-llama/llama-3.1-8b-instruct",
                      help="Any model litellm knows, `local/...` or `scripted:PATH`.",
                      on_change=writer(path, widget + ".text", lambda v: v.strip() or None))
    show_problems(problems, _dotted(path))
