"""The LLM gateway: every model call goes through here, and through litellm.

Model strings are litellm's (``gpt-4o-mini``, ``ollama/llama3.2``,
``hosted_vllm/...``) plus two in-process providers: ``local/smollm2`` (the
embedded model) and ``scripted:PATH`` (a deterministic script per role). The
gateway adds retries with exponential back-off on provider errors, a timeout,
a per-run concurrency limit and the process-wide per-provider limits of
:mod:`studio.llm.schedule`, optional streaming, JSON-schema constrained output
where the provider supports it, native function calling (``tools=``, OpenAI's format) for the
providers that have it, and usage accounting (queue time included).

Example:
    >>> gw = Gateway()
    >>> check_model("local/smollm2")  # raises ModelConfigError if it cannot run
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import

import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from pydantic import BaseModel  # noqa: E402

from studio.llm._streaming import Relay, read_stream  # noqa: E402
from studio.llm._tool_calls import ToolCallRequest, parse_calls  # noqa: E402
from studio.llm.local import ModelNotFound  # noqa: E402
from studio.llm.models import (  # noqa: E402
    ModelConfigError,
    check_model,
    litellm,
    provider_of,
    supports_native_tools,
)
from studio.llm.schedule import SCHEDULER, Scheduler  # noqa: E402
from studio.llm.scripted import ScriptedModel, ScriptedProviderError, ScriptExhausted  # noqa: E402
from studio.messages import Usage  # noqa: E402
from studio.redact import redact  # noqa: E402
from studio.spec.flow import ProviderLimits  # noqa: E402

__all__ = ["NO_KEY", "CallRefused", "CallSettings", "Completion", "Gateway", "ModelCallError", "ModelConfigError",
           "ToolCallRequest", "check_model", "supports_native_tools"]


NO_KEY = "huddle-no-key"
"""The API key sent to a team's own ``api_base`` when the team names no ``api_key_env``: a placeholder, so that
litellm never fills in the provider's key from the environment (keys go only to their own provider's hosts)."""
_NO_CALLS: tuple[ToolCallRequest, ...] = ()


def _retryable() -> tuple[type[Exception], ...]:
    return (litellm.RateLimitError, litellm.Timeout, litellm.APIConnectionError,
            litellm.InternalServerError, litellm.ServiceUnavailableError)


class CallRefused(Exception):
    """Raised by a call's ``before_call`` hook: the call is not made.

    A budget reached, a candidate no longer needed: the exception reaches the caller as it is (never retried,
    never wrapped).
    """


class ModelCallError(RuntimeError):
    """A model call that failed for good (after retries, or not retryable)."""


@dataclass(frozen=True)
class CallSettings:
    """Per-call knobs; the runner fills them from the spec."""

    temperature: float = 0.2
    max_tokens: int = 512
    timeout_s: float = 120.0
    retries: int = 2
    retry_backoff_s: float = 1.0
    api_base: str | None = None
    """Where calls go instead of the provider's own host; it gets no key from the environment unless
    ``api_key_env`` names one."""
    api_key_env: str | None = None
    """The environment variable holding the key for ``api_base`` (or for the provider)."""
    native_tools: bool | None = None
    """Whether the model gets tools as native function calls: ``None`` asks litellm, ``True``/``False`` force it."""


@dataclass(frozen=True)
class Completion:
    """A model's reply text, the function calls it asked for (native tools only) and what it cost."""

    text: str
    usage: Usage
    tool_calls: tuple[ToolCallRequest, ...] = ()
    """The calls the model made through native function calling, in order; empty for a plain reply."""


