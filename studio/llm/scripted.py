"""The scripted model: deterministic replies per role, for tests, demos and notebooks.

A script is a YAML mapping from a key to a list of replies, consumed in order
by the calls made with that key. A key is a role name (``coder``), or a role
name, a dot and a parallel branch's name (``coder.s1``: plan step ``s1``,
candidate ``c2``, sub-team ``red``); role names never contain dots. A call
from a branch (``coder.s1``) takes from its own queue when the script has one,
and from its role's shared queue (``coder``) when not. Branches run at once,
so which branch gets which reply of a shared queue depends on timing: give
each branch its own queue where the replies differ.

A reply is a string, ``{content: str, delay_s: float}`` (a simulated latency;
a streamed reply's words come over it) or ``{error: str}`` (a provider error,
to exercise retries). Replies never cycle: a key with none left raises
:class:`ScriptExhausted`, naming it.

Example:
    >>> model = ScriptedModel({"coder": ["print(1)"], "coder.s2": ["print(2)"]})
    >>> model.reply("coder.s2", [{"role": "user", "content": "go"}])
    'print(2)'
    >>> model.reply("coder.s1", [{"role": "user", "content": "go"}])  # no queue of its own: the shared one
    'print(1)'
    >>> model.assert_complete()
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.safe_input import TEXT_BYTES, InputError, load_yaml, read_text

__all__ = ["ScriptError", "ScriptExhausted", "ScriptedCall", "ScriptedModel", "ScriptedProviderError"]


class ScriptError(ValueError):
    """A script file that cannot be read; names the file and the entry."""


class ScriptExhausted(RuntimeError):
    """A role asked for more replies than its script has."""


class ScriptedProviderError(RuntimeError):
    """The script asked for a provider error here (``{error: ...}``); retryable."""


@dataclass(frozen=True)
class _Reply:
    content: str = ""
    delay_s: float = 0.0
    error: str | None = None


@dataclass
class ScriptedCall:
    """One recorded call: who asked, with what, and what they got."""

    role: str
    """The key asked with: a role name, or ``role.branch``."""
    messages: list[dict[str, Any]]
    reply: str | None
    error: str | None = None


def _delay(raw: dict[str, Any], where: str) -> float:
    try:
        delay = float(raw.get("delay_s", 0))
    except (TypeError, ValueError):
        raise ScriptError(f"{where}.delay_s: expected a number of seconds, got {raw.get('delay_s')!r}") from None
    if delay < 0:
        raise ScriptError(f"{where}.delay_s: expected a number >= 0, got {delay}")
    return delay


def _parse_reply(raw: Any, where: str) -> _Reply:
    if isinstance(raw, str):
        return _Reply(content=raw)
    if isinstance(raw, dict) and set(raw) <= {"content", "delay_s", "error"} and raw:
        if "error" in raw:
            return _Reply(error=str(raw["error"]), delay_s=_delay(raw, where))
        if not isinstance(raw.get("content", ""), str):
            raise ScriptError(f"{where}.content: expected a string")
        return _Reply(content=raw.get("content", ""), delay_s=_delay(raw, where))
    raise ScriptError(
        f"{where}: expected a string, {{content: str, delay_s: float}} or {{error: str}}, got {raw!r}"
    )


_PARSED: dict[tuple[str, int, int], Any] = {}


def _read_yaml(path: Path) -> Any:
    """Parse a script file, reusing the last parse while the file is unchanged (runs reload scripts often).

    Raises:
        OSError: the file cannot be read.
        InputError: the file is not UTF-8 text, is over 20 MB or is not valid YAML (duplicate keys, alias bombs
            and deep nesting included: see :mod:`studio.safe_input`).
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        _PARSED[key] = load_yaml(read_text(path, TEXT_BYTES))
    return copy.deepcopy(_PARSED[key])


