"""Async HTTP on aiohttp: one pooled session per client, created on first use.

Redirects are not followed (as in the sync transport): a 3xx reaches the adapter's
``map_error``, so the key headers and the prompt never go to another origin. Bodies
are read in pieces with a running total, so a compressed answer cannot inflate past
the body cap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

from ..wire import HttpRequest, HttpResponse, Timeout, limits
from ._netfail import connection_error, timed_out

# aiohttp's case-insensitive header names, folded once (a str is folded per lookup)
_CONTENT_LENGTH = aiohttp.hdrs.CONTENT_LENGTH
_CONTENT_ENCODING = aiohttp.hdrs.CONTENT_ENCODING

if TYPE_CHECKING:
    from aiohttp.client import _RequestContextManager
    from multidict import CIMultiDictProxy

__all__ = ["AsyncTransport", "StreamResponse", "Streaming"]


class StreamResponse:
    """Status and headers of a streamed response, and its body as it arrives."""

    __slots__ = ("_max_body", "_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse, max_body: int | None = None) -> None:
        self._resp = resp
        self._max_body = limits.MAX_BODY_BYTES if max_body is None else max_body
        self.status = resp.status
        self.headers: CIMultiDictProxy[str] = resp.headers

    def chunks(self) -> AsyncIterator[bytes]:
        return self._resp.content.iter_any()

    async def read(self) -> bytes:
        """The whole body (an error answer), within the body cap."""
        return await _read_body(self._resp, self._max_body)


class Streaming:
    """What :meth:`AsyncTransport.stream` returns: entering sends the request and gives
    the :class:`StreamResponse`; leaving returns the connection to the pool after a
    clean exit, and closes it when the body was abandoned, cancelled or failed. (A
    class, not a generator-based context manager: this is paid on every stream.)"""

    __slots__ = ("_request", "_resp", "_timeout", "_transport")

    def __init__(self, transport: AsyncTransport, request: HttpRequest, timeout: Timeout) -> None:
        self._transport = transport
        self._request = request
        self._timeout = timeout
        self._resp: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> StreamResponse:
        transport = self._transport
        try:
            resp = await transport._request(self._request, self._timeout)
        except Exception as exc:
            error = _translate(exc, self._timeout, self._request.url)
            raise error from error.__cause__
        self._resp = resp
        return StreamResponse(resp, transport.max_body_bytes)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        resp = self._resp
        if resp is None:  # never opened
            return
        if exc is None:
            resp.release()
            return
        resp.close()  # mid-body: drop the connection
        if isinstance(exc, TimeoutError | aiohttp.ClientError):
            error = _translate(exc, self._timeout, self._request.url)
            raise error from error.__cause__
        # anything else (abandoned, cancelled, the caller's own error) goes on as it was


class AsyncTransport:
    """Connection-pooled async HTTP. ``limit`` caps open connections (0 = unlimited);
    ``max_body_bytes`` caps a non-streamed body after decompression (default
    :data:`~llmswitch.wire.limits.MAX_BODY_BYTES`)."""

    def __init__(
        self, *, limit: int = 100, limit_per_host: int = 0, max_body_bytes: int | None = None
    ) -> None:
        self.max_body_bytes = limits.MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes
        self._limit = limit
        self._limit_per_host = limit_per_host
        # The last used loop and its session (the fast path), and every loop's session.
        self._current: tuple[asyncio.AbstractEventLoop | None, aiohttp.ClientSession | None] = (
            None,
            None,
        )
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        # The last Timeout and its ClientTimeout: a client's calls share one Timeout object.
        self._last_timeout: tuple[Timeout | None, aiohttp.ClientTimeout | None] = (None, None)
        self._proxies: dict[str, str | None] = {}
        # Per URL: what aiohttp is given for it (see _url) and its proxy, one lookup a call.
        self._targets: dict[str, tuple[str | URL, str | None]] = {}

    def _proxy(self, url: str) -> str | None:
        """HTTP(S)_PROXY / NO_PROXY for ``url``'s origin, like the official SDKs honour."""
        origin = url[: url.find("/", 8)] if url.count("/") > 2 else url
        try:
            return self._proxies[origin]
        except KeyError:
            from urllib.parse import urlsplit
            from urllib.request import getproxies, proxy_bypass

            parts = urlsplit(url)
            proxy = getproxies().get(parts.scheme)
            if proxy and parts.hostname and proxy_bypass(parts.hostname):
                proxy = None
            self._proxies[origin] = proxy
            return proxy

    def _get_session(self) -> aiohttp.ClientSession:
        # A session serves the loop it was made on. A client used under another loop
        # (a second asyncio.run(), or loops in several threads at once) gets a session
        # per loop; those of loops that have closed are let go.
        loop = asyncio.get_running_loop()
        last_loop, session = self._current  # one attribute: read whole across threads
        if last_loop is loop and session is not None:
            return session  # only aclose() closes it, and it resets _current first
        session = self._sessions.get(loop)
        if session is None or session.closed:
            for other, old in list(self._sessions.items()):
                if other.is_closed() or old.closed:
                    del self._sessions[other]
                    _abandon(old, other)
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=self._limit_per_host, ttl_dns_cache=300
            )
            session = self._sessions[loop] = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                # Proxies from the environment are resolved once per origin below:
                # trust_env=True would cost two executor hops on every request.
                trust_env=False,
            )
        self._current = (loop, session)
        return session

    def _client_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        last, ct = self._last_timeout  # one attribute: read whole across threads
        if last is timeout and ct is not None:
            return ct
        ct = self._cached_timeout(timeout)
        self._last_timeout = (timeout, ct)
        return ct

    def _cached_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        key = (timeout.connect, timeout.total)
        ct = self._timeouts.get(key)
        if ct is None:
            if len(self._timeouts) >= 64:
                # What is left of a deadline (a later page or try) is a new float each
                # time: keep the cache to the few fixed timeouts a client really uses.
                self._timeouts.clear()
            ct = self._timeouts[key] = aiohttp.ClientTimeout(
                total=timeout.total, connect=timeout.connect
            )
        return ct

    def _target(self, url: str) -> tuple[str | URL, str | None]:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= 256:  # URLs name models: bounded, but keep it small
                self._targets.clear()
            target = self._targets[url] = (_url(url), self._proxy(url))
        return target

    def _request(self, request: HttpRequest, timeout: Timeout) -> _RequestContextManager:
        # The helpers' common answers read here (the client's session on this loop, a
        # known URL, the last timeout): on every call and stream, a call less each.
        url = request.url
        target = self._targets.get(url) or self._target(url)
        last_loop, session = self._current
        if last_loop is not asyncio.get_running_loop() or session is None:
            session = self._get_session()
        last, ct = self._last_timeout
        if last is not timeout or ct is None:
            ct = self._client_timeout(timeout)
        return session.request(
            request.method,
            target[0],
            data=request.body,
            headers=request.headers,
            timeout=ct,
            proxy=target[1],
            allow_redirects=False,
        )

    async def send(self, request: HttpRequest, timeout: Timeout) -> HttpResponse:
        """Send and read the whole response."""
        try:
            async with self._request(request, timeout) as resp:
                headers = resp.headers
                # content_length's lookup without the property, by the pre-folded names
                length = headers.get(_CONTENT_LENGTH)
                if (
                    length is not None
                    and int(length) <= self.max_body_bytes
                    and _CONTENT_ENCODING not in headers
                ):  # the common answer, as in _read_body
                    body = await resp.read()  # aiohttp reads no more than Content-Length
                else:
                    body = await _read_body(resp, self.max_body_bytes)
                return HttpResponse(resp.status, headers, body)  # positional: cheaper
        except Exception as exc:
            error = _translate(exc, timeout, request.url)
            raise error from error.__cause__

    def stream(self, request: HttpRequest, timeout: Timeout) -> Streaming:
        """Open a streamed response: ``async with transport.stream(...) as resp``;
        leaving the block releases (or closes) the connection.

        The caller reads chunks; the total timeout covers the whole body. The
        first-token timeout is enforced by the caller, which knows what an event is.
        """
        return Streaming(self, request, timeout)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        sessions, self._sessions = self._sessions, {}
        self._current = (None, None)
        for other, session in sessions.items():
            if other is loop:
                if not session.closed:
                    await session.close()
            else:
                _abandon(session, other)


