"""Gemini error bodies (google.rpc.Status) -> the llmswitch error tree, and non-stream
response parsing: finish reasons, usage, blocked prompts, models, embeddings."""

from __future__ import annotations

import json
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
from llmswitch.messages import ChatRequest, EmbedRequest, Message
from llmswitch.providers.base import Endpoint
from llmswitch.providers.gemini import SYNTHETIC_ID_PREFIX, GeminiAdapter
from llmswitch.providers.gemini._errors import (
    CONTEXT_OVERFLOW_WORDING,
    is_context_overflow,
    parse_retry_delay,
)
from llmswitch.providers.gemini._response import finish_reason, parse_usage
from llmswitch.wire import HttpResponse
from tests.support.fixtures import Fixtures

fixture = Fixtures("gemini")
REQUEST = ChatRequest(
    provider="gemini", model="gemini-2.5-flash", messages=(Message(role="user", content="hi"),)
)
ENDPOINT = Endpoint(provider="gemini", base_url="https://generativelanguage.googleapis.com")


def error(status: int, body: bytes, headers: dict[str, str] | None = None) -> ProviderError:
    return GeminiAdapter().map_error(REQUEST, HttpResponse(status, headers or {}, body))


def rpc(code: int, status: str, message: str = "m", details: list[Any] | None = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        err["details"] = details
    return json.dumps({"error": err}).encode()


# --------------------------------------------------------------------------- errors


def test_invalid_api_key_is_authentication_error_despite_400() -> None:
    err = error(400, fixture("error_api_key_invalid.json"))
    assert type(err) is AuthenticationError
    assert err.code == "API_KEY_INVALID" and err.status_code == 400 and not err.retryable
    assert "API key not valid" in str(err)


def test_context_overflow_is_recognised_by_its_wording_only() -> None:
    err = error(400, fixture("error_context.json"))
    assert type(err) is ContextLengthExceededError and err.code == "INVALID_ARGUMENT"
    assert "3475108" in err.message
    other = error(400, rpc(400, "INVALID_ARGUMENT", "Invalid value at 'contents[0].parts[0]'"))
    assert type(other) is InvalidRequestError
    # the one named place: both markers must be present
    assert all(
        w in fixture("error_context.json").decode().lower() for w in CONTEXT_OVERFLOW_WORDING
    )
    assert not is_context_overflow("the input token count is 5")


def test_quota_429_uses_retry_info_delay() -> None:
    err = error(429, fixture("error_quota.json"))
    assert type(err) is RateLimitError and err.retryable
    assert err.retry_after == 30.0 and err.code == "RESOURCE_EXHAUSTED"


def test_retry_after_header_is_the_fallback_for_429() -> None:
    err = error(429, rpc(429, "RESOURCE_EXHAUSTED"), {"retry-after": "7"})
    assert err.retry_after == 7.0
    assert error(429, rpc(429, "RESOURCE_EXHAUSTED")).retry_after is None  # no invented delay


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30s", 30.0), ("1.5s", 1.5), ("0.250s", 0.25), (" 2s ", 2.0), ("0s", None), ("30", None),
     ("1m", None), (30, None), (None, None)],
)  # fmt: skip
def test_parse_retry_delay(value: Any, seconds: float | None) -> None:
    assert parse_retry_delay(value) == seconds


@pytest.mark.parametrize(
    ("status", "name", "cls"),
    [
        (401, "UNAUTHENTICATED", AuthenticationError),
        (403, "PERMISSION_DENIED", PermissionDeniedError),
        (404, "NOT_FOUND", ModelNotFoundError),
        (400, "FAILED_PRECONDITION", InvalidRequestError),
        (409, "ABORTED", ProviderUnavailableError),
        (413, "INVALID_ARGUMENT", InvalidRequestError),
        (500, "INTERNAL", ProviderUnavailableError),
        (503, "UNAVAILABLE", ProviderUnavailableError),
        (504, "DEADLINE_EXCEEDED", ProviderUnavailableError),
    ],
)
def test_status_classes(status: int, name: str, cls: type[ProviderError]) -> None:
    err = error(status, rpc(status, name))
    assert type(err) is cls
    assert err.code == name and err.status_code == status
    assert err.retryable == (cls is ProviderUnavailableError)


