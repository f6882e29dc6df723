"""Key pools: order of use, cooldowns on 429, disabling on 401/403, persistence in the
store, no key material anywhere, sync/async chat/stream, and real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmswitch.keys import KeyPool, KeyRotation, fingerprint
from llmswitch.middleware import KeyRotation as ExportedKeyRotation
from llmswitch.providers.runtime import Provider
from llmswitch.storage import MemoryStore, open_store
from llmswitch.testing import FakeProvider
from llmswitch.wire import Secret
from tests.support.loopback import Loopback, Recorded, Reply, sse_reply
from tests.support.openai import fixture
from tests.support.state import REDIS_URL, FakeClock

# Upper case, digits and dashes: no run of these can occur in a lower-case hex digest.
KEY_A = "sk-KEYA-QWERTYUIOPASDFGHJKL"
KEY_B = "sk-KEYB-ZXCVBNMQWERTYUIOPLK"
KEY_C = "sk-KEYC-MNBVCXZLKJHGFDSAPOI"
HI = [{"role": "user", "content": "hi"}]


def keyed(*keys: str) -> tuple[dict[str, FakeProvider], Callable[[Provider, Secret], Provider]]:
    """One FakeProvider per key, answering with the key's name; and a binder using them."""
    fakes = {k: FakeProvider("fake").default_reply(k[3:7]) for k in keys}

    def bind(provider: Provider, secret: Secret) -> Provider:
        return fakes[secret.get()]

    return fakes, bind


def make(
    *keys: str,
    clock: FakeClock,
    store: MemoryStore | None = None,
    strategy: str = "round-robin",
) -> tuple[KeyPool, dict[str, FakeProvider], Client]:
    fakes, bind = keyed(*keys)
    pool = KeyPool(
        "fake", list(keys), strategy=strategy,  # type: ignore[arg-type]
        store=store or MemoryStore(clock), clock=clock,
    )  # fmt: skip
    client = Client(
        providers=[FakeProvider("fake")], middleware=[KeyRotation(pool, bind=bind)], max_retries=0
    )
    return pool, fakes, client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def answers(client: Client, n: int) -> list[str]:
    return [client.chat("fake/m", HI).text for _ in range(n)]


def test_round_robin_uses_keys_in_turn(clock: FakeClock) -> None:
    _, _, client = make(KEY_A, KEY_B, KEY_C, clock=clock)
    assert answers(client, 5) == ["KEYA", "KEYB", "KEYC", "KEYA", "KEYB"]


@pytest.mark.parametrize(
    ("strategy", "third", "uses"),
    [("round-robin", "KEYA", [3, 1]), ("least-used", "KEYB", [2, 2])],
)
def test_least_used_prefers_the_key_used_least(
    clock: FakeClock, strategy: str, third: str, uses: list[int]
) -> None:
    pool, fakes, client = make(KEY_A, KEY_B, clock=clock, strategy=strategy)
    fakes[KEY_B].reply(error=RateLimitError("slow down", retry_after=5))
    assert answers(client, 2) == ["KEYA", "KEYA"]  # B's 429 moved call 2 to A
    clock.now += 6
    # A has 2 uses, B 1: least-used goes to B; round-robin's turn is A's again.
    assert answers(client, 1) == [third]
    assert [s.uses for s in pool.status()] == uses


def test_429_cools_the_key_down_for_retry_after_then_reuses_it(clock: FakeClock) -> None:
    pool, fakes, client = make(KEY_A, KEY_B, clock=clock)
    fakes[KEY_A].reply(error=RateLimitError("slow down", retry_after=5))
    assert answers(client, 1) == ["KEYB"]  # same call, next key
    clock.now += 1
    assert answers(client, 2) == ["KEYB", "KEYB"]  # A's turn, but it is cooling
    a = pool.status()[0]
    assert a.state == "cooling" and a.cooldown_remaining == pytest.approx(4)
    clock.now += 4.01
    assert pool.status()[0].state == "ok"
    assert answers(client, 2).count("KEYA") == 1
    assert fakes[KEY_A].calls == 2


def test_429_without_retry_after_cools_for_the_default(clock: FakeClock) -> None:
    pool, fakes, client = make(KEY_A, KEY_B, clock=clock)
    fakes[KEY_A].reply(error=RateLimitError("slow down"))
    answers(client, 1)
    assert pool.status()[0].cooldown_remaining == pytest.approx(60)
    clock.now += 59
    assert pool.status()[0].state == "cooling"
    clock.now += 1.01
    assert pool.status()[0].state == "ok"


