"""Running the gateway in tests: in process (httpx over ASGI) or on a real loopback port.

- :func:`gateway_client`: an ``httpx.AsyncClient`` whose transport calls the app directly
  (no socket; responses are buffered, so not for disconnect or pacing tests).
- :func:`served`: the app under uvicorn (uvloop/httptools when installed) on a free
  loopback port, in a thread with its own event loop, yielding the base URL: for the
  official SDKs, agent CLIs and streaming tests. The lifespan runs, so the app's client
  is opened and closed (its ledger flushed) in that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from llmswitch.gateway import Gateway

__all__ = ["gateway_client", "served"]


def gateway_client(app: Gateway, *, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """An httpx client calling ``app`` in process (use ``async with``)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://gateway.test",
        headers=headers or {},
        timeout=30.0,
    )


@contextlib.contextmanager
def served(app: Gateway, **uvicorn_options: Any) -> Iterator[str]:
    """``app`` served on ``http://127.0.0.1:PORT`` until the block ends."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "on"}
    options.update(uvicorn_options)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # shown by the test, not lost in the thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="gateway-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if failure or not thread.is_alive():
            raise RuntimeError(f"the gateway did not start: {failure!r}")
        if time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start within 30 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
        if failure:
            raise failure[0]
