"""The spans of one run, made from its messages as the bus delivers them.

``huddle.run`` is the root. Each message a role publishes (a plan, code, a review, a decision, …) is a role
turn, ``invoke_agent ROLE``; under it go the turn's model call (``chat MODEL``, with the message's usage), the
tool calls the role made before it (``execute_tool TOOL``) and the sandbox runs of its code
(``huddle.sandbox``). Times come from the messages (a message is stamped when its turn ends; its usage says how
long the model took), so the spans are right although they are made after the fact. A turn span stays open
until that role (on that branch) speaks again or the run ends, so a later sandbox run still falls inside it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from studio.messages import Approval, Error, Execution, Final, Message, Task, ToolCall, ToolResult
from studio.redact import redact
from studio.telemetry._export import RunTracer, open_tracer

__all__ = ["MessageSpans", "provider_and_model"]

_T = TypeVar("_T")
_log = logging.getLogger("studio.telemetry")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_TEXT = 4096
_NOT_ROLES = frozenset({"user", "system"})
# litellm's provider prefixes -> the GenAI conventions' gen_ai.provider.name values (others pass as they are)
_PROVIDERS = {"azure": "azure.ai.openai", "azure_ai": "azure.ai.inference", "bedrock": "aws.bedrock",
              "gemini": "gcp.gemini", "vertex_ai": "gcp.vertex_ai", "mistral": "mistral_ai", "xai": "x_ai",
              "watsonx": "ibm.watsonx.ai"}
_BARE = (("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"), ("chatgpt", "openai"),
         ("claude", "anthropic"), ("gemini", "gcp.gemini"), ("mistral", "mistral_ai"), ("command", "cohere"))


def provider_and_model(model: str) -> tuple[str, str]:
    """The GenAI ``gen_ai.provider.name`` and ``gen_ai.request.model`` of a litellm model string.

    Example:
        >>> provider_and_model("openai/gpt-4o-mini"), provider_and_model("claude-3-5-haiku-latest")
        (('openai', 'gpt-4o-mini'), ('anthropic', 'claude-3-5-haiku-latest'))
        >>> provider_and_model("local/smollm2"), provider_and_model("scripted:duo.yaml")
        (('local', 'smollm2'), ('scripted', 'scripted:duo.yaml'))
    """
    if model.startswith("scripted:"):
        return "scripted", model
    if "/" in model:
        prefix, name = model.split("/", 1)
        return _PROVIDERS.get(prefix, prefix), name
    return next((p for start, p in _BARE if model.startswith(start)), "unknown"), model or "unknown"


def _ns(when: datetime) -> int:
    """Nanoseconds since the epoch, exactly (a float would lose the microseconds)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


def _ms(value: float) -> int:
    return int(value * 1_000_000)


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes fit to export: no ``None``, every text redacted and cut to a size a backend takes."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, str):
            value = redact(value)[:_MAX_TEXT]
        elif isinstance(value, list | tuple):
            value = [redact(str(v))[:_MAX_TEXT] for v in value]
        out[key] = value
    return out


@dataclass
class _Turn:
    span: Span
    end: int


