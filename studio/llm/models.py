"""What the gateway knows of a model before calling it: its provider, whether it can be used, native tools.

litellm is imported here, lazily: at the first call that needs it (a scripted run never does).

Example:
    >>> provider_of("local/smollm2"), supports_native_tools("scripted:x.yaml", True)
    ('local', False)
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from studio._lazy import LazyModule  # noqa: E402
from studio.llm.local import ModelNotFound, gguf_path  # noqa: E402

__all__ = ["ModelConfigError", "check_model", "litellm", "provider_of", "supports_native_tools"]


def _set_up(module: Any) -> None:
    """Quiet litellm and teach it the in-process providers, the first time a call needs it."""
    from studio.llm.providers import register_providers

    module.suppress_debug_info = True
    module.telemetry = False
    register_providers()


if TYPE_CHECKING:
    import litellm
else:  # imported at the first call that needs it: a scripted run never does (litellm takes seconds to import)
    litellm = LazyModule("litellm", _set_up)


class ModelConfigError(ValueError):
    """A model that cannot be used as configured (unknown, missing key, missing file): a user error."""


def provider_of(model: str) -> str:
    """The provider name litellm would use for ``model`` (``local`` and ``scripted`` for the in-process ones)."""
    if model.startswith("scripted:"):
        return "scripted"
    if model.startswith("local/"):  # our in-process provider: its one-call-at-a-time limit is keyed "local"
        return "local"
    try:
        return litellm.get_llm_provider(model)[1]
    except Exception:  # litellm raises its own BadRequestError for unknown providers
        return model.split("/", 1)[0] if "/" in model else "unknown"


def supports_native_tools(model: str, setting: bool | None = None) -> bool:
    """Whether ``model`` should get tools as native function calls (litellm's ``tools=``).

    Never for the in-process models (``local/...``, ``scripted:``: their callers constrain JSON instead);
    otherwise ``setting`` when it is not ``None`` (the team's ``defaults.native_tools``), else what litellm
    knows of the model.

    Example:
        >>> supports_native_tools("local/smollm2", True), supports_native_tools("openai/my-model", True)
        (False, True)
    """
    if model.startswith(("local/", "scripted:")):
        return False
    if setting is not None:
        return setting
    try:
        return bool(litellm.supports_function_calling(model=model))
    except Exception:  # a model litellm has no entry for: not known to support it
        return False


def check_model(model: str, *, api_base: str | None = None) -> None:
    """Raise :class:`ModelConfigError` when ``model`` cannot be called as configured.

    Checks that a scripted file exists, a local model is installed, the
    provider is known and its API key variables are set (not with an ``api_base``
    of the team's own, which never gets the provider's key).
    """
    if model.startswith("scripted:"):
        path = Path(model.removeprefix("scripted:"))
        if not path.is_file():
            raise ModelConfigError(f"model {model}: scripted file {path} does not exist")
        return
    if model.startswith("local/"):
        try:
            gguf_path(model.removeprefix("local/"))
        except ModelNotFound as exc:
            raise ModelConfigError(str(exc)) from None
        return
    try:
        provider = litellm.get_llm_provider(model)[1]
    except Exception:
        raise ModelConfigError(
            f"model {model!r}: litellm knows no provider for it; use a litellm model string such as "
            "gpt-4o-mini, anthropic/claude-3-5-haiku-latest, ollama/llama3.2 or hosted_vllm/NAME"
        ) from None
    env = litellm.validate_environment(model)
    missing = env.get("missing_keys") or []
    if missing and not api_base and provider not in ("ollama", "ollama_chat", "hosted_vllm", "vllm", "lm_studio"):
        raise ModelConfigError(
            f"model {model} (provider {provider}) needs {', '.join(missing)}: set it in the environment"
        )
