"""A loopback HTTP/1.1 server that replays exact provider bytes.

Runs its own event loop in a thread, so sync and async tests both use it. Each
reply can be cut into chunks sent as separate writes (chunked transfer encoding),
delayed, stalled, or dropped mid-body, to exercise parsers and timeouts the way a
real network does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.streams import split_awkward

EVENTSTREAM = "application/vnd.amazon.eventstream"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    chunks: list[bytes] | None = None  # send as chunked transfer encoding, one write each
    delay: float = 0.0  # before the status line
    chunk_delay: float = 0.0  # between chunks
    hang_after: int | None = None  # stop sending (keep the socket open) after N chunks
    drop_after: int | None = None  # close the socket after N chunks (no terminating chunk)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def stream_reply(content_type: str, data: bytes, *, split: bool = True, **kw: Any) -> Reply:
    """``data`` as a chunked stream body, cut awkwardly unless ``split=False``."""
    return Reply(content_type=content_type, chunks=split_awkward(data) if split else [data], **kw)


def sse_reply(data: bytes, *, split: bool = True, **kw: Any) -> Reply:
    return stream_reply("text/event-stream", data, split=split, **kw)


def ndjson_reply(data: bytes, *, split: bool = True, **kw: Any) -> Reply:
    return stream_reply("application/x-ndjson", data, split=split, **kw)


def eventstream_reply(data: bytes, *, split: bool = True, **kw: Any) -> Reply:
    return stream_reply(EVENTSTREAM, data, split=split, **kw)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Loopback:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self._handlers: dict[tuple[str, str], Callable[[Recorded], Reply]] = {}
        self.requests: list[Recorded] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections_opened = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)
        assert self._server is not None
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ control

    def route(
        self,
        method: str,
        path: str,
        *replies: Reply | bytes,
        handler: Callable[[Recorded], Reply] | None = None,
    ) -> None:
        """Queue replies for ``method path``; the last one repeats when the queue runs dry.

        ``handler`` instead builds each reply from the request it answers (it wins over
        queued replies): for concurrent requests whose arrival order is not fixed."""
        if handler is not None:
            self._handlers[(method.upper(), path)] = handler
        q = self._routes[(method.upper(), path)]
        for r in replies:
            q.append(Reply(body=r) if isinstance(r, bytes) else r)

    @property
    def open_connections(self) -> int:
        return sum(1 for w in list(self._writers) if not w.is_closing())

    def close(self) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for w in list(self._writers):
                w.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # ------------------------------------------------------------------ server

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def _next_reply(self, method: str, path: str, recorded: Recorded) -> Reply:
        handler = self._handlers.get((method, path))
        if handler is not None:
            try:
                return handler(recorded)
            except Exception as exc:  # a broken test handler shows up as a 500, not a hang
                return Reply(status=500, body=repr(exc).encode())
        q = self._routes.get((method, path))
        if not q:
            return Reply(status=404, body=b'{"error":{"message":"no route","type":"not_found"}}')
        return q.popleft() if len(q) > 1 else q[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.connections_opened += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                url = urlsplit(target)
                recorded = Recorded(method, url.path, parse_qs(url.query), headers, body)
                self.requests.append(recorded)
                reply = self._next_reply(method, url.path, recorded)
                if not await self._send(reader, writer, reply):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    async def _hang(reader: asyncio.StreamReader) -> bool:
        """Send nothing more until the client gives up and closes its side."""
        while await reader.read(1024):
            pass
        return False

    async def _send(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply
    ) -> bool:
        if reply.delay:
            try:  # a client that gives up while we "think" closes its side: notice it
                await asyncio.wait_for(self._hang(reader), reply.delay)
                return False
            except TimeoutError:
                pass
        head = [f"HTTP/1.1 {reply.status} X", f"content-type: {reply.content_type}"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if reply.chunks is None:
            head.append(f"content-length: {len(reply.body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
            await writer.drain()
            return True
        head.append("transfer-encoding: chunked")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        for i, chunk in enumerate(reply.chunks):
            if reply.hang_after is not None and i >= reply.hang_after:
                return await self._hang(reader)
            if reply.drop_after is not None and i >= reply.drop_after:
                writer.transport.abort()
                return False
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        if reply.hang_after is not None and reply.hang_after >= len(reply.chunks):
            return await self._hang(reader)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
