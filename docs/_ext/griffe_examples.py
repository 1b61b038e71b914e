"""A griffe extension for the docs build: an ``Example:`` section is read as ``Examples:``.

Griffe's Google parser turns ``Examples:`` into a section of doctest code and ``Example:`` into a plain
admonition whose ``>>>`` lines would render as prose (and ``['task']`` as a broken link). Huddle's docstrings
use both spellings (ruff's Google convention accepts both), so the docs read them alike.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleAsExamples(griffe.Extension):
    """Rename ``Example:`` sections to ``Examples:`` before the docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
