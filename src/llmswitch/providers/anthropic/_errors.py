"""Anthropic error responses and ``event: error`` stream events -> the llmswitch error tree.

Body shape: ``{"type": "error", "error": {"type": "...", "message": "..."}, "request_id": "..."}``
(docs/providers.md §4). The HTTP status decides the class; ``error.type`` is kept as ``code``.
"""

from __future__ import annotations

from ...errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from ...messages import ChatRequest
from ...wire import HttpResponse
from .._errors import class_for_status, decode_json, http_error, malformed_error

__all__ = [
    "CONTEXT_OVERFLOW_MESSAGES",
    "is_context_overflow",
    "malformed",
    "map_error",
    "stream_error",
]

# The only place Anthropic's context-overflow wording is matched (docs/providers.md §5). Anthropic
# signals overflow only in the message of a 400 invalid_request_error:
#   "prompt is too long: 208656 tokens > 200000 maximum"
#   "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, ..."
# (the second when prompt + max_tokens is over the window on models that do not clamp).
CONTEXT_OVERFLOW_MESSAGES = (
    "prompt is too long",
    "input length and `max_tokens` exceed context limit",
)

# error.type -> class, for statuses the table in map_error does not decide and for
# mid-stream error events (which arrive after a 200).
_BY_TYPE: dict[str, type[ProviderError]] = {
    "invalid_request_error": InvalidRequestError,
    "request_too_large": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "not_found_error": ModelNotFoundError,
    "billing_error": ProviderError,
    "rate_limit_error": RateLimitError,
    "conflict_error": ProviderUnavailableError,
    "api_error": ProviderUnavailableError,
    "timeout_error": ProviderUnavailableError,
    "overloaded_error": ProviderUnavailableError,
}


def is_context_overflow(message: str) -> bool:
    return message.lstrip().lower().startswith(CONTEXT_OVERFLOW_MESSAGES)


# Statuses Anthropic maps its own way: 400 is always the request's fault (the error type
# is not consulted), 402 billing_error cannot be fixed by retrying until someone pays,
# 413 comes from the edge before the API.
_SPECIAL_STATUSES: dict[int, type[ProviderError]] = {
    400: InvalidRequestError,
    402: ProviderError,
    413: InvalidRequestError,
}


def _class_for(status: int, error_type: str | None, message: str) -> type[ProviderError]:
    # 408 request timeout and 409 conflict (lock/resource state) are transient: the SDK
    # retries both. 500 api_error, 504 timeout_error and 529 overloaded_error too.
    return class_for_status(
        status,
        overflow=is_context_overflow(message),
        special=_SPECIAL_STATUSES,
        unlisted=_BY_TYPE.get(error_type or ""),
    )


def _decode_body(body: bytes) -> tuple[str | None, str | None, str | None]:
    """``(error.type, error.message, request_id)``; all ``None`` for a non-JSON body."""
    data = decode_json(body)
    if not isinstance(data, dict):
        return None, None, None
    err = data.get("error")
    request_id = data.get("request_id")
    request_id = request_id if isinstance(request_id, str) else None
    if isinstance(err, dict):
        etype, message = err.get("type"), err.get("message")
        return (
            etype if isinstance(etype, str) else None,
            message if isinstance(message, str) else None,
            request_id,
        )
    if isinstance(err, str):
        return None, err, request_id
    return None, None, request_id


def map_error(request: ChatRequest | None, response: HttpResponse) -> ProviderError:
    status = response.status
    error_type, message, request_id = _decode_body(response.body)
    request_id = response.headers.get("request-id") or request_id
    if message is None:
        # 413 comes from the edge before the API and may be HTML; 5xx from proxies too.
        message = "request too large" if status == 413 else f"HTTP {status} from Anthropic"
    # A 429 without retry-after can be the monthly spend cap rather than a rate limit: it
    # stays retryable (the caller's retry budget bounds it), but we invent no delay.
    return http_error(
        _class_for(status, error_type, message),
        request,
        message,
        status=status,
        body=response.body,
        headers=response.headers,
        why="not found or not available to this key",
        default_provider="anthropic",
        code=error_type,
        request_id=request_id,
    )


def stream_error(request: ChatRequest, data: bytes) -> ProviderError:
    """An ``event: error`` after the 200: the request was accepted, so failure is the
    server's. overloaded_error/api_error (and unknown types) are ProviderUnavailableError;
    other types map as their HTTP counterparts would."""
    error_type, message, request_id = _decode_body(data)
    message = message or "error event in the stream"
    cls = _BY_TYPE.get(error_type or "", ProviderUnavailableError)
    if cls is InvalidRequestError and is_context_overflow(message):
        cls = ContextLengthExceededError
    return cls(
        f"stream failed: {message}",
        provider=request.provider,
        model=request.model,
        body=data,
        code=error_type,
        request_id=request_id,
    )


def malformed(request: ChatRequest | None, what: str, data: bytes | str) -> ProviderError:
    """Bytes we cannot make sense of; the offending bytes are kept (truncated) in ``body``."""
    return malformed_error(request, "Anthropic", what, data, default_provider="anthropic")
