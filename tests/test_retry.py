"""Retries: the pure RetryPolicy decision, and the Retry middleware on every path
(chat/stream, sync/async) against FakeProvider and a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    TransportError,
)
from llmswitch.events import Event, StreamEnd
from llmswitch.middleware import Call, Middleware, Retry, RetryPolicy
from llmswitch.middleware.retry import no_sleep
from llmswitch.testing import FakeProvider
from tests.support.loopback import Loopback, Reply, sse_reply
from tests.support.openai import fixture
from tests.support.upstreams import OPENAI

HI = [{"role": "user", "content": "Hi"}]


def top(lo: float, hi: float) -> float:
    """A 'random' that always draws the top of the jitter range: deterministic backoff."""
    return hi


def quota_error() -> RateLimitError:
    err = RateLimitError("You exceeded your current quota", code="insufficient_quota")
    err.retryable = False  # what the OpenAI adapter does for this code
    return err


# --------------------------------------------------------------------------- the policy

P = RetryPolicy(random=top)  # attempts 3, initial 0.5, x2, max 8, deadline 60, cap 60

# (policy, error, attempt that failed (1-based), elapsed, expected delay or None)
DECISIONS: list[tuple[str, RetryPolicy, BaseException, int, float, float | None]] = [
    ("429 retry_after is the delay", P, RateLimitError("slow", retry_after=1.5), 1, 0.0, 1.5),
    ("retry_after 0 retries at once", P, RateLimitError("slow", retry_after=0), 1, 0.0, 0.0),
    ("429 without retry_after backs off", P, RateLimitError("slow"), 1, 0.0, 0.5),
    ("second backoff doubles", P, ProviderUnavailableError("503"), 2, 0.0, 1.0),
    (
        "backoff grows by the multiplier",
        RetryPolicy(attempts=5, random=top),
        ProviderUnavailableError("503"),
        3,
        0.0,
        2.0,
    ),
    (
        "backoff is capped at max_delay",
        RetryPolicy(attempts=20, random=top),
        TransportError("reset"),
        10,
        0.0,
        8.0,
    ),
    (
        "a huge attempt number does not overflow",
        RetryPolicy(attempts=100_000, random=top),
        TransportError("reset"),
        50_000,
        0.0,
        8.0,
    ),
    ("timeouts are retried", P, LLMTimeoutError("slow", phase="first_token"), 1, 0.0, 0.5),
    ("last attempt gives up", P, ProviderUnavailableError("503"), 3, 0.0, None),
    ("single attempt never retries", RetryPolicy(attempts=1), TransportError("x"), 1, 0.0, None),
    ("quota 429 is not retryable", P, quota_error(), 1, 0.0, None),
    ("configuration error never", P, ConfigurationError("bad"), 1, 0.0, None),
    ("bad request never", P, InvalidRequestError("bad", status_code=400), 1, 0.0, None),
    ("auth error never", P, AuthenticationError("no", status_code=401), 1, 0.0, None),
    ("foreign exceptions never", P, ValueError("bug"), 1, 0.0, None),
    (
        "retry_after above max_retry_after gives up",
        P,
        RateLimitError("slow", retry_after=61),
        1,
        0.0,
        None,
    ),
    (
        "a lower cap is honoured",
        RetryPolicy(max_retry_after=5, random=top),
        RateLimitError("slow", retry_after=6),
        1,
        0.0,
        None,
    ),
    (
        "retry_after past the deadline gives up",
        P,
        RateLimitError("slow", retry_after=10),
        1,
        55.0,
        None,
    ),
    ("retry_after within the deadline", P, RateLimitError("slow", retry_after=4.9), 1, 55.0, 4.9),
    ("backoff reaching the deadline gives up", P, TransportError("x"), 1, 59.5, None),
    ("deadline already passed", P, RateLimitError("slow", retry_after=0), 1, 61.0, None),
    (
        "no deadline",
        RetryPolicy(deadline=None, random=top),
        RateLimitError("slow", retry_after=59),
        1,
        10_000.0,
        59.0,
    ),
    (
        "negative retry_after is ignored for the backoff",
        P,
        RateLimitError("slow", retry_after=-3),
        1,
        0.0,
        0.5,
    ),
    (
        "NaN retry_after is ignored for the backoff",
        P,
        RateLimitError("slow", retry_after=math.nan),
        1,
        0.0,
        0.5,
    ),
]


@pytest.mark.parametrize(
    ("policy", "error", "attempt", "elapsed", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in DECISIONS],
)
def test_policy_decides(
    policy: RetryPolicy,
    error: BaseException,
    attempt: int,
    elapsed: float,
    expected: float | None,
) -> None:
    assert policy.decide(error, attempt, elapsed) == expected


def test_second_backoff_doubles_when_attempts_allow() -> None:
    policy = RetryPolicy(attempts=3, random=top)
    assert [policy.decide(TransportError("x"), n, 0.0) for n in (1, 2, 3)] == [0.5, 1.0, None]


@pytest.mark.parametrize(
    ("error", "attempt", "elapsed", "reason"),
    [
        (TransportError("x"), 1, 0.0, "retry"),
        (ConfigurationError("x"), 1, 0.0, "not_retryable"),
        (TransportError("x"), 3, 0.0, "attempts_exhausted"),
        (TransportError("x"), 1, 59.9, "deadline"),
        (RateLimitError("x", retry_after=3600), 1, 0.0, "retry_after_too_long"),
    ],
)
def test_policy_explains_why(
    error: BaseException, attempt: int, elapsed: float, reason: str
) -> None:
    assert P.explain(error, attempt, elapsed)[1] == reason


def test_full_jitter_draws_between_zero_and_the_backoff() -> None:
    draws: list[tuple[float, float]] = []

    def fake_random(lo: float, hi: float) -> float:
        draws.append((lo, hi))
        return hi / 4

    policy = RetryPolicy(attempts=5, initial=1, multiplier=3, max_delay=5, random=fake_random)
    delays = [policy.decide(ProviderUnavailableError("x"), n, 0.0) for n in (1, 2, 3)]
    assert draws == [(0.0, 1.0), (0.0, 3.0), (0.0, 5.0)]
    assert delays == [0.25, 0.75, 1.25]


def test_default_jitter_is_random_and_within_range() -> None:
    policy = RetryPolicy(attempts=10)
    delays = {policy.decide(TransportError("x"), 4, 0.0) for _ in range(200)}
    assert all(d is not None and 0 <= d <= 4.0 for d in delays)
    assert len(delays) > 100  # really jittered, not a constant


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": 2.5}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"initial": -1}, "initial"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"max_delay": math.inf}, "max_delay"),
        ({"deadline": -1}, "deadline"),
        ({"max_retry_after": "60"}, "max_retry_after"),
        ({"random": 3}, "random"),
    ],
)
def test_policy_rejects_bad_settings(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RetryPolicy(**options)
    assert info.value.field == field


def test_policy_is_immutable_and_comparable() -> None:
    assert RetryPolicy(attempts=4) == RetryPolicy(attempts=4)
    with pytest.raises(AttributeError):
        P.attempts = 9  # type: ignore[misc]


def test_decide_is_fast() -> None:
    policy, err = RetryPolicy(), RateLimitError("slow")
    n = 20_000
    t0 = time.perf_counter()
    for _ in range(n):
        policy.decide(err, 1, 0.0)
    per_call = (time.perf_counter() - t0) / n
    assert per_call < 20e-6, f"{per_call * 1e6:.1f} µs per decision"


# --------------------------------------------------------------------------- middleware, chat


def client_with(fake: FakeProvider, retry: Retry, *inner: Middleware) -> Client:
    return Client(providers=[fake], middleware=[retry, *inner])


class Attempts(Middleware):
    """Inside Retry: records the ``attempt`` each try carries."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def chat(self, call: Call, next: Any) -> Any:
        self.seen.append(call.attempt)
        return next(call)

    async def achat(self, call: Call, next: Any) -> Any:
        self.seen.append(call.attempt)
        return await next(call)

    def stream(self, call: Call, next: Any) -> Iterator[Event]:
        self.seen.append(call.attempt)
        return next(call)  # type: ignore[no-any-return]

    def astream(self, call: Call, next: Any) -> AsyncIterator[Event]:
        self.seen.append(call.attempt)
        return next(call)  # type: ignore[no-any-return]


