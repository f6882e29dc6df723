"""The middleware onion: plain objects wrapped around every call, outermost first.

A middleware gets the :class:`Call` and ``next``, the rest of the onion, and returns
what ``next`` returns (or raises). Four entry points cover sync/async and
chat/stream; the defaults pass through, so a middleware overrides only what it needs::

    class Audit(Middleware):
        async def achat(self, call, next):
            log.info("calling %s", call.request.model)
            return await next(call)

For the common case of looking at or rewriting requests, responses and stream events
the same way on all four paths, subclass :class:`~llmswitch.middleware.Hooks`
(:mod:`.hooks`) and override its ``on_*`` methods instead.

Streams: ``stream``/``astream`` return an iterator of events. Code before the first
``next(...)`` runs before the request is sent; a middleware that retries a stream may
do so only until it has handed the first event to its caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from ..messages import ChatRequest, ChatResponse
from ..providers.runtime import CallContext, Provider
from ..usage._tags import TAGS_KEY, current_tags

__all__ = [
    "ACCUMULATOR_KEY",
    "CACHE_OPTION_KEY",
    "OTHER_KEYS_KEY",
    "AsyncChatHandler",
    "AsyncStreamHandler",
    "Call",
    "ChatHandler",
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
        # By hand: dataclasses.replace costs a microsecond, on every try of every call.
        new = object.__new__(Call)
        new.request = changes.pop("request", self.request)
        new.provider = changes.pop("provider", self.provider)
        new.ctx = changes.pop("ctx", self.ctx)
        new.model = changes.pop("model", self.model)
        new.attempt = changes.pop("attempt", self.attempt)
        new.state = changes.pop("state", self.state)
        if changes:
            raise TypeError(f"Call has no field {', '.join(sorted(changes))}")
        return new


# Where a stream's Accumulator sits in ``Call.state``, so a layer that changes the
# deployment (the router) can say which provider/model really answered.
ACCUMULATOR_KEY = "llmswitch.accumulator"


def stream_state(acc: Any) -> dict[str, Any]:
    """The ``Call.state`` a stream enters the pipeline with: its accumulator, and the
    usage tags in force as it is opened (it may be read outside their block: see
    ``usage._tags.call_tags``)."""
    return {ACCUMULATOR_KEY: acc, TAGS_KEY: current_tags()}


# A call's ``cache=`` option, checked (llmswitch.cache reads it): False bypasses the
# response cache, a CallCache opts the call in (its ttl, its replay pace).
CACHE_OPTION_KEY = "llmswitch.cache"

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

    def achat(self, call: Call, next: AsyncChatHandler) -> Awaitable[ChatResponse]:
        # Passing the next awaitable on, not awaiting it in a coroutine of its own: any
        # awaitable will do for the caller, and an override may be ``async def``.
        return next(call)

    def stream(self, call: Call, next: StreamHandler) -> Iterator[Event]:
        return next(call)

    def astream(self, call: Call, next: AsyncStreamHandler) -> AsyncIterator[Event]:
        return next(call)


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
