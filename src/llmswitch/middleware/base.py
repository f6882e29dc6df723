"""The middleware onion: plain objects wrapped around every call, outermost first.

A middleware gets the :class:`Call` and ``next``, the rest of the onion, and returns
what ``next`` returns (or raises). Four entry points cover sync/async and
chat/stream; the defaults pass through, so a middleware overrides only what it needs::

    class Audit(Middleware):
        async def achat(self, call, next):
            log.info("calling %s", call.request.model)
            return await next(call)

For the common case of looking at or rewriting requests, responses and stream events
the same way on all four paths, subclass :class:`Hooks` and override its ``on_*``
methods instead.

Streams: ``stream``/``astream`` return an iterator of events. Code before the first
``next(...)`` runs before the request is sent; a middleware that retries a stream may
do so only until it has handed the first event to its caller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from ..messages import ChatRequest, ChatResponse
from ..providers.runtime import CallContext, Provider

__all__ = [
    "ACCUMULATOR_KEY",
    "OTHER_KEYS_KEY",
    "AsyncChatHandler",
    "AsyncStreamHandler",
    "Call",
    "ChatHandler",
    "Hooks",
    "Middleware",
    "Pipeline",
    "StreamHandler",
]


@dataclass(slots=True)
class Call:
    """One call as it travels through the onion. Middleware may replace ``request``,
    ``provider`` and ``ctx`` (a router picks a deployment) for the layers inside it;
    ``state`` is scratch space shared by the layers of this call."""

    request: ChatRequest
    provider: Provider
    ctx: CallContext
    model: str  # what the caller asked for: "openai/gpt-4o-mini" or an alias
    attempt: int = 0
    state: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Call:
        """A copy with ``changes`` applied (``state`` stays shared)."""
        return dataclasses.replace(self, **changes)


# Where a stream's Accumulator sits in ``Call.state``, so a layer that changes the
# deployment (the router) can say which provider/model really answered.
ACCUMULATOR_KEY = "llmswitch.accumulator"

# Set by a key-rotation layer when another key could serve a rate-limited attempt:
# an inner retry then leaves the 429 to it instead of waiting on the same key.
OTHER_KEYS_KEY = "llmswitch.other_keys"

ChatHandler = Callable[[Call], ChatResponse]
AsyncChatHandler = Callable[[Call], Awaitable[ChatResponse]]
StreamHandler = Callable[[Call], Iterator[Event]]
AsyncStreamHandler = Callable[[Call], AsyncIterator[Event]]


class Middleware:
    """Base class: every entry point passes the call on unchanged.

    ``per_attempt`` layers (key pick, breaker, retry) act on one deployment: when the
    client adds a router for model groups, it goes outside the first of them, so each
    deployment the router tries gets its own key, breaker and retries.
    """

    per_attempt: bool = False

    def chat(self, call: Call, next: ChatHandler) -> ChatResponse:
        return next(call)

    async def achat(self, call: Call, next: AsyncChatHandler) -> ChatResponse:
        return await next(call)

    def stream(self, call: Call, next: StreamHandler) -> Iterator[Event]:
        return next(call)

    def astream(self, call: Call, next: AsyncStreamHandler) -> AsyncIterator[Event]:
        return next(call)


class Hooks(Middleware):
    """Middleware from four hooks applied identically on the sync, async, chat and
    stream paths. ``on_event`` may return ``None`` to drop an event."""

    def on_request(self, call: Call) -> Call:
        return call

    def on_response(self, call: Call, response: ChatResponse) -> ChatResponse:
        return response

    def on_event(self, call: Call, event: Event) -> Event | None:
        return event

    def on_error(self, call: Call, error: Exception) -> None:
        """Called with any exception before it propagates (it is re-raised after)."""

    def chat(self, call: Call, next: ChatHandler) -> ChatResponse:
        call = self.on_request(call)
        try:
            return self.on_response(call, next(call))
        except Exception as exc:
            self.on_error(call, exc)
            raise

    async def achat(self, call: Call, next: AsyncChatHandler) -> ChatResponse:
        call = self.on_request(call)
        try:
            return self.on_response(call, await next(call))
        except Exception as exc:
            self.on_error(call, exc)
            raise

    def stream(self, call: Call, next: StreamHandler) -> Iterator[Event]:
        call = self.on_request(call)
        source = next(call)
        try:
            for event in source:
                out = self.on_event(call, event)
                if out is not None:
                    yield out
        except Exception as exc:
            self.on_error(call, exc)
            raise
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    async def astream(self, call: Call, next: AsyncStreamHandler) -> AsyncIterator[Event]:
        call = self.on_request(call)
        source = next(call)
        try:
            async for event in source:
                out = self.on_event(call, event)
                if out is not None:
                    yield out
        except Exception as exc:
            self.on_error(call, exc)
            raise
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()


def _terminal_chat(call: Call) -> ChatResponse:
    return call.provider.chat(call.request, call.ctx)


async def _terminal_achat(call: Call) -> ChatResponse:
    return await call.provider.achat(call.request, call.ctx)


def _terminal_stream(call: Call) -> Iterator[Event]:
    return call.provider.stream(call.request, call.ctx)


def _terminal_astream(call: Call) -> AsyncIterator[Event]:
    return call.provider.astream(call.request, call.ctx)


class Pipeline:
    """Middleware composed outside-in around the provider, built once per client."""

    __slots__ = ("achat", "astream", "chat", "middleware", "stream")

    def __init__(self, middleware: Sequence[Middleware] = ()) -> None:
        self.middleware = tuple(middleware)
        chat: ChatHandler = _terminal_chat
        achat: AsyncChatHandler = _terminal_achat
        stream: StreamHandler = _terminal_stream
        astream: AsyncStreamHandler = _terminal_astream
        for mw in reversed(self.middleware):
            chat = _bind(mw.chat, chat)
            achat = _bind(mw.achat, achat)
            stream = _bind(mw.stream, stream)
            astream = _bind(mw.astream, astream)
        self.chat = chat
        self.achat = achat
        self.stream = stream
        self.astream = astream


def _bind(method: Callable[[Call, Any], Any], inner: Any) -> Any:
    def handler(call: Call) -> Any:
        return method(call, inner)

    return handler
