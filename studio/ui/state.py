"""What the studio keeps between reruns: the team being edited, its validation, the gallery, the providers.

The team lives in ``st.session_state`` as the plain dict a YAML file holds, so
an edit that makes it invalid is kept (and shown with its errors) instead of
being thrown away.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st
import yaml

from studio.exposure import TEAM_ENV
from studio.home import huddle_home
from studio.spec import SpecError, TeamSpec, dump_spec, parse_spec, read_spec_data

__all__ = ["EXAMPLES", "TEAM_ENV", "gallery", "home", "load_team_file", "providers", "set_team", "team_data",
           "validate"]

"""``huddle ui --team FILE`` passes the file to the app in this variable."""
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "teams"
_KEY = "huddle_team"
_PROVIDER_KEYS = {
    "OpenAI": "OPENAI_API_KEY", "Anthropic": "ANTHROPIC_API_KEY", "Gemini": "GEMINI_API_KEY",
    "Mistral": "MISTRAL_API_KEY", "Groq": "GROQ_API_KEY", "DeepSeek": "DEEPSEEK_API_KEY",
    "OpenRouter": "OPENROUTER_API_KEY", "Together": "TOGETHERAI_API_KEY",
}


def home() -> Path:
    """The state folder the studio reads and writes (``$HUDDLE_HOME``)."""
    return huddle_home()


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


def _initial() -> dict[str, Any]:
    chosen = os.environ.get(TEAM_ENV)
    if chosen:
        try:
            return load_team_file(chosen)
        except SpecError as exc:
            st.session_state["huddle_load_error"] = str(exc)
    examples = gallery()
    if "dev_team" in examples:
        return load_team_file(examples["dev_team"])
    return {"version": 1, "name": "my-team", "roles": [{"name": "coder", "kind": "coder"}]}


def team_data() -> dict[str, Any]:
    """The team being edited, as a plain dict (possibly invalid)."""
    if _KEY not in st.session_state:
        st.session_state[_KEY] = _initial()
    return st.session_state[_KEY]


def set_team(data: dict[str, Any] | TeamSpec) -> None:
    """Replace the team being edited."""
    if isinstance(data, TeamSpec):
        data = yaml.safe_load(dump_spec(data))
    st.session_state[_KEY] = data


def validate(data: dict[str, Any]) -> tuple[TeamSpec | None, list[str]]:
    """(the spec, []) when ``data`` is valid, else (None, its problems as ``field: what`` lines)."""
    try:
        return parse_spec(data, "the team"), []
    except SpecError as exc:
        return None, exc.problems


def providers() -> dict[str, bool]:
    """Provider name to whether its API key is set (never the key itself)."""
    return {name: bool(os.environ.get(var)) for name, var in _PROVIDER_KEYS.items()}
