"""Sync HTTP on urllib3: a pooled, blocking transport for :class:`~llmswitch.Client`.

A separate blocking stack, rather than the async one driven from a helper thread,
so a sync stream costs no thread hop per chunk: the adapters are sans-I/O, so
both stacks share every byte of parsing.
"""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
)

from ..errors import LLMTimeoutError, TransportError
from ..providers.base import HttpRequest, HttpResponse
from ..providers.runtime import Timeout

__all__ = ["SyncStreamResponse", "SyncTransport"]


class SyncStreamResponse:
    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: urllib3.BaseHTTPResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers

    def chunks(self) -> Iterator[bytes]:
        error: Exception | None = None
        try:
            yield from self._chunks()
        except (ReadTimeoutError, TimeoutError) as exc:
            error = LLMTimeoutError(f"read timed out: {exc}", phase="read")
            _forget(exc)
        except (HTTPError, OSError) as exc:
            error = TransportError(f"{type(exc).__name__}: {exc}")
            _forget(exc)
        if error is not None:
            raise error

    def _chunks(self) -> Iterator[bytes]:
        resp = self._resp
        if resp.chunked and isinstance(resp, urllib3.HTTPResponse):
            # one item per HTTP chunk: events reach the caller as soon as they arrive
            yield from resp.read_chunked(decode_content=True)
            return
        while True:
            data = resp.read1(65536)
            if not data:
                return
            yield data

    def read(self) -> bytes:
        return self._resp.read()

    def set_read_timeout(self, seconds: float | None) -> None:
        """Change the socket timeout for the reads to come (first token -> total)."""
        conn = getattr(self._resp, "connection", None)
        sock: socket.socket | None = getattr(conn, "sock", None)
        if sock is not None:
            sock.settimeout(seconds)


class SyncTransport:
    """Connection-pooled blocking HTTP. ``maxsize`` connections are kept per host."""

    def __init__(self, *, maxsize: int = 20) -> None:
        self._pool = urllib3.PoolManager(maxsize=maxsize, retries=False, block=False)

    def send(self, request: HttpRequest, timeout: Timeout) -> HttpResponse:
        deadline = _deadline(timeout.total)
        try:
            resp = self._pool.request(
                request.method,
                request.url,
                body=request.body,
                headers=request.headers,
                timeout=urllib3.Timeout(connect=timeout.connect, read=timeout.total),
                redirect=False,
                retries=False,
            )
        except Exception as exc:
            error = _translate(exc, timeout, deadline)
            _forget(exc)
        else:
            return HttpResponse(status=resp.status, headers=resp.headers, body=resp.data)
        raise error

    @contextmanager
    def stream(self, request: HttpRequest, timeout: Timeout) -> Iterator[SyncStreamResponse]:
        """Open a streamed response; leaving the block returns the connection to the
        pool when the body was read to the end, and closes it otherwise."""
        first = timeout.first_token
        read = min(first, timeout.total) if first and timeout.total else first or timeout.total
        deadline = _deadline(timeout.total)
        try:
            resp = self._pool.urlopen(
                request.method,
                request.url,
                body=request.body,
                headers=request.headers,
                timeout=urllib3.Timeout(connect=timeout.connect, read=read),
                redirect=False,
                retries=False,
                preload_content=False,
            )
        except Exception as exc:
            error = _translate(exc, timeout, deadline, phase="first_token")
            _forget(exc)
            raise error from None
        ok = False
        try:
            yield SyncStreamResponse(resp)
            ok = True
        except (HTTPError, OSError) as exc:
            raise _translate(exc, timeout, deadline) from None
        finally:
            if ok and resp.isclosed():  # type: ignore[attr-defined]
                resp.release_conn()
            else:
                resp.close()  # abandoned mid-body: the connection cannot be reused

    def close(self) -> None:
        self._pool.clear()


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
    exc: BaseException, timeout: Timeout, deadline: float | None, phase: str | None = None
) -> Exception:
    if isinstance(exc, NewConnectionError):  # a ConnectTimeoutError subclass, but a refusal
        return TransportError(f"cannot connect: {exc.reason if hasattr(exc, 'reason') else exc}")
    if isinstance(exc, ConnectTimeoutError):
        return LLMTimeoutError(
            f"connect timeout after {timeout.connect}s", phase="connect", timeout=timeout.connect
        )
    if isinstance(exc, ReadTimeoutError | TimeoutError | socket.timeout):
        expired = deadline is not None and time.monotonic() >= deadline - 0.01
        if phase == "first_token" and not expired:
            return LLMTimeoutError(
                f"no first token within {timeout.first_token}s",
                phase="first_token",
                timeout=timeout.first_token,
            )
        return LLMTimeoutError(
            f"total timeout after {timeout.total}s", phase="total", timeout=timeout.total
        )
    if isinstance(exc, HTTPError | OSError):
        reason = getattr(exc, "reason", None) or exc
        return TransportError(f"{type(exc).__name__}: {reason}")
    return exc if isinstance(exc, Exception) else TransportError(repr(exc))
