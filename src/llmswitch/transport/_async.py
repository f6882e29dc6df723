"""Async HTTP on aiohttp: one pooled session per client, created on first use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

from ..errors import LLMTimeoutError, TransportError
from ..providers.base import HttpRequest, HttpResponse
from ..providers.runtime import Timeout

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

__all__ = ["AsyncTransport", "StreamResponse"]


class StreamResponse:
    """Status and headers of a streamed response, and its body as it arrives."""

    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: CIMultiDictProxy[str] = resp.headers

    def chunks(self) -> AsyncIterator[bytes]:
        return self._resp.content.iter_any()

    async def read(self) -> bytes:
        return await self._resp.read()


class AsyncTransport:
    """Connection-pooled async HTTP. ``limit`` caps open connections (0 = unlimited)."""

    def __init__(self, *, limit: int = 100, limit_per_host: int = 0) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        self._proxies: dict[str, str | None] = {}

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
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=self._limit_per_host, ttl_dns_cache=300
            )
            session = self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                # Proxies from the environment are resolved once per origin below:
                # trust_env=True would cost two executor hops on every request.
                trust_env=False,
                skip_auto_headers=("User-Agent",),
            )
        return session

    def _client_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        key = (timeout.connect, timeout.total)
        ct = self._timeouts.get(key)
        if ct is None:
            ct = self._timeouts[key] = aiohttp.ClientTimeout(
                total=timeout.total, connect=timeout.connect
            )
        return ct

    async def send(self, request: HttpRequest, timeout: Timeout) -> HttpResponse:
        """Send and read the whole response."""
        session = self._get_session()
        try:
            async with session.request(
                request.method,
                _url(request.url),
                data=request.body,
                headers=request.headers,
                timeout=self._client_timeout(timeout),
                proxy=self._proxy(request.url),
            ) as resp:
                body = await resp.read()
                return HttpResponse(status=resp.status, headers=resp.headers, body=body)
        except Exception as exc:
            raise _translate(exc, timeout) from None

    @asynccontextmanager
    async def stream(self, request: HttpRequest, timeout: Timeout) -> AsyncIterator[StreamResponse]:
        """Open a streamed response; leaving the block releases (or closes) the connection.

        The caller reads chunks; the total timeout covers the whole body. The
        first-token timeout is enforced by the caller, which knows what an event is.
        """
        session = self._get_session()
        try:
            resp = await session.request(
                request.method,
                _url(request.url),
                data=request.body,
                headers=request.headers,
                timeout=self._client_timeout(timeout),
                proxy=self._proxy(request.url),
            )
        except Exception as exc:
            raise _translate(exc, timeout) from None
        try:
            yield StreamResponse(resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            resp.close()
            raise _translate(exc, timeout) from None
        except BaseException:
            resp.close()  # abandoned or cancelled mid-body: drop the connection
            raise
        else:
            resp.release()

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _url(url: str) -> str | URL:
    """Send a percent-encoded URL byte for byte. yarl would otherwise re-quote it
    (``%3A`` -> ``:``), which breaks signatures computed over the path (Bedrock SigV4
    signs ``/model/...v1%3A0/converse``). Adapters encode their URLs themselves."""
    return URL(url, encoded=True) if "%" in url else url


def _translate(exc: BaseException, timeout: Timeout) -> Exception:
    if isinstance(exc, aiohttp.ConnectionTimeoutError | aiohttp.ServerTimeoutError):
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return LLMTimeoutError(
                f"connect timeout after {timeout.connect}s",
                phase="connect",
                timeout=timeout.connect,
            )
        return LLMTimeoutError(
            f"total timeout after {timeout.total}s", phase="total", timeout=timeout.total
        )
    if isinstance(exc, asyncio.TimeoutError):
        return LLMTimeoutError(
            f"total timeout after {timeout.total}s", phase="total", timeout=timeout.total
        )
    if isinstance(exc, aiohttp.ClientError):
        return TransportError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, OSError):
        return TransportError(f"{type(exc).__name__}: {exc}")
    return exc if isinstance(exc, Exception) else TransportError(repr(exc))
