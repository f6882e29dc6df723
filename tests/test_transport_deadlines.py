"""The total timeout holds against trickling servers on both clients (issue 7 item 4),
redirects are never followed (item 13), and network failures read the same, short,
on both clients (item 18)."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llmswitch import AsyncClient, Client, LLMError, LLMTimeoutError, ProviderError, TransportError
from tests.support.loopback import Loopback, Reply, closed_port

HI = [{"role": "user", "content": "hi"}]
MODEL = "openai/gpt-4o-mini"
CHAT = json.dumps(
    {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
     "choices": [{"index": 0, "message": {"role": "assistant", "content": "a" * 200},
                  "finish_reason": "stop"}]}
).encode()  # fmt: skip
FIRST = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}\n\n'
REST = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"'
    + b"b" * 200
    + b'"},"finish_reason":null}]}\n\n'
)
DRIP = 0.2  # seconds between trickled bytes: REST alone would take 45 s


class RawServer:
    """A loopback TCP server running ``handler(conn)`` in a thread per connection."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stop = threading.Event()
        self._handler = handler
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self._handler(conn)
        except OSError:
            pass  # the client gave up
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self._sock.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            while len(body) < int(line.split(b":")[1]):
                body += conn.recv(65536)
    return head


@pytest.fixture
def raw() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def make(handler: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _env(url: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-deadline-test-key-000", "OPENAI_BASE_URL": url + "/v1"}


def _call(mode: str, url: str, *, stream: bool, timeout: Any = None) -> list[object]:
    """Run one chat or stream call on the sync or async client; return the events seen.
    Retries are off: each test is about one attempt."""
    seen: list[object] = []
    if mode == "sync":
        with Client(env=_env(url), timeout=timeout, max_retries=0) as client:
            if stream:
                with client.stream(MODEL, messages=HI) as s:
                    seen.extend(s)
            else:
                client.chat(MODEL, messages=HI)
        return seen

    async def run() -> None:
        async with AsyncClient(env=_env(url), timeout=timeout, max_retries=0) as client:
            if stream:
                async with client.stream(MODEL, messages=HI) as s:
                    async for e in s:
                        seen.append(e)
            else:
                await client.chat(MODEL, messages=HI)

    asyncio.run(run())
    return seen


# ------------------------------------------------------------------ trickling bodies


def _trickler(framing: str, body: bytes, prefix: bytes = b"") -> Callable[[socket.socket], None]:
    """Answer 200, send ``prefix`` at once, then ``body`` one byte every DRIP seconds:
    with Content-Length, inside one HTTP chunk, or until the connection closes."""

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        ctype = b"text/event-stream" if prefix else b"application/json"
        head = b"HTTP/1.1 200 OK\r\ncontent-type: " + ctype + b"\r\n"
        size = len(prefix) + len(body)
        if framing == "length":
            head += b"content-length: %d\r\n\r\n" % size
        elif framing == "chunk":
            head += b"transfer-encoding: chunked\r\n\r\n%x\r\n" % size
        else:
            head += b"connection: close\r\n\r\n"
        conn.sendall(head + prefix)
        for i in range(len(body)):
            time.sleep(DRIP)
            conn.sendall(body[i : i + 1])

    return handler


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("framing", "stream"),
    [("length", False), ("chunk", True), ("close", True)],
    ids=["chat-content-length", "stream-one-chunk", "stream-no-length"],
)
def test_total_timeout_stops_a_trickling_body(
    raw: Callable[..., RawServer], mode: str, framing: str, stream: bool
) -> None:
    server = raw(_trickler(framing, REST if stream else CHAT, FIRST if stream else b""))
    start = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        seen = _call(mode, server.url, stream=stream, timeout={"total": 1.5})
        pytest.fail(f"no timeout ({len(seen)} events)")
    elapsed = time.monotonic() - start
    assert info.value.phase == "total"
    assert 1.0 < elapsed < 8, elapsed
    if stream:  # what arrived before the deadline is kept
        assert info.value.partial is not None and info.value.partial.text == "hi"


# ------------------------------------------------------------------ redirects


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_redirects_to_another_origin_are_not_followed(
    loopback: Loopback, status: int, stream: bool
) -> None:
    other = Loopback()  # another port: another origin
    try:
        other.route("POST", "/v1/chat/completions", CHAT)
        location = other.url + "/v1/chat/completions"
        loopback.route(
            "POST", "/v1/chat/completions", Reply(status=status, headers={"location": location})
        )
        errors: dict[str, LLMError] = {}
        for mode in ("sync", "async"):
            with pytest.raises(ProviderError) as info:
                _call(mode, loopback.url, stream=stream)
            errors[mode] = info.value
        assert other.requests == []  # no key, no prompt
        assert len(loopback.requests) == 2
        assert type(errors["sync"]) is type(errors["async"])
        assert str(errors["sync"]) == str(errors["async"])
        assert errors["async"].status_code == status  # type: ignore[attr-defined]
    finally:
        other.close()


# ------------------------------------------------------------------ network failures


def _both(url: str, stream: bool = False) -> tuple[TransportError, TransportError]:
    out = []
    for mode in ("sync", "async"):
        with pytest.raises(TransportError) as info:
            _call(mode, url, stream=stream)
        out.append(info.value)
    return out[0], out[1]


def test_connection_refused_reads_the_same_on_both_clients() -> None:
    port = closed_port()
    sync, async_ = _both(f"http://127.0.0.1:{port}")
    assert str(sync) == str(async_)
    assert (
        str(sync) == f"[openai/gpt-4o-mini] cannot connect to 127.0.0.1:{port} (connection refused)"
    )
    assert sync.retryable


def _reset(conn: socket.socket) -> None:
    read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _hang_up(conn: socket.socket) -> None:
    read_request(conn)


def _half_body(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"
    )


def _not_tls(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
    time.sleep(0.2)


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (_reset, "connection to 127.0.0.1:{port} lost (connection reset)"),
        (_hang_up, "connection to 127.0.0.1:{port} lost (closed by the server)"),
        (_half_body, "connection to 127.0.0.1:{port} lost (closed by the server)"),
    ],
    ids=["reset", "closed-before-answer", "closed-mid-body"],
)
def test_dropped_connections_read_the_same_on_both_clients(
    raw: Callable[..., RawServer], handler: Callable[[socket.socket], None], expected: str
) -> None:
    server = raw(handler)
    sync, async_ = _both(server.url)
    assert str(sync) == str(async_) == "[openai/gpt-4o-mini] " + expected.format(port=server.port)


