"""Huddle: a notebook-first studio for teams of LLM agents.

The public API (``from studio import Team, Role, Run``) is imported lazily so
that ``import studio.messages`` (and ``huddle --help``) pull in nothing heavy.

Example:
    >>> from studio import Team, Role
    >>> Team("solo", roles=[Role.coder()]).name
    'solo'
"""

from __future__ import annotations

from studio._lazy import lazy_exports

__all__ = [
    "Budget",
    "Bus",
    "Role",
    "Run",
    "Team",
    "TeamMemory",
    "Message",
    "RoleSpec",
    "RunLog",
    "RunResult",
    "TeamSpec",
    "VectorMemory",
    "load_spec",
    "open_team_memory",
    "resume_run",
    "run_team",
]

_WHERE = {
    "Budget": "studio.spec",
    "Bus": "studio.bus",
    "Role": "studio.api",
    "Run": "studio.api",
    "Team": "studio.api",
    "TeamMemory": "studio.api",
    "Message": "studio.messages",
    "RoleSpec": "studio.spec",
    "RunLog": "studio.bus",
    "RunResult": "studio.runner",
    "TeamSpec": "studio.spec",
    "VectorMemory": "memory.store",
    "load_spec": "studio.spec",
    "open_team_memory": "studio.runner",
    "resume_run": "studio.runner",
    "run_team": "studio.runner",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
