"""The JSON schema of a reply model, made once per class: pydantic builds it afresh at every call.

A role's turn asks for its reply schema two or three times (the call's key in the journal, the cassette's
request, the act loop's choices): rebuilding it was a quarter of a scripted turn.

Example:
    >>> from pydantic import BaseModel

from studio.redact import shared
    >>> class Reply(BaseModel):
    ...     answer: str
    >>> json_schema(Reply) is json_schema(Reply), json_schema(Reply)["required"]
    (True, ['answer'])
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from studio.redact import shared

__all__ = ["json_schema"]


@lru_cache(maxsize=512)
def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model.model_json_schema()``, shared: read it, never change it (redaction passes over it while clean)."""
    return shared(model.model_json_schema())
