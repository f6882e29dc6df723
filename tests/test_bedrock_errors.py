"""Bedrock HTTP errors -> the llmswitch error tree (WIRE.md 4.6), and Converse bodies
whose meaning a user relies on (stop reasons, usage, malformed bytes)."""

from __future__ import annotations

import json

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
from llmswitch.providers.bedrock import BedrockAdapter
from llmswitch.wire import HttpResponse
from tests.support.bedrock import MODEL, chat_request, fixture, parse_body

REQUEST = chat_request()


def error(status: int, code: str | None, message: str, *, in_body: bool = False) -> ProviderError:
    headers = {"x-amzn-requestid": "4f1d2c3b-aaaa-bbbb-cccc-0123456789ab"}
    payload: dict[str, str] = {"message": message}
    if code and in_body:
        payload["__type"] = f"com.amazon.bedrock#{code}"
    elif code:
        headers["x-amzn-errortype"] = f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    response = HttpResponse(status=status, headers=headers, body=json.dumps(payload).encode())
    return BedrockAdapter().map_error(REQUEST, response)


@pytest.mark.parametrize(
    ("status", "code", "message", "cls"),
    [
        (429, "ThrottlingException", "Too many requests, please wait before trying again.", RateLimitError),
        (429, "ModelNotReadyException", "Model is not ready", ProviderUnavailableError),
        (403, "AccessDeniedException", "You don't have access to the model with the specified model ID.", PermissionDeniedError),
        (403, "UnrecognizedClientException", "The security token included in the request is invalid.", AuthenticationError),
        (403, "InvalidSignatureException", "The request signature we calculated does not match", AuthenticationError),
        (403, "ExpiredTokenException", "The security token included in the request is expired", AuthenticationError),
        (404, "ResourceNotFoundException", "Model not found in this region", ModelNotFoundError),
        (400, "ValidationException", "Input is too long for requested model.", ContextLengthExceededError),
        (400, "ValidationException", "The model returned the following errors: prompt is too long: 208656 tokens > 200000 maximum", ContextLengthExceededError),
        (400, "ValidationException", "The provided model identifier is invalid.", ModelNotFoundError),
        (400, "ValidationException", "messages.0: temperature must be <= 1", InvalidRequestError),
        (408, "ModelTimeoutException", "Model has timed out in processing the request.", ProviderUnavailableError),
        (424, "ModelErrorException", "The system encountered an unexpected error during processing.", ProviderUnavailableError),
        (500, "InternalServerException", "Internal server error", ProviderUnavailableError),
        (503, "ServiceUnavailableException", "Bedrock is unable to process your request.", ProviderUnavailableError),
        (400, "ServiceQuotaExceededException", "Your request exceeds the service quota", RateLimitError),
        (502, None, "Bad gateway", ProviderUnavailableError),
        (418, None, "teapot", InvalidRequestError),
    ],
)  # fmt: skip
def test_http_error_table(status: int, code: str | None, message: str, cls: type) -> None:
    err = error(status, code, message)
    assert type(err) is cls
    assert err.status_code == status and err.code == code
    assert message in str(err) and MODEL in str(err)
    assert err.request_id == "4f1d2c3b-aaaa-bbbb-cccc-0123456789ab"
    assert err.retryable == (cls in (RateLimitError, ProviderUnavailableError))


def test_error_code_from_the_body_when_the_header_is_missing() -> None:
    err = error(400, "ValidationException", "Input is too long for requested model.", in_body=True)
    assert isinstance(err, ContextLengthExceededError) and err.code == "ValidationException"


def test_capital_message_and_plain_code_in_the_body() -> None:
    body = b'{"code":"ThrottlingException","Message":"Rate exceeded"}'
    err = BedrockAdapter().map_error(REQUEST, HttpResponse(status=400, headers={}, body=body))
    assert isinstance(err, RateLimitError) and "Rate exceeded" in str(err)


def test_non_json_error_body_still_maps_by_status() -> None:
    response = HttpResponse(status=503, headers={}, body=b"<html>Service Unavailable</html>")
    err = BedrockAdapter().map_error(REQUEST, response)
    assert isinstance(err, ProviderUnavailableError) and "HTTP 503" in str(err)
    assert err.body is not None and "Service Unavailable" in err.body


def test_retry_after_is_honoured_if_a_proxy_sends_it() -> None:
    response = HttpResponse(
        status=429,
        headers={"x-amzn-errortype": "ThrottlingException", "retry-after": "3"},
        body=b'{"message":"slow down"}',
    )
    assert BedrockAdapter().map_error(REQUEST, response).retry_after == 3.0


def test_error_without_a_request_leaves_the_provider_to_the_caller() -> None:
    response = HttpResponse(status=403, headers={}, body=b'{"message":"denied"}')
    err = BedrockAdapter().map_error(None, response)
    assert isinstance(err, PermissionDeniedError) and err.provider is None


# --------------------------------------------------------------------------- bodies


def test_text_body() -> None:
    resp = parse_body(fixture("text.json"))
    assert resp.text == "Grüße aus Zürich 👋 — naïve café 日本語."
    assert (resp.finish_reason, resp.raw_finish_reason) == ("stop", "end_turn")
    assert resp.usage.total_tokens == 39 and resp.id is None and resp.model == MODEL
    # Bedrock's regional (in-region) Claude Sonnet 4.5 prices: $3.30 in / $16.50 out per million
    assert resp.cost == pytest.approx((25 * 3.3 + 14 * 16.5) / 1e6)


def test_tool_use_body_with_reasoning_and_cache_usage() -> None:
    resp = parse_body(fixture("tool_use.json"))
    assert [(c.id, c.name, c.arguments) for c in resp.tool_calls] == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "get_weather",
         {"city": "Zürich", "units": ["célsius", "°C"], "days": 3}),
        ("tooluse_NoArgs01", "get_time", {}),
    ]  # fmt: skip
    assert resp.finish_reason == "tool_calls"
    (block,) = resp.reasoning_blocks
    assert block.signature == "EqQBCkgIAhABGAIiQL7x1y/Zq+8z3w==" and block.text == resp.reasoning
    u = resp.usage
    assert (u.input_tokens, u.cached_input_tokens, u.cache_write_tokens) == (
        412 + 1800 + 2048,
        1800,
        2048,
    )
    assert u.output_tokens == 189 and u.total_tokens == 4449


@pytest.mark.parametrize(
    ("name", "finish"),
    [("guardrail.json", "content_filter"), ("context_window.json", "length")],
)
def test_stop_reasons(name: str, finish: str) -> None:
    assert parse_body(fixture(name)).finish_reason == finish


@pytest.mark.parametrize(
    ("raw", "finish"),
    [
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("content_filtered", "content_filter"),
        ("malformed_model_output", "error"),
        ("malformed_tool_use", "error"),
        ("brand_new_reason", "other"),
    ],
)
def test_stop_reason_table(raw: str, finish: str) -> None:
    data = json.loads(fixture("text.json"))
    data["stopReason"] = raw
    resp = parse_body(json.dumps(data).encode())
    assert (resp.finish_reason, resp.raw_finish_reason) == (finish, raw)


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"output":{}}', b'{"output":{"message":{"content":[{"toolUse":{}}]}}}'],
)
def test_malformed_bodies_are_provider_errors_with_the_bytes(body: bytes) -> None:
    with pytest.raises(ProviderError) as info:
        parse_body(body)
    assert "malformed" in str(info.value) and info.value.body == body.decode()