def _abandon(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop | None) -> None:
    """Let go of a session made on another loop without touching that loop's sockets
    from this one: closed there if it still runs, else only marked closed (its sockets
    went with the loop) so it logs no "Unclosed client session" when collected."""
    if session.closed:
        return
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(lambda: loop.create_task(session.close()))
        return
    connector = session.connector
    if connector is not None:
        connector._close()  # synchronous; on a closed loop it only marks the pool closed


def _url(url: str) -> str | URL:
    """Send a percent-encoded URL byte for byte. yarl would otherwise re-quote it
    (``%3A`` -> ``:``), which breaks signatures computed over the path (Bedrock SigV4
    signs ``/model/...v1%3A0/converse``). Adapters encode their URLs themselves."""
    return URL(url, encoded=True) if "%" in url else url


async def _read_body(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    headers = resp.headers
    encoded = _CONTENT_ENCODING in headers
    length = headers.get(_CONTENT_LENGTH)
    if not encoded and length is not None and int(length) <= limit:
        return await resp.read()  # aiohttp reads no more than Content-Length
    parts: list[bytes] = []
    size = 0
    content = resp.content
    while chunk := await content.readany():
        size += len(chunk)
        if size > limit:
            resp.close()  # stop inflating: drop the connection
            raise limits.body_too_large(limit, parts[0] if parts else chunk, resp.status, encoded)
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _translate(exc: BaseException, timeout: Timeout, url: str) -> Exception:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return timed_out("connect", timeout)
    if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return timed_out("total", timeout)
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientSSLError):
        return connection_error(url, exc, connecting=True)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return connection_error(url, exc, connecting=False)
    return exc if isinstance(exc, Exception) else connection_error(url, exc, connecting=False)
