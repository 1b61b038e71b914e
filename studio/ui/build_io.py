"""Loading and saving teams on the Build page: upload a file, pick an example from the gallery, download YAML.

A file that is not valid YAML or not a valid team replaces nothing: the page
keeps the team being edited and says which file and which fields are wrong.
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st
import yaml

from studio.safe_input import TEAM_BYTES, InputError, decode, load_json, load_yaml
from studio.spec import SpecError, TeamSpec, dump_spec, parse_spec
from studio.ui import canvas_view, state
from studio.ui.build_fields import md, problem_md, replace_team
from studio.ui.role_form import select_role

__all__ = ["ERROR", "GALLERY", "NOTE", "UPLOAD", "file_name", "load_bar", "parse_upload", "save_bar"]

UPLOAD, GALLERY, ERROR, NOTE = "build_upload", "build_gallery", "build_io_error", "build_io_note"


def parse_upload(name: str, content: bytes) -> dict[str, Any]:
    """The team in an uploaded file, as a dict, once it validates.

    Raises:
        SpecError: naming ``name``: not text, not YAML/JSON (with line and column), or each invalid field.
    """
    if len(content) > TEAM_BYTES:
        raise SpecError(name, [f"the file is larger than {TEAM_BYTES // 1_000_000} MB, the most a team file may be"])
    try:
        text = decode(content)
        data = load_json(text) if name.lower().endswith(".json") else load_yaml(text)
    except InputError as exc:
        raise SpecError(name, [str(exc)]) from None
    parse_spec(data, name)
    return data


def file_name(spec: TeamSpec) -> str:
    """A safe file name for the team's YAML."""
    return (re.sub(r"[^A-Za-z0-9_.-]+", "-", spec.name).strip("-.") or "team") + ".yaml"


def _loaded(data: dict[str, Any], source: str) -> None:
    replace_team(data)
    canvas_view.forget()
    select_role(0)
    st.session_state.pop(ERROR, None)
    st.session_state[NOTE] = f"Loaded {source}: team '{data.get('name')}' with {len(data.get('roles', []))} roles."


def _failed(exc: SpecError) -> None:
    st.session_state.pop(NOTE, None)
    st.session_state[ERROR] = exc


def _on_upload() -> None:
    upload = st.session_state.get(UPLOAD)
    if upload is None:
        return
    try:
        data = parse_upload(upload.name, upload.getvalue())
    except SpecError as exc:
        _failed(exc)
        return
    _loaded(data, upload.name)


def _on_gallery() -> None:
    path = state.gallery().get(st.session_state.get(GALLERY))  # type: ignore[arg-type]  # no choice: None, found nowhere
    if path is None:
        return
    try:
        data = state.load_team_file(path)
        parse_spec(data, path.name)
    except SpecError as exc:
        _failed(exc)
        return
    _loaded(data, f"the example {path.name}")


def load_bar() -> None:
    """The uploader and the gallery, and what the last load said."""
    upload, gallery = st.columns([3, 2])
    with upload:
        st.file_uploader("Load a team file", type=["yaml", "yml", "json"], key=UPLOAD, on_change=_on_upload,
                         help="Replaces the team being edited, once the file is a valid team.")
    with gallery:
        examples = state.gallery()
        if examples:
            st.selectbox("Example teams", list(examples), key=GALLERY)
            st.button("Load example", key="build_gallery_load", on_click=_on_gallery)
        else:
            st.caption("No example teams found.")
    failure = st.session_state.get(ERROR)
    if isinstance(failure, SpecError):
        lines = "\n".join(f"- {problem_md(p)}" for p in failure.problems)
        st.error(f"Could not load **{md(failure.source)}**; the team was not replaced.\n\n{lines}", icon="🚫")
    elif st.session_state.get(NOTE):
        st.success(st.session_state[NOTE], icon="📂")


def save_bar(data: dict[str, Any], spec: TeamSpec | None) -> None:
    """The download button (enabled only for a valid team) and the YAML it would hold."""
    text = dump_spec(spec) if spec is not None else ""
    st.download_button("Download YAML", data=text, file_name=file_name(spec) if spec else "team.yaml",
                       mime="application/x-yaml", disabled=spec is None, key="build_download", on_click="ignore",
                       help="Fix the problems above first." if spec is None else "The team as a spec file.")
    with st.expander("YAML"):
        if spec is None:
            st.caption("Not valid yet: this is the team as edited so far.")
        st.code(text or yaml.safe_dump(data, sort_keys=False, allow_unicode=True), language="yaml")

