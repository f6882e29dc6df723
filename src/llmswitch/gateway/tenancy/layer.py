"""``TenantLimitLayer``: :class:`~.TenantLimiter` as a middleware of the gateway's
``AsyncClient``, so every route's calls are limited without each route asking.

The caller comes from the call's usage tags (``usage._tags.call_tags``: the gateway
runs every handler inside the principal's tags, and a stream keeps those it was opened
under); calls without an access key (the admin key, an open gateway, library use) pass
untouched. Embeddings are limited too (:meth:`TenantLimitLayer.embed_script`).
Tokens: the rate limiter's estimate (``characters / 4`` of the prompt plus
``max_tokens`` or ``default_output_tokens``) is reserved, then replaced by the answer's
real total (a stream's ``StreamEnd``); a call that fails before its first event refunds
it; a stream that broke after its first event keeps the estimate of the prompt (the
provider processed it).

Only the async paths exist in the gateway; the sync ones refuse, rather than pass calls
through unlimited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import NoReturn

from ...errors import ConfigurationError
from ...events import Event, StreamEnd
from ...messages import ChatResponse, Usage
from ...middleware._drive import Op, Script, Try
from ...middleware.base import (
    AsyncChatHandler,
    AsyncStreamHandler,
    Call,
    ChatHandler,
    Middleware,
    StreamHandler,
)
from ...middleware.ratelimit import estimate_tokens
from ...usage._tags import call_tags
from .._principal import Principal
from .limits import TenantLimiter

__all__ = ["TenantLimitLayer"]

_PRINCIPALS_MAX = 10_000


def _sync_refused(*_args: object) -> NoReturn:
    """The sync side of every path: the gateway's client is async."""
    raise ConfigurationError("TenantLimitLayer limits AsyncClient calls only", field="middleware")


def _total(usage: Usage | None) -> int | None:
    if usage is None:
        return None
    if usage.total_tokens is not None:
        return usage.total_tokens
    if usage.input_tokens is None and usage.output_tokens is None:
        return None
    return (usage.input_tokens or 0) + (usage.output_tokens or 0)


class TenantLimitLayer(Middleware):
    """Enforce ``limiter`` on the calls of the principal in the current usage tags."""

    def __init__(self, limiter: TenantLimiter, *, default_output_tokens: int = 512) -> None:
        self.limiter = limiter
        self.default_output_tokens = default_output_tokens
        # One Principal per caller, not per call (cleared when it grows past any
        # plausible number of live keys, so it stays bounded).
        self._principals: dict[tuple[str, str | None, str | None], Principal] = {}

    def _caller(self, call: Call) -> Principal | None:
        """The caller to limit: ``None`` without an access key or with no limits."""
        tags = call_tags(call.state)
        if tags.access_key is None:
            return None
        key = (tags.access_key, tags.user, tags.team)
        found = self._principals.get(key)
        if found is None:
            if len(self._principals) >= _PRINCIPALS_MAX:
                self._principals.clear()
            found = self._principals[key] = Principal(
                key_id=tags.access_key, user=tags.user, team=tags.team
            )
        return found if self.limiter.limits(found) else None

    async def achat(self, call: Call, next: AsyncChatHandler) -> ChatResponse:
        principal = self._caller(call)
        if principal is None:
            return await next(call)
        _, estimate = estimate_tokens(call.request, self.default_output_tokens)
        admission = await self.limiter.admit(principal, estimate)
        tokens: int | None = 0  # a failure before an answer used nothing
        try:
            response = await next(call)
            tokens = _total(response.usage)
            return response
        finally:
            await self.limiter.settle(admission, tokens)

    def astream(self, call: Call, next: AsyncStreamHandler) -> AsyncIterator[Event]:
        principal = self._caller(call)
        if principal is None:
            return next(call)
        return self._astream(principal, call, next)

    async def _astream(
        self, principal: Principal, call: Call, next: AsyncStreamHandler
    ) -> AsyncIterator[Event]:
        prompt, estimate = estimate_tokens(call.request, self.default_output_tokens)
        admission = await self.limiter.admit(principal, estimate)
        tokens: int | None = 0
        try:
            async for event in next(call):
                if tokens == 0:
                    tokens = prompt  # started: at least the prompt was processed
                if isinstance(event, StreamEnd):
                    tokens = _total(event.usage)
                yield event
        finally:
            await self.limiter.settle(admission, tokens)

    def embed_script(self, call: Call) -> Script | None:
        """The limits of an embeddings call (``call.request`` an ``EmbedRequest``):
        admitted on its inputs' estimate (~4 characters a token), settled with the
        tokens it used; the clients' ``embed`` drives it, on the async path only."""
        principal = self._caller(call)
        if principal is None:
            return None
        return self._embed_guard(principal, call)

    def _embed_guard(self, principal: Principal, call: Call) -> Script:
        inputs = call.request.inputs  # type: ignore[attr-defined]
        estimate = sum(len(text) for text in inputs) // 4 + 1
        admission = yield Op(_sync_refused, self.limiter.admit, principal, estimate)
        tokens: int | None = 0  # a failure before an answer used nothing
        try:
            response = yield Try(call)
        except BaseException:
            yield Op(_sync_refused, self.limiter.settle, admission, tokens)
            raise
        tokens = _total(getattr(response, "usage", None))
        yield Op(_sync_refused, self.limiter.settle, admission, tokens)
        return response

    def chat(self, call: Call, next: ChatHandler) -> ChatResponse:
        _sync_refused()

    def stream(self, call: Call, next: StreamHandler) -> Iterator[Event]:
        _sync_refused()
