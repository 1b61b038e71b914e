r"""Reading the files a user gives Huddle: bounded, strict UTF-8, and YAML or JSON that cannot hang or blow up.

Every team, script, task and edit file is read here. :class:`InputError` says
what is wrong, with the line where there is one, when a file is:

- larger than the caller's limit (:data:`TEAM_BYTES` for a team file), not a
  regular file (a folder, a FIFO that would wait forever, a device), binary
  (NUL bytes) or not UTF-8;
- YAML with a duplicate key, nested deeper than :data:`MAX_DEPTH` levels, a
  number too long to be one, or aliases that expand to more than
  :data:`MAX_VALUES` values or :data:`MAX_CHARS` characters (a "billion laughs"
  bomb is half a kilobyte that expands to 10^9 values), or that contain themselves;
- JSON nested deeper than :data:`MAX_DEPTH` levels or with a duplicate key.

Callers wrap the error in their own (``SpecError``, ``ScriptError``, ``EvalError``)
with the file's name.

Example:
    >>> load_yaml("a: 1\nb: [x, y]\n")
    {'a': 1, 'b': ['x', 'y']}
    >>> load_yaml("a: 1\na: 2\n")
    Traceback (most recent call last):
    ...
    studio.safe_input.InputError: line 2, column 1: duplicate key 'a' (first on line 1); keep one
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_CHARS", "MAX_DEPTH", "MAX_VALUES", "TEAM_BYTES", "TEXT_BYTES", "InputError", "decode", "load_json",
           "load_yaml", "read_text"]

TEAM_BYTES = 1_000_000
"""Largest team file read (1 MB; the examples are 1 to 2 kB)."""
TEXT_BYTES = 20_000_000
"""Largest script, task or edit file read (20 MB)."""
MAX_DEPTH = 64
"""Deepest nesting of lists and mappings, aliases expanded."""
MAX_VALUES = 20_000
"""Most values (scalars, lists, mappings) a YAML document may hold, once its aliases are expanded too (the
examples hold under 100); parsing this many takes about half a second in pure Python."""
MAX_CHARS = 10_000_000
"""Most characters of scalars a YAML document may hold once its aliases are expanded."""
_MAX_NUMBER = 100  # characters of an unquoted number; base-60 ints (1:2:3:…) cost quadratic time to convert


class InputError(ValueError):
    """A file or text Huddle refuses to read; the message says where and what to do."""


def _size(count: int) -> str:
    return f"{count / 1_000_000:g} MB" if count >= 1_000_000 else f"{count / 1000:g} kB"


def read_text(path: str | Path, max_bytes: int = TEAM_BYTES) -> str:
    """The text of the file at ``path``, read without waiting on a FIFO and without reading past ``max_bytes``.

    Raises:
        OSError: the file cannot be opened or read (the caller says which file, as it always did).
        InputError: the file is not a regular file, is larger than ``max_bytes``, or is not UTF-8 text.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens at once instead of waiting
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
            raise InputError(f"it is {kind}, not a regular file; give a text file")
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise InputError(f"the file is larger than {_size(max_bytes)}, the most Huddle reads here; "
                         "is it the right file?")
    return decode(data)


def decode(data: bytes) -> str:
    """``data`` as UTF-8 text (a leading byte-order mark dropped).

    Raises:
        InputError: ``data`` holds NUL bytes (a binary file) or bytes that are not UTF-8, naming the first one's
            line and column.
    """
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"not a text file: it holds a NUL byte at {_where(data, nul)} (a binary file, or UTF-16 "
                         "text); give UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at {_where(data, exc.start)} is not "
                         "UTF-8; save the file as UTF-8") from None


def _where(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)  # rfind gives -1 on the first line: column offset + 1
    return f"line {line}, column {column}"


