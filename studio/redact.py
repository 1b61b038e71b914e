"""Keep secrets out of everything Huddle writes: logs, run records, exports, the UI.

Example:
    >>> import os
    >>> os.environ["DEMO_API_KEY"] = "sk-demo-1234567890"
    >>> redact("auth failed for sk-demo-1234567890")
    'auth failed for [redacted DEMO_API_KEY]'
"""

from __future__ import annotations

import os
import re

__all__ = ["redact", "secret_values"]

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$|^AWS_|_AUTH$", re.IGNORECASE)
_LOOKS_LIKE_KEY = re.compile(r"\b(sk|pk|rk|gsk|xai|hf|ghp|github_pat)[-_][A-Za-z0-9_\-]{12,}")


def secret_values() -> dict[str, str]:
    """Environment variables whose names say they hold a secret (values of 8+ characters)."""
    return {name: value for name, value in os.environ.items()
            if _SECRET_NAME.search(name) and len(value) >= 8}


def redact(text: str) -> str:
    """Replace secret environment values, and anything shaped like an API key, in ``text``."""
    for name, value in sorted(secret_values().items(), key=lambda item: -len(item[1])):
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    return _LOOKS_LIKE_KEY.sub("[redacted key]", text)
