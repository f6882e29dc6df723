"""State-store scaffolding: the Redis the shared-state tests use (skipped when it is not
running), key-prefix cleanup, a settable clock, and runs across several processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from llmswitch.storage import MemoryStore, StateStore, open_store

REDIS_URL = "redis://localhost:6379/15"
START_REDIS = 'redis-server --daemonize yes --port 6379 --save "" --appendonly no'


def redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip(f"Redis is not running on localhost:6379; start it with: {START_REDIS}")


def drop_prefix(prefix: str) -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(match=f"{prefix}*"))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix of this test's own on the test Redis (skips without one); its keys
    are dropped afterwards."""
    redis_or_skip()
    prefix = f"test-{request.module.__name__.rsplit('.', 1)[-1]}:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        drop_prefix(prefix)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    store: StateStore
    prefix: str
    wait: Callable[[float], None]  # let TTLs elapse: fake clock in memory, real time in Redis

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    prefix = f"test-storage:{uuid.uuid4().hex}:"
    if request.param == "memory":
        clock = FakeClock()

        def advance(seconds: float) -> None:
            clock.now += seconds

        yield Backend(MemoryStore(clock=clock), prefix, advance)
        return
    redis_or_skip()
    store = open_store(REDIS_URL)
    try:
        yield Backend(store, prefix, time.sleep)
    finally:
        store.close()
        drop_prefix(prefix)


def run_together(argv: list[str], *, n: int = 2, timeout: float) -> list[Any]:
    """Start ``n`` Python processes on ``argv``; each prints ``ready``, then all are told
    ``go`` at once (so they really compete) and each prints one JSON result."""
    procs = [
        subprocess.Popen(
            [sys.executable, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, err
            outs.append(json.loads(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outs


class SuspendingStore(MemoryStore):
    """A memory store whose rate-limit operations await before answering, as Redis's
    do: not ``inline``, so the layers take their async forms (and the rate limiter's
    queue its loop lock)."""

    inline = False

    async def alog_acquire(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return self.log_acquire(*args, **kwargs)

    async def alog_adjust(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return self.log_adjust(*args, **kwargs)
