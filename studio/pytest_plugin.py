"""Huddle's pytest plugin: the ``huddle_replay`` fixture, so recorded runs are regression tests in your own suite.

Installed with Huddle (entry point ``pytest11``: ``huddle``), it loads in every pytest session, so it imports
nothing of Huddle until a test asks for the fixture. Use it like this (``tests/test_team.py``)::

    from pathlib import Path

    import pytest

    CASSETTES = sorted(Path("cassettes").glob("*.jsonl"))

    @pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: p.stem)
    def test_team_replays_as_recorded(huddle_replay, cassette):
        huddle_replay("team.yaml", cassette)

A drifted cassette fails the test with the role and model call whose request changed and the diff of the two
requests, or with what about the outcome changed (see :func:`studio.testing.assert_replays`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["huddle_replay"]


@pytest.fixture
def huddle_replay() -> Callable[..., Any]:
    """``huddle_replay(team, cassette, *, tests=False, tasks=())``: replay a cassette against the team, fail on drift.

    It is :func:`studio.testing.assert_replays`: returns the replay's outcome, raises ``AssertionError`` on drift.
    """
    from studio.testing import assert_replays

    return assert_replays
