r"""Saving the Build page's team: the minimal YAML with the source file's header comments, and drafts.

Plain functions, no Streamlit. A draft is the team as edited but not saved,
kept per team file in ``$HUDDLE_HOME/drafts/<hash of the file's path>.yaml``
so a browser reload (a new session) finds it again.

Example:
    >>> header_comments("# The default team\n#  of three\n\nversion: 1\n# not this one\nname: t\n")
    '# The default team\n#  of three\n'
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from studio.spec import SpecError, TeamSpec, dump_spec

__all__ = ["UNTITLED", "clear_draft", "draft_file", "header_comments", "read_draft", "save_team", "team_yaml",
           "write_draft"]

UNTITLED = "(no team file)"
"""The draft key of a studio opened without ``--team``."""


def header_comments(text: str) -> str:
    """The comment block at the top of a YAML file (``#`` lines before the first content line), or ``""``.

    Only that block is kept on save: comments between fields belong to fields the user may have renamed,
    moved or removed, so they cannot be put back reliably.
    """
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    return "".join(line + "\n" for line in lines) if any(line.strip() for line in lines) else ""


def team_yaml(spec: TeamSpec, header: str = "") -> str:
    """``spec`` as minimal YAML (no defaults, no nulls) under ``header`` (comment lines)."""
    return header + dump_spec(spec, minimal=True)


def save_team(spec: TeamSpec, path: str | Path, header: str = "") -> Path:
    """Write ``spec`` to ``path`` as :func:`team_yaml`; the written file, resolved.

    Raises:
        SpecError: naming ``path``: not a ``.yaml``/``.yml`` name, no such folder, or the write failed.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise SpecError(str(path), ["a team file must end in .yaml or .yml"])
    if not path.parent.is_dir():
        raise SpecError(str(path), [f"no such folder: {path.parent}"])
    try:
        path.write_text(team_yaml(spec, header), encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), [f"cannot write the file: {exc.strerror or exc}"]) from None
    return path.resolve()


def draft_file(home: Path, team_file: str | None) -> Path:
    """Where the draft of ``team_file`` (``None``: a studio without one) is kept."""
    name = str(Path(team_file).expanduser().resolve()) if team_file else UNTITLED
    return home / "drafts" / (hashlib.sha256(name.encode()).hexdigest()[:16] + ".yaml")


def write_draft(home: Path, team_file: str | None, data: dict[str, Any], header: str = "") -> None:
    """Keep ``data`` (valid or not) as the draft of ``team_file``, under ``header`` (the comments Save writes)."""
    path = draft_file(home, team_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def read_draft(home: Path, team_file: str | None) -> tuple[dict[str, Any], str] | None:
    """The draft of ``team_file`` and its header, or ``None`` when there is none (or it is not a mapping)."""
    path = draft_file(home, team_file)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError):
        return None
    return (data, header_comments(text)) if isinstance(data, dict) else None


def clear_draft(home: Path, team_file: str | None) -> None:
    """Forget the draft of ``team_file`` (it was saved, or it is the file again)."""
    draft_file(home, team_file).unlink(missing_ok=True)
