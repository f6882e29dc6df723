"""Circuit breaker: pure decisions with a fake clock, then the middleware through
real clients (sync, async, streams), then shared state in Redis across processes."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    CircuitOpenError,
    ConfigurationError,
    ContentFilterError,
    ContextLengthExceededError,
    InvalidRequestError,
    LLMTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    TransportError,
)
from llmswitch.events import StreamEnd
from llmswitch.middleware import BreakerPolicy, BreakerState, CircuitBreaker
from llmswitch.storage import MemoryStore, open_store
from llmswitch.testing import FakeProvider
from tests.support.state import REDIS_URL, FakeClock

HI = [{"role": "user", "content": "hi"}]
DEP = "fake/m"
DOWN = ProviderUnavailableError("overloaded", status_code=503)


# --------------------------------------------------------------------------- pure policy


@pytest.mark.parametrize(
    ("successes", "failures", "trips"),
    [
        (0, 0, False),
        (0, 9, False),  # 100% failures but under min_calls=10
        (5, 4, False),  # 9 calls
        (6, 4, False),  # 40% < 50%
        (5, 5, True),  # exactly the rate trips
        (0, 10, True),
        (50, 49, False),
        (49, 50, True),
    ],
)
def test_policy_trips_on_failure_rate_with_min_calls(
    successes: int, failures: int, trips: bool
) -> None:
    assert BreakerPolicy().should_open(successes, failures) is trips


def test_policy_status_closed_open_half_open_periods() -> None:
    p = BreakerPolicy(cooldown=30)
    assert p.status(None, 100.0) == ("closed", 0, 0.0)
    assert p.status(130.0, 100.0) == ("open", 0, 30.0)
    assert p.status(130.0, 129.5) == ("open", 0, 0.5)
    assert p.status(130.0, 130.0) == ("half_open", 0, 30.0)
    assert p.status(130.0, 145.0) == ("half_open", 0, 15.0)
    # A probe that never reported: the next cool-down period allows fresh probes.
    assert p.status(130.0, 161.0) == ("half_open", 1, 29.0)


def test_policy_probe_limit() -> None:
    p = BreakerPolicy(half_open_probes=2)
    assert [p.probe_allowed(n) for n in (1, 2, 3)] == [True, True, False]


@pytest.mark.parametrize(
    "bad",
    [
        {"window": 0},
        {"cooldown": -1},
        {"buckets": 0},
        {"min_calls": 1.5},
        {"half_open_probes": 0},
        {"failure_rate": 0},
        {"failure_rate": 1.5},
    ],
)
def test_policy_rejects_bad_settings(bad: dict[str, float]) -> None:
    field = next(iter(bad))
    with pytest.raises(ConfigurationError) as info:
        CircuitBreaker(**bad)  # type: ignore[arg-type]
    assert info.value.field == field


# --------------------------------------------------------------------------- middleware


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_763_769_600.0)


def make(
    clock: FakeClock, store: object = None, **kw: object
) -> tuple[CircuitBreaker, FakeProvider, Client]:
    settings: dict[str, object] = {"min_calls": 4, "failure_rate": 0.5, "cooldown": 30.0}
    settings.update(kw)
    breaker = CircuitBreaker(store or MemoryStore(clock=clock), clock=clock, **settings)  # type: ignore[arg-type]
    fake = FakeProvider(default="ok")
    return breaker, fake, Client(max_retries=0, providers=[fake], middleware=[breaker])


def fail(client: Client, fake: FakeProvider, exc: Exception = DOWN) -> None:
    """One call that fails with ``exc`` (scripted on ``fake``)."""
    fake.reply(error=exc)
    with pytest.raises(type(exc)):
        client.chat("fake/m", HI)


def test_opens_when_failure_rate_reached_after_min_calls(clock: FakeClock) -> None:
    breaker, fake, client = make(clock)
    client.chat("fake/m", HI)
    client.chat("fake/m", HI)
    fail(client, fake)
    assert breaker.state(DEP) == BreakerState("closed", failures=1, calls=3, opens_until=None)
    fail(client, fake)  # 2 of 4 failed: 50%
    assert breaker.state(DEP) == BreakerState(
        "open", failures=2, calls=4, opens_until=clock.now + 30
    )


def test_low_failure_rate_stays_closed(clock: FakeClock) -> None:
    breaker, fake, client = make(clock)
    for _ in range(3):
        client.chat("fake/m", HI)
    fail(client, fake)
    for _ in range(20):
        client.chat("fake/m", HI)
    assert breaker.state(DEP).state == "closed"


def test_open_breaker_fails_fast_with_retry_after(clock: FakeClock) -> None:
    _, fake, client = make(clock, min_calls=2)
    fail(client, fake)
    fail(client, fake)
    calls_before = len(fake.requests)
    clock.now += 12.5
    with pytest.raises(CircuitOpenError) as info:
        client.chat("fake/m", HI)
    assert info.value.retry_after == pytest.approx(17.5)
    assert info.value.retryable
    assert (info.value.provider, info.value.model) == ("fake", "m")
    assert len(fake.requests) == calls_before  # the provider was not called
    with pytest.raises(CircuitOpenError):
        list(client.stream("fake/m", HI))
    assert len(fake.requests) == calls_before


def test_breakers_are_per_deployment(clock: FakeClock) -> None:
    breaker, fake, client = make(clock, min_calls=2)
    fail(client, fake)
    fail(client, fake)
    assert client.chat("fake/other", HI).text == "ok"
    assert set(breaker.states()) == {"fake/m", "fake/other"}
    assert breaker.states()["fake/other"].state == "closed"
    assert breaker.states()["fake/m"].state == "open"


def test_half_open_probe_success_closes_with_fresh_window(clock: FakeClock) -> None:
    breaker, fake, client = make(clock, min_calls=2)
    fail(client, fake)
    fail(client, fake)
    clock.now += 30
    assert breaker.state(DEP).state == "half_open"
    assert client.chat("fake/m", HI).text == "ok"  # the probe
    assert breaker.state(DEP) == BreakerState("closed", failures=0, calls=0, opens_until=None)
    fail(client, fake)  # the old failures are gone: one failure alone does not trip
    assert breaker.state(DEP).state == "closed"


def test_half_open_probe_failure_reopens_for_a_new_cooldown(clock: FakeClock) -> None:
    breaker, fake, client = make(clock, min_calls=2)
    fail(client, fake)
    fail(client, fake)
    clock.now += 31
    fail(client, fake)  # the probe fails
    state = breaker.state(DEP)
    assert (state.state, state.opens_until) == ("open", clock.now + 30)
    with pytest.raises(CircuitOpenError) as info:
        client.chat("fake/m", HI)
    assert info.value.retry_after == pytest.approx(30)


def test_half_open_admits_only_the_allowed_probes(clock: FakeClock) -> None:
    breaker, fake, client = make(clock, min_calls=2)
    fail(client, fake)
    fail(client, fake)
    clock.now += 30
    fake.reply("slow probe answer")
    with client.stream("fake/m", HI) as probe:  # the probe is in flight
        with pytest.raises(CircuitOpenError) as info:
            client.chat("fake/m", HI)
        assert info.value.retry_after == pytest.approx(30)  # until the next probe period
        assert probe.response.text == "slow probe answer"
    assert breaker.state(DEP).state == "closed"
    assert client.chat("fake/m", HI).text == "ok"


def test_inconclusive_probe_gives_its_slot_back(clock: FakeClock) -> None:
    breaker, fake, client = make(clock, min_calls=2)
    fail(client, fake)
    fail(client, fake)
    clock.now += 30
    fail(client, fake, InvalidRequestError("bad request", status_code=400))
    assert breaker.state(DEP).state == "half_open"
    assert client.chat("fake/m", HI).text == "ok"  # a second probe may go at once
    assert breaker.state(DEP).state == "closed"


@pytest.mark.parametrize(
    "exc",
    [
        InvalidRequestError("bad", status_code=400),
        ContextLengthExceededError("too long", status_code=400),
        ContentFilterError("blocked", status_code=400),
        RateLimitError("slow down", status_code=429, retry_after=1.0),
        ConfigurationError("bad option"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_about_the_request_do_not_count(clock: FakeClock, exc: Exception) -> None:
    breaker, fake, client = make(clock, min_calls=2)
    for _ in range(5):
        fail(client, fake, exc)
    assert breaker.state(DEP) == BreakerState("closed", failures=0, calls=0, opens_until=None)


@pytest.mark.parametrize(
    "exc",
    [
        TransportError("connection reset"),
        LLMTimeoutError("no first token", phase="first_token"),
        ProviderUnavailableError("overloaded", status_code=529),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_about_the_deployment_count(clock: FakeClock, exc: Exception) -> None:
    breaker, fake, client = make(clock, min_calls=2)
    fail(client, fake, exc)
    fail(client, fake, exc)
    assert breaker.state(DEP).state == "open"


def test_failure_types_can_count_rate_limits(clock: FakeClock) -> None:
    limited = RateLimitError("slow down", status_code=429)
    breaker, fake, client = make(
        clock, min_calls=2, failure_types=(RateLimitError, ProviderUnavailableError)
    )
    fail(client, fake, limited)
    fail(client, fake, limited)
    assert breaker.state(DEP).state == "open"


def test_window_forgets_old_failures(clock: FakeClock) -> None:
    breaker, fake, client = make(clock, window=60.0, buckets=6)
    for _ in range(3):
        fail(client, fake)
    clock.now += 61
    fail(client, fake)  # 4 failures overall but only 1 in the window
    assert breaker.state(DEP) == BreakerState("closed", failures=1, calls=1, opens_until=None)


# ---- streams


def test_stream_fails_on_mid_stream_error_and_succeeds_at_stream_end(clock: FakeClock) -> None:
    breaker, fake, client = make(clock, min_calls=3)
    fake.reply("one two three four", error_after=3)
    with pytest.raises(ProviderUnavailableError):
        for _ in client.stream("fake/m", HI):
            pass
    fake.reply("fine")
    events = list(client.stream("fake/m", HI))
    assert isinstance(events[-1], StreamEnd)
    assert breaker.state(DEP) == BreakerState("closed", failures=1, calls=2, opens_until=None)
    fake.reply("a b c", error_after=2)
    with pytest.raises(ProviderUnavailableError):
        list(client.stream("fake/m", HI))
    assert breaker.state(DEP).state == "open"  # 2 of 3 failed


def test_stream_abandoned_by_caller_counts_as_nothing(clock: FakeClock) -> None:
    breaker, fake, client = make(clock)
    fake.reply("many words in this answer")
    stream = client.stream("fake/m", HI)
    it = iter(stream)
    next(it)
    next(it)
    stream.close()
    assert breaker.state(DEP).calls == 0


# ---- async


async def test_async_chat_and_stream_open_and_fail_fast(clock: FakeClock) -> None:
    breaker = CircuitBreaker(MemoryStore(clock=clock), clock=clock, min_calls=3)
    fake = FakeProvider(default="ok")
    async with AsyncClient(max_retries=0, providers=[fake], middleware=[breaker]) as client:
        assert (await client.chat("fake/m", HI)).text == "ok"
        fake.reply(error=TransportError("reset"))
        with pytest.raises(TransportError):
            await client.chat("fake/m", HI)
        fake.reply("x y z", error_after=2)
        with pytest.raises(ProviderUnavailableError):
            async for _ in client.stream("fake/m", HI):
                pass
        assert breaker.state(DEP) == BreakerState(
            "open", failures=2, calls=3, opens_until=clock.now + 30
        )
        before = len(fake.requests)
        with pytest.raises(CircuitOpenError):
            await client.chat("fake/m", HI)
        with pytest.raises(CircuitOpenError):
            async for _ in client.stream("fake/m", HI):
                pass
        assert len(fake.requests) == before
        clock.now += 30
        fake.reply("recovered")
        async for _ in client.stream("fake/m", HI):
            pass
        assert (await breaker.astate(DEP)).state == "closed"
        assert set(await breaker.astates()) == {DEP}


# ---- logging


def test_transitions_are_logged(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llmswitch.breaker")
    _, fake, client = make(clock, min_calls=2)
    fail(client, fake)
    fail(client, fake)
    clock.now += 30
    client.chat("fake/m", HI)
    messages = [r.getMessage() for r in caplog.records if r.name == "llmswitch.breaker"]
    assert len(messages) == 3
    assert "opened (2/2 calls failed) for fake/m" in messages[0]
    assert "half-open" in messages[1]
    assert "closed" in messages[2]


# --------------------------------------------------------------------------- Redis


def test_breakers_sharing_a_redis_store_see_one_state(clock: FakeClock, redis_prefix: str) -> None:
    a_store, b_store = open_store(REDIS_URL), open_store(REDIS_URL)
    try:
        a, a_fake, a_client = make(clock, a_store, min_calls=2, prefix=redis_prefix)
        _, b_fake, b_client = make(clock, b_store, min_calls=2, prefix=redis_prefix)
        fail(a_client, a_fake)
        fail(b_client, b_fake)  # failures from both count in one window
        assert a.state(DEP).state == "open"
        with pytest.raises(CircuitOpenError):
            b_client.chat("fake/m", HI)
        clock.now += 30
        assert b_client.chat("fake/m", HI).text == "ok"  # b's probe closes it for a too
        assert a.state(DEP) == BreakerState("closed", failures=0, calls=0, opens_until=None)
    finally:
        a_store.close()
        b_store.close()


async def test_async_breaker_on_redis(clock: FakeClock, redis_prefix: str) -> None:
    store = open_store(REDIS_URL)
    breaker = CircuitBreaker(store, clock=clock, min_calls=2, prefix=redis_prefix)
    fake = FakeProvider(default=DOWN)
    try:
        async with AsyncClient(max_retries=0, providers=[fake], middleware=[breaker]) as client:
            for _ in range(2):
                with pytest.raises(ProviderUnavailableError):
                    await client.chat("fake/m", HI)
            with pytest.raises(CircuitOpenError) as info:
                await client.chat("fake/m", HI)
            assert info.value.retry_after == pytest.approx(30)
            assert len(fake.requests) == 2
    finally:
        await store.aclose()


CROSS_PROCESS_SCRIPT = """
import asyncio, json, sys
from llmswitch import AsyncClient, Client
from llmswitch.errors import CircuitOpenError, ProviderUnavailableError
from llmswitch.middleware import CircuitBreaker
from llmswitch.testing import FakeProvider

