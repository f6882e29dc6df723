"""Effects on an inline store (``memory://``, whose async methods never suspend) run on
the async path without a coroutine each, and the rate limiter's async queue then takes
no loop lock; a store whose async methods do await keeps both. Either way the limits
behave the same: exact admissions under concurrency (the queue's priority order and
wait deadline on both kinds of store: tests/test_ratelimit.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmswitch import AsyncClient
from llmswitch.errors import RateLimitExceeded
from llmswitch.middleware import CircuitBreaker, Limit, RateLimiter
from llmswitch.middleware._drive import store_op
from llmswitch.storage import MemoryStore
from llmswitch.testing import FakeProvider
from tests.support.state import SuspendingStore as Suspending

HI = [{"role": "user", "content": "hi"}]


class InlineSpy(MemoryStore):
    """A memory store whose async forms must not be used."""

    async def alog_acquire(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an inline store's async form was awaited")

    async def arecord_outcome(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an inline store's async form was awaited")


def test_store_op_is_inline_by_the_class_not_a_proxy() -> None:
    class Proxy:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    assert store_op(MemoryStore(), "get", "k").now
    assert not store_op(Suspending(), "get", "k").now
    assert not store_op(Proxy(MemoryStore()), "get", "k").now  # may override an async form


@pytest.mark.parametrize("store", [InlineSpy, Suspending])
async def test_concurrent_calls_are_admitted_exactly(store: type[MemoryStore]) -> None:
    limiter = RateLimiter([Limit("provider", requests_per_minute=5)], store=store(), max_wait=0)
    fake = FakeProvider(default="ok")
    breaker = CircuitBreaker(store=store())
    async with AsyncClient(providers=[fake], middleware=[breaker, limiter]) as client:
        results = await asyncio.gather(
            *(client.chat("fake/m", HI) for _ in range(30)), return_exceptions=True
        )
    refused = [r for r in results if isinstance(r, RateLimitExceeded)]
    assert len(refused) == 25 and len(fake.requests) == 5
    assert all(r.retry_after is not None and r.retry_after > 0 for r in refused)
