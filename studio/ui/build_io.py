"""Loading and saving teams on the Build page: upload a file, pick an example, Save, download YAML, script, notebook.

A file that is not valid YAML or not a valid team replaces nothing: the page
keeps the team being edited and says which file and which fields are wrong.
Save writes the minimal YAML (no defaults, no nulls) under the comment block
the team's file began with; until then an "unsaved" badge shows, and the
draft waits in ``$HUDDLE_HOME/drafts`` for the next session.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import streamlit as st
import yaml

from studio.export import to_notebook, to_script
from studio.safe_input import TEAM_BYTES, InputError, decode, load_json, load_yaml
from studio.spec import SpecError, TeamSpec, parse_spec
from studio.ui import canvas_view, icons, state
from studio.ui.build_fields import md, problem_md
from studio.ui.build_save import header_comments, save_team, team_yaml
from studio.ui.role_form import select_role

__all__ = ["ERROR", "GALLERY", "NOTE", "SAVE_PATH", "UPLOAD", "file_name", "load_bar", "parse_upload", "save_bar"]

UPLOAD, GALLERY, ERROR, NOTE = "build_upload", "build_gallery", "build_io_error", "build_io_note"
SAVE_PATH, _SAVE_ERROR = "build_save_path", "build_save_error"
"""Session key (and widget) of the file Save writes: the ``--team`` file, or a path the user gives."""


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


def _loaded(data: dict[str, Any], source: str, header: str = "") -> None:
    state.load(data, header)
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
    _loaded(data, upload.name, header_of(upload.getvalue()))


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
    _loaded(data, f"the example {path.name}", state.file_header(path))


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
        st.error(f"Could not load **{md(failure.source)}**; the team was not replaced.\n\n{lines}",
                 icon=icons.ALERTS["refused"])
    elif st.session_state.get(NOTE):
        st.success(st.session_state[NOTE], icon=icons.ALERTS["loaded"])
    if st.session_state.get(state.NOTE):
        st.info(st.session_state[state.NOTE], icon=":material/restore:")


def header_of(content: bytes) -> str:
    """The comment block at the top of an uploaded YAML file."""
    return header_comments(content.decode("utf-8", errors="replace"))


def _default_path() -> str:
    return state.team_file() or str(Path.cwd() / file_name(state.validate(state.team_data())[0] or _PLACEHOLDER))


def _save() -> None:
    spec, problems = state.validate(state.team_data())
    target = (st.session_state.get(SAVE_PATH) or "").strip() or _default_path()
    try:
        if spec is None:
            raise SpecError("the team", problems)
        written = save_team(spec, target, state.header())
    except SpecError as exc:
        st.session_state[_SAVE_ERROR] = exc
        return
    state.mark_saved(state.team_data())
    st.session_state.pop(_SAVE_ERROR, None)
    st.session_state[NOTE] = f"Saved team '{spec.name}' to {written}."


def save_bar(data: dict[str, Any], spec: TeamSpec | None) -> None:
    """Save (with the unsaved badge), the downloads (YAML, script, notebook) and the YAML they hold."""
    text = team_yaml(spec, state.header()) if spec is not None else ""
    if SAVE_PATH not in st.session_state:
        st.session_state[SAVE_PATH] = _default_path()
    path_col, save_col = st.columns([4, 1], vertical_alignment="bottom")
    path_col.text_input("Save to", key=SAVE_PATH, help="The team file Save writes (minimal YAML: no defaults, no "
                        "nulls; the file's top comments are kept).")
    save_col.button("Save", key="build_save", on_click=_save, disabled=spec is None, type="primary",
                    width="stretch", help="Fix the problems above first." if spec is None else "Write the team file.")
    failure = st.session_state.pop(_SAVE_ERROR, None)
    if isinstance(failure, SpecError):
        lines = "\n".join(f"- {problem_md(p)}" for p in failure.problems)
        st.error(f"Could not save to **{md(failure.source)}**.\n\n{lines}", icon=icons.ALERTS["refused"])
    if state.dirty():
        st.badge("unsaved changes", icon=":material/edit_note:", color="orange")
    else:
        st.badge("saved", icon=":material/check:", color="green")
    stem = file_name(spec).removesuffix(".yaml") if spec else "team"
    yaml_col, script_col, notebook_col = st.columns(3)
    off = spec is None
    yaml_col.download_button("Download YAML", data=text, file_name=f"{stem}.yaml", mime="application/x-yaml",
                             key="build_download", help="The team as a spec file (what Save writes).",
                             disabled=off, on_click="ignore", width="stretch")
    script_col.download_button("Export script", data=to_script(spec, filename=f"{stem}.py") if spec else "",
                               file_name=f"{stem}.py", mime="text/x-python", key="build_export_script",
                               help="A runnable Python script that builds and runs this team.",
                               disabled=off, on_click="ignore", width="stretch")
    notebook = json.dumps(to_notebook(spec), indent=1) + "\n" if spec else ""
    notebook_col.download_button("Export notebook", data=notebook, file_name=f"{stem}.ipynb",
                                 mime="application/x-ipynb+json", key="build_export_notebook",
                                 help="A Jupyter notebook that builds and runs this team.",
                                 disabled=off, on_click="ignore", width="stretch")
    with st.expander("YAML"):
        if spec is None:
            st.caption("Not valid yet: this is the team as edited so far.")
        st.code(text or yaml.safe_dump(data, sort_keys=False, allow_unicode=True), language="yaml")


_PLACEHOLDER = parse_spec({"name": "team", "roles": [{"name": "coder", "kind": "coder"}]})
