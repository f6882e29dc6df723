"""The Vertex provider: an :class:`HttpProvider` whose calls first make sure a token is
ready, and which tries once more with a new token when Vertex answers 401.

- Async: the token is minted (when due) by :meth:`TokenSource.atoken`, in a thread,
  before the request is built; the endpoint's ``prepare`` then only reads the cache,
  so no call blocks the event loop on Google's token endpoint.
- 401 (``UNAUTHENTICATED``: the token expired early or was revoked): the token is
  dropped and the call is sent once more with a freshly minted one, as the google
  SDKs refresh on 401. Streams do this only before their first event (a 401 comes
  with the response head, so always before). Other errors go to the caller's retry
  policy as for every provider.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import TypeVar

from ...errors import AuthenticationError, LLMError
from ...events import Event
from ...messages import ChatRequest, ChatResponse, HealthStatus, ModelInfo
from .._stream_reader import StreamReader
from ..http import HttpProvider
from ..runtime import CallContext
from ._auth import TokenSource
from ._endpoint import VertexEndpoint

__all__ = ["VertexProvider"]

_T = TypeVar("_T")


class VertexProvider(HttpProvider):
    __slots__ = ()

    @property
    def tokens(self) -> TokenSource | None:
        endpoint = self.endpoint
        return endpoint.tokens if isinstance(endpoint, VertexEndpoint) else None

    def _token(self, request: ChatRequest | None = None) -> str | None:
        tokens = self.tokens
        try:
            return tokens.token() if tokens is not None else None
        except LLMError as exc:
            raise self._fail(exc, request) from None

    async def _atoken(self, request: ChatRequest | None = None) -> str | None:
        tokens = self.tokens
        try:
            return await tokens.atoken() if tokens is not None else None
        except LLMError as exc:
            raise self._fail(exc, request) from None

    def _token_refused(self, exc: LLMError, used: str | None) -> bool:
        """Whether ``exc`` is Vertex refusing the token ``used``; if so it is dropped."""
        tokens = self.tokens
        if tokens is None or used is None:
            return False
        if not isinstance(exc, AuthenticationError) or exc.status_code != 401:
            return False
        tokens.invalidate(used)
        return True

    def _twice(self, send: Callable[[], _T], request: ChatRequest | None) -> _T:
        """``send()`` with a ready token, and once more with a new one on a 401."""
        used = self._token(request)
        try:
            return send()
        except LLMError as exc:
            if not self._token_refused(exc, used):
                raise
        self._token(request)
        return send()

    async def _atwice(self, send: Callable[[], Awaitable[_T]], request: ChatRequest | None) -> _T:
        used = await self._atoken(request)
        try:
            return await send()
        except LLMError as exc:
            if not self._token_refused(exc, used):
                raise
        await self._atoken(request)
        return await send()

    # ------------------------------------------------------------------ async

    async def achat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        return await self._atwice(lambda: HttpProvider.achat(self, request, ctx), request)

    def astream_reader(self, request: ChatRequest, ctx: CallContext) -> StreamReader:
        return _TokenedReader(self, request, ctx)

    async def alist_models(self, ctx: CallContext) -> list[ModelInfo]:
        return await self._atwice(lambda: HttpProvider.alist_models(self, ctx), None)

    async def acount_tokens(self, request: ChatRequest, ctx: CallContext) -> int:
        return await self._atwice(lambda: HttpProvider.acount_tokens(self, request, ctx), request)

    async def ahealth(self, ctx: CallContext) -> HealthStatus:
        try:
            await self._atoken()
        except LLMError as exc:
            return _unhealthy(self.id, exc)
        return await HttpProvider.ahealth(self, ctx)

    # ------------------------------------------------------------------ sync

    def chat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        return self._twice(lambda: HttpProvider.chat(self, request, ctx), request)

    def stream(self, request: ChatRequest, ctx: CallContext) -> Iterator[Event]:
        for again in (False, True):
            used = self._token(request)
            inner = HttpProvider.stream(self, request, ctx)
            assert isinstance(inner, Generator)  # a generator function: has close()
            try:
                try:
                    first = next(inner)
                except StopIteration:
                    return
                except LLMError as exc:
                    if again or not self._token_refused(exc, used):
                        raise
                    continue
                yield first
                yield from inner
                return
            finally:
                inner.close()

    def list_models(self, ctx: CallContext) -> list[ModelInfo]:
        return self._twice(lambda: HttpProvider.list_models(self, ctx), None)

    def count_tokens(self, request: ChatRequest, ctx: CallContext) -> int:
        return self._twice(lambda: HttpProvider.count_tokens(self, request, ctx), request)

    def health(self, ctx: CallContext) -> HealthStatus:
        try:
            self._token()
        except LLMError as exc:
            return _unhealthy(self.id, exc)
        return HttpProvider.health(self, ctx)


def _unhealthy(pid: str, exc: LLMError) -> HealthStatus:
    """No token, no probe: the health line says why (no credentials, key refused)."""
    return HealthStatus(
        provider=pid, ok=False, latency_ms=0.0, version=None, error=" ".join(str(exc).split())
    )


class _TokenedReader(StreamReader):
    """A stream opened with a ready token, and once more with a new one when Vertex
    refuses it (a 401 comes with the response head: before the first event)."""

    __slots__ = ()

    async def open(self) -> list[Event]:
        provider = self._provider
        assert isinstance(provider, VertexProvider)
        used = await provider._atoken(self._request)
        try:
            return await StreamReader.open(self)
        except LLMError as exc:
            if not provider._token_refused(exc, used):
                raise
        await provider._atoken(self._request)
        return await StreamReader.open(self)
