"""Middleware written once: a layer's decisions as a generator, run by four drivers.

A built-in layer (retry, breaker, rate limit, router, key rotation, metrics) is a
:class:`Layer`. Its :meth:`Layer.script` is a generator that *yields effects* and
gets their results back, the way tenacity/stamina keep the retry decision apart from
the sleeping and httpx drives its auth flow:

- :class:`Op` — "call this": a sync callable and its async twin with the same
  arguments (a state-store operation, a sleep, a queue wait). :func:`store_op` builds
  one for a :class:`~llmswitch.storage.StateStore` method.
- :class:`Try` — "run the layers inside me with this call". A chat try answers with
  the :class:`ChatResponse`; a stream try answers when the stream *settles*: with its
  :class:`StreamEnd`, or ``None`` when the stream ended without one (nothing came, or
  the provider stopped short). A failure is raised inside the script at the ``yield``.

The drivers (sync and async, chat and stream) perform the effects and own the rules every
layer used to repeat by hand:

- **Retry only before the first event.** Until a stream try has handed an event on,
  its failure is raised in the script, which may yield another :class:`Try`. After
  that the stream is committed: ``Try.started`` is true, and yielding another try is
  a bug (``RuntimeError``).
- **A stream settles once**: at its first ``StreamEnd`` (before that event reaches the
  caller, so a layer's bookkeeping is done when the caller sees the end), at an error,
  or when the caller closes it early (``GeneratorExit`` is raised in the script). The
  script then runs its settling effects and returns (or re-raises); the stream's own
  outcome propagates either way, and events after the settlement pass straight on.
- **The inner stream is always closed**, on every path.

A script that returns before yielding any :class:`Try` answers the call itself: its
return value is the response (chat) or an iterable of events (stream; on the async
paths an async iterable too, e.g. a cache replay that sleeps between events).

Per event the stream drivers do one type check beyond relaying, so a layer costs
about what its hand-written generator did.
"""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, TypeGuard, cast

from ..events import Event, StreamEnd
from ..messages import ChatResponse
from .base import (
    AsyncChatHandler,
    AsyncStreamHandler,
    Call,
    ChatHandler,
    Middleware,
    StreamHandler,
)

__all__ = [
    "Layer", "Op", "Ops", "Script", "Try", "aclose_source", "arun", "close_source", "run",
    "store_op",
]  # fmt: skip


