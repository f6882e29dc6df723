"""The streams ``Client.stream`` and ``AsyncClient.stream`` return: :class:`ChatStream`
and :class:`AsyncChatStream`. Each feeds every event to an :class:`Accumulator`, so the
final ``response`` is the ChatResponse ``chat()`` would have returned (``parsed``
included, with a ``response_format``), and an error keeps what was received as
``partial``. Re-exported by :mod:`llmswitch.client`, where they are documented as part
of the clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from ._structured import finish
from .errors import ConfigurationError, LLMError
from .events import Accumulator, Event, TextDelta
from .messages import ChatResponse

__all__ = ["AsyncChatStream", "ChatStream", "atext_pieces", "text_pieces"]


def _restart_after(stream: Any, exc: LLMError) -> Any:
    """The default retry's restart of ``stream`` after ``exc`` came before its first
    event (taken: it starts over once), or ``exc`` raised with what was received."""
    restart = stream._restart
    if restart is None or not exc.retryable:
        _attach_partial(exc, stream._acc)
        raise exc
    stream._restart = None
    return restart


def text_pieces(stream: Iterable[Event]) -> Iterator[str]:
    """The text pieces of ``stream``, as they arrive (every stream's ``text_stream``)."""
    for event in stream:
        if event.kind == "text":
            yield event.text  # type: ignore[union-attr]


async def atext_pieces(stream: AsyncIterable[Event]) -> AsyncIterator[str]:
    async for event in stream:
        if event.kind == "text":
            yield event.text  # type: ignore[union-attr]


def _attach_partial(exc: LLMError, acc: Accumulator) -> None:
    if getattr(exc, "partial", None) is None:
        exc.partial = acc.snapshot(exc.stream_usage)  # with the usage the parser had seen


class ChatStream:
    """A streamed answer: iterate for events; ``response`` is the final ChatResponse.

    The request is sent when the ``with`` block is entered (so HTTP errors surface
    there); leaving the block early closes the connection.
    """

    __slots__ = ("_acc", "_events", "_final", "_format", "_restart", "_source", "_started")

    def __init__(
        self,
        source: Iterator[Event],
        acc: Accumulator,
        restart: Callable[[LLMError], Iterator[Event]] | None = None,
        *,
        response_format: Any = None,
    ) -> None:
        self._source = source
        self._acc = acc
        self._events: list[Event] = []
        self._started = False
        # The call's response_format: ``response`` fills in ``parsed`` (_structured.py).
        self._format: Any = response_format
        self._final: ChatResponse | None = None
        # The default retry: a source that carries on after the first try failed
        # before its first event (nothing reached the caller, so it can start over).
        self._restart = restart

    def _first(self) -> None:
        try:
            self._events.append(next(self._source))
        except StopIteration:
            return
        except LLMError as exc:
            restart, failed = _restart_after(self, exc), exc
        else:
            return
        self._source = restart(failed)
        self._first()

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._first()

    def __enter__(self) -> ChatStream:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event]:
        self._start()
        acc = self._acc
        try:
            while self._events:
                event = self._events.pop(0)
                acc.add(event)
                yield event
            for event in self._source:
                acc.add(event)
                yield event
        except LLMError as exc:
            _attach_partial(exc, acc)
            raise

    @property
    def text_stream(self) -> Iterator[str]:
        """Just the text pieces, as they arrive."""
        return text_pieces(self)

    @property
    def response(self) -> ChatResponse:
        """The final response; reads the rest of the stream first if needed. With
        ``response_format``, ``parsed`` is filled in as :meth:`Client.chat` does (and a
        type the answer does not fit raises :class:`StructuredOutputError` here)."""
        if not self._acc.done:
            for _ in self:
                pass
        if self._format is None:
            return self._acc.snapshot()
        if self._final is None:
            self._final = finish(self._acc.snapshot(), self._format)
        return self._final

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