def test_not_found_names_the_model() -> None:
    err = error(404, fixture("error_not_found.json"))
    assert "'gemini-2.5-flash' not found" in err.message
    assert "gemini/gemini-2.5-flash" in str(err)


def test_overloaded_503_with_retry_info() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]
    err = error(503, rpc(503, "UNAVAILABLE", "The model is overloaded.", details))
    assert type(err) is ProviderUnavailableError and err.retry_after == 2.0


def test_list_wrapped_and_non_json_bodies() -> None:
    wrapped = error(429, b"[" + rpc(429, "RESOURCE_EXHAUSTED", "slow down") + b"]")
    assert type(wrapped) is RateLimitError and wrapped.message == "slow down"
    html = error(502, b"<html><body>Bad Gateway</body></html>")
    assert type(html) is ProviderUnavailableError and "HTTP 502" in html.message
    assert html.body is not None and "Bad Gateway" in html.body


def test_error_body_never_keeps_a_google_key() -> None:
    key = "AIzaSyD-leaky-key-0123456789abcdefghij"
    err = error(400, rpc(400, "INVALID_ARGUMENT", f"API key {key} not valid"))
    for text in (str(err), repr(err), err.body or "", err.message):
        assert key not in text


def test_map_error_without_request_names_gemini() -> None:
    err = GeminiAdapter().map_error(None, HttpResponse(401, {}, rpc(401, "UNAUTHENTICATED")))
    assert err.provider == "gemini" and err.model is None


# --------------------------------------------------------------------------- responses


def parse(name: str) -> Any:
    return GeminiAdapter().parse_response(REQUEST, HttpResponse(200, {}, fixture(name)))


def test_text_response() -> None:
    resp = parse("text.json")
    assert resp.text == "Grüße aus Zürich 👋 — naïve café 日本語."
    assert (resp.id, resp.model, resp.provider) == ("resp-Text01", "gemini-2.5-flash", "gemini")
    assert (resp.finish_reason, resp.raw_finish_reason) == ("stop", "STOP")
    assert resp.raw["candidates"][0]["safetyRatings"]  # raw keeps everything


def test_thinking_tool_response() -> None:
    resp = parse("thinking_tool.json")
    (call,) = resp.tool_calls
    assert call.id == f"{SYNTHETIC_ID_PREFIX}resp-Think01_0"
    assert call.signature == "+vv8/f7/CiQBdGhvdWdodC1zaWduYXR1cmX7//4="
    assert resp.finish_reason == "tool_calls" and resp.text == "Let me check the weather."
    assert resp.reasoning and resp.reasoning.startswith("**Checking the weather**")
    assert resp.usage.reasoning_tokens == 61


def test_blocked_prompt_raises_content_filter_error() -> None:
    with pytest.raises(ContentFilterError) as info:
        parse("blocked_prompt.json")
    assert info.value.code == "PROHIBITED_CONTENT" and not info.value.retryable
    assert "blocked the prompt" in str(info.value)


def test_no_candidates_without_block_reason_is_malformed() -> None:
    with pytest.raises(ProviderError, match="no candidates") as info:
        GeminiAdapter().parse_response(REQUEST, HttpResponse(200, {}, b'{"responseId": "x"}'))
    assert type(info.value) is ProviderError


def test_error_object_in_a_200_body_raises_mapped_error() -> None:
    with pytest.raises(ProviderUnavailableError):
        GeminiAdapter().parse_response(
            REQUEST, HttpResponse(200, {}, rpc(503, "UNAVAILABLE", "overloaded"))
        )


def test_non_json_body_is_malformed_with_bytes() -> None:
    with pytest.raises(ProviderError) as info:
        GeminiAdapter().parse_response(REQUEST, HttpResponse(200, {}, b"<html>oops"))
    assert info.value.body == "<html>oops"


