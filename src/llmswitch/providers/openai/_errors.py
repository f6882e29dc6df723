"""OpenAI-style error bodies and headers -> the llmswitch error tree.

Serves OpenAI, Azure OpenAI and the compatible servers: both body shapes
(``{"error": {...}}`` and vLLM's old top-level ``{"object": "error", ...}``),
non-JSON bodies, error objects inside a 200 body or an SSE stream, and the
retry-after header forms (docs/providers.md §4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...errors import (
    ContentFilterError,
    ContextLengthExceededError,
    InvalidRequestError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from ...messages import ChatRequest
from ...wire import HttpResponse
from .._errors import class_for_status, decode_json, malformed_error, retry_after

__all__ = ["error_from_payload", "malformed", "map_error", "retry_after_seconds"]

# --- Context overflow signatures: the ONE place the wording is matched (docs/providers.md §5).
# Structured signals first; the message wording only where a server gives nothing else.
_OVERFLOW_CODES = frozenset({"context_length_exceeded"})  # OpenAI, Azure
_OVERFLOW_TYPES = frozenset({"exceed_context_size_error"})  # llama.cpp
# vLLM: "This model's maximum context length is N tokens. However, you requested M tokens"
# (OpenAI's own message uses the same words).
_OVERFLOW_WORDING = ("maximum context length",)
# The HTTP statuses on which that wording means overflow (and inside a 200 or a stream).
_OVERFLOW_STATUSES = frozenset({400, 413})


def _is_context_overflow(code: str | None, type_: str | None, message: str) -> bool:
    if code in _OVERFLOW_CODES or type_ in _OVERFLOW_TYPES:
        return True
    lowered = message.lower()
    return any(w in lowered for w in _OVERFLOW_WORDING)


# Azure's prompt filter (400, code content_filter; innererror ResponsibleAIPolicyViolation).
_CONTENT_FILTER_CODES = frozenset({"content_filter", "ResponsibleAIPolicyViolation"})
# Error types that mean "the service, not the request, failed" when no status tells us
# (errors inside a 200 body or mid-stream).
_UNAVAILABLE_TYPES = frozenset(
    {"server_error", "api_error", "overloaded_error", "unavailable_error", "service_unavailable",
     "internal_error", "internal_server_error", "timeout", "timeout_error"}
)  # fmt: skip
_RATE_LIMIT_TYPES = frozenset({"rate_limit_exceeded", "rate_limit_error", "requests", "tokens"})
_INVALID_TYPES = frozenset({"invalid_request_error", "BadRequestError", "not_found_error"})

_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _go_duration(value: str | None) -> float | None:
    """``6m0s`` / ``1.5s`` / ``12ms`` -> seconds (the x-ratelimit-reset-* format)."""
    if not value:
        return None
    value = value.strip()
    parts = _GO_DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        try:  # some proxies send plain seconds
            return max(float(value), 0.0)
        except (ValueError, OverflowError):
            return None
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


def retry_after_seconds(
    headers: Mapping[str, str], status: int, error_type: str | None = None
) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP-date),
    or on a 429 the reset time of the exhausted limit (``x-ratelimit-reset-*``)."""

    def reset(h: Mapping[str, str]) -> float | None:
        return _reset_seconds(h, error_type)

    return retry_after(headers, only=None, fallback=reset if status == 429 else None)


