"""Shared-state failures and key names (issue 7 items 7 and 15): a dead Redis is a
typed StateStoreError naming the masked URL; each layer's on_state_error policy; a
killed connection reconnects transparently; store key names are keyed hashes."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient, Client, LLMError, StateStoreError
from llmswitch.config import load_config
from llmswitch.errors import ConfigurationError, RateLimitError
from llmswitch.keys import KeyPool, KeyRotation
from llmswitch.middleware import CircuitBreaker, Limit, Quota, RateLimiter
from llmswitch.storage import MemoryStore, open_store
from llmswitch.testing import FakeProvider
from tests.support.state import REDIS_URL, drop_prefix, redis_or_skip

HI = [{"role": "user", "content": "hi"}]
# Nothing listens on port 1: connections are refused at once, no outage needed.
DEAD = "redis://:hunter22secret@127.0.0.1:1/0"
MASKED = "redis://:****@127.0.0.1:1/0"
KEY_A = "sk-KEYA-QWERTYUIOPASDFGHJKL"
KEY_B = "sk-KEYB-ZXCVBNMQWERTYUIOPLK"


def dead() -> Any:
    return open_store(DEAD)


def assert_typed(exc: BaseException) -> None:
    assert isinstance(exc, StateStoreError) and isinstance(exc, LLMError)
    assert exc.retryable
    assert MASKED in str(exc) and exc.url == MASKED
    assert "hunter22secret" not in f"{exc}{exc!r}{exc.__cause__!r}"


# --------------------------------------------------------------------------- the store


def test_every_redis_operation_fails_typed_sync() -> None:
    store = dead()
    ops = [
        lambda: store.get("k"),
        lambda: store.set("k", "v", 5),
        lambda: store.delete("k"),
        lambda: store.get_many(["k"]),
        lambda: store.ewma("k", 1.0, 0.5),
        lambda: store.incr_window("k", 1, 5),
        lambda: store.record_outcome("k", True, 1.0, 60, 10),
        lambda: store.outcomes("k", 1.0, 60, 10),
        lambda: store.log_acquire([("k", 1, 5)], 60),
        lambda: store.log_adjust("k", "id", 1, -1, 60),
        lambda: store.key_id("secret"),
    ]
    for op in ops:
        with pytest.raises(StateStoreError) as info:
            op()
        assert_typed(info.value)
    assert "hunter22secret" not in repr(store)


async def test_every_redis_operation_fails_typed_async() -> None:
    store = dead()
    for op in (
        lambda: store.aget("k"),
        lambda: store.aset("k", "v"),
        lambda: store.aincr_window("k", 1, 5),
        lambda: store.arecord_outcome("k", False, 1.0, 60, 10),
        lambda: store.alog_acquire([("k", 1, 5)], 60),
        lambda: store.alog_adjust("k", "id", 1, -1, 60),
        lambda: store.akey_id("secret"),
        lambda: store.aget_many(["k"]),
    ):
        with pytest.raises(StateStoreError) as info:
            await op()
        assert_typed(info.value)
    await store.aclose()


def test_password_in_query_is_masked_too() -> None:
    store = open_store("redis://127.0.0.1:1/0?password=hunter22secret")
    with pytest.raises(StateStoreError) as info:
        store.get("k")
    assert "hunter22secret" not in str(info.value) and "password=%2A%2A%2A%2A" in str(info.value)


# --------------------------------------------------------------------------- policies


def limited(**options: Any) -> tuple[RateLimiter, FakeProvider, Client]:
    limiter = RateLimiter(store=dead(), max_wait=0, **options)
    fake = FakeProvider(default="ok")
    return limiter, fake, Client(providers=[fake], middleware=[limiter], max_retries=0)


def fail_open_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "state.fail_open"]


def test_limiter_fails_open_by_default_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    from llmswitch.storage import base

    caplog.set_level(logging.WARNING, logger="llmswitch.state")
    base._warned.clear()  # the warning is rate-limited per layer and URL, process-wide
    _, fake, client = limited(limits=[Limit("user", requests_per_minute=1)])
    for _ in range(5):
        assert client.chat("fake/m", HI, user="u").text == "ok"
    assert len(fake.requests) == 5
    [record] = fail_open_warnings(caplog)
    assert record.layer == "ratelimit" and record.url == MASKED  # type: ignore[attr-defined]
    assert "hunter22secret" not in caplog.text


def test_limiter_fail_closed_raises_without_calling() -> None:
    _, fake, client = limited(
        limits=[Limit("user", requests_per_minute=5, on_state_error="fail_closed")]
    )
    with pytest.raises(StateStoreError) as info:
        client.chat("fake/m", HI, user="u")
    assert_typed(info.value)
    assert fake.requests == []


def test_quotas_fail_closed_by_default_and_can_fail_open() -> None:
    _, fake, client = limited(quotas=[Quota(requests=10)])
    with pytest.raises(StateStoreError):
        client.chat("fake/m", HI, user="u")
    assert fake.requests == []
    _, fake, client = limited(quotas=[Quota(requests=10, on_state_error="fail_open")])
    assert client.chat("fake/m", HI, user="u").text == "ok"
    # The limiter-wide setting overrides each limit's and quota's own.
    _, fake, client = limited(quotas=[Quota(requests=10)], on_state_error="fail_open")
    assert client.chat("fake/m", HI, user="u").text == "ok"


async def test_async_limiter_policies() -> None:
    fake = FakeProvider(default="ok")
    opened = RateLimiter([Limit("provider", requests_per_minute=1)], store=dead(), max_wait=0)
    closed = RateLimiter([Limit("provider", requests_per_minute=1)], store=dead(),
                         on_state_error="fail_closed")  # fmt: skip
    async with AsyncClient(providers=[fake], middleware=[opened], max_retries=0) as client:
        assert (await client.chat("fake/m", HI)).text == "ok"
        async with client.stream("fake/m", HI) as stream:
            assert "".join([e.text async for e in stream if hasattr(e, "text")]) == "ok"
    async with AsyncClient(providers=[fake], middleware=[closed], max_retries=0) as client:
        with pytest.raises(StateStoreError):
            await client.chat("fake/m", HI)


def test_breaker_policies_sync() -> None:
    fake = FakeProvider(default="ok")
    with Client(providers=[fake], middleware=[CircuitBreaker(dead())], max_retries=0) as c:
        assert c.chat("fake/m", HI).text == "ok"
        with c.stream("fake/m", HI) as stream:
            assert stream.text_stream is not None and "".join(stream.text_stream) == "ok"
    closed = CircuitBreaker(dead(), on_state_error="fail_closed")
    with Client(providers=[fake], middleware=[closed], max_retries=0) as c:
        with pytest.raises(StateStoreError) as info:
            c.chat("fake/m", HI)
        assert_typed(info.value)
    assert len(fake.requests) == 2


async def test_breaker_policies_async() -> None:
    fake = FakeProvider(default="ok")
    async with AsyncClient(providers=[fake], middleware=[CircuitBreaker(dead())]) as c:
        assert (await c.chat("fake/m", HI)).text == "ok"
    closed = CircuitBreaker(dead(), on_state_error="fail_closed")
    async with AsyncClient(providers=[fake], middleware=[closed]) as c:
        with pytest.raises(StateStoreError):
            await c.chat("fake/m", HI)


def pool_client(pool: KeyPool) -> tuple[dict[str, FakeProvider], Client]:
    fakes = {k: FakeProvider("fake").default_reply(k[3:7]) for k in (KEY_A, KEY_B)}
    rotation = KeyRotation(pool, bind=lambda provider, secret: fakes[secret.get()])
    return fakes, Client(providers=[FakeProvider("fake")], middleware=[rotation], max_retries=0)


def test_key_pool_fails_open_and_still_rotates_on_429() -> None:
    fakes, client = pool_client(KeyPool("fake", [KEY_A, KEY_B], store=dead()))
    fakes[KEY_A].reply(error=RateLimitError("slow", retry_after=5))
    # The cooldown cannot be stored, but the call still moves on to the other key.
    assert client.chat("fake/m", HI).text == "KEYB"
    closed = KeyPool("fake", [KEY_A, KEY_B], store=dead(), on_state_error="fail_closed")
    _, client = pool_client(closed)
    with pytest.raises(StateStoreError):
        client.chat("fake/m", HI)
    with pytest.raises(StateStoreError):
        closed.status()
    with pytest.raises(ConfigurationError):
        KeyPool("fake", [KEY_A], on_state_error="ignore")  # type: ignore[arg-type]


async def test_key_pool_async_fails_open() -> None:
    fakes = {k: FakeProvider("fake").default_reply(k[3:7]) for k in (KEY_A, KEY_B)}
    pool = KeyPool("fake", [KEY_A, KEY_B], store=dead())
    rotation = KeyRotation(pool, bind=lambda provider, secret: fakes[secret.get()])
    async with AsyncClient(providers=[FakeProvider("fake")], middleware=[rotation]) as client:
        assert (await client.chat("fake/m", HI)).text == "KEYA"


CONFIG = f"""\
[state]
url = "{DEAD}"