@pytest.mark.parametrize("error", [AuthenticationError, PermissionDeniedError])
def test_rejected_key_is_disabled_for_good(clock: FakeClock, error: type[ProviderError]) -> None:
    pool, fakes, client = make(KEY_A, KEY_B, clock=clock)
    fakes[KEY_A].reply(error=error("bad key", status_code=401))
    assert answers(client, 1) == ["KEYB"]
    clock.now += 10_000
    assert answers(client, 4) == ["KEYB"] * 4
    assert fakes[KEY_A].calls == 1
    assert [s.state for s in pool.status()] == ["disabled", "ok"]


def test_every_key_rejected_raises_authentication_error_naming_the_provider(
    clock: FakeClock,
) -> None:
    _, fakes, client = make(KEY_A, KEY_B, clock=clock)
    for k in (KEY_A, KEY_B):
        fakes[k].reply(error=AuthenticationError("Incorrect API key", status_code=401))
    with pytest.raises(AuthenticationError) as info:
        client.chat("fake/m", HI)
    assert "every API key of provider 'fake' (2) was rejected" in str(info.value)
    with pytest.raises(AuthenticationError):  # stays so, without calling anyone
        client.chat("fake/m", HI)
    assert fakes[KEY_A].calls == fakes[KEY_B].calls == 1


def test_all_keys_cooling_raises_rate_limit_with_the_soonest_end(clock: FakeClock) -> None:
    _, fakes, client = make(KEY_A, KEY_B, clock=clock)
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=10))
    fakes[KEY_B].reply(error=RateLimitError("slow", retry_after=3))
    with pytest.raises(RateLimitError) as info:
        client.chat("fake/m", HI)
    assert info.value.retry_after == pytest.approx(3)
    clock.now += 1
    with pytest.raises(RateLimitError) as again:
        client.chat("fake/m", HI)
    assert again.value.retry_after == pytest.approx(2)
    clock.now += 2.01
    assert answers(client, 1) == ["KEYB"]


def test_other_errors_leave_the_key_alone_and_propagate(clock: FakeClock) -> None:
    pool, fakes, client = make(KEY_A, KEY_B, clock=clock)
    fakes[KEY_A].reply(error=InvalidRequestError("bad request", status_code=400))
    with pytest.raises(InvalidRequestError):
        client.chat("fake/m", HI)
    assert fakes[KEY_B].calls == 0
    assert [s.state for s in pool.status()] == ["ok", "ok"]


def test_calls_to_other_providers_pass_through(clock: FakeClock) -> None:
    _, bind = keyed(KEY_A)
    other = FakeProvider("other").default_reply("plain")
    pool = KeyPool("fake", [KEY_A], store=MemoryStore(clock), clock=clock)
    client = Client(providers=[other], middleware=[KeyRotation(pool, bind=bind)])
    assert client.chat("other/m", HI).text == "plain"


def test_restart_keeps_cooldowns_through_a_shared_store(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    _, fakes, client = make(KEY_A, KEY_B, clock=clock, store=store)
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=30))
    fakes[KEY_B].reply(error=AuthenticationError("revoked", status_code=401))
    with pytest.raises(RateLimitError):
        client.chat("fake/m", HI)
    clock.now += 10
    # "Restart": a new pool and client over the same store.
    pool2, fakes2, client2 = make(KEY_A, KEY_B, clock=clock, store=store)
    assert [(s.state, round(s.cooldown_remaining)) for s in pool2.status()] == [
        ("cooling", 20),
        ("disabled", 0),
    ]
    with pytest.raises(RateLimitError):
        client2.chat("fake/m", HI)
    assert fakes2[KEY_A].calls == fakes2[KEY_B].calls == 0
    # A replaced key starts fresh: the disabled mark belongs to the old fingerprint.
    pool3, _, client3 = make(KEY_A, KEY_C, clock=clock, store=store)
    assert answers(client3, 1) == ["KEYC"]
    assert [s.state for s in pool3.status()] == ["cooling", "ok"]


