"""The innermost layer of a call: a provider that turns a ChatRequest into a response
or an event stream. :class:`~llmswitch.providers.http.HttpProvider` does it over HTTP
with an adapter; :class:`~llmswitch.providers.fake.FakeProvider` does it from a script."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import LLMTimeoutError
from ..events import Event
from ..messages import ChatRequest, ChatResponse, ModelInfo
from ..wire import Timeout

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
    """The async stream's first-token deadline: one timer handle that cancels the
    running task when it fires (``asyncio.timeout`` costs about twice as much, paid
    on every stream). The stream turns the cancellation into its timeout error when
    :meth:`expired` says it was this timer's alone, and calls :meth:`cancel` once the
    first event exists."""

    __slots__ = ("_cancelling", "_fired", "_handle", "_task")

    def __init__(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None  # an async generator runs in its consumer's task
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        self._handle = loop.call_at(loop.time() + delay, self._fire)

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
        self._handle.cancel()
        if self._fired:  # fired, but the task went on: take back its cancel request
            self._fired = False
            self._task.uncancel()
