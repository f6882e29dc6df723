"""Soak: 10,000 async calls through real loopback HTTP with ~20% injected faults.

Runs in the default ``uv run pytest`` (about 10 s on 2 cores); select or skip it with
``-k soak``. Every call must end in a response or a typed error, every call is
accounted for, and no connection outlives the client.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter

from llmswitch import AsyncClient
from llmswitch.errors import (
    LLMError,
    LLMTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    TransportError,
)
from llmswitch.messages import ChatResponse
from llmswitch.middleware import Retry, RetryPolicy
from llmswitch.providers.runtime import Timeout
from tests.loopback import Loopback, Recorded, Reply
from tests.test_faults import assert_no_leaks, fixture, sockets

CALLS = 10_000
CONCURRENCY = 50
MODEL = "openai/gpt-4o-mini"
HI = [{"role": "user", "content": "Hi"}]
OK = fixture("openai", "chat_text.json")
# The faults a provider really sends, each a few percent of the traffic (~20% in all).
FAULTS = [
    (0.07, Reply(status=429, headers={"retry-after": "0"}, body=b'{"error":{"message":"slow"}}')),
    (0.07, Reply(status=503, body=b'{"error":{"message":"overloaded","type":"server_error"}}')),
    (0.05, Reply(body=OK, chunks=[OK], drop_after=0)),  # reset after the headers
    (0.01, Reply(body=OK, delay=2.0)),  # first byte after the client's total timeout
]
EXPECTED_ERRORS = (RateLimitError, ProviderUnavailableError, TransportError, LLMTimeoutError)


class FaultyUpstream:
    """Picks each reply from a seeded RNG: the same fault mix on every run."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[int] = Counter()

    def __call__(self, _: Recorded) -> Reply:
        with self._lock:
            draw = self._rng.random()
        for i, (share, reply) in enumerate(FAULTS):
            if draw < share:
                self.injected[i] += 1
                return reply
            draw -= share
        return Reply(body=OK)


def test_soak_10k_async_calls_with_faults_account_for_every_call(loopback: Loopback) -> None:
    upstream = FaultyUpstream(seed=4)
    loopback.route("POST", "/v1/chat/completions", handler=upstream)
    env = {"OPENAI_API_KEY": "sk-soak0123456789abcdef", "OPENAI_BASE_URL": loopback.url + "/v1"}
    retry = Retry(RetryPolicy(attempts=3, deadline=30.0), sleep=False)
    outcomes: Counter[str] = Counter()
    unexpected: list[BaseException] = []
    before = sockets()

    async def soak() -> None:
        gate = asyncio.Semaphore(CONCURRENCY)
        timeout = Timeout(connect=2.0, first_token=0.5, total=0.5)
        async with AsyncClient(env=env, timeout=timeout, middleware=[retry]) as client:

            async def one() -> None:
                async with gate:
                    try:
                        resp = await client.chat(MODEL, HI)
                        ok = isinstance(resp, ChatResponse) and resp.text.startswith("Hello")
                        outcomes["ok" if ok else "bad response"] += 1
                    except LLMError as exc:
                        outcomes[type(exc).__name__] += 1
                    except BaseException as exc:  # counted, then the test fails on it
                        unexpected.append(exc)

            await asyncio.wait_for(asyncio.gather(*(one() for _ in range(CALLS))), 60)

    start = time.monotonic()
    asyncio.run(soak())
    took = time.monotonic() - start

    print(
        f"\nsoak: {CALLS} calls in {took:.1f} s: {dict(outcomes)}, {len(loopback.requests)} requests"
    )
    assert unexpected == []
    assert sum(outcomes.values()) == CALLS, outcomes
    assert set(outcomes) <= {"ok", *(e.__name__ for e in EXPECTED_ERRORS)}, outcomes
    # Three tries at ~20% faults: well under 1% of calls may still fail.
    assert outcomes["ok"] >= CALLS * 0.98, outcomes
    assert len(loopback.requests) >= CALLS
    assert len(loopback.requests) == CALLS + len(retry.sleeps)  # a request per try
    assert all(upstream.injected[i] > 0 for i in range(len(FAULTS))), upstream.injected
    assert_no_leaks([loopback], before)
    assert took < 30, f"{CALLS} calls took {took:.1f} s"