class _Refused(yaml.MarkedYAMLError):
    """A limit this loader puts on YAML, at a place in the text."""

    def __init__(self, node_or_mark: Any, problem: str):
        mark = getattr(node_or_mark, "start_mark", node_or_mark)
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with a depth limit while composing and duplicate keys refused while constructing."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = self._values = 0

    def compose_node(self, parent, index):
        self._depth += 1
        self._values += 1
        try:
            if self._depth > MAX_DEPTH:  # PyYAML composes recursively: stop long before Python's recursion limit
                raise _Refused(self.peek_event().start_mark,
                               f"nested more than {MAX_DEPTH} levels deep; a team needs a handful")
            if self._values > MAX_VALUES:  # stop parsing here: a megabyte of tiny values takes seconds
                raise _Refused(self.peek_event().start_mark, f"more than {MAX_VALUES:,} values; is it the right file?")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}  # key -> the line it was first given on
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                try:
                    if key in first:
                        raise _Refused(key_node, f"duplicate key {key!r} (first on line {first[key] + 1}); keep one")
                    first[key] = key_node.start_mark.line
                except TypeError:  # an unhashable key: PyYAML says so below
                    continue
        return super().construct_mapping(node, deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError, IndexError) as exc:
            # PyYAML's constructors trust their input: `!!timestamp x`, `!!bool x`, `2024-13-45` raise these
            tag = node.tag.rsplit(":", 1)[-1]
            value = node.value if isinstance(node, yaml.ScalarNode) else "…"
            raise _Refused(node, f"the {tag} value {value[:60]!r} cannot be read ({type(exc).__name__}: "
                                 f"{str(exc)[:100]}); fix it or put it in quotes") from None

    def construct_yaml_int(self, node):
        _check_number(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        _check_number(node)
        return super().construct_yaml_float(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


def _check_number(node) -> None:
    if len(node.value) > _MAX_NUMBER:
        raise _Refused(node, f"a number {len(node.value):,} characters long; put it in quotes if it is text")


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root) -> None:
    """Refuse a node graph whose aliases expand past the limits, or loop back into themselves.

    Composing leaves one node per anchor, shared by its aliases; this sums each node's expanded size once
    (memoised, iteratively), so a billion-laughs bomb is measured in microseconds instead of expanded.
    """
    sizes: dict[int, tuple[int, int, int]] = {}  # id(node) -> (values, characters, depth) once expanded
    open_nodes: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            parts = [sizes[id(child)] for child in _children(node)]
            values = 1 + sum(p[0] for p in parts)
            chars = (len(node.value) if isinstance(node, yaml.ScalarNode) else 0) + sum(p[1] for p in parts)
            depth = 1 + max((p[2] for p in parts), default=0)
            if values > MAX_VALUES or chars > MAX_CHARS:
                raise _Refused(node, f"aliases expand this value to more than {MAX_VALUES:,} values or "
                                     f"{MAX_CHARS:,} characters (an alias bomb?); write it out, or use fewer aliases")
            if depth > MAX_DEPTH:
                raise _Refused(node, f"aliases nest this value more than {MAX_DEPTH} levels deep")
            sizes[key] = (values, chars, depth)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _Refused(node, "an alias here refers to a value that contains it (a loop); write the value out")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    if isinstance(exc, _Refused):
        return f"{where}{problem}"
    return f"not valid YAML: {where}{problem}"


def load_yaml(text: str) -> Any:
    """The one YAML document in ``text``, as plain data (safe tags only), within this module's limits.

    Raises:
        InputError: not valid YAML, or over a limit; the message gives the line and column.
    """
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a control character: the reader checks the whole text at once
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        raise InputError(f"not valid YAML: line {line}, column {column}: control character #x{exc.character:04x} "
                         "is not allowed; remove it") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise InputError(_yaml_problem(exc)) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # not expected past _Loader's checks: a last guard
        raise InputError(f"not valid YAML: {type(exc).__name__}: {str(exc)[:200]}") from None
    finally:
        loader.dispose()


class _Duplicate(ValueError):
    """A key given twice in one JSON object."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _Duplicate(key)
        data[key] = value
    return data


def _depth(data: Any) -> int:
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def load_json(text: str) -> Any:
    """The JSON value in ``text``, with duplicate keys and nesting deeper than :data:`MAX_DEPTH` refused.

    Raises:
        InputError: not valid JSON (with the line and column), a duplicate key, or too deep.
    """
    too_deep = f"nested more than {MAX_DEPTH} levels deep; a team needs a handful"
    try:
        data = json.loads(text, object_pairs_hook=_unique)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except _Duplicate as exc:
        raise InputError(f"duplicate key {exc.args[0]!r}; keep one") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise InputError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError(too_deep) from None
    if _depth(data) > MAX_DEPTH:
        raise InputError(too_deep)
    return data
