"""Per-call cost of the budget layer (budget: < 20 µs in memory; one Redis round trip
per decision with a shared store).

    uv run python bench/budgets.py
    uv run python bench/budgets.py --redis redis://localhost:6379/15

The layer wraps a no-op inner handler (a canned priced response, at once) for a call
that touches three budgets (global, user, team): the figure is the layer's time per
call minus the bare handler's, i.e. matching the budgets, estimating the request's
cost, reserving on all three atomically, and settling to the real cost (thresholds
included). With ``--redis`` the same layer runs on Redis; the script counts the
commands sent by wrapping the Redis client's ``execute_command``: those before the
inner handler runs (the admission) and after it (the settlement), each budgeted at one
round trip (one EVALSHA). Best of 5 runs.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable
from typing import Any

from middleware_cost import per_call  # bench/ is on sys.path when run as a script

from llmswitch import Client
from llmswitch.catalog import estimate_request
from llmswitch.messages import ChatResponse, Usage
from llmswitch.middleware import Call, Limit, RateLimiter
from llmswitch.testing import FakeProvider
from llmswitch.usage import tags
from llmswitch.usage.budgets import Budget
from llmswitch.usage.budgets_layer import BudgetLayer

BUDGET_US = 20.0
HI = [{"role": "user", "content": "Hi"}]
BUDGETS = [
    Budget(scope="global", limit_usd=1_000_000),
    Budget(scope="user:alice", limit_usd=1_000_000),
    Budget(scope="team:ml", limit_usd=1_000_000),
]


def make_call() -> tuple[Call, Client]:
    client = Client(providers=[FakeProvider("openai").default_reply("ok")])
    provider, request, ctx = client._core.request(
        "openai/gpt-4o-mini", HI, max_tokens=100, user="alice"
    )
    return Call(request=request, provider=provider, ctx=ctx, model="openai/gpt-4o-mini"), client


ANSWER = ChatResponse(
    id="r", model="gpt-4o-mini", provider="openai", text="ok",
    usage=Usage(input_tokens=5, output_tokens=100, total_tokens=105), cost=6.075e-05,
)  # fmt: skip


def answer(call: Call) -> ChatResponse:
    return ANSWER


def layer_cost(layer: BudgetLayer, call: Call, n: int) -> float:
    """µs per call the layer adds over calling the inner handler directly."""
    layer.chat(call, answer)  # warm: period slots, the catalog, script SHAs
    bare = per_call(lambda: answer(call), n)
    wrapped = per_call(lambda: layer.chat(call, answer), n)
    return (wrapped - bare) * 1e6


def count_commands(layer: BudgetLayer, call: Call) -> tuple[int, int]:
    """Redis commands sent (admission, settlement) by one call."""
    client: Any = layer.backend._sync  # type: ignore[union-attr]
    sent: list[str] = []
    original: Callable[..., Any] = client.execute_command

    def counting(*args: Any, **kw: Any) -> Any:
        sent.append(str(args[0]))
        return original(*args, **kw)

    client.execute_command = counting
    before: list[int] = []

    def inner(c: Call) -> ChatResponse:
        before.append(len(sent))
        return ANSWER

    try:
        layer.chat(call, inner)
    finally:
        client.execute_command = original
    return before[0], len(sent) - before[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="also measure on this Redis URL")
    parser.add_argument("-n", type=int, default=20_000, help="calls per run")
    args = parser.parse_args()
    call, client = make_call()
    ok = True
    with tags(team="ml"):
        memory = BudgetLayer(BUDGETS)
        us = layer_cost(memory, call, args.n)
        ok = us < BUDGET_US
        print(f"{'budget layer, memory (3 budgets)':40s} {us:8.2f} us   {'ok' if ok else 'OVER'}")
        # For scale on a busy machine: the cost estimate the layer makes on every call
        # (catalog.estimate_request), and the rate limiter (one limit) in the same run.
        estimate = per_call(lambda: estimate_request(call.request), args.n) * 1e6
        limiter = RateLimiter([Limit("deployment", requests_per_minute=10**9)], max_wait=0)
        limiter.chat(call, answer)
        rl = (
            per_call(lambda: limiter.chat(call, answer), args.n)
            - per_call(lambda: answer(call), args.n)
        ) * 1e6
        print(f"{'  of which estimate_request':40s} {estimate:8.2f} us")
        print(f"{'  (rate limiter, 1 limit, same run)':40s} {rl:8.2f} us")
        if args.redis:
            prefix = f"bench-budgets:{uuid.uuid4().hex}:"
            shared = BudgetLayer(BUDGETS, state=args.redis, prefix=prefix)
            us = layer_cost(shared, call, max(args.n // 20, 200))
            admit, settle = count_commands(shared, call)
            one_trip = admit == 1 and settle == 1
            ok = ok and one_trip
            print(
                f"{'budget layer, Redis (3 budgets)':40s} {us:8.2f} us   (local Redis round trips)"
            )
            print(f"{'Redis commands: admission, settlement':40s} {admit}, {settle}   "
                  f"{'ok' if one_trip else 'OVER'}")  # fmt: skip
            import redis

            r = redis.Redis.from_url(args.redis)
            keys = list(r.scan_iter(match=f"{prefix}*"))
            if keys:
                r.delete(*keys)
    client.close()
    print(f"budget: < {BUDGET_US} us in memory; one round trip per decision with Redis")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