def test_retry_after_is_honoured() -> None:
    fake = FakeProvider().reply(error=RateLimitError("slow down", retry_after=1.5)).reply("ok")
    retry = Retry(RetryPolicy(random=top), sleep=False)
    assert client_with(fake, retry).chat("fake/m", HI).text == "ok"
    assert retry.sleeps == [1.5]
    assert fake.calls == 2


def test_server_error_then_success_with_attempt_numbers() -> None:
    fake = FakeProvider().reply(error=ProviderUnavailableError("503")).reply("fine")
    attempts = Attempts()
    retry = Retry(RetryPolicy(random=top), sleep=False)
    assert client_with(fake, retry, attempts).chat("fake/m", HI).text == "fine"
    assert attempts.seen == [0, 1]
    assert retry.sleeps == [0.5]


def test_non_retryable_error_is_raised_at_once() -> None:
    fake = FakeProvider().reply(error=quota_error()).reply("never")
    retry = Retry(sleep=False)
    with pytest.raises(RateLimitError) as info:
        client_with(fake, retry).chat("fake/m", HI)
    assert info.value.code == "insufficient_quota"
    assert fake.calls == 1 and retry.sleeps == []


def test_attempts_exhausted_raises_the_last_error() -> None:
    fake = FakeProvider()
    fake.reply(error=ProviderUnavailableError("first", status_code=500))
    fake.reply(error=ProviderUnavailableError("second", status_code=502))
    fake.reply(error=ProviderUnavailableError("third", status_code=503))
    fake.reply("never")
    retry = Retry(RetryPolicy(random=top), sleep=False)
    with pytest.raises(ProviderUnavailableError) as info:
        client_with(fake, retry).chat("fake/m", HI)
    assert info.value.status_code == 503
    assert fake.calls == 3 and retry.sleeps == [0.5, 1.0]


