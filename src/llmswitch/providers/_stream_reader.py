"""One streamed HTTP answer, read by its consumer's own loop.

:class:`~.http.HttpProvider` streams through a :class:`StreamReader`: ``await open()``
sends the request and reads until the first events exist (under the first-token
timer, the deadline rule of :meth:`HttpProvider.astream_batches`) and returns them;
then the consumer feeds each of ``chunks`` to ``feed`` itself, takes ``finish()`` at
the end of the body, and awaits ``exit(exc)`` once (``None`` after a clean end, the
exception that stopped it otherwise: that drops the connection). An
:class:`~llmswitch.errors.LLMError` raised by the loop goes through ``fail`` before
it is raised; ``open`` does that itself.

``HttpProvider.astream_batches`` is this loop as a generator of one list per read.
``AsyncChatStream`` runs it inside its own generator instead, which saves an
async-generator step per network read: about a sixth of what a 200-chunk stream
costs over a bare aiohttp loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..errors import LLMError
from ..events import Event
from ..messages import ChatRequest
from .base import StreamParser
from .runtime import CallContext, FirstTokenTimer, timeout_error

__all__ = ["StreamReader", "with_usage"]


class StreamReader:
    """See the module docstring. ``ended``: the body ended while ``open`` read it (then
    ``chunks`` is exhausted and ``open`` returned what ``finish`` would)."""

    __slots__ = ("_ctx", "_exited", "_opened", "_parser", "_provider", "_request", "_url",
                 "chunks", "ended", "feed")  # fmt: skip

    def __init__(self, provider: Any, request: ChatRequest, ctx: CallContext) -> None:
        # ``provider``: the HttpProvider (typed loosely: it imports this module)
        self._provider = provider
        self._request = request
        self._ctx = ctx
        self._opened: Any = None
        self._parser: Any = None
        self._url = ""
        self._exited = False
        self.chunks: AsyncIterator[bytes] | None = None
        self.feed: Any = None
        self.ended = False

    async def open(self) -> list[Event]:
        provider, request = self._provider, self._request
        self._opened, self._exited, self.ended = None, False, False  # opened again: anew
        http, parser = provider._stream_start(request)
        self._parser, self._url, self.feed = parser, http.url, parser.feed
        timeout = self._ctx.timeout
        try:
            opened = self._ctx.transport.stream(provider.endpoint.prepare(http), timeout)
            # The first-token timer covers sending the request and reading until the
            # first event exists, and is never held across a yield (the caller's time
            # between events is its own); the transport's total deadline covers the
            # whole body, and fires first when it is the earlier one (so then no
            # first-token timer is needed).
            first, total = timeout.first_token, timeout.total
            timer = None
            if first is not None and (total is None or first <= total):
                timer = FirstTokenTimer(first)
            events: list[Event] = []
            try:
                resp = await opened.__aenter__()
                self._opened = opened  # entered: exit() has something to leave
                try:
                    if resp.status >= 300:
                        body = await resp.read()
                        raise provider._refused(request, resp.status, resp.headers, body)
                    chunks = self.chunks = resp.chunks().__aiter__()
                    while not events:
                        try:
                            chunk = await chunks.__anext__()
                        except StopAsyncIteration:
                            events, self.ended = parser.close(), True
                            break
                        events = parser.feed(chunk)
                except BaseException as exc:
                    await self.exit(exc)
                    raise
            except asyncio.CancelledError:
                if timer is not None and timer.expired():
                    raise timeout_error("first_token", timeout) from None
                raise
            finally:
                if timer is not None:
                    timer.cancel()
        except LLMError as exc:
            raise self.fail(exc) from None
        return events

    def finish(self) -> list[Event]:
        """The parser's events at the end of the body (none when ``open`` saw it end)."""
        return [] if self.ended else self._parser.close()  # type: ignore[no-any-return]

    async def exit(self, exc: BaseException | None) -> None:
        """Release the connection (``exc`` None: to the pool; else closed); once."""
        if self._exited or self._opened is None:
            return
        self._exited = True
        if exc is None:
            await self._opened.__aexit__(None, None, None)
        else:
            await self._opened.__aexit__(type(exc), exc, exc.__traceback__)

    def fail(self, exc: LLMError) -> LLMError:
        """``exc`` named by its provider and model, scrubbed of our key, with the
        usage the parser had seen (a stream cut midway was billed for it)."""
        failed = self._provider._fail(exc, self._request, url=self._url or None)
        return with_usage(failed, self._parser) if self._parser is not None else failed


def with_usage(exc: LLMError, parser: StreamParser) -> LLMError:
    """``exc`` carrying the usage the stream's parser had seen (``stream_usage``): a
    stream cut midway was billed for it (the ledger prices it, ``partial`` keeps it)."""
    seen = getattr(parser, "usage_seen", None)  # a plugin's parser may not have it
    if exc.stream_usage is None and seen is not None:
        exc.stream_usage = seen()
    return exc
