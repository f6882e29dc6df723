"""Per-call decision cost of the resilience layers (budget: < 20 µs each, in memory;
one Redis round trip per decision with a shared store).

    uv run python bench/middleware_cost.py
    uv run python bench/middleware_cost.py --redis redis://localhost:6379/15

Each layer wraps a no-op inner handler (it returns a canned response at once); the
figure is the layer's time per call minus the bare handler's. Measured: rate limiter
(one requests-per-minute limit: admit, then reconcile), circuit breaker (closed:
admit, then record the outcome), router (3 deployments, ``ordered`` and ``weighted``:
plan, pick, latency bookkeeping) and key rotation (pick a key from a pool of 3); and
``catalog.estimate_request``, the offline cost estimate the budget layer makes before
every call (a short chat on gpt-4o-mini, its model already looked up), timed on its own,
with the tokenizer count ``count_tokens`` makes for the same chat beside it. With
``--redis`` the limiter and breaker also run on a Redis store; the script counts the
commands each decision sends by wrapping the store's client ``execute_command``:
those sent before the inner handler runs (admission) and after it (the limiter's
reconcile, the breaker's outcome record), each budgeted at one round trip.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from llmswitch import Client
from llmswitch.config import Deployment, ModelGroup
from llmswitch.keys.pool import KeyPool, KeyRotation
from llmswitch.middleware import Call, CircuitBreaker, Limit, Middleware, RateLimiter, Router
from llmswitch.testing import FakeProvider

BUDGET_US = 20.0
HI = [{"role": "user", "content": "Hi"}]


def make_call(model: str = "fake/m") -> tuple[Call, Client]:
    """A real Call (request, provider, context) as the client builds it."""
    client = Client(providers=[FakeProvider().default_reply("ok")])
    provider, request, ctx = client._core.request(model, HI)
    return Call(request=request, provider=provider, ctx=ctx, model=model), client


def per_call(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    """Best of ``repeats`` runs, seconds per call (best: least disturbed by the OS)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def layer_cost(layer: Middleware, call: Call, next: Callable[[Call], Any], n: int) -> float:
    """µs per call the layer adds over calling ``next`` directly."""
    layer.chat(call, next)  # warm caches (key lookups, compiled plans)
    bare = per_call(lambda: next(call), n)
    wrapped = per_call(lambda: layer.chat(call, next), n)
    return (wrapped - bare) * 1e6


def estimate_costs(n: int) -> tuple[float, float]:
    """µs per ``estimate_request`` and per tokenizer count of a short gpt-4o-mini chat."""
    from llmswitch.catalog import estimate_request
    from llmswitch.catalog.tokens import count_request
    from llmswitch.messages import ChatRequest, Message

    request = ChatRequest(
        provider="openai", model="gpt-4o-mini", system="Answer in one line.", max_tokens=200,
        messages=(Message(role="user", content="Name three prime numbers and say why."),),
    )  # fmt: skip
    estimate_request(request)  # the catalog lookup is cached after the first call
    count_request(request)  # loads o200k_base
    return per_call(lambda: estimate_request(request), n) * 1e6, per_call(
        lambda: count_request(request), n // 4
    ) * 1e6


def router_for(strategy: str) -> tuple[Router, Call]:
    deployments = tuple(
        Deployment(model=f"fake/m{i}", id=f"fake/m{i}", weight=float(i + 1)) for i in range(3)
    )
    group = ModelGroup(name="smart", deployments=deployments, strategy=strategy)
    fake = FakeProvider()
    router = Router([group], provider=lambda _pid: fake)
    call, _ = make_call()
    return router, call.replace(model="smart")


