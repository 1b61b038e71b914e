"""Native function calls in a provider's reply: parsed from a whole message or gathered from streamed deltas.

Providers send tool calls in OpenAI's shape (``{id, type, function: {name, arguments}}``, the arguments a
JSON string). Arguments that are not a JSON object come back as ``{"_invalid": "<raw text>"}``, so the
caller can tell the model what was wrong instead of failing the turn.

Example:
    >>> call = parse_call({"id": "c1", "function": {"name": "add", "arguments": '{"a": 1}'}})
    >>> call.name, call.arguments
    ('add', {'a': 1})
    >>> parse_call({"id": "c2", "function": {"name": "add", "arguments": "{a: 1"}}).arguments
    {'_invalid': '{a: 1'}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INVALID", "StreamedCalls", "ToolCallRequest", "parse_arguments", "parse_call", "parse_calls"]

INVALID = "_invalid"
"""The key that holds a call's raw argument text when it is not a JSON object."""


@dataclass(frozen=True)
class ToolCallRequest:
    """One function call a model asked for.

    Example:
        >>> ToolCallRequest("call_1", "get_weather", {"city": "Paris"}).arguments["city"]
        'Paris'
    """

    id: str
    """The provider's id for the call; the ``tool`` message with its result names it as ``tool_call_id``."""
    name: str
    """The tool's name, as the model wrote it (it may name no tool at all: the caller checks)."""
    arguments: dict[str, Any] = field(default_factory=dict)
    """The parsed arguments, or ``{"_invalid": "<raw text>"}`` when the model's text was not a JSON object."""


def _get(item: Any, name: str) -> Any:
    """``item[name]`` for a dict, ``item.name`` for litellm's objects; ``None`` when absent."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def parse_arguments(raw: Any) -> dict[str, Any]:
    """A call's arguments as a dict: ``{}`` for none, ``{"_invalid": raw}`` for text that is not a JSON object."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, dict):
        return dict(raw)
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {INVALID: str(raw)}
    return parsed if isinstance(parsed, dict) else {INVALID: str(raw)}


def parse_call(item: Any, index: int = 0) -> ToolCallRequest:
    """One entry of a message's ``tool_calls`` (a dict or litellm's object) as a :class:`ToolCallRequest`."""
    function = _get(item, "function")
    return ToolCallRequest(id=str(_get(item, "id") or f"call_{index}"), name=str(_get(function, "name") or ""),
                           arguments=parse_arguments(_get(function, "arguments")))


def parse_calls(items: Any) -> tuple[ToolCallRequest, ...]:
    """A message's ``tool_calls`` (``None`` when it has none) as requests, in order."""
    return tuple(parse_call(item, i) for i, item in enumerate(items or ()))


class StreamedCalls:
    """Gathers the tool calls of a streamed reply from its deltas.

    Each delta carries a piece of one call, keyed by ``index``: the first names the call's id and
    function, later ones add to the argument text. Some servers (llama.cpp's) repeat the id and the
    name in every delta, so those replace what was there, and only the arguments are joined.

    Example:
        >>> calls = StreamedCalls()
        >>> calls.add([{"index": 0, "id": "c1", "function": {"name": "add", "arguments": '{"a"'}}])
        >>> calls.add([{"index": 0, "function": {"arguments": ": 2}"}}])
        >>> calls.result()
        (ToolCallRequest(id='c1', name='add', arguments={'a': 2}),)
    """

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, deltas: Any) -> None:
        """Take the ``tool_calls`` of one streamed delta (``None`` or empty adds nothing)."""
        for position, delta in enumerate(deltas or ()):
            index = _get(delta, "index")
            key = int(index) if index is not None else position
            call = self._calls.setdefault(key, {"id": "", "name": "", "arguments": ""})
            call["id"] = str(_get(delta, "id") or call["id"])
            function = _get(delta, "function")
            call["name"] = str(_get(function, "name") or call["name"])
            call["arguments"] += str(_get(function, "arguments") or "")

    def result(self) -> tuple[ToolCallRequest, ...]:
        """The calls gathered so far, in index order."""
        return tuple(ToolCallRequest(id=c["id"] or f"call_{i}", name=c["name"],
                                     arguments=parse_arguments(c["arguments"]))
                     for i, c in sorted(self._calls.items()))
