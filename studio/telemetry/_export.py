"""One run's tracer: an OpenTelemetry SDK provider, a batch processor and the OTLP/HTTP exporter, kept quiet.

A collector that is down must never fail or slow a run: each export gives up after a short timeout (2 s
unless ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`` or ``OTEL_EXPORTER_OTLP_TIMEOUT`` says otherwise), the export at
the run's end tries once without waiting to retry, the SDK's own log lines about it are held back, and one
warning per endpoint says that the traces were not sent. After a failed export the run sends nothing more.

The trace id is the run id (when it is 32 hex digits, as Huddle makes them), so every session of a resumed run
lands in the same trace and a run id finds its trace.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import Tracer

from studio.redact import redact
from studio.telemetry._config import traces_endpoint

__all__ = ["EXPORT_TIMEOUT_S", "RunTracer", "open_tracer"]

EXPORT_TIMEOUT_S = 2.0
"""How long one export may take when no ``OTEL_EXPORTER_OTLP_*TIMEOUT`` is set."""

_log = logging.getLogger("studio.telemetry")
_SDK_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry.exporter.otlp.common.http",
                "opentelemetry.sdk._shared_internal", "opentelemetry.exporter.http.transport")
_warned: set[str] = set()
_warned_lock = threading.Lock()
_exporting = threading.local()


class _HoldBack(logging.Filter):
    """Drop the SDK's log records while one of our exporters works (the user gets our one warning instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_exporting, "active", False)


_FILTER = _HoldBack()
for _name in _SDK_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


class _RunIds(IdGenerator):
    """Random span ids; the trace id is the run's (its uuid4 hex, else a hash of it)."""

    def __init__(self, run_id: str):
        self._random = RandomIdGenerator()
        hexed = run_id if re.fullmatch(r"[0-9a-f]{32}", run_id) else hashlib.sha256(run_id.encode()).hexdigest()[:32]
        self._trace_id = int(hexed, 16) or 1

    def generate_span_id(self) -> int:
        return self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        return self._trace_id


class _QuietExporter(SpanExporter):
    """The OTLP exporter, silenced; the first failure warns once per endpoint and stops this run's exports."""

    def __init__(self, inner: SpanExporter, endpoint: str):
        self._inner, self._endpoint, self.failed = inner, endpoint, False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.failed:
            return SpanExportResult.FAILURE
        _exporting.active = True
        try:
            result = self._inner.export(spans)
        except Exception:  # an exporter bug must not reach the run
            result = SpanExportResult.FAILURE
        finally:
            _exporting.active = False
        if result is not SpanExportResult.SUCCESS:
            self.failed = True
            _warn_once(self._endpoint)
        return result

    def last_export(self) -> None:
        """From now on an export tries once and never waits to retry (the run is ending; a wait would slow it)."""
        # the OTLP client gives up its retries once its shutdown event is set (opentelemetry-exporter-otlp 1.45)
        event = getattr(getattr(self._inner, "_client", None), "_shutdown_event", None)
        if isinstance(event, threading.Event):
            event.set()

    def shutdown(self) -> None:
        _exporting.active = True
        try:
            self._inner.shutdown()
        finally:
            _exporting.active = False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _warn_once(endpoint: str) -> None:
    with _warned_lock:
        if endpoint in _warned:
            return
        _warned.add(endpoint)
    _log.warning("huddle: traces could not be sent to %s (no OTLP/HTTP collector answered there); runs go on "
                 "without them", redact(endpoint))


def _timeout() -> float | None:
    """``None`` (the SDK reads its variables) when a timeout is set in the environment, else the short default."""
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT"):
        return None
    return EXPORT_TIMEOUT_S


@dataclass
class RunTracer:
    """A run's tracer and what :meth:`close` flushes."""

    tracer: Tracer
    provider: TracerProvider
    processor: BatchSpanProcessor
    exporter: _QuietExporter

    def close(self) -> None:
        """Send what is left, in one try, and stop the processor's thread (an export gives up after its timeout)."""
        self.exporter.last_export()
        self.provider.shutdown()


def open_tracer(run_id: str) -> RunTracer:
    """A tracer for one run, exporting to :func:`~studio.telemetry.traces_endpoint` (``OTEL_*`` headers honoured).

    Nothing global changes: the process's own tracer provider (if the user set one) is left alone.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("huddle-studio")
    except PackageNotFoundError:  # a source tree that was never installed
        release = "0"
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "huddle",
                                "service.version": release})
    endpoint = traces_endpoint()
    exporter = _QuietExporter(OTLPSpanExporter(endpoint=endpoint, timeout=_timeout()), endpoint)
    # shutdown_on_exit=False: no atexit hook holding every run's provider; the runner closes it at the run's end
    provider = TracerProvider(resource=resource, id_generator=_RunIds(run_id), shutdown_on_exit=False)
    processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return RunTracer(provider.get_tracer("huddle", release), provider, processor, exporter)
