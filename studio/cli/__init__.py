"""The ``huddle`` command line: one module per command group (``huddle = studio.cli:main``).

``app`` holds the root commands (run, resume, runs, teams); ``eval``, ``export``,
``gc``, ``memory``, ``sandbox`` and ``ui`` one group each; ``approval`` asks a
person at an approval point. The ``_private`` modules serve ``huddle memory serve``
(``_memory_serve``, ``_token_proxy``) and ``huddle gc`` (``_leftovers``).
"""

from __future__ import annotations

from studio.cli.app import app, main

__all__ = ["app", "main"]
