"""Keep secrets out of everything Huddle stores or prints: run logs, checkpoints, memory, exports, the CLI.

Two kinds of secret are found: the values of secret environment variables (a
name ending in ``KEY``, ``TOKEN``, ``SECRET``, ``PASSWORD``, …, and the password of
any environment variable that holds a URL), and text shaped like a secret
whatever its origin: connection strings with a password
(``postgresql://user:PASS@host``), API keys of the common providers (OpenAI,
Anthropic, AWS, GitHub, Slack, Google, Hugging Face), JWTs, ``Bearer`` tokens,
private key blocks and ``password=...`` / ``api_key: ...`` assignments.
Redacting twice changes nothing.

Example:
    >>> import os
    >>> os.environ["DEMO_API_KEY"] = "sk-demo-1234567890"
    >>> redact("auth failed for sk-demo-1234567890")
    'auth failed for [redacted DEMO_API_KEY]'
    >>> redact("postgresql://app:hunter2@db:5432/prod")
    'postgresql://app:[redacted]@db:5432/prod'
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["is_provider_key_name", "looks_secret", "redact", "redact_data", "secret_fields", "secret_values",
           "shared"]

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$|^AWS_|_AUTH$", re.IGNORECASE)
_PROVIDER_KEY_NAME = re.compile(
    r"(OPENAI|AZURE(_OPENAI)?|ANTHROPIC|GEMINI|GOOGLE|VERTEX(AI)?|GROQ|MISTRAL|CODESTRAL|COHERE|CO|TOGETHER(AI)?"
    r"|DEEPSEEK|XAI|HUGGINGFACE|HF|FIREWORKS(_AI)?|PERPLEXITY(AI)?|OPENROUTER|REPLICATE|VOYAGE|DEEPINFRA|CEREBRAS"
    r"|NVIDIA_NIM|AI21|ANYSCALE|CLOUDFLARE|DATABRICKS|SAMBANOVA|WATSONX|NOVITA|NEBIUS|GITHUB|AWS)"
    r"_(API_)?(KEY|TOKEN|SECRET_ACCESS_KEY|ACCESS_KEY_ID)", re.IGNORECASE)
_MIN_SECRET = 8
"""Shorter environment values are not treated as secrets (they would match ordinary words)."""

_KEY = "[redacted key]"
# Every pattern opens with a literal, which the regex engine scans for quickly, and runs only when its needle is
# in the text: an ordinary message costs a few substring tests. A key or a token starts only where a run of key
# characters starts (not after a letter, digit, '_' or '-'), and its body is matched possessively: each run is
# read a bounded number of times, so the time stays linear in the text whatever it holds (`sk-sk-sk-…` too).
# Keys: the body must hold a digit (real keys are random), which spares identifiers like `sk_learn_params`.
_RUN = r"A-Za-z0-9_\-"


def _key(prefix: str, body: str, run: str = _RUN) -> str:
    return f"{prefix}(?<![{run}]{'.' * len(prefix)}){body}"


_KEY_BODY = rf"(?=[{_RUN}]*\d)[{_RUN}]{{12,}}+"
_SHAPES: tuple[tuple[str, tuple[re.Pattern[str], ...], str], ...] = (
    ("-----", (re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?"
                          r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)"),), "[redacted private key]"),
    # scheme://user:PASSWORD@host: the password runs to the last '@' before the host (an unescaped '@' too).
    ("://", (re.compile(r"://(?<=[a-zA-Z0-9+.\-]://)([^\s:/@?#\"'<>]*+:)[^\s/\"'<>]+@"),), r"://\1[redacted]@"),
    ("eyJ", (re.compile(_key("eyJ", rf"[{_RUN}]{{8,}}+\.eyJ[{_RUN}]{{8,}}+\.[{_RUN}]*+", _RUN + ".")),),
     "[redacted token]"),
    ("earer", (re.compile(r"earer(?<=[Bb]earer)(?<![A-Za-z0-9].earer)(\s++)(?=[A-Za-z0-9._~+/=\-]*\d)"
                          r"[A-Za-z0-9._~+/=\-]{16,}+"),), r"earer\1[redacted token]"),
    ("k-", tuple(re.compile(_key(p, _KEY_BODY)) for p in ("sk-", "pk-", "rk-")), _KEY),
    ("k_", tuple(re.compile(_key(p, _KEY_BODY)) for p in ("sk_", "pk_", "rk_", "gsk_")), _KEY),
    ("xai", tuple(re.compile(_key(p, _KEY_BODY)) for p in ("xai-", "xai_")), _KEY),
    ("hf_", (re.compile(_key("hf_", r"[A-Za-z0-9]{30,}+")),), _KEY),
    ("gh", (*(re.compile(_key(p, r"[A-Za-z0-9]{20,}+")) for p in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
            re.compile(_key("github_pat_", r"[A-Za-z0-9_]{20,}+"))), _KEY),
    ("xox", (re.compile(_key("xox", r"[abposr]-[A-Za-z0-9-]{10,}+")),), _KEY),
    ("AKIA", (re.compile(_key("AKIA", r"[0-9A-Z]{16}(?![0-9A-Za-z])")),), _KEY),
    ("ASIA", (re.compile(_key("ASIA", r"[0-9A-Z]{16}(?![0-9A-Za-z])")),), _KEY),
    ("AIza", (re.compile(_key("AIza", r"[0-9A-Za-z_\-]{35}")),), _KEY),
)
"""(needle, patterns, replacement): the patterns run only on a text that holds the needle."""
# password=..., api_key: "...", "token": '...': found by the end of the name (a fast substring search), then
# the value read; not a call or subscript (`token = get_token()`), not a dotted name (`key = settings.api_key`),
# not true/false/null, not something already redacted.
_NAMES = {"key": ("api_key", "api-key", "apikey", "access_key", "access-key", "secret_key", "secret-key",
                  "private_key", "private-key"),
          "token": ("token",), "secret": ("secret",), "password": ("password",), "passwd": ("passwd",),
          "pwd": ("pwd",)}
_AFTER_NAME = re.compile(r"[\"']?[ \t]*+[:=][ \t]*+")
_VALUE = re.compile(r"\"[^\"\n]{4,}+\"|'[^'\n]{4,}+'|[^\s\"'`&;,(){}\[\]<>]{6,}+")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_NOT_SECRET = frozenset({"true", "false", "null", "none"})


def _secret_value(value: str, after: str) -> bool:
    """Whether an assigned ``value`` (quoted or not) followed by ``after`` is a secret to redact."""
    if value[0] in "\"'":
        inner = value[1:-1]
        return not inner.startswith("[redacted") and inner.strip().lower() not in _NOT_SECRET
    return after not in ("(", "[") and not _DOTTED.fullmatch(value)


_ENV_CACHE: list[Any] = [None, []]


def secret_values() -> dict[str, str]:
    """Secret values in the environment, by variable name (values of 8+ characters).

    A variable whose name says it holds a secret counts whole; a variable holding a URL with a
    password (``DATABASE_URL``) contributes that password, as ``NAME password``.
    """
    found: dict[str, str] = {}
    for name, value in os.environ.items():
        if len(value) < _MIN_SECRET:
            continue
        if _SECRET_NAME.search(name):
            found[name] = value
        elif "://" in value and "@" in value:
            try:
                password = urlsplit(value.strip()).password
            except ValueError:
                continue
            if password and len(password) >= _MIN_SECRET:
                found[f"{name} password"] = password
    return found


def _ordered_secrets() -> list[tuple[str, str]]:
    """The secrets, longest first; recomputed only when the environment changed (it is read on every message)."""
    raw = getattr(os.environ, "_data", None)  # CPython's mapping behind os.environ: compared without decoding
    if not isinstance(raw, dict) or raw != _ENV_CACHE[0]:
        _ENV_CACHE[:] = [dict(raw) if isinstance(raw, dict) else None,
                         sorted(secret_values().items(), key=lambda item: -len(item[1]))]
    return _ENV_CACHE[1]


def _assigned_values(text: str) -> list[tuple[int, int]]:
    """Spans of the values in ``name = value`` / ``name: value`` pairs whose name says they are secret, in order.

    Each value is read once: a name inside a value already read is not looked at again.
    """
    if "=" not in text and ":" not in text:
        return []
    lowered = text.lower()
    found: list[tuple[int, tuple[str, ...], int]] = []  # (end of the name, names it may be, where the value starts)
    for stem, names in _NAMES.items():
        at = lowered.find(stem)
        while at != -1:
            end = at + len(stem)
            if lowered.endswith(names, 0, end):
                after = _AFTER_NAME.match(lowered, end)
                if after is not None:
                    found.append((end, names, after.end()))
            at = lowered.find(stem, end)
    spans: list[tuple[int, int]] = []
    done = 0
    for end, names, value_at in sorted(found):
        start = next(end - len(n) for n in names if lowered.startswith(n, end - len(n)))
        if end <= done or (start and lowered[start - 1].isalnum()):
            continue
        value = _VALUE.match(text, value_at)
        if value is not None:
            done = value.end()
            if _secret_value(value.group(), text[done:done + 1]):
                spans.append(value.span())
    return spans


_LONG = 256
"""Texts this long or longer are remembered once redacted: a run's prompts are redacted again and again (the
cassette's request, its record, the checkpoints), and each pass over a long one costs tens of microseconds."""
_DONE: dict[str, tuple[list[tuple[str, str]], str | None]] = {}
"""Long texts redacted before: text -> (the secrets it was redacted for, the redacted text or ``None``: unchanged)."""
_DONE_SIZE = 1024


