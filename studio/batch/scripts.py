"""Scripted models shared by a whole batch on Ray: the batch's coordinator holds the queues, workers ask it.

In the sequential loop one gateway serves every run, so a ``scripted:PATH``
model's queues run on from task to task. A batch keeps that: the driver reads
each script once and hands it to the batch's coordinator actor
(:class:`ScriptBook` is its part that serves replies), and each worker's
gateway answers ``scripted:PATH`` through a :class:`SharedScript`. Runs go at
once, so which run gets which reply of a role's list depends on timing, as for
parallel branches: give every run the same replies, or replies whose results
do not depend on the task, where the outcome must not vary.

Example:
    >>> import asyncio
    >>> book = ScriptBook()
    >>> book.load_scripts({"scripted:demo.yaml": ({"coder": ["a", {"error": "busy"}]}, "demo.yaml")})
    >>> [asyncio.run(book.reply("scripted:demo.yaml", "coder", []))[0] for _ in range(3)]
    ['ok', 'error', 'exhausted']
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from studio.llm.scripted import ScriptedModel, ScriptedProviderError, ScriptExhausted

__all__ = ["ScriptBook", "SharedScript"]

_DELAYS_AT_ONCE = 256
"""Replies whose ``delay_s`` may run at once (each waits on a thread of its own)."""


class ScriptBook:
    """The batch's copy of each script (a part of the coordinator actor)."""

    def __init__(self) -> None:
        self._scripts: dict[str, ScriptedModel] = {}
        self._threads = ThreadPoolExecutor(_DELAYS_AT_ONCE, thread_name_prefix="script-delay")

    def load_scripts(self, scripts: dict[str, tuple[dict[str, list[Any]], str]]) -> None:
        """Start a batch: model string -> (the script's replies, its file), queues from the start."""
        self._scripts = {model: ScriptedModel(replies, source=source) for model, (replies, source) in scripts.items()}

    async def reply(self, model: str, role: str, messages: list[dict[str, Any]]) -> tuple[str, str]:
        """``("ok", text)``, ``("error", text)`` (a scripted provider error) or ``("exhausted", why)``."""
        script = self._scripts[model]

        def take() -> tuple[str, str]:
            try:
                return "ok", script.reply(role, messages)  # sleeps the reply's delay_s, on this thread
            except ScriptExhausted as exc:
                return "exhausted", str(exc)
            except ScriptedProviderError as exc:
                return "error", str(exc)

        return await asyncio.get_running_loop().run_in_executor(self._threads, take)

    def remaining(self) -> dict[str, dict[str, int]]:
        """Unused replies per model and key."""
        return {model: script.remaining() for model, script in self._scripts.items()}


class SharedScript:
    """What a worker's gateway holds for a ``scripted:PATH`` model: replies come from the batch's coordinator.

    Quacks like :class:`~studio.llm.scripted.ScriptedModel` where the gateway uses one (``reply``,
    ``source``); its ``calls`` stay empty.
    """

    def __init__(self, coordinator: Any, model: str):
        self._coordinator = coordinator
        self.source = model
        self.calls: list[Any] = []

    def reply(self, role: str, messages: list[dict[str, Any]]) -> str:
        """The next reply for ``role`` from the batch's queues.

        Raises:
            ScriptExhausted: the key has no reply left.
            ScriptedProviderError: the script put an ``{error: ...}`` here.
        """
        import ray

        kind, text = ray.get(self._coordinator.reply.remote(self.source, role, messages))
        if kind == "exhausted":
            raise ScriptExhausted(text)
        if kind == "error":
            raise ScriptedProviderError(text)
        return text