@pytest.mark.parametrize(
    ("raw", "calls", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("IMAGE_SAFETY", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", False, "error"),
        ("MISSING_THOUGHT_SIGNATURE", False, "error"),
        ("OTHER", False, "other"),
        ("LANGUAGE", False, "other"),
        ("FINISH_REASON_UNSPECIFIED", False, "other"),
        ("SOMETHING_NEW_IN_2027", False, "other"),
        (None, False, "other"),
    ],
)
def test_finish_reasons(raw: str | None, calls: bool, expected: str) -> None:
    assert finish_reason(raw, calls) == expected


def test_usage_semantics() -> None:
    u = parse_usage(
        {"promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
         "toolUsePromptTokenCount": 5, "cachedContentTokenCount": 64, "totalTokenCount": 155}
    )  # fmt: skip
    assert (u.input_tokens, u.output_tokens, u.total_tokens) == (105, 50, 155)
    assert (u.cached_input_tokens, u.reasoning_tokens, u.cache_write_tokens) == (64, 30, None)
    # proto3 omits zeros: a blocked output has no candidatesTokenCount -> 0 output tokens
    blocked = parse_usage({"promptTokenCount": 17, "totalTokenCount": 17})
    assert (blocked.input_tokens, blocked.output_tokens, blocked.reasoning_tokens) == (17, 0, None)
    assert parse_usage(None).input_tokens is None and parse_usage(None).output_tokens is None
    no_total = parse_usage({"promptTokenCount": 3, "candidatesTokenCount": 4})
    assert no_total.total_tokens == 7


def test_models_page_parsing() -> None:
    adapter = GeminiAdapter()
    models, cursor = adapter.parse_models(
        ENDPOINT, HttpResponse(200, {}, fixture("models_page1.json"))
    )
    assert cursor == "Chxtb2RlbHMvZ2VtaW5pLTIuMC1mbGFzaA=="
    flash, old = models
    assert flash.id == "gemini-2.5-flash" and flash.display_name == "Gemini 2.5 Flash"
    assert (flash.context_window, flash.max_output_tokens) == (1048576, 65536)
    assert flash.supports_reasoning is True and flash.supports_embeddings is False
    assert flash.supports_tools is True  # from the catalog
    assert old.supports_reasoning is False  # no "thinking" field: the catalog says no
    models, cursor = adapter.parse_models(
        ENDPOINT, HttpResponse(200, {}, fixture("models_page2.json"))
    )
    assert cursor is None
    embed = models[0]
    assert embed.id == "gemini-embedding-001" and embed.supports_embeddings is True
    assert embed.supports_reasoning is None  # unknown stays unknown
    assert models[2].id == "gemini-3-pro-preview" and models[2].supports_reasoning is True


def test_empty_model_list_and_bad_body() -> None:
    adapter = GeminiAdapter()
    assert adapter.parse_models(ENDPOINT, HttpResponse(200, {}, b"{}")) == ([], None)
    with pytest.raises(ProviderError):
        adapter.parse_models(ENDPOINT, HttpResponse(200, {}, b"[]"))


def test_embedding_response_parsing() -> None:
    request = EmbedRequest(provider="gemini", model="gemini-embedding-001", inputs=("a", "b"))
    resp = GeminiAdapter().parse_embed_response(
        request, HttpResponse(200, {}, fixture("embed_batch.json"))
    )
    assert resp.vectors == [[0.0123, -0.0456, 0.0789], [-0.0321, 0.0654, -0.0987]]
    assert resp.usage.input_tokens is None  # Gemini reports none
    assert resp.model == "gemini-embedding-001" and resp.provider == "gemini"
    for bad in (b'{"embeddings": []}', b'{"embeddings": [{"values": ["x"]}]}', b"{}"):
        with pytest.raises(ProviderError, match="embedding"):
            GeminiAdapter().parse_embed_response(request, HttpResponse(200, {}, bad))
    zeros = b'{"embeddings": [{"values": [0, 1.5]}]}'
    one_vec = GeminiAdapter().parse_embed_response(request, HttpResponse(200, {}, zeros))
    assert one_vec.vectors == [[0.0, 1.5]] and isinstance(one_vec.vectors[0][0], float)
    with_usage = b'{"embeddings": [{"values": [1.0]}], "usageMetadata": {"promptTokenCount": 4}}'
    one = EmbedRequest(provider="gemini", model="m", inputs=("a",))
    assert (
        GeminiAdapter()
        .parse_embed_response(one, HttpResponse(200, {}, with_usage))
        .usage.input_tokens
        == 4
    )
