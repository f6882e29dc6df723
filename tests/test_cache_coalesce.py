"""Coalescing: identical concurrent misses share one upstream call — threads and tasks of
one process, and processes sharing a Redis (a lock; a holder killed with SIGKILL leaves
a lock that expires, and the waiter then calls upstream itself). Failures are never
shared as answers: after a failed leader a waiter leads."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from llmswitch import AsyncClient, Client
from llmswitch.cache import CacheSettings, ResponseCache
from llmswitch.errors import ProviderUnavailableError
from llmswitch.messages import ChatRequest
from llmswitch.testing import FakeProvider

URL = "redis://localhost:6379/0"
HI = [{"role": "user", "content": "Hi"}]


def _until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def test_ten_threads_one_upstream_call() -> None:
    gate = threading.Event()
    fake = FakeProvider("openai")

    def answer(request: ChatRequest) -> str:
        gate.wait(30)  # held until every thread is waiting on the leader
        return "the one answer"

    fake.respond_with(answer)
    cache = ResponseCache(CacheSettings())
    client = Client(providers=[fake], middleware=[cache], max_retries=0)
    results: list[object] = []

    def call() -> None:
        results.append(client.chat("openai/gpt-4o-mini", messages=HI, temperature=0))

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    _until(lambda: cache.stats().misses == 10)  # all ten looked and missed
    gate.set()
    for t in threads:
        t.join(30)
    assert fake.calls == 1 and len(results) == 10
    assert {r.text for r in results} == {"the one answer"}  # type: ignore[attr-defined]
    assert sum(not r.cached for r in results) == 1  # type: ignore[attr-defined]
    stats = cache.stats()
    assert (stats.coalesced, stats.hits) == (9, 0)


async def test_ten_tasks_one_upstream_call_streams_too() -> None:
    fake = FakeProvider("openai")
    fake.default_reply("streamed once", latency=0.5)
    cache = ResponseCache(CacheSettings())
    async with AsyncClient(providers=[fake], middleware=[cache], max_retries=0) as client:

        async def chat() -> str:
            return (await client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)).text

        async def stream() -> str:
            async with client.stream(
                "openai/gpt-4o-mini", messages=[{"role": "user", "content": "s"}], temperature=0
            ) as s:
                return "".join([t async for t in s.text_stream])

        texts = await asyncio.gather(*(chat() for _ in range(10)), *(stream() for _ in range(10)))
    assert set(texts) == {"streamed once"} and fake.calls == 2
    assert cache.stats().coalesced == 18


def test_threads_coalesce_in_process_while_redis_is_down() -> None:
    # The shared backend is unreachable: every read misses, yet the waiters of one
    # process still get the leader's answer (handed over in memory), not 5 calls.
    gate = threading.Event()
    fake = FakeProvider("openai")

    def answer(request: ChatRequest) -> str:
        gate.wait(30)
        return "the one answer"

    fake.respond_with(answer)
    cache = ResponseCache(CacheSettings(url="redis://127.0.0.1:1/0", lock_timeout=30))
    client = Client(providers=[fake], middleware=[cache], max_retries=0)
    results: list[object] = []

    def call() -> None:
        results.append(client.chat("openai/gpt-4o-mini", messages=HI, temperature=0))

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    _until(lambda: cache.stats().misses == 5)
    gate.set()
    for t in threads:
        t.join(30)
    assert fake.calls == 1 and len(results) == 5
    assert {r.text for r in results} == {"the one answer"}  # type: ignore[attr-defined]
    assert cache.stats().coalesced == 4


def test_a_failed_leader_is_not_shared_a_waiter_leads_next() -> None:
    gate = threading.Event()
    fake = FakeProvider("openai")
    calls = []

    def answer(request: ChatRequest) -> str:
        calls.append(1)
        if len(calls) == 1:
            gate.wait(30)
            raise ProviderUnavailableError("down", provider="openai")
        return "second try"

    fake.respond_with(answer)
    cache = ResponseCache(CacheSettings())
    client = Client(providers=[fake], middleware=[cache], max_retries=0)
    outcomes: list[object] = []

    def call() -> None:
        try:
            outcomes.append(client.chat("openai/gpt-4o-mini", messages=HI, temperature=0).text)
        except ProviderUnavailableError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    _until(lambda: cache.stats().misses == 5)
    gate.set()
    for t in threads:
        t.join(30)
    assert sum(isinstance(o, ProviderUnavailableError) for o in outcomes) == 1
    assert outcomes.count("second try") == 4 and len(calls) == 2


# ---------------------------------------------------------------------- across processes


def _redis_up() -> bool:
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


needs_redis = pytest.mark.skipif(not _redis_up(), reason="needs Redis at localhost:6379")

# argv: prefix, start at (epoch s), upstream latency (s), lock_timeout (s)
WORKER = """
import sys, time
from llmswitch import Client
from llmswitch.cache import CacheSettings, ResponseCache
from llmswitch.testing import FakeProvider
prefix, start, latency, lock = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
fake = FakeProvider("openai")
fake.default_reply("from a worker", latency=latency)
cache = ResponseCache(CacheSettings(url="redis://localhost:6379/0", prefix=prefix, lock_timeout=lock))
client = Client(providers=[fake], middleware=[cache], max_retries=0)
time.sleep(max(0.0, start - time.time()))
print("calling", flush=True)
resp = client.chat("openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], temperature=0)
print(fake.calls, resp.cached, resp.text, flush=True)
"""


@pytest.fixture
def prefix() -> Iterator[str]:
    p = f"test:coalesce:{uuid.uuid4().hex[:12]}:"
    yield p
    r = redis.Redis.from_url(URL)
    keys = list(r.scan_iter(match=p + "*"))
    if keys:
        r.delete(*keys)
    r.close()


def _worker(prefix: str, start: float, latency: float, lock: float) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", WORKER, prefix, str(start), str(latency), str(lock)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@needs_redis
def test_two_processes_one_upstream_call(prefix: str) -> None:
    start = time.time() + 4  # both are imported and waiting by then, even on a busy machine
    procs = [_worker(prefix, start, 2.0, 30) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    lines = [o[0].splitlines()[-1].split(" ", 2) for o in outs]
    assert sorted(int(calls) for calls, _, _ in lines) == [0, 1]
    assert sorted(cached for _, cached, _ in lines) == ["False", "True"]
    assert {text for _, _, text in lines} == {"from a worker"}


@needs_redis
def test_a_killed_lock_holder_lets_the_waiter_proceed(prefix: str) -> None:
    holder = _worker(prefix, 0, 120.0, 1.5)  # takes the lock, then hangs upstream
    r = redis.Redis.from_url(URL)
    try:
        _until(lambda: any(r.scan_iter(match=prefix + "l:*")), timeout=30)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        fake = FakeProvider("openai")
        fake.default_reply("the waiter's own")
        cache = ResponseCache(CacheSettings(url=URL, prefix=prefix, lock_timeout=1.5))
        client = Client(providers=[fake], middleware=[cache], max_retries=0)
        began = time.monotonic()
        resp = client.chat("openai/gpt-4o-mini", messages=HI, temperature=0)
        waited = time.monotonic() - began
        assert resp.text == "the waiter's own" and fake.calls == 1
        assert waited < 20  # the dead holder's lock expired (1.5 s), then it went upstream
        assert not any(r.scan_iter(match=prefix + "l:*"))  # and released its own
    finally:
        if holder.poll() is None:
            holder.kill()
        r.close()