class Gateway:
    """Calls models for a run.

    Each attempt first takes one of the run's own slots (``max_concurrency``),
    then a slot of the model's provider from the process-wide scheduler, so
    parallel branches and concurrent runs share each provider's limits.

    Args:
        max_concurrency: this run's model calls in flight at once.
        scripted_start: replies already used per role key, for resuming a scripted run.
        limits: provider name -> limits, applied to ``scheduler`` for the whole process
            (the spec's ``defaults.providers``; the last gateway made wins).
        scheduler: where provider slots come from; the process-wide ``SCHEDULER`` by default.

    Raises:
        ValueError: the ``HUDDLE_PROVIDER_LIMITS`` environment variable is malformed.

    Example:
        >>> from studio.llm.schedule import Scheduler
        >>> private = Scheduler(environ={})
        >>> gw = Gateway(2, limits={"openai": ProviderLimits(max_concurrency=8)}, scheduler=private)
        >>> private.limits("openai").max_concurrency
        8
    """

    def __init__(self, max_concurrency: int = 4, scripted_start: dict[str, int] | None = None,
                 limits: dict[str, ProviderLimits] | None = None, scheduler: Scheduler | None = None):
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self.scheduler = scheduler if scheduler is not None else SCHEDULER
        try:
            self.scheduler.update(limits or {})
        except ValueError as exc:  # a malformed HUDDLE_PROVIDER_LIMITS: the user's to fix
            raise ModelConfigError(str(exc)) from None
        self._scripted_start = dict(scripted_start or {})
        self.scripts: dict[str, ScriptedModel] = {}
        self._load_lock = threading.Lock()

    def script(self, model: str) -> ScriptedModel:
        """The :class:`ScriptedModel` behind a ``scripted:PATH`` model string (loaded on first use)."""
        found = self.scripts.get(model)
        if found is None:
            with self._load_lock:
                found = self.scripts.get(model)
                if found is None:
                    path = Path(model.removeprefix("scripted:"))
                    found = self.scripts[model] = ScriptedModel.load(path, start_at=self._scripted_start)
        return found

    def complete(self, model: str, messages: list[dict[str, Any]], *, role: str = "",
                 settings: CallSettings = CallSettings(), schema: type[BaseModel] | None = None,
                 on_token: Callable[[str], None] | None = None, tools: list[dict[str, Any]] | None = None,
                 tool_choice: str | dict[str, Any] = "auto",
                 before_call: Callable[[], None] | None = None) -> Completion:
        """Call ``model`` and return its reply.

        Args:
            model: litellm model string, ``local/...`` or ``scripted:PATH``.
            messages: chat messages.
            role: the calling role's name, or ``role.branch`` on a parallel branch (scripted replies
                are per role, or per role and branch).
            settings: temperature, max tokens, timeout, retries.
            schema: a pydantic model the reply should match; constrains decoding where the
                provider supports it (the caller still validates).
            on_token: called with each piece of text as it streams in (the embedded model streams JSON-constrained
                replies too; a scripted reply comes word by word, spread over its ``delay_s``). A provider's
                JSON-constrained reply is not streamed, so that its guarantee holds: ``on_token("")`` is called
                once when the call starts instead, a sign of life. Before a retry of an attempt that streamed some
                text, it gets ``studio.llm._streaming.RESTART``: drop that text, the reply starts over.
            tools: functions the model may call, in OpenAI's format (``Tool.openai_spec()``); passed as
                litellm's ``tools=``, except to ``local/...`` and ``scripted:`` models, which never get them.
                The calls come back in ``Completion.tool_calls``.
            tool_choice: with ``tools``: ``"auto"`` (the model picks a call or a reply), ``"required"``, or
                ``{"type": "function", "function": {"name": NAME}}`` to force that call.
            before_call: called once the call holds its slots, just before the provider is asked (each attempt);
                it may raise :class:`CallRefused` to not make the call.

        Raises:
            ModelCallError: the call failed after all retries, or with a non-retryable error.
            ScriptExhausted: a scripted role has no reply left.
        """
        script = self.script(model) if model.startswith("scripted:") else None
        kwargs: dict[str, Any] = {
            "model": model, "messages": messages,
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens, "timeout": settings.timeout_s,
            "metadata": {"huddle_role": role},
        }
        if settings.api_base:
            kwargs["api_base"] = settings.api_base
        if (settings.api_base or settings.api_key_env) and script is None:
            kwargs["api_key"] = _api_key(model, settings)
        if schema is not None:
            kwargs.update(self._schema_args(model, schema))
        if tools and script is None and not model.startswith("local/"):
            kwargs.update(tools=tools, tool_choice=tool_choice)
        if on_token is not None and "response_format" in kwargs and not model.startswith("local/"):
            on_token("")  # a provider's structured output comes whole (its guarantee kept): a sign of life instead
            on_token = None
        relay = Relay(on_token) if on_token is not None else None
        provider = provider_of(model)
        started = time.perf_counter()
        attempts, queued_s = 0, 0.0
        while True:
            attempts += 1
            try:
                asked = time.perf_counter()
                # slots are held per attempt, so a back-off sleep below frees them for other calls
                with self._slots:
                    queued_s += time.perf_counter() - asked
                    with self.scheduler.slot(provider) as slot:
                        queued_s += slot.waited_s
                        if before_call is not None:
                            before_call()
                        if script is not None:  # the script answers here, without litellm
                            text, calls, cost = _scripted_reply(script, role, messages, relay), _NO_CALLS, 0.0
                        else:
                            text, calls, prompt_tokens, completion_tokens, cost = self._call(kwargs, relay)
                if script is not None:  # litellm's mock usage is a constant: count words instead
                    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
                    completion_tokens = len(text.split())
                break
            except CallRefused:
                raise
            except Exception as exc:
                if relay is not None and relay.raised is not None:  # the caller's own exception (a Stop): as it is
                    raise relay.raised from None
                cause = _our_cause(exc)
                if cause is not None:
                    raise cause from None
                if isinstance(exc, _retryable()) and attempts <= settings.retries:
                    if relay is not None:  # the next attempt streams its reply from the start
                        relay.restart()
                    time.sleep(settings.retry_backoff_s * 2 ** (attempts - 1))
                    continue
                raise ModelCallError(_describe(model, exc, attempts, settings)) from None
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=cost,
                      latency_ms=(time.perf_counter() - started) * 1000, model=model, calls=attempts,
                      queue_ms=queued_s * 1000)
        return Completion(text=text, usage=usage, tool_calls=calls)

    def _schema_args(self, model: str, schema: type[BaseModel]) -> dict[str, Any]:
        if model.startswith("scripted:"):
            return {}
        json_schema = schema.model_json_schema()
        if model.startswith("local/"):  # llama.cpp grammars take any schema, unions included
            return {"response_format": {"type": "json_object", "schema": json_schema}}
        if json_schema.get("type") != "object":  # providers' structured outputs want an object at the root
            return {}
        try:
            supported = litellm.supports_response_schema(model=model)
        except Exception:
            supported = False
        return {"response_format": schema} if supported else {}

    def _call(self, kwargs: dict[str, Any],
              on_token: Callable[[str], None] | None) -> tuple[str, tuple[ToolCallRequest, ...], int, int, float]:
        if on_token is None:
            response = litellm.completion(**kwargs)
            usage = getattr(response, "usage", None)
            message = response.choices[0].message
            text, calls = message.content or "", parse_calls(getattr(message, "tool_calls", None))
        else:
            text, calls, usage = read_stream(
                litellm.completion(**kwargs, stream=True, stream_options={"include_usage": True}), on_token)
            response = None
        prompt = getattr(usage, "prompt_tokens", 0) or 0
        completion = getattr(usage, "completion_tokens", 0) or 0
        return text, calls, prompt, completion, _cost(kwargs["model"], response)