class RoundTrips:
    """Counts commands sent through a redis-py client (scripts arrive as EVALSHA)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        original = client.execute_command

        def counted(*args: Any, **kw: Any) -> Any:
            self.count += 1
            return original(*args, **kw)

        client.execute_command = counted


def redis_rows(url: str, call: Call, answer: Callable[[Call], Any]) -> list[tuple[str, Any]]:
    prefix = f"bench:{time.time_ns()}:"
    n = 2_000
    rows: list[tuple[str, Any]] = []
    limiter = RateLimiter(
        [Limit("deployment", requests_per_minute=10**9)], store=url, prefix=prefix + "rl:"
    )
    breaker = CircuitBreaker(url, prefix=prefix + "cb:")
    try:
        for name, layer in (("rate limit (redis)", limiter), ("breaker, closed (redis)", breaker)):
            layer.chat(call, answer)  # loads the Lua scripts
            trips = RoundTrips(layer.store._sync)  # type: ignore[attr-defined]
            marks = [0, 0]  # commands sent before this call; admission commands in all

            def inner(c: Call, trips: RoundTrips = trips, marks: list[int] = marks) -> Any:
                marks[1] += trips.count - marks[0]
                return answer(c)

            t = time.perf_counter()
            for _ in range(n):
                marks[0] = trips.count
                layer.chat(call, inner)
            took = (time.perf_counter() - t) / n * 1e6
            admit, after = marks[1] / n, (trips.count - marks[1]) / n
            rows.append((name, (took, admit, after)))
    finally:
        for layer in (limiter, breaker):
            client = layer.store._sync  # type: ignore[attr-defined]
            keys = list(client.scan_iter(match=prefix + "*"))
            if keys:
                client.delete(*keys)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", metavar="URL", help="also measure on this Redis store")
    parser.add_argument("-n", type=int, default=20_000, help="calls per measurement")
    args = parser.parse_args(argv)

    call, client = make_call()
    response = client.chat("fake/m", HI)

    def answer(_: Call) -> Any:
        return response

    n = args.n
    bare = per_call(lambda: answer(call), n) * 1e6
    pool = KeyPool("fake", ["sk-bench-key-one", "sk-bench-key-two", "sk-bench-key-three"])
    memory: list[tuple[str, float]] = [
        (
            "rate limit, 1 rpm limit",
            layer_cost(
                RateLimiter([Limit("deployment", requests_per_minute=10**9)]), call, answer, n
            ),
        ),
        ("breaker, closed", layer_cost(CircuitBreaker(), call, answer, n)),
        ("router, 3 deployments, ordered", layer_cost(*router_for("ordered"), answer, n)),
        ("router, 3 deployments, weighted", layer_cost(*router_for("weighted"), answer, n)),
        (
            "key pick, pool of 3",
            layer_cost(KeyRotation(pool, bind=lambda provider, _secret: provider), call, answer, n),
        ),
    ]

    estimate_us, tokenizer_us = estimate_costs(n)
    memory.append(("cost estimate (estimate_request)", estimate_us))

    failed = False
    print(f"no-op handler, bare: {bare:.3f} µs/call ({n} calls, best of 5)\n")
    print(f"{'layer (in memory)':34} {'µs/call':>9}  budget < {BUDGET_US:g} µs")
    for name, us in memory:
        ok = us < BUDGET_US
        failed |= not ok
        print(f"{name:34} {us:9.2f}  {'PASS' if ok else 'FAIL'}")
    print(f"{'  (tokenizer count, same chat)':34} {tokenizer_us:9.2f}  not on the call path")

    if args.redis:
        try:
            rows = redis_rows(args.redis, call, answer)
        except Exception as exc:  # no server: say so, keep the in-memory verdict
            print(f"\nredis: unavailable ({type(exc).__name__}: {exc})")
            print('start one: redis-server --daemonize yes --port 6379 --save "" --appendonly no')
            return 1
        print(
            f"\n{'layer (redis)':26} {'µs/call':>8}  {'trips: admit':>12} {'after':>6}"
            "  budget: 1 trip per decision"
        )
        for name, (us, admit, after) in rows:
            ok = admit <= 1.0 and after <= 1.0
            failed |= not ok
            print(f"{name:26} {us:8.1f}  {admit:12.2f} {after:6.2f}  {'PASS' if ok else 'FAIL'}")
    client.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
