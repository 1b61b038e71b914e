"""Lazy imports for start-up time: package re-exports that resolve on first use, and a module loaded when touched.

``huddle --help``, ``huddle runs``, a scripted run with memory off: none of them
needs litellm, torch or chromadb, and each of those costs seconds to import.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["LazyModule", "lazy_exports"]


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` that import each name of ``where`` from its module when asked.

    Example:
        >>> getattr_, dir_ = lazy_exports("demo", {"dumps": "json"})
        >>> getattr_("dumps").__name__
        'dumps'
    """

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__


class LazyModule:
    """Stands for the module ``name``: imports it (and runs ``setup`` on it, once) at the first attribute asked.

    Attributes are read from the real module every time, so a test that patches the module patches what the
    stand-in returns.

    Args:
        name: the module to import.
        setup: called once with the module right after it is imported (settings, registrations).

    Example:
        >>> json = LazyModule("json")
        >>> json.loaded
        False
        >>> json.dumps([1])
        '[1]'
        >>> json.loaded
        True
    """

    def __init__(self, name: str, setup: Callable[[ModuleType], None] | None = None):
        self._name, self._setup = name, setup
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the module was imported (and set up) yet."""
        return self._module is not None

    def module(self) -> ModuleType:
        """The real module, imported and set up on the first call (thread-safe)."""
        if self._module is None:
            with self._lock:
                if self._module is None:
                    module = importlib.import_module(self._name)
                    if self._setup is not None:
                        self._setup(module)
                    self._module = module
        return self._module

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):  # copy, pickle, doctest probing
            raise AttributeError(attribute)
        return getattr(self.module(), attribute)
