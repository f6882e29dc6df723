"""map_error: status codes, structured codes and retry headers -> the error tree
(WIRE.md 1.6, 1.8, 1.9), for OpenAI, Azure and the compatible servers."""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from typing import Any

import pytest

from llmswitch.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.providers.openai import OpenAIAdapter
from llmswitch.wire import HttpResponse
from tests.support.openai import chat_request, parse_body

REQUEST = chat_request(model="gpt-4o-mini")


def err(
    message: str, type_: str | None = None, code: Any = None, param: str | None = None, **more: Any
) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code, **more}}
    ).encode()


def mapped(status: int, body: bytes, headers: dict[str, str] | None = None) -> ProviderError:
    return OpenAIAdapter().map_error(
        REQUEST, HttpResponse(status=status, headers=headers or {}, body=body)
    )


OVERFLOW_MSG = (
    "This model's maximum context length is 128000 tokens. However, your messages resulted in "
    "130567 tokens. Please reduce the length of the messages."
)
AZURE_FILTER = json.dumps(
    {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": {"filtered": False, "severity": "safe"},
                    "jailbreak": {"filtered": True, "detected": True},
                    "self_harm": {"filtered": False, "severity": "safe"},
                    "sexual": {"filtered": False, "severity": "safe"},
                    "violence": {"filtered": False, "severity": "safe"},
                },
            },
        }
    }
).encode()


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        # OpenAI
        (
            400,
            err(OVERFLOW_MSG, "invalid_request_error", "context_length_exceeded", "messages"),
            ContextLengthExceededError,
            False,
        ),
        (
            400,
            err(
                "Unsupported parameter: 'max_tokens' is not supported with this model.",
                "invalid_request_error",
                "unsupported_parameter",
                "max_tokens",
            ),
            InvalidRequestError,
            False,
        ),
        (
            401,
            err(
                "Incorrect API key provided: sk-proj-****abcd.",
                "invalid_request_error",
                "invalid_api_key",
            ),
            AuthenticationError,
            False,
        ),
        (
            403,
            err(
                "Country, region, or territory not supported",
                "request_forbidden",
                "unsupported_country_region_territory",
            ),
            PermissionDeniedError,
            False,
        ),
        (
            404,
            err(
                "The model `gpt-9` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            ),
            ModelNotFoundError,
            False,
        ),
        (408, err("Request timed out."), ProviderUnavailableError, True),
        (409, err("Conflict"), ProviderUnavailableError, True),
        (413, err("Request too large"), InvalidRequestError, False),
        (422, err("Unprocessable"), InvalidRequestError, False),
        (
            429,
            err(
                "Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 200000, Used 199000, Requested 2000.",
                "tokens",
                "rate_limit_exceeded",
            ),
            RateLimitError,
            True,
        ),
        (
            429,
            err(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            ),
            RateLimitError,
            False,
        ),
        (
            500,
            err(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
            ),
            ProviderUnavailableError,
            True,
        ),
        (502, err("Bad gateway.", "server_error"), ProviderUnavailableError, True),
        (
            503,
            err("The engine is currently overloaded, please try again later", "server_error"),
            ProviderUnavailableError,
            True,
        ),
        (504, err("Gateway timeout.", "server_error"), ProviderUnavailableError, True),
        # Azure
        (400, AZURE_FILTER, ContentFilterError, False),
        (
            404,
            err("The API deployment for this resource does not exist.", code="DeploymentNotFound"),
            ModelNotFoundError,
            False,
        ),
        (
            401,
            json.dumps(
                {
                    "statusCode": 401,
                    "message": "Access denied due to invalid subscription key or wrong API endpoint.",
                }
            ).encode(),
            AuthenticationError,
            False,
        ),
        (
            429,
            err(
                "Requests to the ChatCompletions_Create Operation have exceeded token rate limit.",
                code="429",
            ),
            RateLimitError,
            True,
        ),
        # vLLM (current and old body shapes)
        (
            400,
            err(
                "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
                "BadRequestError",
                400,
            ),
            ContextLengthExceededError,
            False,
        ),
        (
            400,
            json.dumps(
                {
                    "object": "error",
                    "message": "This model's maximum context length is 4096 tokens.",
                    "type": "BadRequestError",
                    "param": None,
                    "code": 400,
                }
            ).encode(),
            ContextLengthExceededError,
            False,
        ),
        (
            404,
            json.dumps(
                {
                    "object": "error",
                    "message": "The model `x` does not exist.",
                    "type": "NotFoundError",
                    "param": None,
                    "code": 404,
                }
            ).encode(),
            ModelNotFoundError,
            False,
        ),
        # llama.cpp
        (
            400,
            json.dumps(
                {
                    "error": {
                        "code": 400,
                        "type": "exceed_context_size_error",
                        "message": "request (9412 tokens) exceeds the available context size (8192 tokens), try increasing it",
                        "n_prompt_tokens": 9412,
                        "n_ctx": 8192,
                    }
                }
            ).encode(),
            ContextLengthExceededError,
            False,
        ),
        (
            503,
            json.dumps(
                {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
            ).encode(),
            ProviderUnavailableError,
            True,
        ),
        # Ollama /v1
        (
            404,
            err('model "llama9" not found, try pulling it first', "not_found_error"),
            ModelNotFoundError,
            False,
        ),
        (
            400,
            err(
                "registry.ollama.ai/library/gemma:2b does not support tools",
                "invalid_request_error",
            ),
            InvalidRequestError,
            False,
        ),
    ],
)
def test_error_table(status: int, body: bytes, cls: type[ProviderError], retryable: bool) -> None:
    e = mapped(status, body)
    assert type(e) is cls
    assert e.retryable is retryable
    assert e.status_code == status
    assert e.provider == "openai" and e.model == "gpt-4o-mini"
    assert "[openai/gpt-4o-mini]" in str(e)
    assert e.body is not None


