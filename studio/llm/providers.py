"""litellm handlers for the in-process providers ``local/...`` (and the ``scripted`` name)."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from typing import Any

import litellm
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk

from studio.llm.local import get_local_model


def _fill(model_response: Any, text: str, prompt_tokens: int, completion_tokens: int) -> Any:
    model_response.choices[0].message.content = text
    model_response.usage = litellm.Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                         total_tokens=prompt_tokens + completion_tokens)
    return model_response


def _chunks(pieces: Generator[str, None, tuple[int, int]], model: str,
            timeout: float | None) -> Iterator[GenericStreamingChunk]:
    """The pieces of a local reply as litellm's chunks, its usage in the last; too slow: ``litellm.Timeout``.

    The pieces are closed however this ends, so the local model is never left locked by a stream nobody reads.
    """
    started = time.monotonic()
    try:
        while True:
            try:
                piece = next(pieces)
            except StopIteration as end:
                prompt_tokens, completion_tokens = end.value
                break
            if timeout and time.monotonic() - started > float(timeout):
                raise litellm.Timeout(message=f"local/{model} took longer than {timeout}s", model=model,
                                      llm_provider="local")
            # litellm types finish_reason as str; None marks a chunk that does not end the reply (as is_finished does)
            yield {"text": piece, "is_finished": False, "finish_reason": None, "usage": None,  # type: ignore[typeddict-item]
                   "index": 0, "tool_use": None}
    finally:
        pieces.close()
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    yield {"text": "", "is_finished": True, "finish_reason": "stop", "usage": usage,  # type: ignore[typeddict-item]
           "index": 0, "tool_use": None}


class ScriptedHandler(CustomLLM):
    """Makes ``scripted/...`` a provider litellm knows; replies come as ``mock_response`` from the gateway."""

    def completion(self, model, *args, **kwargs):
        """Refuse: a scripted reply comes only through huddle's Gateway."""
        raise litellm.BadRequestError(message=f"scripted/{model}: call it through huddle's Gateway, which "
                                      "supplies the scripted reply", model=model, llm_provider="scripted")


def _local_args(optional_params: dict[str, Any], litellm_params: dict[str, Any] | None) -> dict[str, Any]:
    """The local model's arguments: temperature, max tokens, schema, the caller's seed, and the role key.

    The role key (the gateway's ``metadata.huddle_role``, ``coder.c3``) seeds a call that names no seed.
    """
    fmt = optional_params.get("response_format") or {}
    metadata = (litellm_params or {}).get("metadata") or {}
    seed = optional_params.get("seed")
    return {"temperature": optional_params.get("temperature", 0.2),
            "max_tokens": optional_params.get("max_tokens", 512), "schema": fmt.get("schema"),
            "seed": None if seed is None else int(seed), "key": str(metadata.get("huddle_role") or "")}


class LocalHandler(CustomLLM):
    """Runs ``local/<name>`` in process (llama.cpp, transformers as fallback)."""

    def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                   encoding, api_key, logging_obj, optional_params, acompletion=None, litellm_params=None,
                   logger_fn=None, headers={}, timeout=None, client=None):  # noqa: B006
        """Answer ``messages`` with the local model into litellm's ``model_response``; too slow: ``litellm.Timeout``."""
        started = time.monotonic()
        text, prompt_tokens, completion_tokens = get_local_model(model).chat(
            messages, **_local_args(optional_params, litellm_params))
        if timeout and time.monotonic() - started > float(timeout):
            raise litellm.Timeout(message=f"local/{model} took longer than {timeout}s", model=model,
                                  llm_provider="local")
        return _fill(model_response, text, prompt_tokens, completion_tokens)

    def streaming(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                  encoding, api_key, logging_obj, optional_params, acompletion=None, litellm_params=None,
                  logger_fn=None, headers={}, timeout=None, client=None):  # noqa: B006
        """Stream the local model's reply as litellm's chunks (a JSON-constrained one too: llama.cpp streams it)."""
        return _chunks(get_local_model(model).stream(messages, **_local_args(optional_params, litellm_params)),
                       model, timeout)


_REGISTERED = False
SCRIPTED_TARGET = "scripted/script"
"""The litellm model name of every scripted call (the gateway knows which script answers)."""


def register_providers() -> None:
    """Add the ``local`` and ``scripted`` providers to litellm (once per process)."""
    global _REGISTERED
    if _REGISTERED:
        return
    others = [p for p in litellm.custom_provider_map if p.get("provider") not in ("local", "scripted")]
    litellm.custom_provider_map = [*others, {"provider": "local", "custom_handler": LocalHandler()},
                                   {"provider": "scripted", "custom_handler": ScriptedHandler()}]
    # Free models: tell litellm their price so its per-call cost bookkeeping finds it at once.
    free = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "cache_creation_input_token_cost": 0.0,
            "cache_read_input_token_cost": 0.0, "mode": "chat"}
    litellm.register_model({SCRIPTED_TARGET: {**free, "litellm_provider": "scripted"},
                            "local/smollm2": {**free, "litellm_provider": "local"}})
    _REGISTERED = True
