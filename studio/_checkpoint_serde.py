"""The checkpoints' serialiser: LangGraph's, with every string in the graph state redacted first.

Checkpoints keep the graph state: the transcript (messages), the text an approval
point shows, and the inputs of parallel branches (``Send``). Redacting it as the
run log is redacted means no secret a model wrote, or a person typed, reaches
the checkpoints raw (messages already in the run log are kept there as their
ids). Message ids are left alone, so a resumed run still matches its
checkpoint to its log.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Send

from studio.redact import redact_data

__all__ = ["RedactingSerializer", "redact_state"]


def redact_state(value: Any, memo: dict | None = None) -> Any:
    """``value`` (a checkpoint, a channel value or a pending write) with its strings redacted, ``Send``s included.

    ``memo`` is :func:`studio.redact.redact_data`'s: messages already redacted are not redacted again.
    """
    if isinstance(value, Send):
        return Send(value.node, redact_state(value.arg, memo))
    if isinstance(value, dict):
        return {key: redact_state(item, memo) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(redact_state(item, memo) for item in value)
    return redact_data(value, memo)


_BOOKKEEPING = frozenset({"v", "id", "ts", "channel_versions", "versions_seen", "updated_channels"})
"""A checkpoint's keys besides its values (``_VALUES``): left as they are."""
_VALUES = frozenset({"channel_values", "pending_sends"})


class RedactingSerializer(JsonPlusSerializer):
    """A ``JsonPlusSerializer`` that stores nothing unredacted (loading is unchanged)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._memo: dict = {}  # each checkpoint holds the whole transcript: redact each message once

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if isinstance(obj, dict) and "channel_versions" in obj and _BOOKKEEPING.issuperset(obj.keys() - _VALUES):
            # a checkpoint: its versions, ids and timestamps are LangGraph's own, never anyone's text
            return super().dumps_typed({k: redact_state(v, self._memo) if k in _VALUES else v for k, v in obj.items()})
        return super().dumps_typed(redact_state(obj, self._memo))