def test_tls_failure_reads_the_same_on_both_clients(raw: Callable[..., RawServer]) -> None:
    server = raw(_not_tls)
    sync, async_ = _both(f"https://127.0.0.1:{server.port}/secret?key=sk-query-secret-0000")
    assert str(sync) == str(async_)
    assert str(sync).startswith(
        f"[openai/gpt-4o-mini] cannot connect to 127.0.0.1:{server.port} (TLS"
    )
    assert "secret" not in str(sync) and "\n" not in str(sync)


def test_stream_dropped_mid_body_reads_the_same_on_both_clients(loopback: Loopback) -> None:
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply(content_type="text/event-stream", chunks=[FIRST, REST], drop_after=1),
    )
    sync, async_ = _both(loopback.url, stream=True)
    assert str(sync) == str(async_)
    assert f"connection to 127.0.0.1:{loopback.port} lost" in str(sync)


def test_dns_failure_reads_the_same_on_both_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    sync, async_ = _both("https://no-such-host.invalid")
    assert str(sync) == str(async_)
    assert str(sync).endswith("cannot connect to no-such-host.invalid:443 (name not resolved)")


def test_network_errors_name_only_host_and_port() -> None:
    from llmswitch.transport._netfail import connection_error, host_port

    assert host_port("https://[::1]:8443/v1/x?key=sk-secret") == "[::1]:8443"
    assert host_port("http://example.test/v1") == "example.test:80"
    assert host_port("https://example.test/v1") == "example.test:443"
    refused = ConnectionRefusedError(111, "Connection refused")
    err = connection_error("https://h.test/v1/m?key=sk-secret-123456", refused, connecting=True)
    assert str(err) == "cannot connect to h.test:443 (connection refused)"
    assert err.__cause__ is refused and refused.__traceback__ is None
