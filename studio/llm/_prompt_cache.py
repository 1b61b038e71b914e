"""Saved llama.cpp contexts, so that a prompt skips the work an earlier prompt that began the same way did.

llama-cpp-python keeps the previous call's context and evaluates a new prompt only from where it departs
from it. That covers the candidates of one best-of-N step asked one after another (and their fix attempts,
whose prompts begin as the first one does), but not prompts that take turns: the tester's, the coders', the
critic's, then the next task's tester again, each re-reading a system prompt and worked examples the model
evaluated before. :class:`PromptCache` keeps the model's state after a call whose prompt no saved state
already holds, least recently used out first past ``capacity_bytes``, and before a call restores the saved
state sharing the longest token prefix with the prompt, when it shares more than the live context does.

A restored position holds what evaluating its tokens again gives (a position's keys and values depend only
on the tokens up to it), so with the sampler seeded per call a reply does not depend on whether its prompt
came from the cache: ``tests/test_local_model.py`` checks it on the real model.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CACHE_BYTES", "PromptCache", "chat_prompt_tokens", "shared_prefix"]

CACHE_BYTES = 256 << 20
"""How much saved state one model keeps (SmolLM2-135M: about 23 kB a token, so some 11,000 tokens)."""


def shared_prefix(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> int:
    """How many tokens ``a`` and ``b`` share from the start.

    Example:
        >>> shared_prefix([1, 2, 3, 4], [1, 2, 5])
        2
    """
    left, right = np.asarray(a), np.asarray(b)
    n = min(len(left), len(right))
    differ = np.flatnonzero(left[:n] != right[:n])
    return int(differ[0]) if differ.size else n


@dataclass
class _Saved:
    tokens: np.ndarray
    """The tokens the saved context holds (a prompt and the reply to it)."""
    data: Any
    """llama.cpp's state (keys and values of each position), as a ctypes byte array."""
    size: int


class PromptCache:
    """Saved states of one llama.cpp model, found by the longest token prefix they share with a prompt.

    Not thread-safe: the model's lock guards it, as it guards the model.

    Args:
        capacity_bytes: the most saved state kept; the least recently used goes first.
        min_gain: a state is saved or restored only when it holds at least this many prompt tokens more
            (fewer are quicker to evaluate again than to copy).
    """

    def __init__(self, capacity_bytes: int = CACHE_BYTES, min_gain: int = 16):
        self.capacity_bytes, self.min_gain = capacity_bytes, min_gain
        self._saved: OrderedDict[int, _Saved] = OrderedDict()
        self._next = 0
        self.restored_tokens = 0
        """Prompt tokens taken from saved states instead of evaluated, since the last :meth:`clear`."""

    @property
    def bytes(self) -> int:
        """The size of the saved states."""
        return sum(s.size for s in self._saved.values())

    def __len__(self) -> int:
        return len(self._saved)

    def clear(self) -> None:
        """Drop every saved state."""
        self._saved.clear()
        self.restored_tokens = 0

    def _best(self, prompt: np.ndarray) -> tuple[int | None, int]:
        best, shared = None, 0
        for key, saved in self._saved.items():
            n = shared_prefix(saved.tokens, prompt)
            if n > shared:
                best, shared = key, n
        return best, shared

    def restore(self, llama: Any, prompt: Sequence[int]) -> int:
        """Load the saved state that shares most of ``prompt``, when it beats the live context by ``min_gain``.

        Returns:
            How many more prompt tokens the context now holds (0 when nothing was restored).
        """
        tokens = np.asarray(prompt, dtype=np.intc)
        live = shared_prefix(llama._input_ids, tokens)
        key, shared = self._best(tokens)
        if key is None or shared - live < self.min_gain:
            return 0
        saved = self._saved[key]
        self._saved.move_to_end(key)
        from llama_cpp import llama_state_set_data

        if llama_state_set_data(llama._ctx.ctx, saved.data, saved.size) != saved.size:
            llama.reset()  # a state llama.cpp refused: start from nothing rather than from half of it
            return 0
        n = len(saved.tokens)
        llama.input_ids[:n] = saved.tokens
        llama.n_tokens = n
        llama._requires_eval = True  # the next call evaluates at least the prompt's last token: fresh logits
        self.restored_tokens += shared - live
        return shared - live

    def save(self, llama: Any, prompt: Sequence[int]) -> bool:
        """Keep the model's state after a call on ``prompt``, unless a saved state holds nearly all of it.

        Returns:
            Whether a state was saved.
        """
        tokens = np.asarray(prompt, dtype=np.intc)
        if len(tokens) - self._best(tokens)[1] < self.min_gain or llama.n_tokens < len(tokens):
            return False
        from llama_cpp import llama_state_get_data, llama_state_get_size

        size = int(llama_state_get_size(llama._ctx.ctx))
        if size > self.capacity_bytes:
            return False
        data = (ctypes.c_uint8 * size)()
        written = int(llama_state_get_data(llama._ctx.ctx, data, size))
        self._saved[self._next] = _Saved(llama._input_ids.copy(), data, written)
        self._next += 1
        while self.bytes > self.capacity_bytes:
            self._saved.popitem(last=False)
        return True


class _Prompt(Exception):  # noqa: N818 - not an error: carries the tokens out of the chat handler
    def __init__(self, tokens: list[int]):
        super().__init__("prompt captured")
        self.tokens = tokens


class _Capture:
    """A stand-in for the Llama a chat handler is given: the prompt it would complete is raised as :class:`_Prompt`."""

    def __init__(self, llama: Any):
        self._llama = llama

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)

    def create_completion(self, *, prompt: Any, **_: Any) -> Any:
        raise _Prompt(list(prompt) if not isinstance(prompt, str) else self._llama.tokenize(prompt.encode()))


def chat_prompt_tokens(llama: Any, messages: list[dict[str, Any]]) -> list[int]:
    """The prompt tokens ``llama.create_chat_completion(messages=messages)`` would evaluate.

    It asks the same chat handler (so the template, its special tokens and the BOS rule are the same) with a
    stand-in model that stops at the completion call: it needs no turn of the model, only its tokenizer.
    """
    from llama_cpp import llama_chat_format

    # Any: the handler is typed for a real Llama and TypedDict messages; it gets a stand-in and plain dicts
    handler: Any = (llama.chat_handler or llama._chat_handlers.get(llama.chat_format)
                    or llama_chat_format.get_chat_completion_handler(llama.chat_format))
    try:
        handler(llama=_Capture(llama), messages=messages)
    except _Prompt as got:
        return got.tokens
    raise RuntimeError("the model's chat handler made no completion call")  # pragma: no cover