def test_message_and_code_are_kept() -> None:
    e = mapped(
        400, err(OVERFLOW_MSG, "invalid_request_error", "context_length_exceeded", "messages")
    )
    assert e.message == OVERFLOW_MSG
    assert e.code == "context_length_exceeded"
    assert isinstance(e, InvalidRequestError)  # users catching the parent still see it


def test_insufficient_quota_is_a_rate_limit_error_that_is_not_retryable() -> None:
    e = mapped(
        429,
        err("You exceeded your current quota.", "insufficient_quota", "insufficient_quota"),
        {"retry-after": "20"},
    )
    assert isinstance(e, RateLimitError) and not e.retryable
    assert RateLimitError.retryable  # the class default is untouched
    assert mapped(429, err("slow down", "requests", "rate_limit_exceeded")).retryable


def test_azure_content_filter_keeps_the_filter_result() -> None:
    e = mapped(400, AZURE_FILTER)
    assert e.body is not None
    assert (
        json.loads(e.body)["error"]["innererror"]["content_filter_result"]["jailbreak"]["detected"]
        is True
    )


def test_non_json_bodies() -> None:
    html = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>"
    e = mapped(502, html)
    assert type(e) is ProviderUnavailableError
    assert "502 Bad Gateway" in e.message and e.body is not None and "nginx" in e.body
    empty = mapped(401, b"")
    assert type(empty) is AuthenticationError and "HTTP 401" in empty.message
    text = mapped(400, b"Bad Request: messages must not be empty")
    assert type(text) is InvalidRequestError and "messages must not be empty" in text.message
    fastapi = mapped(422, b'{"detail":[{"loc":["body","messages"],"msg":"field required"}]}')
    assert type(fastapi) is InvalidRequestError and "field required" in fastapi.message


def test_long_bodies_are_truncated() -> None:
    e = mapped(500, b"x" * 100_000)
    assert e.body is not None and len(e.body) <= 2000


def test_api_key_never_in_the_error() -> None:
    key = "sk-proj-Zq8mW3nV5bX1cL7kJ9hG2fD4sA6pO0iU"
    e = mapped(
        401, err(f"Incorrect API key provided: {key}.", "invalid_request_error", "invalid_api_key")
    )
    assert key not in str(e) and key not in repr(e) and key not in (e.body or "")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "20"}, 20.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "soon"}, None),
        (
            {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"},
            360.0,
        ),  # unclear: both
        (
            {
                "x-ratelimit-reset-requests": "12ms",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-remaining-tokens": "1000",
                "x-ratelimit-reset-tokens": "6m0s",
            },
            0.012,
        ),
        (
            {
                "x-ratelimit-reset-requests": "12ms",
                "x-ratelimit-remaining-requests": "5",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "1h2m3.5s",
            },
            3723.5,
        ),
        ({"x-ratelimit-reset-tokens": "250us"}, 0.00025),
    ],
)
def test_retry_after_forms(
    headers: dict[str, str], expected: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMSWITCH_MAX_RETRY_AFTER", "86400")  # above the 1h2m reset below
    e = mapped(429, err("Rate limit reached", None, "rate_limit_exceeded"), headers)
    if expected is None:
        assert e.retry_after is None
    else:
        assert e.retry_after == pytest.approx(expected)


def test_retry_after_picks_the_limit_named_by_the_error_type() -> None:
    headers = {"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "30s"}
    assert mapped(429, err("rpm", "requests", "rate_limit_exceeded"), headers).retry_after == 2.0
    assert mapped(429, err("tpm", "tokens", "rate_limit_exceeded"), headers).retry_after == 30.0


def test_retry_after_http_date() -> None:
    e = mapped(429, err("slow down"), {"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert e.retry_after is not None and 25 <= e.retry_after <= 31
    past = mapped(503, err("down"), {"retry-after": formatdate(time.time() - 30, usegmt=True)})
    assert past.retry_after == 0.0


def test_reset_headers_only_count_on_429() -> None:
    e = mapped(500, err("boom", "server_error"), {"x-ratelimit-reset-requests": "1s"})
    assert e.retry_after is None
    assert mapped(503, err("busy"), {"retry-after": "3"}).retry_after == 3.0


@pytest.mark.parametrize("header", ["x-request-id", "apim-request-id"])
def test_request_id(header: str) -> None:
    e = mapped(500, err("boom", "server_error"), {header: "req_abc123"})
    assert e.request_id == "req_abc123"
    assert "request req_abc123" in str(e)


def test_error_inside_a_200_body_is_mapped() -> None:
    with pytest.raises(ProviderUnavailableError) as info:
        parse_body(err("The server had an error processing your request.", "server_error"))
    assert info.value.retryable
    with pytest.raises(ContextLengthExceededError):
        parse_body(err(OVERFLOW_MSG, "invalid_request_error", "context_length_exceeded"))
    with pytest.raises(RateLimitError):
        parse_body(err("busy", "rate_limit_exceeded"))


def test_map_error_without_a_request() -> None:
    e = OpenAIAdapter().map_error(None, HttpResponse(status=401, headers={}, body=err("bad key")))
    assert type(e) is AuthenticationError and e.provider is None and e.model is None


def test_x_should_retry_header_overrides() -> None:
    assert not mapped(503, err("busy", "server_error"), {"x-should-retry": "false"}).retryable
    assert mapped(
        400, err("try again", "invalid_request_error"), {"x-should-retry": "true"}
    ).retryable
    assert mapped(500, err("boom", "server_error"), {"x-should-retry": "maybe"}).retryable
