"""A server-sent-event response written as its chunks come (:class:`StreamResponse`),
and :func:`first_then`, which lets a handler fail with an HTTP error before it starts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from .._log import get_logger
from ._errors import classify

__all__ = ["StreamResponse", "first_then"]

log = get_logger("llmswitch.gateway")
T = TypeVar("T")

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


_STREAM_HEADERS = ((b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"))


class StreamResponse:
    """A server-sent-event stream, written chunk by chunk as ``chunks`` yields them.

    While it runs, a watcher waits for the client's disconnect and cancels the pump
    (which closes ``chunks``, so the library stream inside it closes and the upstream
    call is cancelled); a heartbeat writes ``heartbeat`` after ``heartbeat_seconds``
    without a chunk (proxies and SDKs drop idle connections). An exception from
    ``chunks`` becomes ``on_error(exc)`` (the format's error event) and ends the
    stream: the status line has been sent already. Three tasks per stream, none per
    chunk."""

    __slots__ = ("chunks", "content_type", "headers", "heartbeat", "on_error", "status")

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        status: int = 200,
        *,
        content_type: str = "text/event-stream",
        headers: Sequence[tuple[str, str]] = (),
        heartbeat: bytes | None = b": keep-alive\n\n",
        on_error: Callable[[BaseException], bytes] | None = None,
    ) -> None:
        self.chunks = chunks
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self.heartbeat = heartbeat
        self.on_error = on_error

    async def send(
        self, send: Send, request_id: str, receive: Receive, heartbeat_seconds: float
    ) -> int:
        raw = [
            (b"content-type", self.content_type.encode("latin-1")),
            (b"x-request-id", request_id.encode("latin-1")),
            *_STREAM_HEADERS,
        ]
        raw.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers)
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        state = _Pumped()
        pump = asyncio.ensure_future(self._pump(send, state))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        beat = (
            asyncio.ensure_future(self._beat(send, state, heartbeat_seconds))
            if self.heartbeat is not None and heartbeat_seconds > 0
            else None
        )
        try:
            await asyncio.wait((pump, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if beat is not None:
                beat.cancel()
            if not pump.done():  # the client left (or this task was cancelled): stop it
                pump.cancel()
                state.disconnected = True
            watcher.cancel()
            # OSError: the client went away while a chunk was written (uvicorn's
            # ClientDisconnected is one): nothing is left to tell it.
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await pump
        return state.sent

    async def _pump(self, send: Send, state: _Pumped) -> None:
        chunks = self.chunks
        try:
            async for chunk in chunks:
                state.last = time.monotonic()
                state.sent += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except asyncio.CancelledError:
            raise
        except OSError:
            raise
        except Exception as exc:
            log.warning("gateway: a stream failed after it started: %s", classify(exc).message)
            if self.on_error is not None:
                tail = self.on_error(exc)
                state.sent += len(tail)
                await send({"type": "http.response.body", "body": tail, "more_body": True})
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _beat(self, send: Send, state: _Pumped, every: float) -> None:
        heartbeat = self.heartbeat
        assert heartbeat is not None
        while True:
            wait = every - (time.monotonic() - state.last)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            state.last = time.monotonic()
            await send({"type": "http.response.body", "body": heartbeat, "more_body": True})


class _Pumped:
    __slots__ = ("disconnected", "last", "sent")

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.sent = 0
        self.disconnected = False


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def first_then(events: AsyncIterator[T]) -> tuple[T | None, AsyncIterator[T]]:
    """The first item of ``events`` (its errors raise here, so they become an HTTP error
    response rather than a 200 stream that fails) and an iterator of the rest."""
    iterator = aiter(events)
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        return None, iterator
    return first, iterator