def _reset_seconds(headers: Mapping[str, str], error_type: str | None) -> float | None:
    requests = _go_duration(headers.get("x-ratelimit-reset-requests"))
    tokens = _go_duration(headers.get("x-ratelimit-reset-tokens"))
    # The relevant reset is the one of the limit that ran out: OpenAI's 429 ``type``
    # names it, else the remaining-count header at 0 does; when unclear wait for both.
    if error_type == "requests" or (
        error_type != "tokens"
        and headers.get("x-ratelimit-remaining-requests") == "0"
        and headers.get("x-ratelimit-remaining-tokens") != "0"
    ):
        return requests if requests is not None else tokens
    if error_type == "tokens" or (
        headers.get("x-ratelimit-remaining-tokens") == "0"
        and headers.get("x-ratelimit-remaining-requests") != "0"
    ):
        return tokens if tokens is not None else requests
    known = [v for v in (requests, tokens) if v is not None]
    return max(known) if known else None


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def error_from_payload(
    request: ChatRequest | None,
    err: Any,
    *,
    status: int | None,
    headers: Mapping[str, str],
    body: bytes | str | None,
) -> ProviderError:
    """Build the typed error for an error object (``body["error"]`` or vLLM's top level).

    ``status`` is the HTTP status, or ``None`` for an error inside a 200 body or a stream:
    then the error's own ``status``/numeric ``code`` or its ``type`` decides the class.
    """
    if isinstance(err, Mapping):
        message = err.get("message")
        code = _str_or_none(err.get("code"))
        type_ = _str_or_none(err.get("type"))
        inner = err.get("innererror")
        inner_code = _str_or_none(inner.get("code")) if isinstance(inner, Mapping) else None
        embedded = err.get("status")
        if not isinstance(embedded, int):
            raw_code = err.get("code")
            embedded = raw_code if isinstance(raw_code, int) else None
    else:  # {"error": "text"} (Ollama-style proxies)
        message, code, type_, inner_code, embedded = err, None, None, None, None
    message = message if isinstance(message, str) and message else None
    effective = status if status is not None and status >= 300 else embedded
    kw: dict[str, Any] = {
        "provider": request.provider if request is not None else None,
        "model": request.model if request is not None else None,
        "status_code": status if status is not None and status >= 300 else None,
        "body": body,
        "code": code or type_,
        "request_id": headers.get("x-request-id") or headers.get("apim-request-id"),
        "retry_after": retry_after_seconds(headers, effective or 0, type_),
    }
    text = message or (f"HTTP {status}" if status and status >= 300 else "error from provider")
    exc = _error_class(effective, code, type_, inner_code, text)(text, **kw)
    if effective == 429 and "insufficient_quota" in (code, type_):
        # Billing quota used up: still a RateLimitError (same status, what users catch),
        # but waiting will not help, so retry/fallback must not repeat the call.
        exc.retryable = False
    should_retry = headers.get("x-should-retry")
    if should_retry in ("true", "false"):  # the server's explicit word wins (as in the SDK)
        exc.retryable = should_retry == "true"
    return exc


def _error_class(
    effective: int | None, code: str | None, type_: str | None, inner_code: str | None, text: str
) -> type[ProviderError]:
    if code in _CONTENT_FILTER_CODES or inner_code in _CONTENT_FILTER_CODES:
        return ContentFilterError
    overflow = _is_context_overflow(code, type_, text)
    if effective is None:  # inside a 200 body or a stream: the type is all we have
        if overflow:
            return ContextLengthExceededError
        if type_ in _UNAVAILABLE_TYPES:
            return ProviderUnavailableError
        if type_ in _RATE_LIMIT_TYPES or code == "rate_limit_exceeded":
            return RateLimitError
        if type_ in _INVALID_TYPES:
            return InvalidRequestError
        return ProviderError
    return class_for_status(effective, overflow=overflow, overflow_statuses=_OVERFLOW_STATUSES)


def map_error(request: ChatRequest | None, response: HttpResponse) -> ProviderError:
    body = response.body
    status = response.status
    data = decode_json(body)
    if isinstance(data, Mapping):
        if data.get("error"):
            return error_from_payload(
                request, data["error"], status=status, headers=response.headers, body=body
            )
        if data.get("object") == "error" or "message" in data:  # vLLM's old top-level shape
            return error_from_payload(
                request, data, status=status, headers=response.headers, body=body
            )
    snippet = body[:200].decode("utf-8", "replace").strip()
    if not snippet:
        text = f"HTTP {status} with an empty body"
    elif data is None:
        text = f"HTTP {status} with a non-JSON body: {snippet}"
    else:
        text = f"HTTP {status}: {snippet}"
    return error_from_payload(request, text, status=status, headers=response.headers, body=body)


def malformed(
    request: ChatRequest | None, what: str, data: bytes, status: int | None = 200
) -> ProviderError:
    """Bytes we cannot parse: a non-retryable ProviderError keeping them (truncated)."""
    return malformed_error(request, "provider", what, data, status=status)