def _redact(text: str, secrets: list[tuple[str, str]]) -> str:
    if len(text) < _LONG:
        return _redact_text(text, secrets)
    done = _DONE.get(text)
    if done is not None and done[0] is secrets:  # redacted for these secrets (a changed environment makes a new list)
        return text if done[1] is None else done[1]  # unchanged: the text itself (callers test identity)
    if len(_DONE) >= _DONE_SIZE:
        _DONE.clear()
    out = _redact_text(text, secrets)
    _DONE[text] = (secrets, None if out is text else out)
    return out


def _redact_text(text: str, secrets: list[tuple[str, str]]) -> str:
    for name, value in secrets:
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    for needle, patterns, replacement in _SHAPES:
        if needle in text:
            for pattern in patterns:
                text = pattern.sub(replacement, text)
    spans = _assigned_values(text)
    if not spans:
        return text
    out, done = [], 0
    for start, end in spans:
        quote = text[start] if text[start] in "\"'" else ""
        out += [text[done:start], f"{quote}[redacted]{quote}"]
        done = end
    return "".join(out) + text[done:]


def redact(text: str) -> str:
    """Replace secret environment values, and anything shaped like a secret, in ``text``."""
    if not text:
        return text
    return _redact(text, _ordered_secrets())


_STRUCTURAL = frozenset({"id", "run_id", "parent_id", "sender", "topic", "kind", "branch", "memory_ids",
                         "created_at", "usage"})
