"""The call's total timeout covers its retries (issue 7 items 4 and 16): with retries on by
default, ``Client(timeout={"total": T})`` still ends near T with ``phase="total"``."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from llmswitch import AsyncClient, Client, LLMTimeoutError
from tests.test_transport_deadlines import CHAT, DRIP, RawServer, read_request

HI = [{"role": "user", "content": "hi"}]
MODEL = "openai/gpt-4o-mini"


def _unavailable() -> bytes:
    body = b'{"error": {"message": "busy", "type": "server_error"}}'
    return (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body) + body
    )


class Script:
    """Answers try ``n`` by ``plan[n]``: ``"503"`` at once, or ``"trickle"`` the body one
    byte every DRIP seconds; counts the requests it read."""

    def __init__(self, plan: list[str]) -> None:
        self.plan = plan
        self.requests = 0
        self._lock = threading.Lock()

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        with self._lock:
            n = self.requests
            self.requests += 1
        if self.plan[min(n, len(self.plan) - 1)] == "503":
            conn.sendall(_unavailable())
            return
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(CHAT)
        )
        for i in range(len(CHAT)):
            time.sleep(DRIP)
            conn.sendall(CHAT[i : i + 1])


@pytest.fixture
def serve() -> Iterator[Callable[[Script], RawServer]]:
    servers: list[RawServer] = []

    def make(script: Script) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _run(mode: str, url: str, total: float) -> None:
    env = {"OPENAI_API_KEY": "sk-retry-total-test-000", "OPENAI_BASE_URL": url + "/v1"}
    if mode == "sync":
        with Client(env=env, timeout={"total": total}) as client:  # default retries
            client.chat(MODEL, messages=HI)
        return

    async def run() -> None:
        async with AsyncClient(env=env, timeout={"total": total}) as client:
            await client.chat(MODEL, messages=HI)

    asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_total_timeout_is_not_retried_into_a_longer_call(
    serve: Callable[[Script], RawServer], mode: str
) -> None:
    script = Script(["trickle"])
    server = serve(script)
    start = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        _run(mode, server.url, 1.5)
    elapsed = time.monotonic() - start
    assert info.value.phase == "total"
    assert elapsed < 8, elapsed  # three tries of 1.5 s plus backoff would need > 4.5 s
    assert script.requests == 1  # nothing left of the total for another try


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_retry_gets_what_is_left_of_the_total(
    serve: Callable[[Script], RawServer], mode: str
) -> None:
    script = Script(["503", "trickle"])
    server = serve(script)
    start = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        _run(mode, server.url, 2.0)
    elapsed = time.monotonic() - start
    assert info.value.phase == "total"
    assert script.requests == 2  # the 503 was retried once, inside the total
    assert elapsed < 8, elapsed