def test_deadline_counts_skipped_sleeps_and_stops_retrying() -> None:
    fake = FakeProvider().reply(error=RateLimitError("slow", retry_after=1.5), times=3)
    retry = Retry(RetryPolicy(attempts=10, deadline=2.0), sleep=False)
    with pytest.raises(RateLimitError):
        client_with(fake, retry).chat("fake/m", HI)
    # 1.5 s fits in the 2 s deadline once; the second wait would end past it.
    assert retry.sleeps == [1.5] and fake.calls == 2


def test_injected_sleep_and_clock_bound_the_deadline() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(delay: float) -> None:
        slept.append(delay)
        now[0] += delay

    fake = FakeProvider().default_reply(error=TransportError("reset"))
    policy = RetryPolicy(attempts=10, initial=1, max_delay=100, deadline=10, random=top)
    retry = Retry(policy, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(TransportError):
        client_with(fake, retry).chat("fake/m", HI)
    assert slept == [1, 2, 4]  # then 8 would end at 15 s > 10 s deadline
    assert retry.sleeps == []  # real (injected) sleeping is not testing mode


def test_real_sleep_waits() -> None:
    fake = FakeProvider().reply(error=RateLimitError("slow", retry_after=0.05)).reply("ok")
    t0 = time.monotonic()
    assert client_with(fake, Retry()).chat("fake/m", HI).text == "ok"
    assert time.monotonic() - t0 >= 0.05


def test_no_sleep_context_records_delays_for_every_retry_layer() -> None:
    fake = FakeProvider().reply(error=RateLimitError("slow", retry_after=2.5)).reply("ok")
    retry = Retry()  # would really sleep without the context manager
    t0 = time.monotonic()
    with no_sleep() as slept:
        assert client_with(fake, retry).chat("fake/m", HI).text == "ok"
    assert time.monotonic() - t0 < 1.0
    assert slept == [2.5] and retry.sleeps == [2.5]


def test_sync_async_chat() -> None:
    fake = FakeProvider()
    fake.reply(error=LLMTimeoutError("slow", phase="total")).reply(error=TransportError("x"))
    fake.reply("async ok")
    attempts = Attempts()
    retry = Retry(RetryPolicy(random=top), sleep=False)

    async def run() -> str:
        async with AsyncClient(providers=[fake], middleware=[retry, attempts]) as client:
            return (await client.chat("fake/m", HI)).text

    assert asyncio.run(run()) == "async ok"
    assert attempts.seen == [0, 1, 2] and retry.sleeps == [0.5, 1.0]


async def test_async_sleep_is_injectable_and_non_retryable_raises() -> None:
    slept: list[float] = []

    async def asleep(delay: float) -> None:
        slept.append(delay)

    fake = (
        FakeProvider()
        .reply(error=RateLimitError("slow", retry_after=3))
        .reply(error=AuthenticationError("bad key", status_code=401))
    )
    retry = Retry(async_sleep=asleep)
    async with AsyncClient(providers=[fake], middleware=[retry]) as client:
        with pytest.raises(AuthenticationError):
            await client.chat("fake/m", HI)
    assert slept == [3] and fake.calls == 2


async def test_no_sleep_covers_async_code() -> None:
    fake = FakeProvider().reply(error=RateLimitError("slow", retry_after=30)).reply("ok")
    with no_sleep() as slept:
        async with AsyncClient(providers=[fake], middleware=[Retry()]) as client:
            assert (await client.chat("fake/m", HI)).text == "ok"
    assert slept == [30]


# --------------------------------------------------------------------------- middleware, stream


def test_stream_error_before_first_event_is_retried() -> None:
    fake = FakeProvider()
    fake.reply(error=ProviderUnavailableError("overloaded", status_code=529))
    fake.reply("ignored", error_after=0)  # the stream opens, then fails before any event
    fake.reply("hello there world")
    attempts = Attempts()
    retry = Retry(RetryPolicy(attempts=3, random=top), sleep=False)
    with client_with(fake, retry, attempts).stream("fake/m", HI) as stream:
        events = list(stream)
    assert stream.response.text == "hello there world"
    assert isinstance(events[-1], StreamEnd)
    assert attempts.seen == [0, 1, 2] and retry.sleeps == [0.5, 1.0]


def test_stream_error_after_events_is_not_retried_and_keeps_partial() -> None:
    fake = FakeProvider().reply("one two three four", error_after=3).reply("never")
    retry = Retry(sleep=False)
    received: list[Event] = []
    with pytest.raises(ProviderUnavailableError) as info:
        with client_with(fake, retry).stream("fake/m", HI) as stream:
            for event in stream:
                received.append(event)
    assert len(received) == 3  # StreamStart, "one", " two"
    assert info.value.partial is not None and info.value.partial.text == "one two"
    assert fake.calls == 1 and fake.pending == 1 and retry.sleeps == []


def test_stream_gives_up_with_the_last_error() -> None:
    fake = FakeProvider().default_reply(error=TransportError("refused"))
    retry = Retry(RetryPolicy(attempts=2, random=top), sleep=False)
    with pytest.raises(TransportError), client_with(fake, retry).stream("fake/m", HI):
        pass
    assert fake.calls == 2 and retry.sleeps == [0.5]


def test_abandoned_stream_closes_its_source() -> None:
    closed: list[bool] = []

    class Track(Middleware):
        def stream(self, call: Call, next: Any) -> Iterator[Event]:
            def gen() -> Iterator[Event]:
                try:
                    yield from next(call)
                finally:
                    closed.append(True)

            return gen()

    fake = FakeProvider().reply("a b c d e f")
    with client_with(fake, Retry(sleep=False), Track()).stream("fake/m", HI) as stream:
        next(iter(stream))
    assert closed == [True]


async def test_async_stream_retry_before_first_event_only() -> None:
    fake = FakeProvider()
    fake.reply(error=RateLimitError("slow", retry_after=0.25))
    fake.reply("alpha beta gamma")
    fake.reply("delta epsilon zeta", error_after=2)
    fake.reply("never")
    attempts = Attempts()
    retry = Retry(RetryPolicy(random=top), sleep=False)
    async with AsyncClient(providers=[fake], middleware=[retry, attempts]) as client:
        async with client.stream("fake/m", HI) as stream:
            text = "".join([piece async for piece in stream.text_stream])
        assert text == "alpha beta gamma"
        got: list[Event] = []
        with pytest.raises(ProviderUnavailableError) as info:
            async with client.stream("fake/m", HI) as stream:
                async for event in stream:
                    got.append(event)
    assert len(got) == 2 and info.value.partial.text == "delta"
    assert attempts.seen == [0, 1, 0] and retry.sleeps == [0.25]
    assert fake.pending == 1


# --------------------------------------------------------------------------- logging


def test_log_events_name_the_call_but_carry_no_message(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-proj-SECRETsecretSECRET0123456789"
    fake = FakeProvider()
    fake.reply(error=RateLimitError(f"key {secret} is slow", retry_after=1.5, status_code=429))
    fake.reply(error=ProviderUnavailableError(f"{secret} down", status_code=503))
    fake.reply(error=ProviderUnavailableError("down", status_code=503))
    retry = Retry(RetryPolicy(random=top), sleep=False)
    with caplog.at_level(logging.INFO, logger="llmswitch.retry"), pytest.raises(LLMError):
        client_with(fake, retry).chat("fake/gpt-x", HI)
    records = [r for r in caplog.records if r.name == "llmswitch.retry"]
    got = [
        (r.levelno, r.event, r.provider, r.model, r.attempt, r.delay, r.error, r.status)  # type: ignore[attr-defined]
        for r in records
    ]
    assert got == [
        (logging.INFO, "retry.scheduled", "fake", "gpt-x", 1, 1.5, "RateLimitError", 429),
        (logging.INFO, "retry.scheduled", "fake", "gpt-x", 2, 1.0, "ProviderUnavailableError", 503),
        (
            logging.WARNING,
            "retry.gave_up",
            "fake",
            "gpt-x",
            3,
            None,
            "ProviderUnavailableError",
            503,
        ),
    ]
    assert records[-1].reason == "attempts_exhausted"  # type: ignore[attr-defined]
    assert all(secret not in r.getMessage() and "slow" not in r.getMessage() for r in records)


def test_non_retryable_errors_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeProvider().reply(error=InvalidRequestError("bad", status_code=400))
    with caplog.at_level(logging.INFO, logger="llmswitch.retry"), pytest.raises(LLMError):
        client_with(fake, Retry(sleep=False)).chat("fake/m", HI)
    assert [r for r in caplog.records if r.name == "llmswitch.retry"] == []


# --------------------------------------------------------------------------- real HTTP

KEY = "sk-proj-retryKey0123456789abcdefABCDEF"
MODEL = "openai/gpt-4o-mini"
RATE_LIMITED = Reply(
    status=429,
    headers={"retry-after": "1.5"},
    body=b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
)
UNAVAILABLE = Reply(status=503, body=b'{"error":{"message":"overloaded","type":"server_error"}}')


_env = partial(OPENAI.env, key=KEY)


def _settled(loopback: Loopback) -> int:
    """Open server-side connections once the server has seen the client's close."""
    deadline = time.monotonic() + 2
    while loopback.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    return loopback.open_connections


def test_loopback_429_and_503_then_success(loopback: Loopback) -> None:
    loopback.route(
        "POST", "/v1/chat/completions", RATE_LIMITED, UNAVAILABLE, fixture("chat_text.json")
    )
    retry = Retry(RetryPolicy(random=top))
    with no_sleep() as slept, Client(env=_env(loopback), middleware=[retry]) as client:
        resp = client.chat(MODEL, HI)
    assert resp.text and resp.provider == "openai"
    assert slept == [1.5, 1.0]  # retry-after header, then the second backoff
    assert len(loopback.requests) == 3
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in loopback.requests)
    assert _settled(loopback) == 0


async def test_loopback_async_stream_retried_before_first_event(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        "/v1/chat/completions",
        UNAVAILABLE,
        RATE_LIMITED,
        sse_reply(fixture("stream_text.sse")),
    )
    retry = Retry(RetryPolicy(random=top), sleep=False)
    async with AsyncClient(env=_env(loopback), middleware=[retry]) as client:
        async with client.stream(MODEL, HI) as stream:
            text = "".join([piece async for piece in stream.text_stream])
    assert text.startswith("Hello!")
    assert retry.sleeps == [0.5, 1.5] and len(loopback.requests) == 3
    assert _settled(loopback) == 0


def test_loopback_quota_429_is_not_retried(loopback: Loopback) -> None:
    quota = Reply(
        status=429,
        body=b'{"error":{"message":"You exceeded your current quota","type":"insufficient_quota",'
        b'"code":"insufficient_quota"}}',
    )
    loopback.route("POST", "/v1/chat/completions", quota, fixture("chat_text.json"))
    retry = Retry(sleep=False)
    with Client(env=_env(loopback), middleware=[retry]) as client, pytest.raises(RateLimitError):
        client.chat(MODEL, HI)
    assert len(loopback.requests) == 1 and retry.sleeps == []
    assert _settled(loopback) == 0