[breaker]
on_state_error = "fail_closed"

[[limits]]
scope = "user"
requests_per_minute = 5
on_state_error = "fail_closed"

[[quotas]]
requests = 10
on_state_error = "fail_open"

[providers.openai]
keys = ["{KEY_A}", "{KEY_B}"]
on_state_error = "fail_closed"
"""


def test_policies_from_llmswitch_toml(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    assert config.breaker is not None and config.breaker.on_state_error == "fail_closed"
    assert config.limits[0].on_state_error == "fail_closed"
    assert config.quotas[0].on_state_error == "fail_open"
    assert config.providers["openai"].on_state_error == "fail_closed"
    with Client(config=path) as client:
        layers = client._pipeline.middleware  # type: ignore[union-attr]
        pools = [m for m in layers if isinstance(m, KeyRotation)]
        assert pools and pools[0].pools["openai"].on_state_error == "fail_closed"
        with pytest.raises(StateStoreError) as info:
            client.chat("openai/gpt-4o-mini", HI, user="u")
        assert_typed(info.value)
    path.write_text('[breaker]\non_state_error = "sometimes"\n')
    with pytest.raises(ConfigurationError) as bad:
        load_config(path)
    assert "on_state_error" in str(bad.value) and "fail_open" in str(bad.value)


# --------------------------------------------------------------------------- reconnect


def kill_connections(name: str) -> int:
    """Kill this test's own connections (by client name), as a Redis restart would,
    without disturbing other tests sharing the server."""
    import redis

    admin = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
        for ident in ids:
            admin.client_kill_filter(_id=ident)
        return len(ids)
    finally:
        admin.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    redis_or_skip()
    p = f"test-state:{uuid.uuid4().hex}:"
    yield p
    drop_prefix(p)


def test_sync_calls_survive_killed_connections(prefix: str) -> None:
    name = f"llmswitch-test-{uuid.uuid4().hex[:8]}"
    store = open_store(REDIS_URL, client_name=name)
    limiter = RateLimiter([Limit("user", requests_per_minute=100)], store=store, prefix=prefix,
                          on_state_error="fail_closed")  # fmt: skip
    breaker = CircuitBreaker(store, prefix=prefix, on_state_error="fail_closed")
    fake = FakeProvider(default="ok")
    try:
        with Client(providers=[fake], middleware=[limiter, breaker], max_retries=0) as client:
            client.chat("fake/m", HI, user="u")
            assert kill_connections(name) >= 1
            assert client.chat("fake/m", HI, user="u").text == "ok"
        assert len(fake.requests) == 2
    finally:
        store.close()


async def test_async_calls_survive_killed_connections(prefix: str) -> None:
    name = f"llmswitch-test-{uuid.uuid4().hex[:8]}"
    store = open_store(REDIS_URL, client_name=name)
    limiter = RateLimiter([Limit("user", requests_per_minute=100)], store=store, prefix=prefix,
                          on_state_error="fail_closed")  # fmt: skip
    breaker = CircuitBreaker(store, prefix=prefix, on_state_error="fail_closed")
    fake = FakeProvider(default="ok")
    try:
        async with AsyncClient(providers=[fake], middleware=[limiter, breaker]) as client:
            await client.chat("fake/m", HI, user="u")
            assert kill_connections(name) >= 1
            assert (await client.chat("fake/m", HI, user="u")).text == "ok"
            assert kill_connections(name) >= 1
            assert await store.aget(prefix + "nothing") is None
        assert len(fake.requests) == 2
    finally:
        await store.aclose()


# --------------------------------------------------------------------------- key names


def stored_names(prefix: str) -> list[str]:
    import redis

    raw = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return list(raw.scan_iter(match=f"{prefix}*"))
    finally:
        raw.close()


def cool_key_a(store: Any, prefix: str) -> None:
    pool = KeyPool("fake", [KEY_A, KEY_B], store=store, prefix=prefix)
    pool.report(pool.pick(), RateLimitError("slow", retry_after=30))


def test_redis_key_names_are_keyed_hashes(prefix: str) -> None:
    plain = hashlib.sha256(KEY_A.encode()).hexdigest()
    for secret, sub in ((None, "auto:"), ("one-secret", "one:"), ("other-secret", "two:")):
        store = open_store(REDIS_URL, secret=secret)
        try:
            cool_key_a(store, prefix + sub)
        finally:
            store.close()
    names = stored_names(prefix)
    assert len(names) == 3
    for name in names:
        assert plain not in name and plain[:16] not in name and KEY_A not in name
    ids = {n.rsplit(":", 1)[1] for n in names}
    assert len(ids) == 3  # a different secret names the key differently
    assert all(len(i) == 32 for i in ids)


def test_state_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMSWITCH_STATE_SECRET", "from-env")
    assert MemoryStore().key_id(KEY_A) == MemoryStore().key_id(KEY_A)
    assert MemoryStore().key_id(KEY_A) == MemoryStore(secret="from-env").key_id(KEY_A)
    monkeypatch.delenv("LLMSWITCH_STATE_SECRET")
    # Unset: a random secret per memory store (nothing leaves the process).
    assert MemoryStore().key_id(KEY_A) != MemoryStore().key_id(KEY_A)


def test_state_secret_from_llmswitch_toml(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text('[state]\nsecret = "${MY_SECRET}"\n[breaker]\n')
    config = load_config(path, {"MY_SECRET": "toml-secret"})
    assert config.state_secret is not None and "toml-secret" not in repr(config)
    with Client(config=config) as client:
        [breaker] = [m for m in client._pipeline.middleware if isinstance(m, CircuitBreaker)]  # type: ignore[union-attr]
        assert breaker.store.key_id(KEY_A) == MemoryStore(secret="toml-secret").key_id(KEY_A)


KEY_ID_SCRIPT = """
import sys
from llmswitch.storage import open_store
store = open_store(sys.argv[1])
print(store.key_id(sys.argv[2]))
store.close()
"""


def test_processes_sharing_a_redis_agree_without_configuration(prefix: str) -> None:
    runs = [
        subprocess.run(
            [sys.executable, "-c", KEY_ID_SCRIPT, REDIS_URL, KEY_A],
            capture_output=True, text=True, check=True, timeout=60,
            env={k: v for k, v in __import__("os").environ.items()
                 if k != "LLMSWITCH_STATE_SECRET"},
        ).stdout.strip()
        for _ in range(2)
    ]  # fmt: skip
    store = open_store(REDIS_URL)
    try:
        assert runs[0] == runs[1] == store.key_id(KEY_A)
    finally:
        store.close()