@dataclass
class ScriptedModel:
    """Replies from a script, one queue per key (role or ``role.branch``), recorded as they are used.

    Args:
        replies: role name or ``role.branch`` -> list of replies (see module docs).
        source: where the script came from, for error messages.
        start_at: replies already used per key (a resumed run skips them); a ``role.branch``
            key the script has no queue for counts against its role's shared queue.

    Example:
        >>> model = ScriptedModel({"coder": ["a", "b", "c"]}, start_at={"coder.s1": 1, "coder.s2": 1})
        >>> model.reply("coder.s3", [])
        'c'
    """

    replies: dict[str, list[Any]]
    source: str = "<script>"
    start_at: dict[str, int] = field(default_factory=dict)
    calls: list[ScriptedCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.replies, dict):
            raise ScriptError(f"{self.source}: expected a mapping of role name to a list of replies")
        self._queues: dict[str, list[_Reply]] = {}
        for role, items in self.replies.items():
            if not isinstance(items, list):
                raise ScriptError(f"{self.source}: {role}: expected a list of replies, got {type(items).__name__}")
            self._queues[str(role)] = [_parse_reply(r, f"{self.source}: {role}[{i}]") for i, r in enumerate(items)]
        self._used = dict.fromkeys(self._queues, 0)
        for key, count in self.start_at.items():
            queue = self._queue_key(str(key))
            if queue is not None:  # replies of a role the script lacks: nothing to skip
                self._used[queue] += int(count)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, start_at: dict[str, int] | None = None) -> ScriptedModel:
        """Read a script file."""
        path = Path(path)
        try:
            data = _read_yaml(path)
        except OSError as exc:
            raise ScriptError(f"scripted model file {path}: cannot read it ({exc.strerror or exc})") from None
        except InputError as exc:
            raise ScriptError(f"scripted model file {path}: {exc}") from None
        return cls(replies=data or {}, source=str(path), start_at=dict(start_at or {}))

    def _queue_key(self, key: str) -> str | None:
        """The queue that serves ``key``: its own, else its role's shared one, else none."""
        if key in self._queues:
            return key
        role = key.split(".", 1)[0]
        return role if role in self._queues else None

    def reply(self, role: str, messages: list[dict[str, Any]], *,
              on_piece: Callable[[str], None] | None = None) -> str:
        """Return the next reply for ``role`` (sleeping ``delay_s`` first).

        Args:
            role: a role name, or ``role.branch`` for a call from a parallel branch.
            messages: the chat messages of the call (recorded).
            on_piece: called with the reply word by word (each with the spaces after it), as a model streams;
                the ``delay_s`` is then spread over the words instead of slept first.

        Raises:
            ScriptExhausted: the key has no reply left (or none at all).
            ScriptedProviderError: the script put an ``{error: ...}`` here.
        """
        with self._lock:
            key = self._queue_key(role)
            if key is None:
                shared = role.split(".", 1)[0]
                nor = f" (nor for role {shared!r})" if shared != role else ""
                raise ScriptExhausted(
                    f"scripted model {self.source}: no replies for role {role!r}{nor}; "
                    f"the script has replies for: {', '.join(sorted(self._queues)) or 'no role'}"
                )
            queue, index = self._queues[key], self._used[key]
            if index >= len(queue):
                via = f" (asked as {role!r})" if key != role else ""
                raise ScriptExhausted(
                    f"scripted model {self.source}: role {key!r}{via} has no scripted reply left "
                    f"(it had {len(queue)}; this was call {index + 1})"
                )
            self._used[key] = index + 1
            item = queue[index]
        if on_piece is not None and item.error is None:
            words = re.findall(r"\s*\S+\s*", item.content) or ([item.content] if item.content else [])
            for word in words:
                if item.delay_s:
                    time.sleep(item.delay_s / len(words))
                on_piece(word)
        elif item.delay_s:
            time.sleep(item.delay_s)
        self.calls.append(ScriptedCall(role, list(messages), None if item.error else item.content, item.error))
        if item.error is not None:
            raise ScriptedProviderError(item.error)
        return item.content

    def remaining(self) -> dict[str, int]:
        """Unused replies per key (role or ``role.branch``)."""
        return {role: len(q) - self._used[role] for role, q in self._queues.items() if len(q) > self._used[role]}

    def assert_complete(self) -> None:
        """Raise ``AssertionError`` if any scripted reply was never used."""
        left = self.remaining()
        if left:
            raise AssertionError(f"scripted model {self.source}: unused replies left: {left}")
