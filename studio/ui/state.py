"""What the studio keeps between reruns: the team being edited, its validation, the gallery, the providers.

The team lives in ``st.session_state`` as the plain dict a YAML file holds (the
spec as data), so an edit that makes it invalid is kept (and shown with its
errors) instead of being thrown away. It is the one source of truth: widgets
and the canvas are drawn from it, and every change goes through
:func:`commit` (an edit) or :func:`load` (another team). Each change that
reshapes the team moves :func:`revision` on; the Build page's widgets are
keyed by it and their callbacks do nothing once it moved (a widget drawn for
the old team must never write into the new one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st
import yaml

from studio.exposure import TEAM_ENV
from studio.home import huddle_home
from studio.safe_input import TEAM_BYTES, read_text
from studio.spec import SpecError, TeamSpec, dump_spec, parse_spec, read_spec_data
from studio.ui.build_save import clear_draft, header_comments, read_draft, write_draft

__all__ = ["EXAMPLES", "NOTE", "TEAM_ENV", "commit", "dirty", "file_header", "gallery", "header", "home", "load",
           "load_team_file", "mark_saved", "providers", "revision", "set_team", "team_data", "team_file", "validate"]

"""``huddle ui --team FILE`` passes the file to the app in this variable."""
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "teams"
NOTE = "huddle_team_note"
"""Session key of a one-off note about the team (a restored draft)."""
_KEY, _BASELINE, _HEADER, _REVISION = "huddle_team", "huddle_team_saved", "huddle_team_header", "huddle_revision"
_PROVIDER_KEYS = {
    "OpenAI": "OPENAI_API_KEY", "Anthropic": "ANTHROPIC_API_KEY", "Gemini": "GEMINI_API_KEY",
    "Mistral": "MISTRAL_API_KEY", "Groq": "GROQ_API_KEY", "DeepSeek": "DEEPSEEK_API_KEY",
    "OpenRouter": "OPENROUTER_API_KEY", "Together": "TOGETHERAI_API_KEY",
}


def home() -> Path:
    """The state folder the studio reads and writes (``$HUDDLE_HOME``)."""
    return huddle_home()


def team_file() -> str | None:
    """The team file the studio was opened on (``huddle ui --team FILE``), if any."""
    return os.environ.get(TEAM_ENV) or None


def gallery() -> dict[str, Path]:
    """The example teams, by file name."""
    if not EXAMPLES.is_dir():
        return {}
    return {p.stem: p for p in sorted(EXAMPLES.glob("*.yaml"))}


def load_team_file(path: str | Path) -> dict[str, Any]:
    """A team file as a dict (not yet validated).

    Raises:
        SpecError: the file cannot be read or is not YAML/JSON.
    """
    path = Path(path)
    data = read_spec_data(path)
    if not isinstance(data, dict):
        raise SpecError(str(path), ["expected a mapping at the top level"])
    return data


def file_header(path: str | Path) -> str:
    """The comment block at the top of a team file (``""`` when unreadable)."""
    try:
        return header_comments(read_text(Path(path), TEAM_BYTES))
    except (OSError, ValueError):
        return ""


def _initial() -> None:
    chosen, data, head = team_file(), None, ""
    if chosen:
        try:
            data, head = load_team_file(chosen), file_header(chosen)
        except SpecError as exc:
            st.session_state["huddle_load_error"] = str(exc)
    if data is None:
        example = gallery().get("dev_team")
        data = load_team_file(example) if example else {"version": 1, "name": "my-team",
                                                        "roles": [{"name": "coder", "kind": "coder"}]}
        head = file_header(example) if example else ""
    st.session_state[_BASELINE], st.session_state[_HEADER] = data, head
    draft = read_draft(home(), chosen)
    if draft is not None and draft[0] != data:
        st.session_state[NOTE] = ("Restored your unsaved changes to " + (f"`{chosen}`" if chosen else "the team")
                                  + " (kept since the last edit); Save writes them, or load the file again.")
        data, st.session_state[_HEADER] = draft
    st.session_state[_KEY] = data


def team_data() -> dict[str, Any]:
    """The team being edited, as a plain dict (possibly invalid)."""
    if _KEY not in st.session_state:
        _initial()
    return st.session_state[_KEY]


def revision() -> int:
    """How many times the team was reshaped or replaced in this session (widget keys carry it)."""
    return int(st.session_state.get(_REVISION, 0))


def commit(data: dict[str, Any], *, reshaped: bool = False) -> None:
    """The one write of the team: store ``data``, keep it as the draft (or drop the draft once it is the file).

    Args:
        data: the whole team as a dict (valid or not).
        reshaped: the widgets must start afresh from it (a role added, removed or renamed, a route, a load).
    """
    team_data()
    st.session_state[_KEY] = data
    if reshaped:
        st.session_state[_REVISION] = revision() + 1
    if dirty():
        write_draft(home(), team_file(), data, str(st.session_state.get(_HEADER, "")))
    else:
        clear_draft(home(), team_file())


def load(data: dict[str, Any], header: str = "") -> None:
    """Replace the team with another one (a file, an example, an upload); ``header``: its file's top comments."""
    team_data()
    st.session_state[_HEADER] = header
    st.session_state.pop(NOTE, None)
    commit(data, reshaped=True)


def set_team(data: dict[str, Any] | TeamSpec) -> None:
    """Replace the team being edited (a spec is stored as its data)."""
    plain: dict[str, Any] = yaml.safe_load(dump_spec(data, minimal=True)) if isinstance(data, TeamSpec) else data
    commit(plain, reshaped=True)


def header() -> str:
    """The comment block of the file the team came from, written back on save."""
    team_data()
    return str(st.session_state.get(_HEADER, ""))


def dirty() -> bool:
    """Whether the team differs from the team file as last loaded or saved."""
    return st.session_state.get(_KEY) != st.session_state.get(_BASELINE)


def mark_saved(data: dict[str, Any]) -> None:
    """``data`` is what the team file holds now: nothing unsaved, no draft."""
    st.session_state[_BASELINE] = data
    st.session_state.pop(NOTE, None)
    clear_draft(home(), team_file())


def validate(data: dict[str, Any]) -> tuple[TeamSpec | None, list[str]]:
    """(the spec, []) when ``data`` is valid, else (None, its problems as ``field: what`` lines)."""
    try:
        return parse_spec(data, "the team"), []
    except SpecError as exc:
        return None, exc.problems


def providers() -> dict[str, bool]:
    """Provider name to whether its API key is set (never the key itself)."""
    return {name: bool(os.environ.get(var)) for name, var in _PROVIDER_KEYS.items()}
