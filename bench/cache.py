"""The response cache: a repeated call with and without it, and what a hit and a miss cost.

    uv run python bench/cache.py
    uv run python bench/cache.py --redis redis://localhost:6379/15

1. The seed's benchmark: the same short chat 20 times against an upstream that takes
   200 ms (a ``FakeProvider`` with that latency), without the cache and with it.
2. A memory hit: ``client.chat`` answered from a ``memory://`` cache, the whole call
   (argument checks, the request, the key, the lookup, the response); budget < 30 µs.
3. A miss's added cost: the cache layer around a handler that answers at once, on a new
   request each time (key, lookup, the coalescing flight, storing the entry) minus the
   handler alone; budget < 10 µs.
4. With ``--redis``: a Redis hit (the whole call) and the commands it sends (by wrapping
   the client's ``execute_command``); budget: one round trip.

Budgets are checked; the script exits 1 when one is over.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from llmswitch import Client
from llmswitch.cache import CacheSettings, ResponseCache
from llmswitch.middleware import Call
from llmswitch.testing import FakeProvider

HI = [{"role": "user", "content": "What is the capital of France?"}]
MODEL = "openai/gpt-4o-mini"


def per_call(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def seed(latency: float = 0.2, repeats: int = 20) -> tuple[float, float]:
    """Seconds for ``repeats`` identical calls without and with the cache."""
    out = []
    for cached in (False, True):
        fake = FakeProvider("openai").default_reply("Paris.", latency=latency)
        middleware = [ResponseCache(CacheSettings())] if cached else []
        client = Client(providers=[fake], middleware=middleware, max_retries=0)
        t = time.perf_counter()
        for _ in range(repeats):
            client.chat(MODEL, messages=HI, temperature=0)
        out.append(time.perf_counter() - t)
    return out[0], out[1]


def memory_hit(n: int = 20_000) -> float:
    fake = FakeProvider("openai").default_reply("Paris.")
    client = Client(providers=[fake], middleware=[ResponseCache(CacheSettings())])
    client.chat(MODEL, messages=HI, temperature=0)
    return per_call(lambda: client.chat(MODEL, messages=HI, temperature=0), n)


def miss_added(n: int = 20_000) -> float:
    """µs the layer adds to a call it cannot answer (a new request each time)."""
    fake = FakeProvider("openai").default_reply("Paris.")
    client = Client(providers=[fake])
    response = client.chat(MODEL, messages=HI, temperature=0)
    calls = []
    for i in range(n * 6):
        messages = [{"role": "user", "content": f"What is the capital of France? #{i}"}]
        provider, request, ctx = client._core.request(MODEL, messages, temperature=0)
        calls.append(Call(request=request, provider=provider, ctx=ctx, model=MODEL))

    def answer(call: Call) -> Any:
        return response

    layer = ResponseCache(CacheSettings(max_entries=10 * n))
    it = iter(calls)
    bare = per_call(lambda: answer(next(it)), n)
    it = iter(calls)
    layer.chat(next(it), answer)
    with_layer = per_call(lambda: layer.chat(next(it), answer), n)
    return with_layer - bare


def redis_hit(url: str, n: int = 2_000) -> tuple[float, int]:
    prefix = f"bench:cache:{uuid.uuid4().hex[:8]}:"
    fake = FakeProvider("openai").default_reply("Paris.")
    cache = ResponseCache(CacheSettings(url=url, prefix=prefix))
    client = Client(providers=[fake], middleware=[cache])
    client.chat(MODEL, messages=HI, temperature=0)
    backend: Any = cache.backend
    sent: list[Any] = []
    real = backend._sync.execute_command

    def counting(*args: Any, **kw: Any) -> Any:
        sent.append(args[0])
        return real(*args, **kw)

    backend._sync.execute_command = counting
    client.chat(MODEL, messages=HI, temperature=0)
    commands = len(sent)
    backend._sync.execute_command = real
    took = per_call(lambda: client.chat(MODEL, messages=HI, temperature=0), n, repeats=3)
    cache.clear()
    return took, commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="also measure a Redis hit (redis://host:port/db)")
    args = parser.parse_args(argv)
    ok = True
    without, with_cache = seed()
    print(f"20 identical calls, 200 ms upstream: {without:.2f} s without the cache, "
          f"{with_cache:.2f} s with it ({without / with_cache:.1f}x)")  # fmt: skip
    hit = memory_hit() * 1e6
    print(f"memory hit, whole client.chat:        {hit:6.1f} µs   (budget < 30)")
    ok &= hit < 30
    miss = miss_added() * 1e6
    print(f"miss, added by the cache layer:       {miss:6.1f} µs   (budget < 10)")
    ok &= miss < 10
    if args.redis:
        took, commands = redis_hit(args.redis)
        print(f"redis hit, whole client.chat:         {took * 1e6:6.1f} µs   "
              f"{commands} command(s) (budget: 1 round trip)")  # fmt: skip
        ok &= commands == 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