def test_restart_keeps_cooldowns_in_redis(redis_prefix: str) -> None:
    fakes, bind = keyed(KEY_A, KEY_B)
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=30))
    store = open_store(REDIS_URL)
    try:
        pool = KeyPool("fake", [KEY_A, KEY_B], store=store, prefix=redis_prefix)
        client = Client(providers=[FakeProvider("fake")], middleware=[KeyRotation(pool, bind=bind)])
        assert client.chat("fake/m", HI).text == "KEYB"
    finally:
        store.close()
    store2 = open_store(REDIS_URL)
    try:
        pool2 = KeyPool("fake", [KEY_A, KEY_B], store=store2, prefix=redis_prefix)
        a, b = pool2.status()
        assert a.state == "cooling" and 25 < a.cooldown_remaining <= 30 and b.state == "ok"
        import redis

        raw = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        stored = {k: raw.get(k) for k in raw.scan_iter(match=f"{redis_prefix}*")}
        raw.close()
        # Named by a keyed hash (item 15), never the key's plain SHA-256.
        assert list(stored) == [f"{redis_prefix}fake:{store2.key_id(KEY_A)}"]
        assert fingerprint(KEY_A) not in next(iter(stored))
        assert not any(KEY_A in f"{k}{v}" for k, v in stored.items())
    finally:
        store2.close()


async def test_async_pool_on_redis(redis_prefix: str) -> None:
    fakes, bind = keyed(KEY_A, KEY_B)
    fakes[KEY_A].reply(error=AuthenticationError("revoked", status_code=401))
    store = open_store(REDIS_URL)
    pool = KeyPool("fake", [KEY_A, KEY_B], store=store, prefix=redis_prefix)
    mw = KeyRotation(pool, bind=bind)
    async with AsyncClient(providers=[FakeProvider("fake")], middleware=[mw]) as client:
        assert (await client.chat("fake/m", HI)).text == "KEYB"
        assert (await client.chat("fake/m", HI)).text == "KEYB"
        assert [s.state for s in await pool.astatus()] == ["disabled", "ok"]
    await store.aclose()


def _no_key_in(text: str) -> None:
    for key in (KEY_A, KEY_B):
        for i in range(len(key) - 5):
            assert key[i : i + 6] not in text, f"key material {key[i : i + 6]!r} in {text!r}"


def test_keys_never_appear_in_status_logs_reprs_errors_or_store(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore(clock)
    pool, fakes, client = make(KEY_A, KEY_B, clock=clock, store=store)
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=5))
    fakes[KEY_B].reply(error=AuthenticationError("no", status_code=401))
    with (
        caplog.at_level(logging.DEBUG, logger="llmswitch.keys"),
        pytest.raises(RateLimitError) as info,
    ):
        client.chat("fake/m", HI)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert fingerprint(KEY_A)[-4:] in logs and fingerprint(KEY_B)[-4:] in logs
    status = pool.status()
    assert [s.key for s in status] == ["…" + fingerprint(k)[-4:] for k in (KEY_A, KEY_B)]
    middleware = client._pipeline.middleware  # type: ignore[union-attr]
    seen = [
        logs, repr(status), repr(pool), repr(middleware), str(info.value), repr(info.value),
        repr(store._values), repr(client.status()),
    ]  # fmt: skip
    for text in seen:
        _no_key_in(text)


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ConfigurationError):
        KeyPool("openai", [])
    with pytest.raises(ConfigurationError, match="twice"):
        KeyPool("openai", [KEY_A, Secret(KEY_A)])
    with pytest.raises(ConfigurationError, match="strategy"):
        KeyPool("openai", [KEY_A], strategy="random")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not an HTTP provider"):
        pool = KeyPool("fake", [KEY_A])
        Client(providers=[FakeProvider("fake")], middleware=[KeyRotation(pool)]).chat("fake/m", HI)
    assert ExportedKeyRotation is KeyRotation


# --------------------------------------------------------------------------- streams


def test_stream_switches_key_before_the_first_event(clock: FakeClock) -> None:
    _, fakes, client = make(KEY_A, KEY_B, clock=clock)
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=5))
    with client.stream("fake/m", HI) as stream:
        assert stream.response.text == "KEYB"


def test_stream_failing_after_its_first_event_is_not_moved(clock: FakeClock) -> None:
    pool, fakes, client = make(KEY_A, KEY_B, clock=clock)
    fakes[KEY_A].reply("one two three four", error=RateLimitError("slow"), error_after=2)
    with pytest.raises(RateLimitError), client.stream("fake/m", HI) as stream:
        list(stream)
    assert fakes[KEY_B].calls == 0
    assert pool.status()[0].state == "cooling"  # the outcome still counts