role, url, prefix = sys.argv[1:4]
breaker = CircuitBreaker(url, prefix=prefix, min_calls=3, cooldown=60)
if role == "a":
    fake = FakeProvider(default=ProviderUnavailableError("down", status_code=503))
    client = Client(max_retries=0, providers=[fake], middleware=[breaker])
    failed = 0
    for _ in range(3):
        try:
            client.chat("fake/m", [{"role": "user", "content": "hi"}])
        except ProviderUnavailableError:
            failed += 1
    print(json.dumps({"failed": failed, "state": breaker.state("fake/m").state}))
else:
    fake = FakeProvider(default="ok")
    out = {}
    try:
        Client(
            max_retries=0, providers=[fake], middleware=[breaker]
        ).chat("fake/m", [{"role": "user", "content": "hi"}])
        out["sync"] = "called"
    except CircuitOpenError as exc:
        out["sync"] = "open"
        out["retry_after"] = exc.retry_after

    async def main():
        async with AsyncClient(max_retries=0, providers=[fake], middleware=[breaker]) as client:
            try:
                await client.chat("fake/m", [{"role": "user", "content": "hi"}])
                return "called"
            except CircuitOpenError:
                return "open"

    out["async"] = asyncio.run(main())
    out["provider_calls"] = len(fake.requests)
    print(json.dumps(out))
"""


def test_breaker_opened_in_one_process_holds_in_another(
    redis_prefix: str, tmp_path: pytest.TempPathFactory
) -> None:
    script = tmp_path / "breaker_proc.py"  # type: ignore[operator]
    script.write_text(CROSS_PROCESS_SCRIPT)

    def run(role: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, str(script), role, REDIS_URL, redis_prefix],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    assert run("a") == {"failed": 3, "state": "open"}
    b = run("b")
    assert b["sync"] == "open"
    assert b["async"] == "open"
    assert b["provider_calls"] == 0  # process B never reached its provider
    assert 0 < b["retry_after"] <= 60  # type: ignore[operator]
