"""Huddle: a notebook-first studio for teams of LLM agents.

The public API is imported lazily so that ``import studio.messages`` (and
``huddle --help``) pull in nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Bus",
    "Message",
    "RoleSpec",
    "RunLog",
    "RunResult",
    "TeamSpec",
    "load_spec",
    "resume_run",
    "run_team",
]

_WHERE = {
    "Bus": "studio.bus",
    "Message": "studio.messages",
    "RoleSpec": "studio.spec",
    "RunLog": "studio.runlog",
    "RunResult": "studio.runner",
    "TeamSpec": "studio.spec",
    "load_spec": "studio.spec",
    "resume_run": "studio.runner",
    "run_team": "studio.runner",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'studio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
