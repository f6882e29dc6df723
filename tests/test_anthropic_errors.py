"""map_error for each row of WIRE.md 2.6, non-streamed parsing edge cases, and the
model listing (pagination, capabilities, catalog fallback)."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

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
from llmswitch.providers.anthropic import AnthropicAdapter
from llmswitch.providers.base import Endpoint
from llmswitch.wire import HttpResponse, Secret
from tests.support.fixtures import Fixtures

fixture = Fixtures("anthropic")
KEY = "sk-ant-api03-secret-key-abcdefghijklmnop"
REQUEST = ChatRequest(
    provider="anthropic", model="claude-sonnet-4-5", messages=(Message(role="user", content="hi"),)
)
ENDPOINT = Endpoint(
    provider="anthropic",
    base_url="https://api.anthropic.com/",
    api_key=Secret(KEY),
    auth_header="x-api-key",
    auth_scheme=None,
    headers={"anthropic-version": "2023-06-01"},
)


def error_body(
    kind: str, message: str, request_id: str | None = "req_011CSHoEeqs5C35K2UUqR7Fy"
) -> bytes:
    out: dict[str, object] = {"type": "error", "error": {"type": kind, "message": message}}
    if request_id:
        out["request_id"] = request_id
    return json.dumps(out).encode()


def mapped(status: int, body: bytes, headers: dict[str, str] | None = None) -> ProviderError:
    return AnthropicAdapter().map_error(REQUEST, HttpResponse(status, headers or {}, body))


# --------------------------------------------------------------------------- map_error


@pytest.mark.parametrize(
    ("status", "kind", "cls", "retryable"),
    [
        (400, "invalid_request_error", InvalidRequestError, False),
        (401, "authentication_error", AuthenticationError, False),
        (402, "billing_error", ProviderError, False),
        (403, "permission_error", PermissionDeniedError, False),
        (404, "not_found_error", ModelNotFoundError, False),
        (409, "conflict_error", ProviderUnavailableError, True),
        (413, "request_too_large", InvalidRequestError, False),
        (429, "rate_limit_error", RateLimitError, True),
        (500, "api_error", ProviderUnavailableError, True),
        (504, "timeout_error", ProviderUnavailableError, True),
        (529, "overloaded_error", ProviderUnavailableError, True),
    ],
)
def test_status_rows(status: int, kind: str, cls: type[ProviderError], retryable: bool) -> None:
    err = mapped(status, error_body(kind, "something happened"))
    assert type(err) is cls
    assert err.retryable is retryable
    assert (err.status_code, err.code) == (status, kind)
    assert err.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy"
    assert (err.provider, err.model) == ("anthropic", "claude-sonnet-4-5")
    assert "anthropic/claude-sonnet-4-5" in str(err)


@pytest.mark.parametrize(
    "message",
    [
        "prompt is too long: 208656 tokens > 200000 maximum",
        "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, "
        "decrease input length or `max_tokens` and try again",
    ],
)
def test_context_overflow_wording(message: str) -> None:
    err = mapped(400, error_body("invalid_request_error", message))
    assert isinstance(err, ContextLengthExceededError) and not err.retryable
    assert message.split(":")[0] in str(err)


def test_other_400s_are_not_context_overflow() -> None:
    err = mapped(
        400, error_body("invalid_request_error", "temperature: Extra inputs are not permitted")
    )
    assert type(err) is InvalidRequestError


def test_not_found_names_the_model() -> None:
    err = mapped(404, error_body("not_found_error", "model: claude-sonnet-9"))
    assert "'claude-sonnet-4-5'" in err.message


def test_413_from_the_edge_may_be_html() -> None:
    html = b"<html><body><h1>413 Request Entity Too Large</h1></body></html>"
    err = mapped(413, html, {"request-id": "req_edge"})
    assert type(err) is InvalidRequestError
    assert "too large" in err.message and err.request_id == "req_edge"
    assert err.body is not None and "413 Request Entity" in err.body


def test_request_id_header_wins_over_body() -> None:
    err = mapped(
        500, error_body("api_error", "Internal server error"), {"request-id": "req_header"}
    )
    assert err.request_id == "req_header"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),  # the precise one first
        ({"retry-after": "0"}, 0.0),  # one reading for every provider: retry now
        ({"retry-after": "soon"}, None),
    ],
)
def test_429_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    err = mapped(429, error_body("rate_limit_error", "Number of requests exceeded"), headers)
    assert isinstance(err, RateLimitError) and err.retry_after == expected


def test_429_retry_after_http_date() -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    err = mapped(429, error_body("rate_limit_error", "slow down"), {"retry-after": when})
    assert err.retry_after is not None and 25 <= err.retry_after <= 31


def test_429_without_retry_after_stays_retryable_without_invented_delay() -> None:
    # Possibly the monthly spend cap: no delay is known, so none is claimed.
    err = mapped(429, error_body("rate_limit_error", "You have reached your spend limit"))
    assert err.retryable and err.retry_after is None


def test_529_keeps_retry_after_when_given() -> None:
    err = mapped(529, error_body("overloaded_error", "Overloaded"), {"retry-after": "3"})
    assert isinstance(err, ProviderUnavailableError) and err.retry_after == 3.0


def test_unknown_4xx_status_uses_the_error_type() -> None:
    err = mapped(422, error_body("invalid_request_error", "bad"))
    assert isinstance(err, InvalidRequestError)


def test_api_key_never_appears_in_the_error() -> None:
    body = error_body("authentication_error", f"invalid x-api-key: {KEY}")
    err = mapped(401, body)
    for text in (str(err), repr(err), err.message, err.body or ""):
        assert KEY not in text
    assert KEY not in repr(AnthropicAdapter().build_request(REQUEST, ENDPOINT, stream=False))


def test_map_error_without_a_request() -> None:
    err = AnthropicAdapter().map_error(
        None, HttpResponse(401, {}, error_body("authentication_error", "no"))
    )
    assert isinstance(err, AuthenticationError) and err.provider == "anthropic"


# --------------------------------------------------------------------------- bad 200 bodies


@pytest.mark.parametrize("body", [b"", b"<html>oops</html>", b"[1,2]", b'{"id":"msg_1"}'])
def test_unparseable_response_is_a_provider_error_with_the_bytes(body: bytes) -> None:
    with pytest.raises(ProviderError) as info:
        AnthropicAdapter().parse_response(REQUEST, HttpResponse(200, {}, body))
    assert "malformed" in str(info.value)
    assert info.value.body == body.decode()


def test_unknown_stop_reason_is_other_and_kept() -> None:
    raw = json.loads(fixture("text.json"))
    raw["stop_reason"] = "brand_new_reason"
    resp = AnthropicAdapter().parse_response(
        REQUEST, HttpResponse(200, {}, json.dumps(raw).encode())
    )
    assert (resp.finish_reason, resp.raw_finish_reason) == ("other", "brand_new_reason")


def test_non_streamed_usage_and_cost() -> None:
    resp = AnthropicAdapter().parse_response(
        REQUEST, HttpResponse(200, {}, fixture("cache_usage.json"))
    )
    u = resp.usage
    assert (u.input_tokens, u.cached_input_tokens, u.cache_write_tokens, u.output_tokens) == (
        12 + 2048 + 1800, 1800, 2048, 5,
    )  # fmt: skip
    # haiku 4.5: $1 in, $0.10 cache read, $1.25 cache write, $5 out per MTok
    assert resp.cost == pytest.approx((12 * 1.0 + 1800 * 0.1 + 2048 * 1.25 + 5 * 5.0) / 1e6)
    assert resp.raw["usage"]["cache_creation"]["ephemeral_5m_input_tokens"] == 2048


# --------------------------------------------------------------------------- models


def test_models_request_paginates_with_after_id() -> None:
    first = AnthropicAdapter().models_request(ENDPOINT)
    assert (first.method, first.url) == ("GET", "https://api.anthropic.com/v1/models?limit=1000")
    assert first.headers["x-api-key"] == KEY and first.body is None
    nxt = AnthropicAdapter().models_request(ENDPOINT, "claude-haiku-4-5-20251001")
    assert nxt.url.endswith("/v1/models?limit=1000&after_id=claude-haiku-4-5-20251001")


def test_parse_models_pages_capabilities_and_catalog_fallback() -> None:
    adapter = AnthropicAdapter()
    page1 = HttpResponse(200, {}, fixture("models_page1.json"))
    models, cursor = adapter.parse_models(ENDPOINT, page1)
    assert cursor == "claude-haiku-4-5-20251001"
    sonnet, haiku = models
    assert (sonnet.id, sonnet.display_name, sonnet.provider) == (
        "claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "anthropic",
    )  # fmt: skip
    assert (sonnet.context_window, sonnet.max_output_tokens) == (1000000, 64000)  # from the API
    assert sonnet.supports_vision is True and sonnet.supports_reasoning is True
    assert sonnet.created == 1759104000  # 2025-09-29T00:00:00Z
    # no limits/capabilities in the listing: the catalog fills them in
    assert (haiku.context_window, haiku.max_output_tokens) == (200000, 64000)
    assert haiku.supports_vision is True and haiku.supports_embeddings is False

    page2 = HttpResponse(200, {}, fixture("models_page2.json"))
    models, cursor = adapter.parse_models(ENDPOINT, page2)
    assert cursor is None
    old, unknown = models
    assert old.supports_vision is False and old.supports_reasoning is False  # capabilities win
    assert old.max_output_tokens == 8192
    assert unknown.context_window is None and unknown.max_output_tokens is None
    assert unknown.created == 1768480200  # 2026-01-15T12:30:00+00:00


def test_parse_models_rejects_garbage() -> None:
    with pytest.raises(ProviderError):
        AnthropicAdapter().parse_models(ENDPOINT, HttpResponse(200, {}, b"not json"))