"""Fields of messages that only identify or count (never free text): left as they are."""


def redact_data(value: Any, memo: dict[int, tuple[Any, Any, Any]] | None = None) -> Any:
    """``value`` with every string in it redacted; ``value`` itself when nothing changed.

    Strings, lists, tuples, dicts (their values), dataclasses and pydantic models (a message: its text
    fields) are looked into.

    Args:
        value: what to redact.
        memo: remembers the pydantic models redacted before (they are immutable), for a caller that redacts
            the same ones again and again (the checkpoints hold the whole transcript at every step).

    Example:
        >>> redact_data({"task": "use password=hunter2", "n": 3})
        {'task': 'use password=[redacted]', 'n': 3}
    """
    return _walk(value, _ordered_secrets(), memo)


_MEMO_SIZE = 50_000
_SHARED: dict[int, tuple[dict[str, Any], list[tuple[str, str]] | None]] = {}
"""Shared, never-changed dicts (:func:`shared`) by id: (the dict, the secrets it was last found clean for)."""


def shared(value: dict[str, Any]) -> dict[str, Any]:
    """Note ``value`` as a dict that is shared and never changed (a reply model's JSON schema); return it.

    :func:`redact_data` walks it once per set of secrets: while it holds none of them, it is passed over, here
    and inside whatever holds it (each model call's request holds its schema).
    """
    _SHARED[id(value)] = (value, None)  # holding it keeps its id from being reused
    return value
