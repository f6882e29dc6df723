"""Runnable example: retries, a circuit breaker, a rate limit and a middleware of your own.

    OPENAI_API_KEY=sk-... uv run python examples/with_middleware.py
    LLMSWITCH_MODEL=fake/echo uv run python examples/with_middleware.py     # no key needed

Every call, sync or async, chat or stream, passes through the same layers:

- ``Timer`` (below, yours): how long each call took and, for a stream, how long until
  its first event;
- ``RateLimiter``: at most two calls a minute per user (``user=``), refused at once here
  (``max_wait=0``) instead of queueing;
- ``CircuitBreaker``: stops calling a deployment that keeps failing (5xx, timeouts);
- ``Retry``: backs off and tries again on 429/5xx, waiting exactly the ``retry-after``
  the provider sent.

``examples/middleware_redaction.py`` shows the other way to write a layer: ``Hooks``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator

from llmswitch import (
    AsyncClient,
    ChatResponse,
    Client,
    ConfigurationError,
    LLMError,
    RateLimitExceeded,
)
from llmswitch.events import Event
from llmswitch.middleware import (
    Call,
    CircuitBreaker,
    Limit,
    Middleware,
    RateLimiter,
    Retry,
    RetryPolicy,
)
from llmswitch.middleware.base import (
    AsyncChatHandler,
    AsyncStreamHandler,
    ChatHandler,
    StreamHandler,
)

MODEL = os.environ.get("LLMSWITCH_MODEL", "openai/gpt-4o-mini")
QUESTION = [{"role": "user", "content": "Give me one tip for writing clear code."}]


def _ms(since: float) -> str:
    return f"{(time.perf_counter() - since) * 1000:.0f} ms"


class Timer(Middleware):
    """Report each call's duration. A middleware gets the call and ``next``, the rest of
    the onion, and returns what ``next`` returns; one method per entry point."""

    def chat(self, call: Call, next: ChatHandler) -> ChatResponse:
        start = time.perf_counter()
        try:
            return next(call)
        finally:
            print(f"[timer] chat {call.model}: {_ms(start)}")

    def stream(self, call: Call, next: StreamHandler) -> Iterator[Event]:
        start, first = time.perf_counter(), ""
        for event in next(call):  # the request goes out on the first next()
            if not first:
                first = _ms(start)
            yield event
        print(f"[timer] stream {call.model}: first event after {first}, done after {_ms(start)}")

    async def achat(self, call: Call, next: AsyncChatHandler) -> ChatResponse:
        start = time.perf_counter()
        try:
            return await next(call)
        finally:
            print(f"[timer] async chat {call.model}: {_ms(start)}")

    async def astream(self, call: Call, next: AsyncStreamHandler) -> AsyncIterator[Event]:
        start = time.perf_counter()
        async for event in next(call):
            yield event
        print(f"[timer] async stream {call.model}: {_ms(start)}")


def layers() -> tuple[list[Middleware], CircuitBreaker]:
    breaker = CircuitBreaker(min_calls=5, failure_rate=0.5, cooldown=30)
    limiter = RateLimiter([Limit("user", requests_per_minute=2)], max_wait=0)
    retry = Retry(RetryPolicy(attempts=3, initial=0.2, deadline=20))
    # Outermost first; the client keeps the built-in layers in their documented order.
    return [Timer(), limiter, breaker, retry], breaker


def run(client: Client, breaker: CircuitBreaker) -> None:
    print(client.chat(MODEL, messages=QUESTION, user="alice").text)
    with client.stream(MODEL, messages=QUESTION, user="alice") as stream:
        print("".join(stream.text_stream))
    try:  # alice's third call this minute: refused before anything is sent
        client.chat(MODEL, messages=QUESTION, user="alice")
    except RateLimitExceeded as exc:
        print(f"rate limited: {type(exc).__name__}, retry after {exc.retry_after:.0f} s")
    print(client.chat(MODEL, messages=QUESTION, user="bob").text)  # bob has his own allowance

    state = breaker.state(MODEL)  # per deployment: "<provider>/<model>"
    print(f"breaker {MODEL}: {state.state}, {state.failures} of {state.calls} calls failed")


async def run_async(middleware: list[Middleware]) -> None:
    # The same layer objects work for AsyncClient (a fresh limiter allowance: user carol).
    async with AsyncClient(middleware=middleware) as client:
        resp = await client.chat(MODEL, messages=QUESTION, user="carol")
        print(resp.text)


def main() -> int:
    # The layers log their decisions (retry.scheduled, ratelimit.rejected, breaker
    # transitions) through logging; the llmswitch logger is silent until you configure it.
    logging.basicConfig(level=logging.INFO, format="[log] %(name)s: %(message)s", stream=sys.stdout)
    middleware, breaker = layers()
    try:
        with Client(middleware=middleware) as client:
            run(client, breaker)
        asyncio.run(run_async(middleware))
    except ConfigurationError as exc:
        print(f"not configured: {exc}", file=sys.stderr)
        print("(LLMSWITCH_MODEL=fake/echo runs this example without a key)", file=sys.stderr)
        return 2
    except LLMError as exc:  # what the retries could not absorb
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
