"""Gemini (google.rpc.Status) error bodies and mid-stream errors -> the llmswitch error tree.

Body shape (docs/providers.md §4)::

    {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED",
               "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": "30s"}, ...]}}

Sometimes wrapped in a one-element list. The HTTP status decides the class, refined by
``details[].reason`` (an invalid key is a 400 with reason ``API_KEY_INVALID``) and, for
context overflow, by the message wording matched in :func:`is_context_overflow` only.
"""

from __future__ import annotations

import re
from typing import Any

from ..._retry_after import clamp_retry_after
from ...errors import AuthenticationError, ProviderError
from ...messages import ChatRequest
from ...wire import HttpResponse
from .._errors import class_for_status, decode_json, http_error, malformed_error

__all__ = [
    "CONTEXT_OVERFLOW_WORDING",
    "error_from_payload",
    "is_context_overflow",
    "malformed",
    "map_error",
    "parse_retry_delay",
]

# The ONLY place Gemini's context-overflow wording is matched (docs/providers.md §5). Gemini says
# it only in the message of a 400 INVALID_ARGUMENT:
#   "The input token count (3475108) exceeds the maximum number of tokens allowed (1048576)."
CONTEXT_OVERFLOW_WORDING = ("input token count", "exceeds the maximum number of tokens")

# google.rpc.ErrorInfo reasons meaning "the key itself is bad" (sent with HTTP 400).
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})

_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)s\s*")

# google.rpc status names, for errors that carry no usable HTTP code (mid-stream).
_BY_STATUS: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def is_context_overflow(message: str) -> bool:
    lowered = message.lower()
    return all(w in lowered for w in CONTEXT_OVERFLOW_WORDING)


def parse_retry_delay(value: Any) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` (a protobuf Duration in JSON: ``"30s"``,
    ``"1.5s"``) -> seconds."""
    if not isinstance(value, str):
        return None
    match = _DURATION.fullmatch(value)
    if match is None:
        return None
    seconds = float(match.group(1))
    return clamp_retry_after(seconds) if seconds > 0 else None


class _Status:
    """The fields of a google.rpc.Status we use."""

    __slots__ = ("code", "message", "reason", "retry_delay", "status")

    def __init__(self, err: Any) -> None:
        self.code: int | None = None
        self.message: str | None = None
        self.status: str | None = None
        self.reason: str | None = None
        self.retry_delay: float | None = None
        if isinstance(err, str):
            self.message = err
            return
        if not isinstance(err, dict):
            return
        code, message, status = err.get("code"), err.get("message"), err.get("status")
        self.code = code if isinstance(code, int) and not isinstance(code, bool) else None
        self.message = message if isinstance(message, str) and message else None
        self.status = status if isinstance(status, str) and status else None
        details = err.get("details")
        for detail in details if isinstance(details, list) else ():
            if not isinstance(detail, dict):
                continue
            kind = detail.get("@type")
            kind = kind if isinstance(kind, str) else ""
            if kind.endswith("google.rpc.ErrorInfo") and self.reason is None:
                reason = detail.get("reason")
                self.reason = reason if isinstance(reason, str) and reason else None
            elif kind.endswith("google.rpc.RetryInfo") and self.retry_delay is None:
                self.retry_delay = parse_retry_delay(detail.get("retryDelay"))


def _decode(body: bytes) -> _Status:
    data = decode_json(body)
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    return _Status(data.get("error") if isinstance(data, dict) else None)


# 499 CANCELLED is transient like 408 and 409 ABORTED.
_TRANSIENT = frozenset({408, 409, 499})


def _class_for(status: int, st: _Status, message: str) -> type[ProviderError]:
    if st.reason in _AUTH_REASONS:  # an invalid key is a 400
        return AuthenticationError
    return class_for_status(status, overflow=is_context_overflow(message), transient=_TRANSIENT)


def _build(
    request: ChatRequest | None,
    status: int,
    st: _Status,
    body: bytes,
    headers: Any,
    *,
    prefix: str = "",
    http_status: int | None = None,
) -> ProviderError:
    message = st.message or f"HTTP {status} from Gemini"
    return http_error(
        _class_for(status, st, message),
        request,
        message,
        status=http_status,
        body=body,
        headers=headers,
        why="not found or not available to this key",
        default_provider="gemini",
        code=st.reason or st.status,
        given=st.retry_delay,
        prefix=prefix,
    )


def map_error(request: ChatRequest | None, response: HttpResponse) -> ProviderError:
    st = _decode(response.body)
    return _build(
        request,
        response.status,
        st,
        response.body,
        response.headers,
        http_status=response.status,
    )


def error_from_payload(request: ChatRequest, err: Any, data: bytes) -> ProviderError:
    """An ``{"error": ...}`` object inside a 200 stream. Its ``code`` (or ``status``) maps
    like an HTTP status; without either it counts as the service failing."""
    st = _Status(err)
    status = st.code or _BY_STATUS.get(st.status or "", 503)
    return _build(request, status, st, data, None, prefix="stream failed: ")


def malformed(request: ChatRequest | None, what: str, data: bytes | str) -> ProviderError:
    """Bytes we cannot make sense of; the offending bytes are kept (truncated) in ``body``."""
    return malformed_error(request, "Gemini", what, data, default_provider="gemini")
