"""Where a stream's time goes, without the network: per format, the cost of the same
canned body through each stage of the llmswitch path, against the orjson floor's own
framing and decoding.

    uv run python bench/stages.py                  # every format
    uv run python bench/stages.py openai ollama    # some

Columns (microseconds per 200-chunk stream, best of 15 rounds of CPU time, so other
work on the machine moves them less than the loopback bench):
``floor`` split/frame by hand + ``orjson.loads`` (the floor-orjson case minus HTTP);
``parse`` the adapter's stream parser, ``feed`` of the whole body + ``close``;
``+acc`` the same folded into an Accumulator; ``provider`` ``HttpProvider.astream`` over
a transport that hands over the body in one read; ``client`` ``AsyncClient.stream``
iterated to the end over that transport. The differences between columns are each
layer's cost; the loopback bench adds the HTTP request on top of ``client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import canned as canned_mod
import cases as C
import orjson


def floor(fmt: str, body: bytes) -> int:
    if C.FRAMING[fmt] == "sse":
        n = 0
        for line in body.split(b"\n"):
            if line[:6] == b"data: " and line != b"data: [DONE]":
                orjson.loads(line[6:])
                n += 1
        return n
    return C._FEEDS[C.FRAMING[fmt]](body, orjson.loads, None)[0]


class _Response:
    status = 200
    headers: dict[str, str] = {}

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def _one(self) -> AsyncIterator[bytes]:
        yield self.body

    def chunks(self) -> AsyncIterator[bytes]:
        return self._one()


class _Transport:
    """Hands over the canned body in one read, as nginx does on the loopback."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    @contextlib.asynccontextmanager
    async def stream(self, request: Any, timeout: Any) -> AsyncIterator[_Response]:
        yield _Response(self.body)


def best(f: Callable[[], Any], n: int = 300, rounds: int = 15) -> float:
    out = []
    for _ in range(rounds):
        gc.collect()
        t = time.process_time_ns()
        for _ in range(n):
            f()
        out.append((time.process_time_ns() - t) / n / 1e3)
    return min(out)


def abest(loop: asyncio.AbstractEventLoop, f: Callable[[], Awaitable[Any]], n: int = 300) -> float:
    async def run() -> float:
        t = time.process_time_ns()
        for _ in range(n):
            await f()
        return (time.process_time_ns() - t) / n / 1e3

    out = []
    for _ in range(15):
        gc.collect()
        out.append(loop.run_until_complete(run()))
    return min(out)


def measure(loop: asyncio.AbstractEventLoop, fmt: str, body: bytes, text: str) -> str:
    """One format's row."""
    import llmswitch
    from llmswitch.events import Accumulator

    g = C.Group("stages", "stages", fmt, True, "http://127.0.0.1:9", "-", text)
    with C.provider_env(g):
        client = llmswitch.AsyncClient()
        client._core.transport = _Transport(body)  # before the first call builds a context
        model = C._model(g)
        provider, request, ctx = client._core.request(model, C.MESSAGES, max_tokens=C.MAX_TOKENS)
        adapter = provider.adapter  # type: ignore[attr-defined]

        def parse() -> list[Any]:
            p = adapter.stream_parser(request)
            return [*p.feed(body), *p.close()]

        def parse_acc() -> None:
            acc = Accumulator(provider.id, request.model)
            for e in parse():
                acc.add(e)

        async def through_provider() -> None:
            async for _ in provider.astream(request, ctx):
                pass

        async def through_client() -> None:
            async with client.stream(model, messages=C.MESSAGES, max_tokens=C.MAX_TOKENS) as s:
                async for _ in s:
                    pass

        events = len(parse())
        cells = (
            best(lambda: floor(fmt, body)),
            best(parse),
            best(parse_acc),
            abest(loop, through_provider),
            abest(loop, through_client),
        )
        loop.run_until_complete(client.aclose())
    return f"{fmt:<10} {events:>6} " + " ".join(f"{v:8.1f}" for v in cells)


def main(fmts: list[str]) -> int:
    can = canned_mod.build()
    bodies = {
        "openai": can.openai_sse,
        "anthropic": can.anthropic_sse,
        "gemini": can.gemini_sse,
        "bedrock": can.bedrock_eventstream,
        "ollama": can.ollama_ndjson,
    }
    loop = asyncio.new_event_loop()
    print(f"{'format':<10} {'events':>6} {'floor':>8} {'parse':>8} {'+acc':>8} "
          f"{'provider':>8} {'client':>8}   (us per stream)")  # fmt: skip
    for fmt in fmts or list(bodies):
        print(measure(loop, fmt, bodies[fmt], can.text(fmt)), flush=True)
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
