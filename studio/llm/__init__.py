"""Every model call goes through here: the litellm gateway, the embedded and scripted providers, scheduling.

``gateway`` is the :class:`Gateway` (retries, timeouts, usage); ``local`` the embedded
GGUF model, ``scripted`` the deterministic replies, ``providers`` registers both with
litellm; ``schedule`` limits calls per provider; ``role_model`` is one role's view.

Example:
    >>> from studio.llm import provider_of
    >>> provider_of("scripted:examples/scripts/dev_team.yaml")
    'scripted'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from studio._lazy import lazy_exports

if TYPE_CHECKING:  # the names for type checkers; at run time each resolves on first use (imports stay light)
    from studio.llm.gateway import (
        NO_KEY,
        CallSettings,
        Completion,
        Gateway,
        ModelCallError,
        ModelConfigError,
        ToolCallRequest,
        check_model,
        provider_of,
        supports_native_tools,
    )

__all__ = [
    "CallSettings",
    "Completion",
    "Gateway",
    "ModelCallError",
    "ModelConfigError",
    "NO_KEY",
    "ToolCallRequest",
    "check_model",
    "provider_of",
    "supports_native_tools",
]

_WHERE = dict.fromkeys(__all__, "studio.llm.gateway")  # every public name is the gateway module's (some re-exported)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