class AsyncChatStream:
    """Async twin of :class:`ChatStream`: ``async with`` sends the request,
    ``async for`` yields events, ``response`` (or ``await get_response()``) is final."""

    __slots__ = (
        "_acc", "_batched", "_events", "_final", "_format", "_pending", "_reader", "_restart",
        "_source", "_started",
    )  # fmt: skip

    def __init__(
        self,
        source: AsyncIterator[Any] | None,
        acc: Accumulator,
        restart: Callable[[LLMError], AsyncIterator[Event]] | None = None,
        *,
        batched: bool = False,
        reader: Any = None,
        response_format: Any = None,
    ) -> None:
        self._format: Any = response_format
        self._final: ChatResponse | None = None  # as in ChatStream
        # ``batched``: the source yields one list of events per network read.
        # ``reader``: instead of a source, an HTTP stream whose read loop runs in
        # _iterate itself (providers/_stream_reader.py): an async step less per read.
        self._source, self._batched, self._acc = source, batched, acc
        self._reader = reader
        self._pending: list[Event] = []
        self._started, self._restart = False, restart  # as in ChatStream
        self._events: Any = None  # the one async generator iteration goes through

    async def _first(self) -> None:
        reader = self._reader
        if reader is not None:
            try:
                self._pending = await reader.open()
                return
            except LLMError as exc:
                restart, failed = _restart_after(self, exc), exc
            self._reader = None
        else:
            try:
                first = await self._source.__anext__()  # type: ignore[union-attr]
            except StopAsyncIteration:
                return
            except LLMError as exc:
                restart, failed = _restart_after(self, exc), exc
            else:
                self._pending = first if self._batched else [first]
                return
        self._source, self._batched = restart(failed), False
        await self._first()

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            await self._first()

    async def __aenter__(self) -> AsyncChatStream:
        if not self._started:  # _start inline: a coroutine less on every stream
            self._started = True
            await self._first()
        return self

    def __aexit__(self, *exc: object) -> Awaitable[None]:
        return self.aclose()  # awaited by ``async with``; None: exceptions go on

    def __aiter__(self) -> AsyncIterator[Event]:
        # One generator step per event (an async __anext__ adds a coroutine per event).
        if self._events is None:
            self._events = self._iterate()
        return self._events  # type: ignore[no-any-return]

    def __anext__(self) -> Any:  # an awaitable of the next event
        return self.__aiter__().__anext__()

    async def _iterate(self) -> AsyncIterator[Event]:
        if not self._started:  # mostly entered already by ``async with``
            await self._start()
        acc = self._acc
        add, add_all = acc.add, acc.add_all
        pending, self._pending = self._pending, []
        reader = self._reader
        if reader is not None:
            # The reader's loop (as HttpProvider.astream_batches runs it), here, with
            # add_all's loop folded into the one that yields (each event is added
            # before it is yielded, and an error comes only between two reads).
            texts, text_delta = acc.text_buffer(), TextDelta
            events, ended = pending, reader.ended
            feed, chunks = reader.feed, reader.chunks
            try:
                try:
                    while True:
                        for event in events:
                            if event.__class__ is text_delta:
                                texts.append(event.text)  # type: ignore[attr-defined]
                            else:
                                add(event)
                            yield event
                        if ended:
                            break
                        try:
                            chunk = await chunks.__anext__()  # type: ignore[union-attr]
                        except StopAsyncIteration:
                            events, ended = reader.finish(), True
                        else:
                            events = feed(chunk)
                except BaseException as exc:
                    await reader.exit(exc)  # abandoned, cancelled or failed: dropped
                    raise
                await reader.exit(None)
            except LLMError as exc:
                failed = reader.fail(exc)
                _attach_partial(failed, acc)
                raise failed from None
            return
        # A read's events are folded into the accumulator before the first is yielded:
        # they were received, so a partial response or error keeps them either way.
        add_all(pending)
        for event in pending:
            yield event
        try:
            if self._batched:
                async for events in self._source:  # type: ignore[union-attr]
                    add_all(events)
                    for event in events:
                        yield event
            else:
                async for event in self._source:  # type: ignore[union-attr]
                    add(event)
                    yield event
        except LLMError as exc:
            _attach_partial(exc, self._acc)
            raise

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Just the text pieces, as they arrive."""
        return atext_pieces(self)

    @property
    def response(self) -> ChatResponse:
        """The final response; the stream must have been read to the end
        (use ``await stream.get_response()`` to read the rest first)."""
        if not self._acc.done:
            raise ConfigurationError(
                "the stream is not finished: iterate it to the end or await get_response()"
            )
        if self._format is None:
            return self._acc.snapshot()
        if self._final is None:
            self._final = finish(self._acc.snapshot(), self._format)
        return self._final

    async def get_response(self) -> ChatResponse:
        async for _ in self:
            pass
        return self.response

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()
        if self._reader is not None:  # opened and never iterated: the connection goes
            await self._reader.exit(GeneratorExit())
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()
