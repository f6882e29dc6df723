"""Retryable errors are retried twice by default, as the official SDKs do; max_retries
sets it (0 turns it off); a user's Retry or [retry] replaces it (issue 7, item 16)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmswitch import (
    AsyncClient,
    Client,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.middleware import Hooks, Retry, RetryPolicy
from llmswitch.middleware.retry import no_sleep
from llmswitch.testing import FakeProvider
from tests.support.config import write
from tests.support.loopback import Loopback, Reply

HI = [{"role": "user", "content": "hi"}]
KEY = "sk-test-0123456789abcdef"
BODY = (Path(__file__).parent / "fixtures" / "openai" / "chat_text.json").read_bytes()


def down() -> ProviderUnavailableError:
    return ProviderUnavailableError("overloaded", status_code=503)


def flaky(failures: int) -> FakeProvider:
    fake = FakeProvider(default="ok")
    if failures:
        fake.reply(error=down(), times=failures)
    return fake


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    yield server
    server.close()


def test_a_retryable_error_is_retried_twice_by_default() -> None:
    fake = flaky(2)
    with no_sleep() as slept, Client(providers=[fake]) as client:
        assert client.chat("fake/m", HI).text == "ok"
    assert fake.calls == 3 and len(slept) == 2
    assert all(0 <= d <= 1.0 for d in slept)  # backoff 0.5 s then 1 s, full jitter


def test_the_third_failure_propagates() -> None:
    fake = flaky(5)
    with no_sleep(), Client(providers=[fake]) as client, pytest.raises(ProviderUnavailableError):
        client.chat("fake/m", HI)
    assert fake.calls == 3


def test_max_retries_zero_turns_retries_off() -> None:
    fake = flaky(1)
    with no_sleep() as slept, Client(providers=[fake], max_retries=0) as client:
        with pytest.raises(ProviderUnavailableError):
            client.chat("fake/m", HI)
    assert fake.calls == 1 and slept == []


def test_max_retries_sets_the_number_of_retries() -> None:
    fake = flaky(5)
    with no_sleep(), Client(providers=[fake], max_retries=5) as client:
        assert client.chat("fake/m", HI).text == "ok"
    assert fake.calls == 6


def test_errors_that_are_not_retryable_are_not_retried() -> None:
    fake = FakeProvider(default="ok").reply(error=InvalidRequestError("bad", status_code=400))
    with no_sleep(), Client(providers=[fake]) as client, pytest.raises(InvalidRequestError):
        client.chat("fake/m", HI)
    assert fake.calls == 1


def test_a_sync_stream_is_retried_before_its_first_event() -> None:
    fake = flaky(2)
    with no_sleep(), Client(providers=[fake]) as client, client.stream("fake/m", HI) as s:
        assert s.response.text == "ok"
    assert fake.calls == 3


def test_async_chat_and_stream_retry_by_default() -> None:
    fake = flaky(2)

    async def run() -> list[str]:
        async with AsyncClient(providers=[fake]) as client:
            first = (await client.chat("fake/m", HI)).text
            fake.reply(error=down(), times=2)
            async with client.stream("fake/m", HI) as s:
                second = (await s.get_response()).text
            return [first, second]

    with no_sleep() as slept:
        assert asyncio.run(run()) == ["ok", "ok"]
    assert fake.calls == 6 and len(slept) == 4


def test_retry_after_is_honoured(loopback: Loopback) -> None:
    limited = b'{"error":{"message":"slow down","type":"rate_limit","code":"rate_limit_exceeded"}}'
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply(status=429, body=limited, headers={"retry-after": "1.5"}),
        BODY,
    )
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": loopback.url + "/v1"}
    with no_sleep() as slept, Client(env=env) as client:
        client.chat("openai/gpt-4o-mini", HI)
    assert slept == [1.5] and len(loopback.requests) == 2


def test_a_retry_after_too_long_is_not_waited_for(loopback: Loopback) -> None:
    limited = b'{"error":{"message":"slow down","type":"rate_limit","code":"rate_limit_exceeded"}}'
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply(status=429, body=limited, headers={"retry-after": "3600"}),
    )
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": loopback.url + "/v1"}
    with no_sleep() as slept, Client(env=env) as client, pytest.raises(RateLimitError):
        client.chat("openai/gpt-4o-mini", HI)
    assert slept == [] and len(loopback.requests) == 1


def test_the_default_keeps_the_no_middleware_fast_path() -> None:
    fake = FakeProvider(default="ok")
    client = Client(providers=[fake])
    assert client._pipeline is None  # the retry layer joins only after a failure
    assert client.chat("fake/m", HI).text == "ok" and fake.calls == 1


class Count(Hooks):
    def __init__(self) -> None:
        self.calls = 0

    def on_request(self, call: Any) -> Any:
        self.calls += 1
        return call


def test_with_other_middleware_the_default_retry_is_the_innermost_layer() -> None:
    fake, outer = flaky(2), Count()
    with no_sleep(), Client(providers=[fake], middleware=[outer]) as client:
        assert client.chat("fake/m", HI).text == "ok"
    assert outer.calls == 1 and fake.calls == 3
    assert [type(m) for m in client._pipeline.middleware] == [Count, Retry]  # type: ignore[union-attr]


def test_a_users_retry_replaces_the_default_one() -> None:
    fake = flaky(5)
    mine = Retry(RetryPolicy(attempts=2), sleep=False)
    with Client(providers=[fake], middleware=[mine]) as client:
        with pytest.raises(ProviderUnavailableError):
            client.chat("fake/m", HI)
    assert fake.calls == 2  # not 2 x 3
    assert sum(isinstance(m, Retry) for m in client._pipeline.middleware) == 1  # type: ignore[union-attr]


def test_config_retry_replaces_the_default_one(tmp_path: Path) -> None:
    fake = flaky(10)
    path = write(tmp_path, "[retry]\nattempts = 4\n")
    with no_sleep(), Client(config=path, providers=[fake]) as client:
        with pytest.raises(ProviderUnavailableError):
            client.chat("fake/m", HI)
    assert fake.calls == 4  # one layer, not a default one stacked inside it


@pytest.mark.parametrize(("retries", "calls"), [(0, 1), (1, 2)])
def test_max_retries_overrides_config_retry_attempts(
    tmp_path: Path, retries: int, calls: int
) -> None:
    fake = flaky(10)
    path = write(tmp_path, "[retry]\nattempts = 4\n")
    with no_sleep(), Client(config=path, providers=[fake], max_retries=retries) as client:
        with pytest.raises(ProviderUnavailableError):
            client.chat("fake/m", HI)
    assert fake.calls == calls
