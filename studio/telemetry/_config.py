"""When a run sends traces, where to, and with what: read from the environment as the OpenTelemetry SDK reads it."""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["CONTENT_ENV", "DEFAULT_ENDPOINT", "capture_content", "traces_endpoint", "tracing_wanted"]

DEFAULT_ENDPOINT = "http://localhost:4318"
"""Where ``--otel`` sends traces when no ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set (an OTLP/HTTP collector's port)."""
CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""Set to ``true`` to attach the task, each message's text and tool arguments and results (redacted)."""
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def tracing_wanted(otel: bool | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a run sends traces: ``otel`` when it is given, else whether an OTLP endpoint variable is set."""
    env = os.environ if environ is None else environ
    if otel is False or env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return otel is True or any(env.get(name, "").strip() for name in _ENDPOINTS)


def traces_endpoint(environ: Mapping[str, str] | None = None) -> str:
    """The URL spans are posted to, read as the OpenTelemetry SDK reads it.

    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is used as it is; ``OTEL_EXPORTER_OTLP_ENDPOINT`` is a base URL that
    gets ``/v1/traces``; with neither, :data:`DEFAULT_ENDPOINT` does.
    """
    env = os.environ if environ is None else environ
    full = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if full:
        return full
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    return base.rstrip("/") + "/v1/traces"


def capture_content(environ: Mapping[str, str] | None = None) -> bool:
    """Whether spans carry the messages' text (:data:`CONTENT_ENV` set to ``true``); off by default."""
    env = os.environ if environ is None else environ
    return env.get(CONTENT_ENV, "").strip().lower() in ("true", "1", "yes")
