"""Sync HTTP on urllib3: a pooled, blocking transport for :class:`~llmswitch.Client`.

A separate blocking stack, rather than the async one driven from a helper thread,
so a sync stream costs no thread hop per chunk: the adapters are sans-I/O, so
both stacks share every byte of parsing.

Bodies are read with bounded ``read1`` calls, the socket timeout set to what is left
of the total timeout before each, so a server trickling bytes cannot hold a call past
its deadline (a socket timeout alone restarts with every byte, and ``read_chunked``
waits for a whole HTTP chunk). The same reads cap the decompressed body size.
"""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Callable, Iterator
from http.client import HTTPException, IncompleteRead

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from ..errors import LLMTimeoutError
from ..wire import HttpRequest, HttpResponse, Timeout, limits
from ._netfail import connection_error, timed_out

__all__ = ["SyncStreamResponse", "SyncStreaming", "SyncTransport"]

_READ = 65536  # bytes per read: also the most one read may inflate to


class SyncStreamResponse:
    __slots__ = ("_deadline", "_max_body", "_resp", "_url", "headers", "status")

    def __init__(
        self,
        resp: urllib3.BaseHTTPResponse,
        url: str = "",
        deadline: float | None = None,
        max_body: int | None = None,
    ) -> None:
        self._resp = resp
        self._url = url
        self._deadline = deadline
        self._max_body = limits.MAX_BODY_BYTES if max_body is None else max_body
        self.status = resp.status
        self.headers = resp.headers

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives, at most 64 KiB (decompressed) per item. Each item is
        one socket read: the caller sets the timeout for the next one."""
        error: Exception | None = None
        read1 = _reader(self._resp)
        try:
            while True:
                data = read1(_READ)
                if not data:
                    _check_complete(self._resp)
                    return
                yield data
        except (ReadTimeoutError, TimeoutError) as exc:
            error = LLMTimeoutError(f"read timed out: {exc}", phase="read")
            _forget(exc)
        except (HTTPError, HTTPException, OSError) as exc:
            error = connection_error(self._url, exc, connecting=False)
            _forget(exc)
        if error is not None:
            raise error

    def read(self) -> bytes:
        """The whole body (an error answer), within the total timeout and the body cap."""
        return _read_body(self._resp, self._deadline, self._max_body)

    def set_read_timeout(self, seconds: float | None) -> None:
        """Change the socket timeout for the reads to come (first token -> total)."""
        sock = _socket(self._resp)
        if sock is not None:
            sock.settimeout(seconds)


class SyncStreaming:
    """What :meth:`SyncTransport.stream` returns (a class, not a generator-based
    context manager: this is paid on every stream)."""

    __slots__ = ("_deadline", "_request", "_resp", "_timeout", "_transport")

    def __init__(self, transport: SyncTransport, request: HttpRequest, timeout: Timeout) -> None:
        self._transport = transport
        self._request = request
        self._timeout = timeout
        self._deadline: float | None = None
        self._resp: urllib3.BaseHTTPResponse | None = None

    def __enter__(self) -> SyncStreamResponse:
        request, timeout = self._request, self._timeout
        first = timeout.first_token
        read = min(first, timeout.total) if first and timeout.total else first or timeout.total
        deadline = self._deadline = _deadline(timeout.total)
        try:
            resp = self._transport._open(request, timeout.connect, read)
        except Exception as exc:
            error = _translate(exc, timeout, deadline, request.url, phase="first_token")
            _forget(exc)
            raise error from error.__cause__
        self._resp = resp
        return SyncStreamResponse(resp, request.url, deadline, self._transport.max_body_bytes)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        resp = self._resp
        if resp is None:  # never opened
            return
        if exc is None and resp.isclosed():  # type: ignore[attr-defined]
            resp.release_conn()
        else:
            resp.close()  # abandoned mid-body: the connection cannot be reused
        if isinstance(exc, HTTPError | HTTPException | OSError):
            error = _translate(exc, self._timeout, self._deadline, self._request.url)
            _forget(exc)
            raise error from error.__cause__


class SyncTransport:
    """Connection-pooled blocking HTTP. ``maxsize`` connections are kept per host;
    ``max_body_bytes`` caps a non-streamed body after decompression (default
    :data:`~llmswitch.wire.limits.MAX_BODY_BYTES`)."""

    def __init__(self, *, maxsize: int = 20, max_body_bytes: int | None = None) -> None:
        self._pool = urllib3.PoolManager(maxsize=maxsize, retries=False, block=False)
        self.max_body_bytes = limits.MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes

    def send(self, request: HttpRequest, timeout: Timeout) -> HttpResponse:
        deadline = _deadline(timeout.total)
        resp: urllib3.BaseHTTPResponse | None = None
        try:
            resp = self._open(request, timeout.connect, timeout.total)
            body = _read_body(resp, deadline, self.max_body_bytes)
        except Exception as exc:
            if resp is not None:
                resp.close()  # read part-way: the connection cannot be reused
            error = _translate(exc, timeout, deadline, request.url)
            _forget(exc)
        else:
            return HttpResponse(resp.status, resp.headers, body)  # positional: cheaper
        raise error

    def stream(self, request: HttpRequest, timeout: Timeout) -> SyncStreaming:
        """Open a streamed response: ``with transport.stream(...) as resp``; leaving the
        block returns the connection to the pool when the body was read to the end,
        and closes it otherwise."""
        return SyncStreaming(self, request, timeout)

    def _open(
        self, request: HttpRequest, connect: float | None, read: float | None
    ) -> urllib3.BaseHTTPResponse:
        """Send, and return once the status line and headers are in (redirects are not
        followed, retries are the client's, the body is read by the caller)."""
        return self._pool.urlopen(
            request.method,
            request.url,
            body=request.body,
            headers=request.headers,
            timeout=urllib3.Timeout(connect=connect, read=read),
            redirect=False,
            retries=False,
            preload_content=False,
        )

    def close(self) -> None:
        self._pool.clear()


def _socket(resp: urllib3.BaseHTTPResponse) -> socket.socket | None:
    conn = getattr(resp, "connection", None)
    return getattr(conn, "sock", None)


def _reader(resp: urllib3.BaseHTTPResponse) -> Callable[[int], bytes]:
    """``read1`` of the response: http.client's own when there is nothing to decode.
    urllib3's wrapper costs several microseconds a call (a context manager, a buffer
    queue), a quarter of a streamed event's budget; it is needed only to decompress,
    which it bounds to the size asked for. Reading the connection that way leaves
    urllib3 to notice the end through ``isclosed()`` (see ``release_conn`` below)."""
    fp = getattr(resp, "_fp", None)
    if fp is not None and hasattr(fp, "read1") and "content-encoding" not in resp.headers:
        return fp.read1  # type: ignore[no-any-return]
    return resp.read1


def _check_complete(resp: urllib3.BaseHTTPResponse) -> None:
    """http.client's ``read1`` ends quietly when the connection closes short of the
    Content-Length (urllib3's wrapper would have raised): raise as it would."""
    left = getattr(getattr(resp, "_fp", None), "length", None)
    if left:
        raise IncompleteRead(b"", left)


def _read_body(resp: urllib3.BaseHTTPResponse, deadline: float | None, limit: int) -> bytes:
    """Read to the end in bounded pieces: the deadline is checked (and the socket timeout
    set to what is left of it) before each read, and the decompressed size is capped."""
    parts: list[bytes] = []
    size = 0
    read1 = _reader(resp)
    sock = _socket(resp) if deadline is not None else None
    while True:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("total timeout")
            if sock is not None:
                sock.settimeout(remaining)
        data = read1(_READ)
        if not data:
            _check_complete(resp)
            resp.release_conn()  # read to the end: the connection goes back to the pool
            break
        size += len(data)
        if size > limit:
            encoded = resp.headers.get("content-encoding", "identity") != "identity"
            raise limits.body_too_large(limit, parts[0] if parts else data, resp.status, encoded)
        parts.append(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _forget(exc: BaseException) -> None:
    """Drop urllib3's frames from a translated error and its chain: they hold the failed
    response and its socket, which would otherwise stay open until the garbage
    collector runs."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


def _deadline(total: float | None) -> float | None:
    return time.monotonic() + total if total is not None else None


def _translate(
    exc: BaseException,
    timeout: Timeout,
    deadline: float | None,
    url: str,
    phase: str | None = None,
) -> Exception:
    if isinstance(exc, NewConnectionError):  # a ConnectTimeoutError subclass, but a refusal
        return connection_error(url, exc, connecting=True)
    if isinstance(exc, ConnectTimeoutError):
        return timed_out("connect", timeout)
    if isinstance(exc, ReadTimeoutError | TimeoutError | socket.timeout):
        expired = deadline is not None and time.monotonic() >= deadline - 0.01
        return timed_out(
            "first_token" if phase == "first_token" and not expired else "total", timeout
        )
    if isinstance(exc, SSLError | ProxyError):  # the TLS handshake (or proxy) failed
        return connection_error(url, exc, connecting=True)
    if isinstance(exc, HTTPError | HTTPException | OSError):
        return connection_error(url, exc, connecting=False)
    return exc if isinstance(exc, Exception) else connection_error(url, exc, connecting=False)
