"""Error helpers every adapter shares: the HTTP status ladder, the reading of a server's
"wait this long", the malformed-body error and the tolerant JSON decode of an error body.

Each provider's ``_errors.py`` keeps only what is its own: where its error JSON holds the
message and code, the wording that means context overflow, and the few statuses or codes
it maps differently (passed in here as table entries, not copies of the ladder). See
``docs/providers.md`` for the normalized mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._json import loads
from .._retry_after import clamp_retry_after, parse_retry_after
from ..errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from ..messages import ChatRequest

__all__ = [
    "MALFORMED_CODE",
    "TRANSIENT_STATUSES",
    "WAIT_CLASSES",
    "class_for_status",
    "decode_json",
    "http_error",
    "malformed_error",
    "not_found_message",
    "retry_after",
    "who",
]

# The ``code`` of every "bytes we cannot make sense of" error, the same on every adapter.
MALFORMED_CODE = "malformed_response"

# The statuses every adapter maps the same way; the rest of the ladder is in
# :func:`class_for_status`.
_LADDER: dict[int, type[ProviderError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: ModelNotFoundError,
    429: RateLimitError,
}

# 4xx statuses that say "try again" rather than "the request is wrong": 408 request
# timeout and 409 conflict (lock or resource state). Providers add their own (Gemini and
# Ollama 499 cancelled, Bedrock 424 failed dependency); Ollama has no 409.
TRANSIENT_STATUSES = frozenset({408, 409})

# The classes whose errors may carry a server-given wait.
WAIT_CLASSES: tuple[type[ProviderError], ...] = (RateLimitError, ProviderUnavailableError)


def class_for_status(
    status: int,
    *,
    overflow: bool = False,
    overflow_statuses: frozenset[int] | None = frozenset({400}),
    special: Mapping[int, type[ProviderError]] | None = None,
    transient: frozenset[int] = TRANSIENT_STATUSES,
    unlisted: type[ProviderError] | None = None,
) -> type[ProviderError]:
    """The error class for an HTTP error ``status``, in this order:

    - ``overflow`` (the provider matched its context-overflow wording) on one of
      ``overflow_statuses`` (``None``: any status) -> ContextLengthExceededError;
    - the provider's ``special`` entries for statuses it maps its own way;
    - 401 auth, 403 permission, 404 model not found, 429 rate limit;
    - ``transient`` statuses and every 5xx (529 overloaded too) -> unavailable;
    - ``unlisted``: the class the provider's error code names, for statuses the ladder
      does not decide (Anthropic's ``error.type``);
    - any other 4xx -> invalid request, anything else a plain ProviderError.
    """
    if overflow and (overflow_statuses is None or status in overflow_statuses):
        return ContextLengthExceededError
    if special is not None:
        cls = special.get(status)
        if cls is not None:
            return cls
    cls = _LADDER.get(status)
    if cls is not None:
        return cls
    if status in transient or status >= 500:
        return ProviderUnavailableError
    if unlisted is not None:
        return unlisted
    return InvalidRequestError if 400 <= status < 500 else ProviderError


def retry_after(
    headers: Mapping[str, str] | None,
    cls: type[ProviderError] | None = None,
    *,
    only: tuple[type[ProviderError], ...] | None = WAIT_CLASSES,
    given: float | None = None,
    fallback: Callable[[Mapping[str, str]], float | None] | None = None,
) -> float | None:
    """Seconds the server asks us to wait, clamped, or ``None``.

    Read only for errors of a class in ``only`` (``None``: any class). A wait the body
    already ``given`` (Gemini's RetryInfo) comes first; then ``retry-after-ms`` and
    ``retry-after`` (seconds or an HTTP-date); then the provider's own headers through
    ``fallback`` (OpenAI's ``x-ratelimit-reset-*``)."""
    if only is not None and cls not in only:
        return None
    if given is not None:
        return clamp_retry_after(given)
    seconds = parse_retry_after(headers)
    if seconds is None and fallback is not None and headers is not None:
        return clamp_retry_after(fallback(headers))
    return seconds


def decode_json(body: bytes | str | None) -> Any:
    """An error body as JSON, or ``None`` when it is empty or not JSON (proxies answer
    with HTML, edges with plain text)."""
    if not body:
        return None
    try:
        return loads(body)
    except ValueError:
        return None


def who(request: ChatRequest | None, default: str | None = None) -> tuple[str | None, str | None]:
    """``(provider, model)`` to name in an error. Without a request (model listing,
    embeddings) the provider is ``default``: ``None`` lets the provider layer fill in its
    own id, which may differ from the adapter's."""
    if request is None:
        return default, None
    return request.provider, request.model


def not_found_message(request: ChatRequest | None, message: str, why: str) -> str:
    """A 404's message naming the model asked for, and ``why`` it may be missing."""
    if request is None:
        return message
    return f"model {request.model!r} {why}: {message}"


def http_error(
    cls: type[ProviderError],
    request: ChatRequest | None,
    message: str,
    *,
    status: int | None,
    body: bytes,
    headers: Mapping[str, str] | None,
    why: str,
    default_provider: str | None = None,
    code: str | None = None,
    request_id: str | None = None,
    given: float | None = None,
    prefix: str = "",
) -> ProviderError:
    """The error of class ``cls`` for an error answer: a 404's message names the model and
    ``why`` it may be missing (:func:`not_found_message`), the server's wait is read for
    the classes that take one (:func:`retry_after`, ``given`` first), and the body is kept."""
    if cls is ModelNotFoundError:
        message = not_found_message(request, message, why)
    provider, model = who(request, default_provider)
    return cls(
        prefix + message,
        provider=provider,
        model=model,
        status_code=status,
        body=body,
        retry_after=retry_after(headers, cls, given=given),
        code=code,
        request_id=request_id,
    )


def malformed_error(
    request: ChatRequest | None,
    vendor: str,
    what: str,
    data: bytes | str | None,
    *,
    status: int | None = None,
    default_provider: str | None = None,
) -> ProviderError:
    """Bytes we cannot make sense of: a non-retryable ProviderError saying ``what`` is
    wrong, keeping the offending bytes (truncated) in ``body``. Stream parsers raise it
    on their cold paths (a chunk that is not JSON, a stream of another format)."""
    provider, model = who(request, default_provider)
    return ProviderError(
        f"malformed response from {vendor}: {what}",
        provider=provider,
        model=model,
        status_code=status,
        body=data,
        code=MALFORMED_CODE,
    )
