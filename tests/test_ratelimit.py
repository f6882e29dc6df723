"""Rate limits, token reservations, the priority queue and quotas: through real
clients (sync, async, streams) with a fake clock, then shared state in Redis, across
two OS processes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    ConfigurationError,
    ProviderUnavailableError,
    QuotaExceeded,
    RateLimitExceeded,
)
from llmswitch.messages import ChatRequest
from llmswitch.middleware import Limit, Quota, RateLimiter
from llmswitch.storage import MemoryStore, StateStore, open_store
from llmswitch.testing import FakeProvider
from tests.support.state import REDIS_URL, FakeClock, SuspendingStore, run_together

HI = [{"role": "user", "content": "hi"}]
T0 = 6_000_000.0  # on a minute boundary
USAGE = {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def make(
    clock: FakeClock,
    limits: list[Limit] | None = None,
    quotas: list[Quota] | None = None,
    store: StateStore | None = None,
    **options: object,
) -> tuple[RateLimiter, FakeProvider, Client]:
    limiter = RateLimiter(
        limits or [],
        quotas or [],
        store if store is not None else MemoryStore(clock=clock),
        clock=clock,
        **options,  # type: ignore[arg-type]
    )
    fake = FakeProvider(default="ok")
    return limiter, fake, Client(max_retries=0, providers=[fake], middleware=[limiter])


def used(limiter: RateLimiter, name: str, key: str) -> float:
    for s in limiter.status():
        if s.limit == name and s.key == key:
            return s.used
    raise AssertionError(f"no status for {name} {key}: {limiter.status()}")


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "build",
    [
        lambda: Limit("tenant", requests_per_minute=1),  # type: ignore[arg-type]
        lambda: Limit("user"),
        lambda: Limit("user", requests_per_minute=0),
        lambda: Quota(period="week", requests=1),  # type: ignore[arg-type]
        lambda: Quota(period="day"),
        lambda: RateLimiter(max_wait=-1),
    ],
)
def test_bad_configuration_is_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ConfigurationError):
        build()


# --------------------------------------------------------------------------- scopes


def test_provider_limit_counts_every_model_of_the_provider(clock: FakeClock) -> None:
    _limiter, fake, client = make(clock, [Limit("provider", requests_per_minute=2)], max_wait=0)
    client.chat("fake/a", HI)
    client.chat("fake/b", HI)
    with pytest.raises(RateLimitExceeded) as info:
        client.chat("fake/c", HI)
    assert info.value.retryable
    assert info.value.retry_after == pytest.approx(60)  # exact: when the first call ages out
    assert len(fake.requests) == 2
    clock.now += 120
    assert client.chat("fake/c", HI).text == "ok"


def test_deployment_limit_is_per_provider_and_model(clock: FakeClock) -> None:
    _, fake, client = make(clock, [Limit("deployment", requests_per_minute=1)], max_wait=0)
    client.chat("fake/a", HI)
    client.chat("fake/b", HI)  # another deployment
    with pytest.raises(RateLimitExceeded):
        client.chat("fake/a", HI)
    assert [r.model for r in fake.requests] == ["a", "b"]


def test_user_limit_is_per_user_and_skips_anonymous_calls(clock: FakeClock) -> None:
    limiter, fake, client = make(clock, [Limit("user", requests_per_minute=1)], max_wait=0)
    client.chat("fake/m", HI, user="alice")
    client.chat("fake/m", HI, user="bob")
    client.chat("fake/m", HI)
    client.chat("fake/m", HI)
    with pytest.raises(RateLimitExceeded):
        client.chat("fake/m", HI, user="alice")
    assert len(fake.requests) == 4
    assert {(s.key, s.used, s.remaining) for s in limiter.status()} == {
        ("alice", 1.0, 0.0),
        ("bob", 1.0, 0.0),
    }


def test_all_limits_of_a_call_are_charged_together(clock: FakeClock) -> None:
    limiter, _, client = make(
        clock,
        [Limit("provider", requests_per_minute=10), Limit("user", requests_per_minute=1)],
        max_wait=0,
    )
    client.chat("fake/m", HI, user="alice")
    with pytest.raises(RateLimitExceeded):
        client.chat("fake/m", HI, user="alice")
    # The refused call did not use up provider capacity.
    assert used(limiter, "provider requests_per_minute", "fake") == 1.0


# --------------------------------------------------------------------------- tokens


def test_tokens_reserved_before_and_reconciled_after(clock: FakeClock) -> None:
    limiter, fake, client = make(clock, [Limit("user", tokens_per_minute=1000)], max_wait=0)
    seen: list[float] = []

    def respond(request: object) -> dict[str, object]:
        seen.append(used(limiter, "user tokens_per_minute", "u"))
        return {"text": "ok", "usage": USAGE}

    fake.respond_with(respond)  # type: ignore[arg-type]
    client.chat("fake/m", HI, user="u", max_tokens=300)
    # During the call: the prompt estimate plus max_tokens is held ...
    assert 300 < seen[0] < 320
    # ... afterwards exactly the real usage.
    assert used(limiter, "user tokens_per_minute", "u") == 30.0
    # A call whose reservation does not fit waits (here: refused at once).
    with pytest.raises(RateLimitExceeded):
        client.chat("fake/m", HI, user="u", max_tokens=980)
    client.chat("fake/m", HI, user="u", max_tokens=900)


def test_default_output_estimate_when_no_max_tokens(clock: FakeClock) -> None:
    limiter, fake, client = make(
        clock, [Limit("user", tokens_per_minute=100_000)], default_output_tokens=2000
    )
    holding: list[float] = []
    fake.respond_with(lambda r: holding.append(used(limiter, "user tokens_per_minute", "u")) or "x")  # type: ignore[func-returns-value]
    client.chat("fake/m", HI, user="u")
    assert 2000 < holding[0] < 2020


def test_a_call_larger_than_the_token_limit_is_refused_without_waiting(clock: FakeClock) -> None:
    _, fake, client = make(clock, [Limit("user", tokens_per_minute=100)])
    with pytest.raises(RateLimitExceeded) as info:
        client.chat("fake/m", HI, user="u", max_tokens=500)
    assert info.value.retry_after is None
    assert fake.requests == []


def test_stream_reconciles_at_stream_end(clock: FakeClock) -> None:
    limiter, fake, client = make(clock, [Limit("user", tokens_per_minute=1000)])
    fake.reply("a b c", usage=USAGE)
    with client.stream("fake/m", HI, user="u", max_tokens=300) as stream:
        events = list(stream)
    assert len(events) > 2
    assert used(limiter, "user tokens_per_minute", "u") == 30.0


def test_errors_refund_the_unused_reservation(clock: FakeClock) -> None:
    limiter, fake, client = make(
        clock,
        [Limit("user", requests_per_minute=10, tokens_per_minute=1000)],
    )
    fake.reply(error=ProviderUnavailableError("down", status_code=503))
    with pytest.raises(ProviderUnavailableError):
        client.chat("fake/m", HI, user="u", max_tokens=300)
    assert used(limiter, "user tokens_per_minute", "u") == 0.0
    assert used(limiter, "user requests_per_minute", "u") == 1.0  # the request was made
    # Mid-stream failure: the prompt was processed, the output estimate is refunded.
    fake.reply("one two three four", error_after=2)
    with (
        pytest.raises(ProviderUnavailableError),
        client.stream("fake/m", HI, user="u", max_tokens=300) as stream,
    ):
        for _ in stream:
            pass
    assert 0 < used(limiter, "user tokens_per_minute", "u") < 20


async def test_async_chat_and_stream_reconcile(clock: FakeClock) -> None:
    limiter = RateLimiter(
        [Limit("user", requests_per_minute=2, tokens_per_minute=1000)],
        store=MemoryStore(clock=clock),
        clock=clock,
        max_wait=0,
    )
    fake = FakeProvider(default={"text": "ok", "usage": USAGE})
    async with AsyncClient(providers=[fake], middleware=[limiter]) as client:
        await client.chat("fake/m", HI, user="u", max_tokens=300)
        async with client.stream("fake/m", HI, user="u", max_tokens=300) as stream:
            async for _ in stream:
                pass
        assert used(limiter, "user tokens_per_minute", "u") == 60.0
        with pytest.raises(RateLimitExceeded):
            await client.chat("fake/m", HI, user="u")


# --------------------------------------------------------------------------- queue


def wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.002)


def test_queue_serves_by_priority_then_round_robin_by_user(clock: FakeClock) -> None:
    limiter, fake, client = make(clock, [Limit("provider", requests_per_minute=1)], max_wait=1000)
    client.chat("fake/m", HI)  # uses the minute up
    arrivals = [
        ("a", "interactive"),
        ("a", "interactive"),
        ("a", "interactive"),
        ("b", "interactive"),
        ("c", "batch"),
        ("b", None),  # no priority: interactive
        ("d", 5),  # ints sit between interactive (0) and batch (10)
    ]
    threads = []
    for n, (user, priority) in enumerate(arrivals):
        meta = {"tag": f"{user}{n}"} | ({"priority": priority} if priority is not None else {})
        t = threading.Thread(
            target=client.chat, args=("fake/m", HI), kwargs={"user": user, "metadata": meta}
        )
        t.start()
        threads.append(t)
        wait_for(lambda n=n: limiter.waiting() == n + 1)  # type: ignore[misc]
    for n in range(len(arrivals)):
        clock.now += 120  # room for exactly one more call
        limiter.wake()
        wait_for(lambda n=n: len(fake.requests) == n + 2)  # type: ignore[misc]
    for t in threads:
        t.join(5)
    order = [r.metadata["tag"] for r in fake.requests[1:] if r.metadata]
    assert order == ["a0", "b3", "a1", "b5", "a2", "d6", "c4"]


def test_call_state_priority_wins_over_metadata() -> None:
    from llmswitch.messages import ChatRequest, Message
    from llmswitch.middleware import Call
    from llmswitch.middleware.ratelimit import priority_of

    req = ChatRequest(
        provider="fake", model="m", messages=(Message(role="user", content="x"),),
        metadata={"priority": "batch"},
    )  # fmt: skip
    call = Call(req, FakeProvider(), None, "fake/m")  # type: ignore[arg-type]
    assert priority_of(call) == 10
    call.state["priority"] = "interactive"
    assert priority_of(call) == 0
    call.state["priority"] = "urgent"
    with pytest.raises(ConfigurationError):
        priority_of(call)


def test_max_wait_then_rate_limit_exceeded_with_retry_after(clock: FakeClock) -> None:
    limiter, fake, client = make(clock, [Limit("user", requests_per_minute=1)], max_wait=5)
    client.chat("fake/m", HI, user="u")
    # The minute frees up in 60 s, past max_wait: refused at once instead of waiting.
    with pytest.raises(RateLimitExceeded) as info:
        client.chat("fake/m", HI, user="u")
    assert info.value.retry_after == pytest.approx(60)
    assert limiter.waiting() == 0
    clock.now += 56  # now it fits within max_wait: the call waits, then goes
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.chat("fake/m", HI, user="u")
        except RateLimitExceeded as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    wait_for(lambda: limiter.waiting() == 1)
    clock.now += 4.5  # the first call has aged out
    limiter.wake()
    t.join(5)
    assert errors == []
    assert limiter.waiting() == 0
    assert len(fake.requests) == 2


def test_a_token_refund_wakes_a_waiting_call() -> None:
    # Real clock: the waiting call would need ~a minute for the window to slide, but
    # the first call's reconcile frees 890 reserved tokens and wakes it at once.
    limiter = RateLimiter([Limit("user", tokens_per_minute=1000)], max_wait=30)
    release = threading.Event()

    def respond(request: ChatRequest) -> dict[str, object]:
        if request.max_tokens == 900:
            release.wait(10)
        return {"text": f"done {request.max_tokens}", "usage": {"total_tokens": 10}}

    fake = FakeProvider(default=respond)
    client = Client(providers=[fake], middleware=[limiter])
    results: list[str] = []

    def run(max_tokens: int) -> None:
        results.append(client.chat("fake/m", HI, user="u", max_tokens=max_tokens).text)

    first = threading.Thread(target=run, args=(900,))
    first.start()
    wait_for(lambda: len(fake.requests) == 1)
    second = threading.Thread(target=run, args=(600,))
    second.start()
    wait_for(lambda: limiter.waiting() == 1)
    release.set()
    first.join(10)
    second.join(10)
    assert results == ["done 900", "done 600"]
    assert limiter.waiting() == 0


@pytest.mark.parametrize("inline", [True, False], ids=["inline-store", "suspending-store"])
async def test_async_queue_orders_by_priority_and_times_out(clock: FakeClock, inline: bool) -> None:
    # The memory store is inline (the queue's sections take no loop lock); a store
    # whose async methods await keeps the lock, and the queue behaves the same.
    store = MemoryStore(clock=clock) if inline else SuspendingStore(clock=clock)
    limiter = RateLimiter(
        [Limit("provider", requests_per_minute=1)],
        store=store,
        clock=clock,
        max_wait=200,
    )
    fake = FakeProvider(default="ok")
    async with AsyncClient(providers=[fake], middleware=[limiter]) as client:
        await client.chat("fake/m", HI)
        tasks = []
        for n, (user, prio) in enumerate(
            [("a", "batch"), ("b", "interactive"), ("a", "interactive")]
        ):
            meta = {"tag": f"{user}{n}", "priority": prio}
            tasks.append(asyncio.create_task(client.chat("fake/m", HI, user=user, metadata=meta)))
            while limiter.waiting() < n + 1:
                await asyncio.sleep(0)
        for n in range(2):
            clock.now += 120
            limiter.awake()
            while len(fake.requests) < n + 2:
                await asyncio.sleep(0.001)
        clock.now += 100  # past the last waiter's deadline (200 s after it arrived)
        limiter.awake()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [r.metadata["tag"] for r in fake.requests[1:] if r.metadata] == ["b1", "a2"]
    assert isinstance(results[0], RateLimitExceeded)
    assert results[0].retry_after is not None and results[0].retry_after > 0


# --------------------------------------------------------------------------- quotas


def at(*ymdh: int) -> float:
    return datetime(*ymdh, tzinfo=UTC).timestamp()  # type: ignore[arg-type,misc]


def test_daily_request_quota_rolls_over_at_utc_midnight() -> None:
    clock = FakeClock(at(2026, 3, 9, 23))
    limiter, fake, client = make(clock, quotas=[Quota(period="day", requests=2)])
    client.chat("fake/m", HI, user="u")
    client.chat("fake/m", HI, user="u")
    with pytest.raises(QuotaExceeded) as info:
        client.chat("fake/m", HI, user="u")
    assert not info.value.retryable
    client.chat("fake/m", HI, user="other")  # per user
    clock.now = at(2026, 3, 10, 0) + 1
    client.chat("fake/m", HI, user="u")
    assert len(fake.requests) == 4
    assert [(s.limit, s.key, s.used, s.remaining) for s in limiter.status()] == [
        ("user requests per day", "u", 1, 1)
    ]


def test_monthly_token_quota_counts_real_usage() -> None:
    clock = FakeClock(at(2026, 1, 31, 12))
    _limiter, fake, client = make(clock, quotas=[Quota(period="month", tokens=100)])
    fake.default_reply("ok", usage={"total_tokens": 80})
    client.chat("fake/m", HI, user="u")
    client.chat("fake/m", HI, user="u")  # 80 < 100: still allowed, ends at 160
    clock.now = at(2026, 1, 31, 23)
    with pytest.raises(QuotaExceeded):
        client.chat("fake/m", HI, user="u")
    clock.now = at(2026, 2, 1, 0)
    client.chat("fake/m", HI, user="u")
    assert len(fake.requests) == 3


def test_rate_limit_refusal_gives_the_request_quota_back(clock: FakeClock) -> None:
    limiter, _, client = make(
        clock,
        [Limit("user", requests_per_minute=1)],
        [Quota(period="day", requests=5)],
        max_wait=0,
    )
    client.chat("fake/m", HI, user="u")
    with pytest.raises(RateLimitExceeded):
        client.chat("fake/m", HI, user="u")
    assert used(limiter, "user requests per day", "u") == 1


# --------------------------------------------------------------------------- Redis


def test_limits_and_quotas_on_redis(clock: FakeClock, redis_prefix: str) -> None:
    a_store, b_store = open_store(REDIS_URL), open_store(REDIS_URL)
    try:
        opts = {"prefix": redis_prefix, "max_wait": 0}
        limits = [Limit("user", requests_per_minute=2, tokens_per_minute=1000)]
        a, a_fake, a_client = make(clock, limits, [Quota(requests=3)], a_store, **opts)
        _, _, b_client = make(clock, limits, [Quota(requests=3)], b_store, **opts)
        a_fake.default_reply("ok", usage=USAGE)
        a_client.chat("fake/m", HI, user="u", max_tokens=300)
        b_client.chat("fake/m", HI, user="u")
        with pytest.raises(RateLimitExceeded):
            a_client.chat("fake/m", HI, user="u")
        assert used(a, "user tokens_per_minute", "u") > 30  # b's default reply counted too
        clock.now += 120
        a_client.chat("fake/m", HI, user="u")
        with pytest.raises(QuotaExceeded):
            b_client.chat("fake/m", HI, user="u")
    finally:
        a_store.close()
        b_store.close()


async def test_async_limiter_on_redis(clock: FakeClock, redis_prefix: str) -> None:
    store = open_store(REDIS_URL)
    limiter = RateLimiter(
        [Limit("deployment", requests_per_minute=1)], store=store, clock=clock,
        prefix=redis_prefix, max_wait=0,
    )  # fmt: skip
    fake = FakeProvider(default="ok")
    try:
        async with AsyncClient(providers=[fake], middleware=[limiter]) as client:
            await client.chat("fake/m", HI)
            with pytest.raises(RateLimitExceeded) as info:
                await client.chat("fake/m", HI)
            assert info.value.retry_after == pytest.approx(60)
    finally:
        await store.aclose()


CROSS_PROCESS_SCRIPT = """
import json, sys
from llmswitch import Client
from llmswitch.errors import RateLimitExceeded
from llmswitch.middleware import Limit, RateLimiter
from llmswitch.testing import FakeProvider

url, prefix, go = sys.argv[1:4]
limiter = RateLimiter([Limit("deployment", requests_per_minute=5)], store=url, prefix=prefix, max_wait=0)
fake = FakeProvider(default="ok")
client = Client(providers=[fake], middleware=[limiter])
print("ready", flush=True)
sys.stdin.readline()  # both processes start calling together
refused = 0
for _ in range(5):
    try:
        client.chat("fake/m", [{"role": "user", "content": "hi"}])
    except RateLimitExceeded:
        refused += 1
print(json.dumps({"admitted": len(fake.requests), "refused": refused}), flush=True)
"""


def test_requests_per_minute_holds_across_two_processes(
    redis_prefix: str, tmp_path: pytest.TempPathFactory
) -> None:
    script = tmp_path / "ratelimit_proc.py"  # type: ignore[operator]
    script.write_text(CROSS_PROCESS_SCRIPT)
    outs = run_together([str(script), REDIS_URL, redis_prefix, "go"], timeout=60)
    assert sum(o["admitted"] for o in outs) == 5
    assert sum(o["refused"] for o in outs) == 5
