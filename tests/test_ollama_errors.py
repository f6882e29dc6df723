"""Ollama error bodies (``{"error": "<string>"}``, WIRE.md 5.6) -> the llmswitch error tree,
with messages that tell the user what to do."""

from __future__ import annotations

import pytest

from llmswitch.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers.ollama import OllamaAdapter
from llmswitch.wire import HttpResponse

REQUEST = ChatRequest(
    provider="ollama", model="llama3.2", messages=(Message(role="user", content="hi"),)
)


def error(
    status: int, body: bytes, request: ChatRequest | None = REQUEST, **headers: str
) -> ProviderError:
    return OllamaAdapter().map_error(request, HttpResponse(status, headers, body))


def test_model_not_found_suggests_pulling_it() -> None:
    exc = error(404, b'{"error":"model \\"llama3.2\\" not found, try pulling it first"}')
    assert isinstance(exc, ModelNotFoundError) and not exc.retryable
    assert "llmswitch models pull ollama/llama3.2" in str(exc)
    assert exc.status_code == 404 and exc.provider == "ollama" and exc.model == "llama3.2"


def test_model_not_found_without_a_request_names_the_model_from_the_message() -> None:
    # embeddings and listings map errors without a ChatRequest
    exc = error(404, b'{"error":"model \'nomic-embed-text\' not found"}', request=None)
    assert isinstance(exc, ModelNotFoundError)
    assert "llmswitch models pull ollama/nomic-embed-text" in str(exc)


@pytest.mark.parametrize(
    ("what", "hint"), [("tools", "without tools="), ("thinking", "without reasoning=")]
)
def test_missing_capability_says_what_to_change(what: str, hint: str) -> None:
    exc = error(400, b'{"error":"\\"gemma3:1b\\" does not support %s"}' % what.encode())
    assert type(exc) is InvalidRequestError
    assert f'"gemma3:1b" does not support {what}' in str(exc)
    assert hint in str(exc) and "llmswitch models ollama" in str(exc)


def test_plain_bad_request() -> None:
    exc = error(400, b'{"error":"invalid options: num_ctx"}')
    assert type(exc) is InvalidRequestError and "invalid options: num_ctx" in str(exc)


@pytest.mark.parametrize("status", [400, 500])
def test_context_overflow_with_truncate_false(status: int) -> None:
    exc = error(status, b'{"error":"the input length exceeds the context length"}')
    assert isinstance(exc, ContextLengthExceededError)


def test_rate_limit_with_retry_after() -> None:
    exc = error(429, b'{"error":"too many requests"}', **{"retry-after": "3"})
    assert isinstance(exc, RateLimitError) and exc.retryable and exc.retry_after == 3.0


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (499, b'{"error":"context canceled"}'),
        (500, b'{"error":"llama runner process has terminated: exit status 2"}'),
        (502, b'{"error":"remote model is unreachable"}'),
        (503, b'{"error":"server busy, please try again.  maximum pending requests exceeded"}'),
    ],
)
def test_server_side_failures_are_retryable(status: int, body: bytes) -> None:
    exc = error(status, body)
    assert isinstance(exc, ProviderUnavailableError) and exc.retryable
    assert body.decode().split('"')[3] in str(exc)


def test_cloud_key_rejected_and_not_echoed() -> None:
    key = "ollama-cloud-key-0123456789"
    exc = error(401, b'{"error":"unauthorized: Bearer ' + key.encode() + b'"}')
    assert isinstance(exc, AuthenticationError)
    assert key not in str(exc) and key not in (exc.body or "")


def test_non_json_body_keeps_the_status() -> None:
    exc = error(502, b"<html>Bad Gateway</html>")
    assert isinstance(exc, ProviderUnavailableError)
    assert "HTTP 502" in str(exc) and exc.body == "<html>Bad Gateway</html>"
