"""In-memory circuit-breaker cost per call (budget: < 20 µs per decision).

    uv run python bench/breaker_cost.py
    uv run python bench/breaker_cost.py redis://localhost:6379/15   # also via Redis

Measures the breaker's own work around a call whose provider answers instantly:
admission (store read) plus recording the outcome (rolling-window update), for a
closed breaker, and the fail-fast path of an open one.
"""

from __future__ import annotations

import contextlib
import sys
import time
from types import SimpleNamespace
from typing import Any

from llmswitch.errors import CircuitOpenError
from llmswitch.middleware import Call, CircuitBreaker

N = 200_000


def main() -> None:
    # The breaker reads only provider.id and request.model: stand-ins keep the
    # measurement to the breaker itself.
    call = Call(
        request=SimpleNamespace(model="m"),  # type: ignore[arg-type]
        provider=SimpleNamespace(id="fake"),  # type: ignore[arg-type]
        ctx=SimpleNamespace(),  # type: ignore[arg-type]
        model="fake/m",
    )
    response: Any = object()

    def answer(_: Call) -> Any:
        return response

    def bare() -> float:
        t = time.perf_counter()
        for _ in range(N):
            answer(call)
        return time.perf_counter() - t

    breaker = CircuitBreaker()
    t = time.perf_counter()
    for _ in range(N):
        breaker.chat(call, answer)
    closed = time.perf_counter() - t - bare()

    breaker.store.set("llmswitch:breaker:fake/m:state", repr(time.time() + 3600))
    t = time.perf_counter()
    for _ in range(N):
        with contextlib.suppress(CircuitOpenError):
            breaker.chat(call, answer)
    opened = time.perf_counter() - t

    print(f"closed breaker (admit + record outcome): {closed / N * 1e6:.2f} µs/call")
    print(f"open breaker (fail fast, raise):         {opened / N * 1e6:.2f} µs/call")

    if len(sys.argv) > 1:  # a Redis URL: closed-breaker calls, one round trip each way
        n = 5_000
        shared = CircuitBreaker(sys.argv[1], prefix=f"bench:{time.time()}:")
        t = time.perf_counter()
        for _ in range(n):
            shared.chat(call, answer)
        took = time.perf_counter() - t
        shared.store.delete(f"{shared.prefix}fake/m:window")
        print(f"closed breaker on Redis (2 round trips): {took / n * 1e6:.1f} µs/call")


if __name__ == "__main__":
    main()
