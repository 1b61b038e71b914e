"""Reading and writing team files: YAML or JSON text in, a validated :class:`~studio.spec.team.TeamSpec` out.

Every problem is reported as a ``field.path: what was expected`` line, naming the file.

Example:
    >>> parse_spec({"name": "solo", "roles": [{"name": "c", "kind": "coder"}]}).roles[0].name
    'c'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from studio.safe_input import TEAM_BYTES, InputError, load_json, load_yaml, read_text
from studio.spec.team import SPEC_VERSION, SpecError, TeamSpec

__all__ = ["dump_spec", "load_spec", "parse_spec", "read_spec_data"]


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(err: Mapping[str, Any]) -> list[str]:
    loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
    where = _loc(loc)
    kind = err["type"]
    if kind == "value_error":  # our own checks: "field: what" lines, about the whole spec or one part of it
        lines = str(err["ctx"]["error"]).splitlines()
        return [(f"{where}{line}" if line.startswith("[") else f"{where}.{line}") if where else line
                for line in lines]
    if kind == "extra_forbidden":
        return [f"{where}: unknown field; remove it or check its spelling"]
    if kind == "literal_error":
        return [f"{where}: expected {err['ctx']['expected']}, got {err['input']!r}"]
    if kind == "missing":
        return [f"{where}: required field is missing"]
    got = err.get("input")
    shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
    return [f"{where or 'spec'}: {_sentence(err['msg'])}{shown}"]


def _sentence(msg: str) -> str:
    """Pydantic's message, to follow a colon: its first letter lower-cased, the rest (a regex, a name) kept.

    Example:
        >>> _sentence("String should match pattern '^[a-zA-Z_]+$'"), _sentence("URL scheme should be 'http'")
        ("string should match pattern '^[a-zA-Z_]+$'", "URL scheme should be 'http'")
    """
    return msg if msg[1:2].isupper() else msg[:1].lower() + msg[1:]


def parse_spec(data: Any, source: str = "<spec>") -> TeamSpec:
    """Validate ``data`` (a dict from YAML or JSON) into a :class:`TeamSpec`.

    Raises:
        SpecError: naming ``source``, each bad field's path and what was expected.
    """
    if data is None:
        raise SpecError(source, ["the file is empty; expected a team with at least name and roles"])
    if not isinstance(data, dict):
        raise SpecError(source, [f"expected a mapping at the top level, got {type(data).__name__}"])
    version = data.get("version", SPEC_VERSION)
    if version != SPEC_VERSION:
        raise SpecError(source, [f"version: this Huddle reads spec version {SPEC_VERSION}, got {version!r}"])
    try:
        return TeamSpec.model_validate(data)
    except ValidationError as exc:
        problems = [line for err in exc.errors() for line in _describe(err)]
        raise SpecError(source, problems) from None


def load_spec(path: str | Path) -> TeamSpec:
    """Load a team spec from a ``.yaml``/``.yml`` or ``.json`` file.

    The file is read within :mod:`studio.safe_input`'s limits: at most 1 MB of UTF-8 text, no duplicate keys,
    nesting and YAML aliases bounded, so a hostile file fails at once instead of hanging or exhausting memory.

    Raises:
        SpecError: the file is missing, not UTF-8 text, over a limit, not valid YAML/JSON, or not a valid spec.
    """
    return parse_spec(read_spec_data(path), str(path))


def read_spec_data(path: str | Path) -> Any:
    """The data of a ``.yaml``/``.yml`` or ``.json`` team file, read within the limits of :func:`load_spec`.

    Not yet validated: :func:`parse_spec` does that.

    Raises:
        SpecError: the file is missing, not UTF-8 text, over a limit, or not valid YAML/JSON.
    """
    path = Path(path)
    try:
        text = read_text(path, TEAM_BYTES)
        return load_json(text) if path.suffix.lower() == ".json" else load_yaml(text)
    except OSError as exc:
        raise SpecError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except InputError as exc:
        raise SpecError(str(path), [str(exc)]) from None


def dump_spec(spec: TeamSpec, fmt: Literal["yaml", "json"] = "yaml", *, minimal: bool = False) -> str:
    """Serialise ``spec`` as YAML or JSON text that :func:`load_spec` reads back.

    Args:
        spec: the team.
        fmt: ``"yaml"`` or ``"json"``.
        minimal: leave out every field that holds its default or ``null`` (``version`` stays, first), so a
            24-line team file stays about 24 lines; :func:`load_spec` still reads back the same team.
    """
    data = spec.model_dump(by_alias=True, exclude_defaults=minimal, exclude_none=minimal, mode="json")
    if minimal:
        data = {"version": SPEC_VERSION, **{k: v for k, v in data.items() if k != "version"}}
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
