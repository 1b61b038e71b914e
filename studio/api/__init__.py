"""The Python API: :class:`Team` and :class:`Role` to build and run a team, :class:`Run` for what it did.

``team`` holds Team, Role and TeamMemory, ``run`` the Run, ``notebook`` the Jupyter
displays (live transcript, team diagram, the studio in a cell).

Example:
    >>> from studio.api import Role, Team
    >>> Team("solo", roles=[Role.coder()]).roles[0].name
    'coder'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from studio._lazy import lazy_exports

if TYPE_CHECKING:  # the names for type checkers; at run time each resolves on first use (imports stay light)
    from studio.api.run import Run
    from studio.api.team import Role, Team, TeamMemory

__all__ = ["Role", "Run", "Team", "TeamMemory"]

_WHERE = {
    **dict.fromkeys(["Run"], "studio.api.run"),
    **dict.fromkeys(["Role", "Team", "TeamMemory"], "studio.api.team"),
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