class MessageSpans:
    """The trace of one run (one session of it): feed it the run's messages, and run the session's work in it.

    :meth:`run` (or the trace as a context manager) ends the spans as the work returns: the root with the
    status the messages gave (a final's ``done``, ``unsolved`` or ``budget``, a fatal error's ``failed``, an
    approval request's ``waiting``; ``failed`` when an exception escapes, ``interrupted`` on Ctrl-C), and sends
    them. The tracer opens at the first message (a session that publishes nothing sends nothing). A session that
    does not start with the task continues a run (``huddle.resumed``). A run started inside a span of the
    caller's own (a web request's, say) nests under it; otherwise the run id is the trace id. Thread-safe:
    parallel branches publish from several threads.
    """

    def __init__(self, run_id: str, team: str, *, content: bool = False):
        self._run_id, self._team, self._content = run_id, team, content
        self._status, self._error = "done", ""
        self._parent = otel_context.get_current()  # the caller's thread: its active span, if any
        self._started = time.time_ns()
        self._lock = threading.Lock()
        self._tracer: RunTracer | None = None
        self._root: Span | None = None
        self._root_ctx: otel_context.Context | None = None
        self._open: dict[tuple[str, str], _Turn] = {}  # (role, branch) -> its turn still open
        self._turns: dict[str, _Turn] = {}  # message id -> the turn it made
        self._calls: dict[tuple[str, str], list[ToolCall]] = {}  # tool calls waiting for their turn's message
        self._results: dict[str, ToolResult] = {}  # tool call id -> its result
        self._totals = {"input": 0, "output": 0, "cost": 0.0, "calls": 0}
        self._finished = False

    def message(self, message: Message) -> None:
        """Turn one published message into spans; a failure here is logged, never raised into the run."""
        try:
            with self._lock:
                if not self._finished:
                    self._take(message)
        except Exception:
            _log.debug("huddle: a message could not be traced", exc_info=True)

    def run(self, work: Callable[..., _T], *args: Any) -> _T:
        """``work(*args)`` inside the trace: its spans end and go out when it returns or raises."""
        with self:
            return work(*args)

    def __enter__(self) -> MessageSpans:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        if kind is not None and self._status != "failed":
            self._status = "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed"
            self._error = self._error or kind.__name__
        self.finish()

    def finish(self) -> None:
        """End every open span and the root and send them (one export timeout at most); once only."""
        with self._lock:
            if self._finished or self._tracer is None:  # nothing was published: nothing to send
                self._finished = True
                return
            self._finished = True
            try:
                self._close_spans()
            except Exception:
                _log.debug("huddle: the trace could not be ended", exc_info=True)
            finally:
                if self._tracer is not None:
                    self._tracer.close()

    def _start(self, first: Message | None = None) -> tuple[RunTracer, otel_context.Context]:
        if self._tracer is None or self._root_ctx is None:
            self._tracer = open_tracer(self._run_id)
            self._root = self._tracer.tracer.start_span(
                "huddle.run", context=self._parent, start_time=self._started,
                attributes=_clean({"huddle.run_id": self._run_id, "huddle.team": self._team,
                                   "gen_ai.conversation.id": self._run_id,
                                   "huddle.resumed": not isinstance(first, Task)}))
            self._root_ctx = trace.set_span_in_context(self._root)
        return self._tracer, self._root_ctx

    def _take(self, m: Message) -> None:
        _, root_ctx = self._start(m)
        assert self._root is not None  # opened by _start
        key = (m.sender, m.branch)
        if isinstance(m, Task):
            if self._content:
                self._root.set_attributes(_clean({"huddle.task": m.content}))
        elif isinstance(m, ToolCall):
            self._calls.setdefault(key, []).append(m)
        elif isinstance(m, ToolResult):
            self._results[m.parent_id or ""] = m
        elif isinstance(m, Execution):
            self._execution(m)
        elif isinstance(m, Error | Approval):
            if isinstance(m, Error) and m.fatal:
                self._status, self._error = "failed", m.content
            elif isinstance(m, Approval) and m.status == "requested":
                self._status = "waiting"
            attrs = ({"huddle.error_type": m.error_type, "huddle.fatal": m.fatal, "huddle.message": m.content}
                     if isinstance(m, Error) else {"huddle.point": m.point, "huddle.approval": m.status})
            self._root.add_event(f"huddle.{m.kind}", _clean({"huddle.role": m.sender, **attrs}), _ns(m.created_at))
        elif m.sender in _NOT_ROLES or isinstance(m, Final):
            if isinstance(m, Final):
                self._status = m.stop_reason if m.stop_reason in ("unsolved", "budget") else "done"
                self._root.set_attributes(_clean({"huddle.final.stop_reason": m.stop_reason,
                                                  "huddle.final.approved": m.approved,
                                                  "huddle.final.passed": m.passed, "huddle.final.failed": m.failed}))
            if m.usage.calls or m.usage.prompt_tokens or m.usage.completion_tokens:
                end = _ns(m.created_at)  # a budget stop's final carries the calls its cut-off turn made
                self._chat(root_ctx, m, end - _ms(m.usage.latency_ms), end)
        else:
            self._turn(m, key, root_ctx)

    def _turn(self, m: Message, key: tuple[str, str], root_ctx: otel_context.Context) -> None:
        tracer, _ = self._start()
        previous = self._open.pop(key, None)
        if previous is not None:
            previous.span.end(previous.end)
        end = _ns(m.created_at)
        model_start = end - _ms(m.usage.latency_ms)
        calls = self._calls.pop(key, [])
        start = min([model_start - _ms(m.usage.queue_ms), *(_ns(c.created_at) for c in calls)])
        attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": m.sender, "huddle.role": m.sender,
                 "huddle.run_id": self._run_id, "huddle.message_id": m.id, "huddle.kind": m.kind,
                 "huddle.branch": m.branch or None, "huddle.verdict": getattr(m, "verdict", None),
                 "huddle.content": m.content if self._content else None}
        span = tracer.tracer.start_span(f"invoke_agent {m.sender}", context=root_ctx, start_time=start,
                                        attributes=_clean(attrs))
        ctx = trace.set_span_in_context(span)
        if m.usage.calls or m.usage.prompt_tokens or m.usage.completion_tokens:
            self._chat(ctx, m, model_start, end)
        for call in calls:
            self._tool(ctx, call, self._results.pop(call.id, None))
        turn = _Turn(span, end)
        self._open[key] = self._turns[m.id] = turn

    def _chat(self, ctx: otel_context.Context, m: Message, start: int, end: int) -> None:
        usage = m.usage
        provider, model = provider_and_model(usage.model)
        self._totals["input"] += usage.prompt_tokens
        self._totals["output"] += usage.completion_tokens
        self._totals["cost"] += usage.cost_usd
        self._totals["calls"] += usage.calls
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.system": provider,
                 "gen_ai.request.model": model, "gen_ai.response.model": model,
                 "gen_ai.usage.input_tokens": usage.prompt_tokens,
                 "gen_ai.usage.output_tokens": usage.completion_tokens, "gen_ai.conversation.id": self._run_id,
                 "huddle.cost_usd": usage.cost_usd,
                 "huddle.model_calls": usage.calls, "huddle.queue_ms": usage.queue_ms, "huddle.role": m.sender,
                 "huddle.message_id": m.id}
        self._tracer_span(f"chat {model}", ctx, start, end, attrs, SpanKind.CLIENT)

    def _tool(self, ctx: otel_context.Context, call: ToolCall, result: ToolResult | None) -> None:
        start = _ns(call.created_at)
        attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.tool, "gen_ai.tool.type": "function",
                 "gen_ai.tool.call.id": call.id, "huddle.role": call.sender,
                 "huddle.tool.ok": result.ok if result is not None else None,
                 "gen_ai.tool.call.arguments": json.dumps(call.arguments, default=str) if self._content else None,
                 "gen_ai.tool.call.result": result.content if self._content and result is not None else None}
        failed = result is not None and not result.ok
        self._tracer_span(f"execute_tool {call.tool}", ctx, start, _ns(result.created_at) if result else start, attrs,
                          status=Status(StatusCode.ERROR, redact(result.content)[:200]) if failed and result else None)

    def _execution(self, m: Execution) -> None:
        _, root_ctx = self._start()
        turn = self._turns.get(m.parent_id or "")
        end = _ns(m.created_at)
        if turn is not None:
            turn.end = max(turn.end, end)
        attrs = {"huddle.operation": "execute_code", "huddle.role": m.sender, "huddle.message_id": m.id,
                 "huddle.code_id": m.parent_id, "huddle.execution.exit_code": m.exit_code,
                 "huddle.execution.passed": m.passed, "huddle.execution.failed": m.failed,
                 "huddle.execution.tests_run": m.tests_run, "huddle.execution.limit": m.limit,
                 "huddle.execution.duration_ms": m.duration_ms, "huddle.execution.network": m.network,
                 "huddle.execution.filesystem": m.filesystem}
        why = f"exit {m.exit_code}, {m.failed} failed" + (f", limit {m.limit}" if m.limit else "")
        self._tracer_span("huddle.sandbox", trace.set_span_in_context(turn.span) if turn else root_ctx,
                          end - _ms(m.duration_ms), end, attrs,
                          status=None if m.ok else Status(StatusCode.ERROR, why))

    def _tracer_span(self, name: str, ctx: otel_context.Context, start: int, end: int, attrs: dict[str, Any],
                     kind: SpanKind = SpanKind.INTERNAL, status: Status | None = None) -> None:
        tracer, _ = self._start()
        span = tracer.tracer.start_span(name, context=ctx, kind=kind, start_time=start, attributes=_clean(attrs))
        if status is not None:
            span.set_status(status)
        span.end(max(start, end))

    def _close_spans(self) -> None:
        _, root_ctx = self._start()
        assert self._root is not None  # opened by _start
        for turn in self._open.values():
            turn.span.end(turn.end)
        self._open.clear()
        for calls in self._calls.values():  # a turn stopped before its message (an approval, a failure)
            for call in calls:
                self._tool(root_ctx, call, self._results.pop(call.id, None))
        self._calls.clear()
        totals = self._totals
        self._root.set_attributes(_clean({"huddle.status": self._status, "huddle.usage.input_tokens": totals["input"],
                                          "huddle.usage.output_tokens": totals["output"],
                                          "huddle.cost_usd": totals["cost"], "huddle.model_calls": totals["calls"]}))
        if self._status in ("failed", "interrupted"):
            self._root.set_status(Status(StatusCode.ERROR, redact(self._error or self._status)[:_MAX_TEXT]))
        self._root.end(max(self._started, time.time_ns()))
