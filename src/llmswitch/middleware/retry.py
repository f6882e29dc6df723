"""Retries: exponential backoff with full jitter, honouring ``retry_after``, bounded by
a number of attempts and a total deadline.

:class:`RetryPolicy` is the sans-I/O decision (tenacity/stamina style): given the
error, how many tries failed and the time spent, it returns the delay before the next
try or ``None`` to give up. :class:`Retry` is the middleware that runs it on the chat
and stream paths, sync and async::

    from llmswitch import Client
    from llmswitch.middleware import Retry, RetryPolicy

    client = Client(middleware=[Retry(RetryPolicy(attempts=4, deadline=30))])

Only errors with ``retryable`` set are retried (429, 5xx, timeouts, connection
failures; not a 429 for an exhausted quota, never a bad request). A stream is retried
only until its first event has reached the caller; a failure after that propagates
unchanged, with what arrived kept in the error's ``partial``.

Tests: :func:`no_sleep` (a context manager) or ``Retry(policy, sleep=False)`` skip the
waits, record each delay that would have been slept, and count it as elapsed time
against the deadline, so tests run instantly and behave as they would in production::

    with no_sleep() as slept:
        client.chat("openai/gpt-4o-mini", messages)
    assert slept == [1.5]

Every retry is logged at INFO and every give-up at WARNING on the ``llmswitch.retry``
logger, with the fields ``event``, ``provider``, ``model``, ``attempt``, ``delay``,
``elapsed``, ``error`` (the class name) and ``status`` as record attributes. Error
messages are not logged, so nothing a provider echoed back can leak.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from random import uniform
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..errors import ConfigurationError, RateLimitError
from ..events import Event
from ..messages import ChatResponse
from ._drive import Layer, Op, Script, Try, adrive_chat, adrive_stream, drive_chat, drive_stream
from .base import (
    OTHER_KEYS_KEY,
    AsyncChatHandler,
    AsyncStreamHandler,
    Call,
    ChatHandler,
    StreamHandler,
)

if TYPE_CHECKING:
    from ._signals import Metrics

__all__ = ["Retry", "RetryPolicy", "Tries", "no_sleep"]

logger = get_logger("llmswitch.retry")

# Why a try was not followed by another (the ``reason`` of a give-up log event).
RETRY = "retry"
NOT_RETRYABLE = "not_retryable"
ATTEMPTS_EXHAUSTED = "attempts_exhausted"
DEADLINE = "deadline"
RETRY_AFTER_TOO_LONG = "retry_after_too_long"


def _check(name: str, value: Any, lo: float, *, integer: bool = False) -> None:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (isinstance(value, int) or not integer)
        and math.isfinite(value)
        and value >= lo
    )
    if not ok:
        what = "an integer" if integer else "a number"
        raise ConfigurationError(f"RetryPolicy.{name} must be {what} >= {lo:g}", field=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When to try again, and after how long.

    ``attempts``: total tries including the first. The backoff before try ``n + 1`` is
    ``min(max_delay, initial * multiplier ** (n - 1))`` with full jitter (a uniform
    draw from 0 to that, via ``random``). A retryable error's ``retry_after`` replaces
    the backoff; when it is longer than ``max_retry_after`` or than what is left of the
    ``deadline`` (seconds across all tries; ``None`` for none), the call gives up at
    once instead of waiting for a try it could not make in time.
    """

    attempts: int = 3
    initial: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 8.0
    deadline: float | None = 60.0
    max_retry_after: float = 60.0
    random: Callable[[float, float], float] = field(default=uniform, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check("attempts", self.attempts, 1, integer=True)
        _check("initial", self.initial, 0)
        _check("multiplier", self.multiplier, 1)
        _check("max_delay", self.max_delay, 0)
        _check("max_retry_after", self.max_retry_after, 0)
        if self.deadline is not None:
            _check("deadline", self.deadline, 0)
        if not callable(self.random):
            raise ConfigurationError("RetryPolicy.random must be a function", field="random")

    def decide(self, error: BaseException, attempt: int, elapsed: float) -> float | None:
        """Seconds to wait before the next try, or ``None`` to give up (re-raise ``error``).

        ``attempt`` is the 1-based number of the try that just failed with ``error``;
        ``elapsed`` the seconds since the first try started."""
        return self.explain(error, attempt, elapsed)[0]

    def explain(
        self, error: BaseException, attempt: int, elapsed: float
    ) -> tuple[float | None, str]:
        """:meth:`decide` plus the reason: ``"retry"``, ``"not_retryable"``,
        ``"attempts_exhausted"``, ``"deadline"`` or ``"retry_after_too_long"``."""
        if getattr(error, "retryable", False) is not True:
            return None, NOT_RETRYABLE
        if attempt >= self.attempts:
            return None, ATTEMPTS_EXHAUSTED
        remaining = math.inf if self.deadline is None else self.deadline - elapsed
        retry_after = getattr(error, "retry_after", None)
        if (
            isinstance(retry_after, int | float)
            and not isinstance(retry_after, bool)
            and math.isfinite(retry_after)
            and retry_after >= 0
        ):
            if retry_after > self.max_retry_after:
                return None, RETRY_AFTER_TOO_LONG
            delay = float(retry_after)
        else:
            try:
                backoff = min(self.max_delay, self.initial * self.multiplier ** (attempt - 1))
            except OverflowError:
                backoff = self.max_delay
            delay = self.random(0.0, backoff)
        # A try that would start at or after the deadline has no time left to run.
        if delay >= remaining:
            return None, DEADLINE
        return delay, RETRY


# --------------------------------------------------------------------------- testing mode

_NO_SLEEP: ContextVar[list[float] | None] = ContextVar("llmswitch_retry_no_sleep", default=None)


@contextmanager
def no_sleep() -> Iterator[list[float]]:
    """Within the block, every :class:`Retry` skips its waits; yields the list of delays
    that would have been slept, in order. Skipped delays still count against the
    policy's deadline. Scoped by :mod:`contextvars`: it covers code run in this context
    (``asyncio.run`` and tasks started inside the block, ``asyncio.to_thread``), not
    threads started with plain :mod:`threading`."""
    slept: list[float] = []
    token = _NO_SLEEP.set(slept)
    try:
        yield slept
    finally:
        _NO_SLEEP.reset(token)


# --------------------------------------------------------------------------- middleware


class _Attempts:
    """The bookkeeping of one call's tries: start time and time skipped in testing mode."""

    __slots__ = ("n", "skipped", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.n = 0  # 0-based number of the current try (``Call.attempt``)
        self.skipped = 0.0


class Retry(Layer):
    """Retry failed calls by a :class:`RetryPolicy` (default: 3 tries, 60 s deadline).

    Each try passes ``call.replace(attempt=n)`` on (``n`` = 0 for the first try).
    ``sleep``: ``True`` waits with :func:`time.sleep` / :func:`asyncio.sleep`; a
    function replaces ``time.sleep`` (and ``async_sleep`` replaces ``asyncio.sleep``);
    ``False`` is the testing mode: no waiting, each delay recorded in :attr:`sleeps`
    and counted as elapsed. ``clock`` is the monotonic clock the deadline is measured on.
    ``metrics``: told of each retry (reason: the error's class name).
    ``within_timeout``: the call's ``total`` timeout covers all of its tries (a retry gets
    what is left of it; none starts once it is spent) — what the client's default
    retries (``max_retries``) do. Off, each try gets the whole timeout and only
    ``policy.deadline`` bounds the retrying.
    """

    per_attempt = True

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: bool | Callable[[float], None] = True,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        within_timeout: bool = False,
    ) -> None:
        self.policy = policy if policy is not None else RetryPolicy()
        self._within_timeout = within_timeout
        self._real = sleep is not False
        self._sleep: Callable[[float], None] = sleep if callable(sleep) else time.sleep
        self._async_sleep: Callable[[float], Awaitable[None]] = async_sleep or asyncio.sleep
        self._clock = clock
        self._metrics = metrics
        # Delays skipped in testing mode (sleep=False or under no_sleep()), in order.
        self.sleeps: list[float] = []

    def __repr__(self) -> str:
        return f"Retry({self.policy!r})"

    # ---- decisions shared by the four paths

    def _next_delay(self, call: Call, error: BaseException, tries: _Attempts) -> float | None:
        """The wait before the next try, logged; ``None`` to re-raise ``error``."""
        if isinstance(error, RateLimitError) and call.state.get(OTHER_KEYS_KEY):
            return None  # the key-rotation layer outside moves to another key at once
        elapsed = self._clock() - tries.start + tries.skipped
        delay, reason = self.policy.explain(error, tries.n + 1, elapsed)
        total = call.ctx.timeout.total if self._within_timeout else None
        if delay is not None and total is not None and elapsed + delay >= total:
            # The call's total timeout covers every try: no time is left for another.
            delay, reason = None, DEADLINE
        if reason != NOT_RETRYABLE:
            self._log(call, error, tries.n + 1, delay, elapsed, reason)
        if delay is not None and self._metrics is not None:
            self._metrics.retry(call.request.provider, call.request.model, type(error).__name__)
        return delay

    def _skip(self, delay: float, tries: _Attempts) -> bool:
        """In testing mode, record ``delay`` instead of sleeping it (True)."""
        slept = _NO_SLEEP.get()
        if self._real and slept is None:
            return False
        if slept is not None:
            slept.append(delay)
        self.sleeps.append(delay)
        tries.skipped += delay
        return True

    def _pause(self, delay: float, tries: _Attempts) -> None:
        if not self._skip(delay, tries):
            self._sleep(delay)
        tries.n += 1

    async def _apause(self, delay: float, tries: _Attempts) -> None:
        if not self._skip(delay, tries):
            await self._async_sleep(delay)
        tries.n += 1

    @staticmethod
    def _log(
        call: Call,
        error: BaseException,
        attempt: int,
        delay: float | None,
        elapsed: float,
        reason: str,
    ) -> None:
        level = logging.INFO if delay is not None else logging.WARNING
        if not logger.isEnabledFor(level):
            return
        event = "retry.scheduled" if delay is not None else "retry.gave_up"
        fields = {
            "event": event,
            "provider": call.request.provider,
            "model": call.request.model,
            "attempt": attempt,
            "delay": delay,
            "elapsed": round(elapsed, 3),
            "error": type(error).__name__,
            "status": getattr(error, "status_code", None),
            "reason": reason,
        }
        logger.log(
            level,
            "%s provider=%s model=%s attempt=%d delay=%s elapsed=%.3f error=%s reason=%s",
            event,
            fields["provider"],
            fields["model"],
            attempt,
            "-" if delay is None else f"{delay:.3f}",
            elapsed,
            fields["error"],
            reason,
            extra=fields,
        )

    def _for(self, call: Call, tries: _Attempts) -> Call:
        """The call for try ``tries.n``: a retry gets what is left of the total timeout."""
        n = tries.n
        timeout = call.ctx.timeout
        if n == 0 or timeout.total is None or not self._within_timeout:
            return call if call.attempt == n else call.replace(attempt=n)
        left = timeout.total - (self._clock() - tries.start + tries.skipped)
        return call.replace(attempt=n, ctx=replace(call.ctx, timeout=timeout.within(left)))

    # ---- the tries: one script for the four paths (the drivers retry a stream only
    # until its first event has been handed on)

    def script(self, call: Call, stream: bool) -> Script:
        return self._tries(call, None, None)

    def _tries(self, call: Call, error: BaseException | None, start: float | None) -> Script:
        # A generator, so a stream reads the clock when it is first iterated.
        tries = _Attempts(self._clock() if start is None else start)
        while True:
            if error is not None:
                delay = self._next_delay(call, error, tries)
                if delay is None:
                    raise error
                yield Op(self._pause, self._apause, delay, tries)
            attempt = Try(self._for(call, tries))
            try:
                return (yield attempt)
            except Exception as exc:
                if attempt.started:  # committed: what arrived is the caller's already
                    raise
                error = exc

    # ---- carrying on after a first try made without this layer: the client's default
    # retry sends the first try straight to the provider, so a call that succeeds pays
    # nothing for it. ``start`` is when that try began, on this layer's clock.

    def resume_chat(
        self, call: Call, next: ChatHandler, error: BaseException, start: float
    ) -> ChatResponse:
        response: ChatResponse = drive_chat(self._tries(call, error, start), next)
        return response

    async def aresume_chat(
        self, call: Call, next: AsyncChatHandler, error: BaseException, start: float
    ) -> ChatResponse:
        response: ChatResponse = await adrive_chat(self._tries(call, error, start), next)
        return response

    def resume_stream(
        self, call: Call, next: StreamHandler, error: BaseException, start: float
    ) -> Iterator[Event]:
        return drive_stream(self._tries(call, error, start), next)

    def aresume_stream(
        self, call: Call, next: AsyncStreamHandler, error: BaseException, start: float
    ) -> AsyncIterator[Event]:
        return adrive_stream(self._tries(call, error, start), next)

    # ---- tries started by the caller's own code: a stream resumed after its first event
    # (llmswitch._resume) makes a new request per try, which no script can do for it.

    def tries(self, call: Call, start: float | None = None) -> Tries:
        """The tries of ``call`` as this layer counts them (``start``: when the first one
        began, on this layer's clock; default now)."""
        return Tries(self, call, self._clock() if start is None else start)


class Tries:
    """One call's tries, counted, timed and decided as :class:`Retry` does, for code that
    makes each try itself. ``delay(error)``: the wait before the next try, or ``None``
    to give up (the same policy, logs, metrics and total-timeout rule as a retry);
    ``wait(delay)`` / ``await await_(delay)``: sleep it (or record it in testing mode)
    and count the try; ``call()``: the call for the current try (its ``attempt``, and
    what is left of the total timeout when the layer is ``within_timeout``);
    ``number``: the current try, 1-based."""

    __slots__ = ("_call", "_retry", "_tries")

    def __init__(self, retry: Retry, call: Call, start: float) -> None:
        self._retry, self._call, self._tries = retry, call, _Attempts(start)

    @property
    def number(self) -> int:
        return self._tries.n + 1

    def delay(self, error: BaseException) -> float | None:
        return self._retry._next_delay(self._call, error, self._tries)

    def wait(self, delay: float) -> None:
        self._retry._pause(delay, self._tries)

    async def await_(self, delay: float) -> None:
        await self._retry._apause(delay, self._tries)

    def call(self) -> Call:
        return self._retry._for(self._call, self._tries)
