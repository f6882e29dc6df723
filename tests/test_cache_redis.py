"""The response cache on the real Redis (localhost:6379; each test under a key prefix
of its own): hits shared by two clients, one round trip per hit, compressed values,
TTL per entry, shared stats, invalidation; an outage is a miss, never an error."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from llmswitch import AsyncClient, Client
from llmswitch.cache import CacheSettings, ResponseCache
from llmswitch.cache.redis_backend import RedisBackend
from llmswitch.testing import FakeProvider

URL = "redis://localhost:6379/0"
HI = [{"role": "user", "content": "Hi"}]
USAGE = {"input_tokens": 1000, "output_tokens": 200}


def _redis_up() -> bool:
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _redis_up(), reason="needs Redis at localhost:6379")


@pytest.fixture
def prefix() -> Iterator[str]:
    p = f"test:cache:{uuid.uuid4().hex[:12]}:"
    yield p
    r = redis.Redis.from_url(URL)
    keys = list(r.scan_iter(match=p + "*"))
    if keys:
        r.delete(*keys)
    r.close()


def client_for(
    prefix: str, text: str = "Shared answer.", **settings: object
) -> tuple[FakeProvider, Client]:
    fake = FakeProvider("openai")
    fake.default_reply(text, usage=USAGE)
    cache = ResponseCache(CacheSettings(url=URL, prefix=prefix, **settings))  # type: ignore[arg-type]
    return fake, Client(providers=[fake], middleware=[cache], max_retries=0)


def test_two_clients_share_entries_and_counters(prefix: str) -> None:
    fake1, one = client_for(prefix)
    fake2, two = client_for(prefix, "another answer")
    first = one.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    second = two.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    assert (fake1.calls, fake2.calls) == (1, 0)
    assert second.cached and second.text == first.text == "Shared answer."
    stats = two.cache.stats()  # type: ignore[union-attr]
    assert (stats.hits, stats.misses) == (1, 0)  # this process
    shared = stats.shared
    assert shared is not None
    assert (shared["hits"], shared["misses"], shared["stores"], shared["entries"]) == (1, 1, 1, 1)
    assert shared["saved_nano"] == stats.saved_nano > 0 and shared["bytes"] > 0


def test_a_hit_is_one_round_trip(prefix: str) -> None:
    _, client = client_for(prefix)
    client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    backend = client.cache.backend  # type: ignore[union-attr]
    sent: list[object] = []
    real = backend._sync.connection_pool.get_connection

    def counting(*args: object, **kw: object) -> object:
        conn = real(*args, **kw)
        original = conn.send_packed_command

        def send(command: object, *a: object, **k: object) -> None:
            sent.append(command)
            original(command, *a, **k)

        conn.send_packed_command = send  # type: ignore[method-assign]
        return conn

    backend._sync.connection_pool.get_connection = counting  # type: ignore[method-assign]
    assert client.chat("openai/gpt-4o-mini", messages=HI, temperature=0).cached
    assert len(sent) == 1  # EVALSHA of the lookup script: read + count, one round trip


def test_big_values_are_compressed_and_streams_replay(prefix: str) -> None:
    long = " ".join(f"word{i}" for i in range(400))
    fake, client = client_for(prefix, long)
    with client.stream("openai/gpt-4o-mini", messages=HI, temperature=0) as s:
        first = list(s)
    with client.stream("openai/gpt-4o-mini", messages=HI, temperature=0) as s:
        again = list(s)
    assert again == first and s.response.cached and fake.calls == 1
    r = redis.Redis.from_url(URL)
    [key] = list(r.scan_iter(match=prefix + "e:*"))
    value = r.hget(key, "v")
    assert value is not None and value[:1] == b"z" and len(value) < len(long)
    r.close()


def test_ttl_per_entry_expires_in_redis(prefix: str) -> None:
    fake, client = client_for(prefix, ttl=30)
    client.chat("openai/gpt-4o-mini", messages=HI, temperature=0, cache={"ttl": 0.3})
    r = redis.Redis.from_url(URL)
    [key] = list(r.scan_iter(match=prefix + "e:*"))
    assert 0 < r.pttl(key) <= 300
    deadline = time.monotonic() + 10  # generous: a busy machine
    while r.exists(key) and time.monotonic() < deadline:
        time.sleep(0.05)
    r.close()
    assert not client.chat("openai/gpt-4o-mini", messages=HI, temperature=0).cached
    assert fake.calls == 2


def test_invalidate_and_clear_under_the_prefix_only(prefix: str) -> None:
    _, client = client_for(prefix)
    client.chat("openai/gpt-4o-mini", messages=HI, temperature=0, user="alice")
    client.chat("openai/gpt-4o-mini", messages=HI, temperature=0, user="bob")
    client.chat("openai/gpt-4o", messages=HI, temperature=0, user="bob")
    r = redis.Redis.from_url(URL)
    r.set(prefix + "unrelated", "1")
    cache = client.cache
    assert cache is not None
    assert cache.invalidate(user="alice") == 1
    assert cache.invalidate(model="openai/gpt-4o") == 1
    assert cache.clear() == 1
    assert r.get(prefix + "unrelated") == b"1"
    r.close()


async def test_async_hits_share_with_sync(prefix: str) -> None:
    fake, sync = client_for(prefix)
    sync.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    cache = ResponseCache(CacheSettings(url=URL, prefix=prefix))
    async with AsyncClient(providers=[fake], middleware=[cache], max_retries=0) as client:
        resp = await client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
        async with client.stream("openai/gpt-4o-mini", messages=HI, temperature=0) as s:
            events = [e async for e in s]
        assert resp.cached and s.response.cached and events[-1].kind == "end"
        assert (await cache.astats()).hits == 2
        await cache.backend.aclose()
    assert fake.calls == 1


def test_redis_down_is_a_miss_never_an_error(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeProvider("openai")
    fake.default_reply("still answering")
    cache = ResponseCache(CacheSettings(url="redis://127.0.0.1:1/0"))
    client = Client(providers=[fake], middleware=[cache], max_retries=0)
    with caplog.at_level(logging.WARNING, logger="llmswitch.cache"):
        for _ in range(3):
            resp = client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
            assert resp.text == "still answering" and not resp.cached
        with client.stream("openai/gpt-4o-mini", messages=HI, temperature=0) as s:
            assert "".join(s.text_stream) == "still answering"
    assert fake.calls == 4
    warnings = [r for r in caplog.records if "cache.unavailable" in r.getMessage()]
    assert len(warnings) == 1  # once per interval, not once per call
    assert isinstance(cache.backend, RedisBackend) and cache.backend.failures >= 4
    assert cache.stats().misses == 4  # stats() itself does not fail either


def test_llmswitch_status_shows_the_shared_cache(
    prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmswitch.cli import main

    _, client = client_for(prefix)
    for _ in range(3):
        client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
    path = tmp_path / "llmswitch.toml"
    path.write_text(f'[cache]\nurl = "{URL}"\nprefix = "{prefix}"\n')
    assert main(["status", "--config", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["cache"]
    assert (shown["hits"], shown["misses"], shown["entries"]) == (2, 1, 1)
    assert shown["hit_ratio"] == pytest.approx(2 / 3, abs=1e-3) and shown["saved_usd"] > 0
    assert main(["status", "--config", str(path)]) == 0
    table = capsys.readouterr().out
    assert "HIT RATIO" in table and "66.7%" in table