def _api_key(model: str, settings: CallSettings) -> str:
    """The key for a call with its own endpoint or key variable.

    That is the variable the team names, else :data:`NO_KEY`; never the provider's key that litellm would
    take from the environment.

    Raises:
        ModelCallError: ``api_key_env`` names a variable that is not set.
    """
    if not settings.api_key_env:
        return NO_KEY
    key = os.environ.get(settings.api_key_env, "").strip()
    if not key:
        where = settings.api_base or f"provider {provider_of(model)}"
        raise ModelCallError(f"model {model}: the team's api_key_env names ${settings.api_key_env}, which is not "
                             f"set: export {settings.api_key_env}=<the key for {where}>")
    return key


def _scripted_reply(script: ScriptedModel, role: str, messages: list[dict[str, Any]],
                    on_token: Callable[[str], None] | None) -> str:
    """The script's next reply for ``role``, streamed to ``on_token`` word by word (see ``ScriptedModel.reply``)."""
    try:
        return script.reply(role, messages) if on_token is None else script.reply(role, messages, on_piece=on_token)
    except ScriptedProviderError as exc:  # a scripted provider error behaves like a real one
        raise litellm.ServiceUnavailableError(message=f"scripted error: {exc}", llm_provider="scripted",
                                              model=script.source) from None


def _cost(model: str, response: Any) -> float:
    if response is None or model.startswith(("local/", "scripted/")):
        return 0.0
    try:
        return float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # unknown price (self-hosted models): cost is not known, not an error
        return 0.0


def _our_cause(exc: BaseException) -> BaseException | None:
    """Our own exception inside what litellm raised (it wraps handler exceptions), which must not be retried."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (ScriptExhausted, ModelNotFound)):
            return seen
        seen = seen.__context__
    return None


def _describe(model: str, exc: Exception, attempts: int, settings: CallSettings = CallSettings()) -> str:
    provider = provider_of(model)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = ""
    if isinstance(exc, litellm.AuthenticationError):
        keys = (litellm.validate_environment(model).get("missing_keys") or []) if provider != "scripted" else []
        hint = f"; check {' or '.join(keys) or 'the API key for ' + provider}"
        if settings.api_base and not settings.api_key_env:
            hint = (f"; {settings.api_base} gets no key from the environment: name the variable that holds its key "
                    "in the team's defaults.api_key_env")
        elif settings.api_key_env:
            hint = f"; check ${settings.api_key_env}"
    elif isinstance(exc, litellm.NotFoundError):
        hint = "; check the model name"
    return redact(f"model {model} (provider {provider}) failed after {attempts} attempt(s): {first}{hint}")
