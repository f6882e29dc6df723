"""Absurd ``Retry-After`` values (1e12, inf, nan, a date in 2099) end as a finite,
clamped ``retry_after`` on every provider's errors, on llmswitch's own errors, and in
key-pool cooldowns; the maximum is ``LLMSWITCH_MAX_RETRY_AFTER`` (default 3600 s)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from llmswitch import Client
from llmswitch._retry_after import DEFAULT_MAX_RETRY_AFTER, clamp_retry_after, max_retry_after
from llmswitch.errors import (
    CircuitOpenError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    RateLimitExceeded,
)
from llmswitch.keys import KeyPool
from llmswitch.providers.anthropic import AnthropicAdapter
from llmswitch.providers.bedrock import BedrockAdapter
from llmswitch.providers.gemini import GeminiAdapter
from llmswitch.providers.ollama import OllamaAdapter
from llmswitch.providers.openai import OpenAIAdapter
from llmswitch.storage import MemoryStore
from llmswitch.wire import HttpResponse
from tests.support.loopback import Loopback, Reply
from tests.support.state import FakeClock

MAX = DEFAULT_MAX_RETRY_AFTER
FAR_FUTURE = "Fri, 31 Dec 2099 23:59:59 GMT"
PAST = "Mon, 01 Jan 2001 00:00:00 GMT"

# One 429 per provider, built from the headers under test.
Mapper = Callable[[dict[str, str]], ProviderError]


def _openai(headers: dict[str, str]) -> ProviderError:
    body = b'{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}'
    return OpenAIAdapter().map_error(None, HttpResponse(429, headers, body))


def _anthropic(headers: dict[str, str]) -> ProviderError:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'
    return AnthropicAdapter().map_error(None, HttpResponse(429, headers, body))


def _gemini(headers: dict[str, str]) -> ProviderError:
    body = b'{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}'
    return GeminiAdapter().map_error(None, HttpResponse(429, headers, body))


def _bedrock(headers: dict[str, str]) -> ProviderError:
    headers = {"x-amzn-errortype": "ThrottlingException", **headers}
    return BedrockAdapter().map_error(None, HttpResponse(429, headers, b'{"message":"slow"}'))


def _ollama(headers: dict[str, str]) -> ProviderError:
    return OllamaAdapter().map_error(None, HttpResponse(429, headers, b'{"error":"busy"}'))


MAPPERS: dict[str, Mapper] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "bedrock": _bedrock,
    "ollama": _ollama,
}

# header value -> the retry_after every provider must report
ABSURD: list[tuple[str, float | None]] = [
    ("1e12", MAX),
    ("99999999999999999999999", MAX),
    ("inf", None),
    ("-inf", None),
    ("nan", None),
    ("1e400", None),  # overflows to inf
    ("-5", None),
    (FAR_FUTURE, MAX),
    (PAST, 0.0),
    ("12", 12.0),  # a sane value is kept
]


@pytest.mark.parametrize(("value", "expected"), ABSURD, ids=[v for v, _ in ABSURD])
@pytest.mark.parametrize("provider", list(MAPPERS))
def test_absurd_retry_after_header_is_clamped(
    provider: str, value: str, expected: float | None
) -> None:
    err = MAPPERS[provider]({"retry-after": value})
    assert isinstance(err, RateLimitError)
    assert err.retry_after == expected
    assert err.retry_after is None or math.isfinite(err.retry_after)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize(("ms", "expected"), [("1e15", MAX), ("nan", None), ("inf", None)])
def test_absurd_retry_after_ms_is_clamped(provider: str, ms: str, expected: float | None) -> None:
    assert MAPPERS[provider]({"retry-after-ms": ms}).retry_after == expected


@pytest.mark.parametrize(
    ("reset", "expected"), [("99999999h", MAX), ("inf", None), ("nan", None), ("1e12", MAX)]
)
def test_openai_ratelimit_reset_headers_are_clamped(reset: str, expected: float | None) -> None:
    err = _openai({"x-ratelimit-reset-requests": reset, "x-ratelimit-remaining-requests": "0"})
    assert err.retry_after == expected


@pytest.mark.parametrize(("delay", "expected"), [("99999999999999s", MAX), ("1.5s", 1.5)])
def test_gemini_retry_info_is_clamped(delay: str, expected: float) -> None:
    body = (
        b'{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":'
        b'[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"'
        + delay.encode()
        + b'"}]}}'
    )
    err = GeminiAdapter().map_error(None, HttpResponse(429, {}, body))
    assert err.retry_after == expected


def test_unavailable_errors_are_clamped_too() -> None:
    err = AnthropicAdapter().map_error(
        None,
        HttpResponse(
            529,
            {"retry-after": "1e12"},
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
        ),
    )
    assert isinstance(err, ProviderUnavailableError) and err.retry_after == MAX


def test_a_near_future_date_is_seconds_from_now() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    seconds = _ollama({"retry-after": when}).retry_after
    assert seconds is not None and 100 <= seconds <= 121


# --------------------------------------------------------------------------- the setting


def test_the_maximum_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMSWITCH_MAX_RETRY_AFTER", "60")
    assert max_retry_after() == 60.0
    for provider, mapper in MAPPERS.items():
        assert mapper({"retry-after": "1e12"}).retry_after == 60.0, provider
        assert mapper({"retry-after": "30"}).retry_after == 30.0, provider


@pytest.mark.parametrize("bad", ["soon", "0", "-1", "nan", "inf", ""])
def test_an_unusable_maximum_falls_back_to_the_default(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("LLMSWITCH_MAX_RETRY_AFTER", bad)
    assert max_retry_after() == MAX
    assert _openai({"retry-after": "1e12"}).retry_after == MAX


# --------------------------------------------------------------------------- exposures


@pytest.mark.parametrize(
    ("value", "expected"),
    [(math.inf, None), (math.nan, None), (-1.0, None), (1e12, MAX), (10**400, MAX), (2.5, 2.5)],
)
def test_every_error_exposing_retry_after_clamps_it(value: float, expected: float | None) -> None:
    for err in (
        RateLimitError("slow", retry_after=value),
        ProviderUnavailableError("down", retry_after=value),
        RateLimitExceeded("local limit", retry_after=value),
        CircuitOpenError("open", retry_after=value),
    ):
        assert err.retry_after == expected, type(err).__name__
    assert clamp_retry_after(value) == expected


def test_non_numbers_are_no_retry_after() -> None:
    assert clamp_retry_after("5") is None and clamp_retry_after(True) is None


# --------------------------------------------------------------------------- key pools


@pytest.mark.parametrize("absurd", [1e12, math.inf, math.nan])
def test_a_pool_key_cooled_by_an_absurd_retry_after_is_back_within_the_maximum(
    absurd: float,
) -> None:
    clock = FakeClock()
    pool = KeyPool("fake", ["sk-POOLKEY-A-0123456789"], store=MemoryStore(clock), clock=clock)
    key = pool.pick()
    exc = RateLimitError("slow down")
    exc.retry_after = absurd  # set after construction: the pool must not trust it either
    assert pool.report(key, exc)
    [state] = pool.status()
    assert state.state == "cooling" and state.cooldown_remaining <= MAX
    clock.now += MAX + 1
    assert pool.status()[0].state == "ok"
    assert pool.pick() is key


def test_a_pool_key_cooled_through_real_http_comes_back(loopback: Loopback) -> None:
    """A 429 with ``Retry-After: 1e12`` over HTTP: the error says 3600 s and the key's
    cooldown in the shared store ends within the maximum."""
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply(
            status=429,
            headers={"retry-after": "1e12"},
            body=b'{"error":{"message":"slow down","type":"requests"}}',
        ),
    )
    env = {"OPENAI_API_KEY": "sk-HTTPPOOL-0123456789", "OPENAI_BASE_URL": loopback.url + "/v1"}
    with Client(env=env) as client:
        with pytest.raises(RateLimitError) as info:
            client.chat("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}])
    assert info.value.retry_after == MAX
    clock = FakeClock()
    pool = KeyPool("openai", ["sk-HTTPPOOL-0123456789"], store=MemoryStore(clock), clock=clock)
    key = pool.pick()
    pool.report(key, info.value)
    assert pool.status()[0].cooldown_remaining == pytest.approx(MAX)
    clock.now += MAX + 0.5
    assert pool.pick() is key
