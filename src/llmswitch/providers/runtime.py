"""The innermost layer of a call: a provider that turns a ChatRequest into a response
or an event stream. :class:`~llmswitch.providers.http.HttpProvider` does it over HTTP
with an adapter; :class:`~llmswitch.providers.fake.FakeProvider` does it from a script."""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import LLMTimeoutError
from ..events import Event
from ..messages import ChatRequest, ChatResponse, ModelInfo
from ..wire import Timeout

if TYPE_CHECKING:
    import asyncio

__all__ = ["CallContext", "Deadlines", "FirstTokenTimer", "Provider", "timeout_error"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallContext:
    """Per-call settings handed to a provider. ``transport`` is the client's
    :class:`~llmswitch.transport.AsyncTransport` or ``SyncTransport``."""

    timeout: Timeout
    transport: Any = None


class Provider(Protocol):
    """A configured provider: ``id`` is what goes before the slash in ``"id/model"``.

    Streams are iterators the caller may abandon: closing them (``aclose()``/``close()``)
    must release the connection.
    """

    id: str

    async def achat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse: ...

    def astream(self, request: ChatRequest, ctx: CallContext) -> AsyncIterator[Event]: ...

    async def alist_models(self, ctx: CallContext) -> list[ModelInfo]: ...

    def chat(self, request: ChatRequest, ctx: CallContext) -> ChatResponse: ...

    def stream(self, request: ChatRequest, ctx: CallContext) -> Iterator[Event]: ...

    def list_models(self, ctx: CallContext) -> list[ModelInfo]: ...


def timeout_error(phase: str, timeout: Timeout) -> LLMTimeoutError:
    """The error of a call that ran into its ``first_token`` or ``total`` limit."""
    if phase == "first_token":
        limit = timeout.first_token
        return LLMTimeoutError(f"no first token within {limit}s", phase=phase, timeout=limit)
    limit = timeout.total
    return LLMTimeoutError(f"total timeout after {limit}s", phase="total", timeout=limit)


class Deadlines:
    """The first-token and total deadlines of one call, and the rule every provider
    follows: until the first event both apply and the earlier one is the one that
    fires (the first-token one on a tie); after it, only the total one.

    Blocking code asks :meth:`left` before each read and :meth:`expired` when a read
    timed out; code that sleeps asks :meth:`cap`. The async HTTP stream needs neither:
    its timers (the first-token one around the first read, the transport's total one)
    fire by the same rule.
    """

    __slots__ = ("first_at", "started", "timeout", "total_at")

    def __init__(self, timeout: Timeout, *, streaming: bool = True) -> None:
        now = time.monotonic()
        first, total = timeout.first_token, timeout.total
        self.timeout = timeout
        # A non-streamed answer arrives at once: it has no first token to wait for.
        self.first_at = now + first if streaming and first is not None else None
        self.total_at = now + total if total is not None else None
        self.started = False  # set by the caller once the first event exists

    def _current(self) -> tuple[float | None, str]:
        first, total = self.first_at, self.total_at
        if not self.started and first is not None and (total is None or first <= total):
            return first, "first_token"
        return total, "total"

    def left(self) -> float | None:
        """Seconds until the deadline that applies now (``None``: no limit); raises its
        LLMTimeoutError once it has passed."""
        at, phase = self._current()
        if at is None:
            return None
        remaining = at - time.monotonic()
        if remaining <= 0:
            raise timeout_error(phase, self.timeout)
        return remaining

    def expired(self) -> LLMTimeoutError:
        """The error for a read that timed out: that of the deadline that applied."""
        return timeout_error(self._current()[1], self.timeout)

    def cap(self, delay: float) -> tuple[float, str | None]:
        """Seconds to wait for something ``delay`` away, and the phase that times out
        first when it lies beyond the deadline that applies (else ``None``)."""
        at, phase = self._current()
        now = time.monotonic()
        if at is None or now + delay <= at:
            return delay, None
        return max(0.0, at - now), phase


class FirstTokenTimer:
    """The async stream's first-token deadline: cancels the running task when it
    passes. The stream turns the cancellation into its timeout error when
    :meth:`expired` says it was this timer's alone, and calls :meth:`cancel` once the
    first event exists. The deadlines of a loop's streams share one timer handle
    (:class:`_Watchdog`): a handle per stream (``loop.call_at`` and its cancel) costs
    about 2 us, paid on every stream, and ``asyncio.timeout`` twice that."""

    __slots__ = ("_cancelling", "_fired", "_task", "_watchdog")

    def __init__(self, delay: float) -> None:
        import asyncio  # here: `import llmswitch` skips asyncio's ~18 ms for sync users

        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None  # an async generator runs in its consumer's task
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        self._watchdog = watchdog = _watchdog(loop)
        watchdog.add(self, loop.time() + delay, loop)

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def expired(self) -> bool:
        """Whether a CancelledError came from this timer and from nobody else."""
        if not self._fired:
            return False
        self._fired = False
        return self._task.uncancel() <= self._cancelling

    def cancel(self) -> None:
        self._watchdog.discard(self)
        if self._fired:  # fired, but the task went on: take back its cancel request
            self._fired = False
            self._task.uncancel()


class _Watchdog:
    """One loop's pending first-token deadlines behind a single ``call_at`` handle, set
    for the earliest of them. Streams come and go far more often than deadlines pass:
    most end before the handle fires, and it is set again only when a deadline earlier
    than its own arrives or when it fires with deadlines still pending. Only touched
    from its loop's thread, and holds no reference to the loop (it is the value of a
    weak mapping keyed by the loop)."""

    __slots__ = ("_at", "_handle", "_pending")

    def __init__(self) -> None:
        self._pending: dict[FirstTokenTimer, float] = {}  # timer -> its loop-time deadline
        self._handle: asyncio.TimerHandle | None = None
        self._at = math.inf  # when the handle fires (inf: no handle)

    def add(self, timer: FirstTokenTimer, when: float, loop: asyncio.AbstractEventLoop) -> None:
        self._pending[timer] = when
        if when < self._at:
            self._schedule(when, loop)

    def discard(self, timer: FirstTokenTimer) -> None:
        self._pending.pop(timer, None)

    def _schedule(self, when: float, loop: asyncio.AbstractEventLoop) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._at = when
        self._handle = loop.call_at(when, self._run)

    def _run(self) -> None:
        self._handle, self._at = None, math.inf
        pending = self._pending
        if not pending:
            return
        import asyncio

        loop = asyncio.get_running_loop()  # a callback of its loop
        now = loop.time()
        due = [t for t, when in pending.items() if when <= now]
        for timer in due:
            del pending[timer]
            timer._fire()
        if pending:
            # The loop may run a handle a clock tick early: a deadline not yet passed
            # gets the handle again, so no deadline ever fires before its time.
            self._schedule(min(pending.values()), loop)


# The last loop's watchdog (the fast path) and every live loop's.
_last_watchdog: tuple[asyncio.AbstractEventLoop | None, _Watchdog | None] = (None, None)
_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watchdog] = (
    weakref.WeakKeyDictionary()
)


def _watchdog(loop: asyncio.AbstractEventLoop) -> _Watchdog:
    global _last_watchdog
    last, watchdog = _last_watchdog  # one global: read whole across threads
    if last is loop and watchdog is not None:
        return watchdog
    try:
        watchdog = _watchdogs.get(loop)
        if watchdog is None:
            watchdog = _watchdogs[loop] = _Watchdog()
    except TypeError:  # a loop without weak references: a watchdog per stream, as correct
        return _Watchdog()
    _last_watchdog = (loop, watchdog)
    return watchdog