class Op:
    """An effect with a blocking and an awaitable form: ``sync(*args)`` on the sync
    paths, ``await async_(*args)`` on the async ones. ``now``: ``async_`` is a plain
    function that never suspends (an in-process store's operation), which the async
    drivers call without an await, a coroutine less per effect (see :func:`now_op`)."""

    __slots__ = ("args", "async_", "kwargs", "now", "sync")

    def __init__(
        self,
        sync: Callable[..., Any],
        async_: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.sync = sync
        self.async_ = async_
        self.args = args
        self.kwargs = kwargs
        self.now = False


def now_op(
    sync: Callable[..., Any], async_now: Callable[..., Any], *args: Any, **kwargs: Any
) -> Op:
    """An :class:`Op` whose async-path form ``async_now(*args)`` is called as it is."""
    op = Op(sync, async_now, *args, **kwargs)
    op.now = True
    return op


def is_inline(store: Any) -> bool:
    """Whether ``store``'s class says its async methods never suspend (``inline``, the
    memory store). The class's word only: a proxy's ``__getattr__`` does not count, as
    the proxy may override an async form."""
    return bool(getattr(type(store), "inline", False))


def store_op(store: Any, method: str, *args: Any, **kwargs: Any) -> Op:
    """``store.<method>(*args, **kwargs)`` / ``await store.a<method>(...)``; for an
    inline store (:func:`is_inline`) the sync method on both paths."""
    sync = getattr(store, method)
    if is_inline(store):
        return now_op(sync, sync, *args, **kwargs)
    return Op(sync, getattr(store, "a" + method), *args, **kwargs)


class Try:
    """Run the inner layers with ``call``. After a stream try the driver has set
    ``started`` (an event was handed on: no retry any more) and ``first_at`` (when the
    first event arrived, read from ``clock``: a layer with its own clock, injectable
    in tests, measures time to first event on it). ``each``, for a stream, maps every
    event the inner layers yield before it is passed on (``None`` drops it); the
    settling rules then apply to what it returns."""

    __slots__ = ("call", "clock", "each", "first_at", "started")

    def __init__(
        self,
        call: Call,
        clock: Callable[[], float] = time.monotonic,
        each: Callable[[Event], Event | None] | None = None,
    ) -> None:
        self.call = call
        self.clock = clock
        self.each = each
        self.started = False
        self.first_at: float | None = None


Script = Generator[Op | Try, Any, Any]
Ops = Generator[Op, Any, Any]
"""Decisions that only need effects (a status read, a key pick): run by :func:`run`
or :func:`arun`."""


def _no_try(call: Call) -> Any:
    raise RuntimeError("an Ops generator yielded a Try: only a Layer script may")


async def _ano_try(call: Call) -> Any:
    _no_try(call)


def run(ops: Ops) -> Any:
    """Perform ``ops``' effects blocking; its return value."""
    return drive_chat(ops, _no_try)


async def arun(ops: Ops) -> Any:
    """Perform ``ops``' effects awaiting; its return value."""
    return await adrive_chat(ops, _ano_try)


class Layer(Middleware):
    """A middleware whose four entry points are the drivers of one :meth:`script`."""

    def script(self, call: Call, stream: bool) -> Script | None:
        """The decisions for ``call``; ``None`` passes the call through untouched
        (no generator is run at all)."""
        return None

    def chat(self, call: Call, next: ChatHandler) -> ChatResponse:
        script = self.script(call, False)
        if script is None:
            return next(call)
        response: ChatResponse = drive_chat(script, next)
        return response

    def achat(self, call: Call, next: AsyncChatHandler) -> Awaitable[ChatResponse]:
        # The driver's coroutine itself (or the next layer's awaitable), not awaited in
        # one more: a coroutine less per layer and call (~2k instructions each).
        script = self.script(call, False)
        if script is None:
            return next(call)
        return adrive_chat(script, next)  # type: ignore[no-any-return]

    def stream(self, call: Call, next: StreamHandler) -> Iterator[Event]:
        script = self.script(call, True)
        if script is None:
            return next(call)
        return drive_stream(script, next)

    def astream(self, call: Call, next: AsyncStreamHandler) -> AsyncIterator[Event]:
        script = self.script(call, True)
        if script is None:
            return next(call)
        return adrive_stream(script, next)


# ---------------------------------------------------------------------- chat drivers


def drive_chat(script: Script, next: ChatHandler) -> Any:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = script.send(value) if error is None else script.throw(error)
        except StopIteration as done:
            return done.value
        value = error = None
        try:
            value = (
                effect.sync(*effect.args, **effect.kwargs)
                if type(effect) is Op
                else next(effect.call)  # type: ignore[union-attr]
            )
        except BaseException as exc:
            error = exc


async def adrive_chat(script: Script, next: AsyncChatHandler) -> Any:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = script.send(value) if error is None else script.throw(error)
        except StopIteration as done:
            return done.value
        value = error = None
        try:
            # `now` is tested in each driver: a shared helper would be a coroutine per effect.
            if type(effect) is not Op:
                value = await next(effect.call)  # type: ignore[union-attr]
            elif effect.now:
                value = effect.async_(*effect.args, **effect.kwargs)
            else:
                value = await effect.async_(*effect.args, **effect.kwargs)
        except BaseException as exc:
            error = exc


# ---------------------------------------------------------------------- settling


def _settling_step(script: Script, value: Any, error: BaseException | None) -> Op | None:
    """The next settling effect of a committed script, or ``None`` when it is done.
    The script must not try again; whatever it returns or re-raises of ``error`` is
    dropped: the stream's own outcome wins."""
    try:
        effect = script.send(value) if error is None else script.throw(error)
    except StopIteration:
        return None
    except BaseException as exc:
        if exc is error:
            return None
        raise
    if type(effect) is not Op:
        script.close()
        raise RuntimeError("a layer tried a stream again after its first event")
    return effect


def _settle(script: Script, value: Any, error: BaseException | None) -> None:
    """Hand the stream's outcome to a committed script and run its settling effects."""
    while (effect := _settling_step(script, value, error)) is not None:
        value = error = None
        try:
            value = effect.sync(*effect.args, **effect.kwargs)
        except BaseException as exc:
            error = exc


async def _asettle(script: Script, value: Any, error: BaseException | None) -> None:
    while (effect := _settling_step(script, value, error)) is not None:
        value = error = None
        try:
            if effect.now:
                value = effect.async_(*effect.args, **effect.kwargs)
            else:
                value = await effect.async_(*effect.args, **effect.kwargs)
        except BaseException as exc:
            error = exc


def close_source(source: Any) -> None:
    """``source.close()`` if it has one (a generator, a stream)."""
    close = getattr(source, "close", None)
    if close is not None:
        close()


async def aclose_source(source: Any) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        await aclose()


async def _aclose_both(events: Any, source: Any) -> None:
    if events is not source:  # a map over source: close it first, then source
        await aclose_source(events)
    await aclose_source(source)


# ``x is not None`` without a Python-level call per event.
_kept = cast("Callable[[Event | None], TypeGuard[Event]]", functools.partial(operator.is_not, None))


async def _amapped(
    source: AsyncIterator[Event], each: Callable[[Event], Event | None]
) -> AsyncIterator[Event]:
    """``source`` with ``each`` applied, dropping what it maps to ``None``. The driver
    closes this and ``source`` both."""
    async for event in source:
        if (out := each(event)) is not None:
            yield out


# ---------------------------------------------------------------------- stream drivers


def drive_stream(script: Script, next: StreamHandler) -> Iterator[Event]:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = script.send(value) if error is None else script.throw(error)
        except StopIteration as done:
            if done.value is not None:
                yield from done.value
            return
        value = error = None
        if type(effect) is Op:
            try:
                value = effect.sync(*effect.args, **effect.kwargs)
            except BaseException as exc:
                error = exc
            continue
        attempt: Try = effect  # type: ignore[assignment]
        source: Iterator[Event] | None = None
        try:
            source = events = next(attempt.call)
            if attempt.each is not None:  # all in C but ``each`` itself
                events = filter(_kept, map(attempt.each, source))
            first = events.__next__()
        except StopIteration:
            close_source(source)
            continue  # nothing came: the script gets None
        except BaseException as exc:
            if source is not None:
                close_source(source)
            error = exc
            continue
        attempt.started = True
        attempt.first_at = attempt.clock()
        settled = False
        try:
            if type(first) is StreamEnd:
                settled = True
                _settle(script, first, None)
            yield first
            if not settled:
                for event in events:
                    if type(event) is StreamEnd:
                        settled = True
                        _settle(script, event, None)
                        yield event
                        break
                    yield event
                else:
                    settled = True
                    _settle(script, None, None)
            yield from events  # after the settlement, events pass straight on
        except BaseException as exc:  # GeneratorExit too: the caller stopped early
            if not settled:
                settled = True
                _settle(script, None, exc)
            raise
        finally:
            close_source(source)
        return


async def adrive_stream(script: Script, next: AsyncStreamHandler) -> AsyncIterator[Event]:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = script.send(value) if error is None else script.throw(error)
        except StopIteration as done:
            replay: Any = done.value
            if replay is not None:
                if hasattr(replay, "__aiter__"):  # a replay that awaits (a paced cache hit)
                    async for event in replay:
                        yield event
                else:
                    for event in replay:
                        yield event
            return
        value = error = None
        if type(effect) is Op:
            try:
                if effect.now:
                    value = effect.async_(*effect.args, **effect.kwargs)
                else:
                    value = await effect.async_(*effect.args, **effect.kwargs)
            except BaseException as exc:
                error = exc
            continue
        attempt: Try = effect  # type: ignore[assignment]
        source: AsyncIterator[Event] | None = None
        events: AsyncIterator[Event] | None = None
        try:
            source = events = next(attempt.call)
            if attempt.each is not None:
                events = _amapped(source, attempt.each)
            event = await events.__anext__()
        except StopAsyncIteration:
            await _aclose_both(events, source)
            continue
        except BaseException as exc:
            await _aclose_both(events, source)
            error = exc
            continue
        attempt.started = True
        attempt.first_at = attempt.clock()
        settled = False
        try:
            if type(event) is StreamEnd:
                settled = True
                await _asettle(script, event, None)
            yield event
            if not settled:
                async for event in events:
                    if type(event) is StreamEnd:
                        settled = True
                        await _asettle(script, event, None)
                        yield event
                        break
                    yield event
                else:
                    settled = True
                    await _asettle(script, None, None)
            async for event in events:
                yield event
        except BaseException as exc:
            if not settled:
                settled = True
                await _asettle(script, None, exc)
            raise
        finally:
            await _aclose_both(events, source)
        return