_TEXT_FIELDS: dict[type, tuple[str, ...]] = {}
"""Per pydantic model class, the fields redaction looks into (not the structural ones); ``()`` for other types."""


def _text_fields(cls: type) -> tuple[str, ...]:
    fields = getattr(cls, "model_fields", None)
    names = tuple(n for n in fields if n not in _STRUCTURAL) \
        if isinstance(fields, dict) and hasattr(cls, "model_copy") else ()
    if names or not isinstance(fields, dict):
        _TEXT_FIELDS[cls] = names
    return names


def _walk(value: Any, secrets: list[tuple[str, str]], memo: dict[int, tuple[Any, Any, Any]] | None) -> Any:
    if isinstance(value, str):
        return _redact(value, secrets) if value else value
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, list):
        out = [_walk(v, secrets, memo) for v in value]
        return out if any(a is not b for a, b in zip(out, value, strict=True)) else value
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        walked = tuple(_walk(v, secrets, memo) for v in value)
        return walked if any(a is not b for a, b in zip(walked, value, strict=True)) else value
    if isinstance(value, dict):
        shared = _SHARED.get(id(value))
        if shared is not None and shared[0] is value and shared[1] is secrets:  # found clean for these secrets
            return value
        mapped = {k: _walk(v, secrets, memo) for k, v in value.items()}
        if any(mapped[k] is not v for k, v in value.items()):
            return mapped
        if shared is not None and shared[0] is value:
            _SHARED[id(value)] = (value, secrets)
        return value
    names = _TEXT_FIELDS.get(type(value))
    if names is None:
        names = _text_fields(type(value))
    if names:  # a pydantic model (messages are frozen ones)
        seen = memo.get(id(value)) if memo is not None else None
        if seen is not None and seen[0] is value and seen[2] is secrets:  # same object, same secrets
            return seen[1]
        update = {}
        for name in names:
            old = getattr(value, name)
            # a message's text fields are strings: redacted here, without a call per field (the bus's hot path)
            new = (_redact(old, secrets) if old else old) if type(old) is str else _walk(old, secrets, memo)
            if new is not old:
                update[name] = new
        out = value.model_copy(update=update) if update else value
        if memo is not None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[id(value)] = (value, out, secrets)  # holding `value` keeps its id from being reused
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        update = {}
        for f in dataclasses.fields(value):
            if f.init:
                old = getattr(value, f.name)
                new = _walk(old, secrets, memo)
                if new is not old:
                    update[f.name] = new
        return dataclasses.replace(value, **update) if update else value
    return value


def is_provider_key_name(name: str) -> bool:
    """Whether environment variable ``name`` is a model provider's own key, which must never go to another host.

    For example ``OPENAI_API_KEY``, ``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``.

    Example:
        >>> is_provider_key_name("OPENAI_API_KEY"), is_provider_key_name("MY_GATEWAY_KEY")
        (True, False)
    """
    return bool(_PROVIDER_KEY_NAME.fullmatch(name))


def looks_secret(text: str) -> bool:
    """Whether ``text`` holds a secret: a secret environment value, a key, a token or a URL with a password."""
    return bool(text) and redact(text) != text


def secret_fields(data: Any, path: str = "") -> list[str]:
    """Paths (``defaults.api_base``, ``roles[0].instructions``) of the strings in ``data`` that hold a secret.

    Example:
        >>> secret_fields({"defaults": {"api_base": "https://u:pw123456@gw.example"}, "name": "duo"})
        ['defaults.api_base']
    """
    if isinstance(data, str):
        return [path or "value"] if looks_secret(data) else []
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in secret_fields(value, f"{path}.{key}" if path else str(key))]
    if isinstance(data, (list, tuple)):
        return [p for i, value in enumerate(data) for p in secret_fields(value, f"{path}[{i}]")]
    return []