async def test_async_chat_and_stream(clock: FakeClock) -> None:
    fakes, bind = keyed(KEY_A, KEY_B, KEY_C)
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=5))
    fakes[KEY_B].reply(error=PermissionDeniedError("forbidden", status_code=403))
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=5))
    pool = KeyPool("fake", [KEY_A, KEY_B, KEY_C], store=MemoryStore(clock), clock=clock)
    mw = KeyRotation(pool, bind=bind)
    async with AsyncClient(providers=[FakeProvider("fake")], middleware=[mw]) as client:
        # A is rate-limited, B forbidden: the same call ends on C.
        assert (await client.chat("fake/m", HI)).text == "KEYC"
        clock.now += 6  # A's cooldown is over: its turn comes on the third stream
        for _ in range(3):
            async with client.stream("fake/m", HI) as stream:
                assert (await stream.get_response()).text == "KEYC"
        assert fakes[KEY_A].calls == 2 and fakes[KEY_B].calls == 1
        states = await client.status()
    assert [k["state"] for k in states["key_pools"]["fake"]] == ["cooling", "disabled", "ok"]


async def test_async_stream_all_cooling(clock: FakeClock) -> None:
    fakes, bind = keyed(KEY_A)
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=7))
    pool = KeyPool("fake", [KEY_A], store=MemoryStore(clock), clock=clock)
    async with AsyncClient(
        max_retries=0, providers=[FakeProvider("fake")], middleware=[KeyRotation(pool, bind=bind)]
    ) as client:
        with pytest.raises(RateLimitError) as first:
            async with client.stream("fake/m", HI) as stream:
                await stream.get_response()
        assert first.value.retry_after == 7  # one key: the provider's own error
        with pytest.raises(RateLimitError) as info:
            async with client.stream("fake/m", HI) as stream:
                await stream.get_response()
        assert info.value.retry_after == pytest.approx(7)
        assert "every API key of provider 'fake' (1)" in str(info.value)
    assert fakes[KEY_A].calls == 1


def test_unavailable_errors_do_not_touch_keys(clock: FakeClock) -> None:
    pool, fakes, client = make(KEY_A, KEY_B, clock=clock)
    fakes[KEY_A].reply(error=ProviderUnavailableError("down", status_code=503))
    with pytest.raises(ProviderUnavailableError):
        client.chat("fake/m", HI)
    assert [s.state for s in pool.status()] == ["ok", "ok"]


# --------------------------------------------------------------------------- real HTTP

RATE_LIMITED = Reply(
    status=429,
    headers={"retry-after": "20"},
    body=b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
)


def _by_key(request: Recorded) -> Reply:
    if request.headers["authorization"] == f"Bearer {KEY_A}":
        return RATE_LIMITED
    if request.json().get("stream"):  # type: ignore[attr-defined]
        return sse_reply(fixture("stream_text.sse"))
    return Reply(body=fixture("chat_text.json"))


def _client_env(loopback: Loopback) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-unused-by-the-pool-0000", "OPENAI_BASE_URL": loopback.url + "/v1"}


def test_loopback_429_on_key_a_moves_to_key_b(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", handler=_by_key)
    pool = KeyPool("openai", [KEY_A, KEY_B])
    with Client(env=_client_env(loopback), middleware=[KeyRotation(pool)]) as client:
        for _ in range(3):
            assert client.chat("openai/gpt-4o-mini", HI).text
    sent = [r.headers["authorization"] for r in loopback.requests]
    assert sent == [f"Bearer {KEY_A}"] + [f"Bearer {KEY_B}"] * 3
    a = pool.status()[0]
    assert a.state == "cooling" and 19 < a.cooldown_remaining <= 20


async def test_loopback_async_stream_moves_to_key_b(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", handler=_by_key)
    pool = KeyPool("openai", [KEY_A, KEY_B])
    async with AsyncClient(env=_client_env(loopback), middleware=[KeyRotation(pool)]) as client:
        async with client.stream("openai/gpt-4o-mini", HI) as stream:
            assert (await stream.get_response()).text
    sent = [r.headers["authorization"] for r in loopback.requests]
    assert sent == [f"Bearer {KEY_A}", f"Bearer {KEY_B}"]
