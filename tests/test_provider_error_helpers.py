"""The shared adapter error helpers (llmswitch.providers._errors, _shape): the one status
ladder with each provider's differences as parameters, the one Retry-After reading, and
the cold-path error of a stream of another format."""

from __future__ import annotations

import pytest

from llmswitch.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers._errors import class_for_status, malformed_error, retry_after
from llmswitch.providers._shape import stream_head_error

REQUEST = ChatRequest(provider="p", model="m", messages=(Message(role="user", content="hi"),))


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, ModelNotFoundError),
        (408, ProviderUnavailableError),
        (409, ProviderUnavailableError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ProviderUnavailableError),
        (529, ProviderUnavailableError),
        (302, ProviderError),
    ],
)
def test_ladder_defaults(status: int, cls: type[ProviderError]) -> None:
    assert class_for_status(status) is cls


def test_ladder_parameters() -> None:
    # overflow counts only on the listed statuses, or on any with None
    assert class_for_status(400, overflow=True) is ContextLengthExceededError
    assert class_for_status(500, overflow=True) is ProviderUnavailableError
    assert class_for_status(500, overflow=True, overflow_statuses=None) is (
        ContextLengthExceededError
    )
    # a provider's own statuses win over the ladder, its code only where the ladder is silent
    assert class_for_status(402, special={402: ProviderError}) is ProviderError
    assert class_for_status(422, unlisted=RateLimitError) is RateLimitError
    assert class_for_status(401, unlisted=RateLimitError) is AuthenticationError
    assert class_for_status(409, transient=frozenset({408})) is InvalidRequestError
    assert class_for_status(499, transient=frozenset({499})) is ProviderUnavailableError


def test_retry_after_order_and_classes() -> None:
    headers = {"retry-after": "7"}
    assert retry_after(headers, RateLimitError) == 7.0
    assert retry_after(headers, InvalidRequestError) is None
    assert retry_after(headers, InvalidRequestError, only=None) == 7.0
    assert retry_after(headers, RateLimitError, given=2.0) == 2.0  # the body's word first
    assert retry_after({}, RateLimitError, fallback=lambda h: 1e12) == 3600.0  # clamped
    assert retry_after(headers, RateLimitError, fallback=lambda h: 1.0) == 7.0
    assert retry_after(None, RateLimitError) is None


def _malformed(request: ChatRequest | None, what: str, data: bytes) -> ProviderError:
    return malformed_error(request, "P", what, data, default_provider="p")


def test_stream_head_error() -> None:
    def error_of(doc: object) -> ProviderError | None:
        if isinstance(doc, dict) and "error" in doc:
            return ProviderUnavailableError("from the document")
        return None

    exc = stream_head_error(b'{"error": 1}', "an SSE stream", _malformed, REQUEST, error_of)
    assert str(exc.message) == "from the document"
    exc = stream_head_error(b"<html>oops</html>", "an SSE stream", _malformed, REQUEST, error_of)
    assert exc.code == "malformed_response"
    assert "expected an SSE stream, got an HTML page" in exc.message
    assert (exc.provider, exc.model) == ("p", "m")
    exc = stream_head_error(b"", "an SSE stream", _malformed, None)
    assert (exc.provider, exc.model) == ("p", None)
    assert "an empty body" in exc.message
