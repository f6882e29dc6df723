"""The rate limiter's bookkeeping: what a call charges (:class:`Plan`), a waiting call
(:class:`Waiter`), the serving order and one pass of the queue (:func:`pump`), kept
apart from :mod:`llmswitch.middleware.ratelimit` so the queue's rules read on their own
and stay sans-I/O (the pump yields the waiters to try; the limiter does the store I/O).

The one thing the sync and async paths do differently is how a waiting call holds the
queue and sleeps: :class:`ThreadQueue` (a thread lock, ``threading.Event``) and
:class:`LoopQueue` (an asyncio lock per event loop, ``asyncio.Event``), each with the
same small surface the limiter's one queue script uses."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..storage.base import OnStateError

__all__ = ["LoopQueue", "Plan", "Queue", "ThreadQueue", "Waiter", "kick", "order", "pump"]


@dataclass(slots=True)
class Plan:
    """What one call charges: sliding-log entries, quota keys, and its reservation."""

    entries: list[tuple[str, int, int]]
    token_keys: list[str]
    reserved: int
    prompt: int
    quota_requests: list[tuple[str, int, float, str]] = field(default_factory=list)
    quota_tokens: list[tuple[str, int, float, str]] = field(default_factory=list)
    at: float = 0.0
    ident: str = ""  # the store's name for this call's log entries ("" = none)
    scopes: str = ""  # the scopes of the limits it falls under, for logs
    limit_policy: OnStateError = "fail_open"
    quota_policy: OnStateError = "fail_closed"
    oversized: bool = False  # asks more tokens than a limit allows: can never fit


@dataclass(eq=False, slots=True)
class Waiter:
    plan: Plan
    priority: int
    user: str
    seq: int
    deadline: float
    ready_at: float  # when the store said it may fit (a lower bound)
    event: Any = None  # threading.Event or asyncio.Event
    since: float = 0.0  # when it started waiting
    granted: bool = False
    rejected: float | None = None  # retry_after when refused
    sleep_until: float = 0.0  # when its task will look again unless woken
    keys: tuple[str, ...] = ()
    amounts: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.keys = tuple(k for k, _, _ in self.plan.entries)
        self.amounts = tuple(a for _, a, _ in self.plan.entries)

    @property
    def certain(self) -> bool:
        """Whether the store's wait cannot shrink: nothing it counts is ever refunded."""
        return not self.plan.token_keys


def order(waiters: Sequence[Waiter], served: dict[tuple[int, str], int]) -> list[Waiter]:
    """The fairness rule (see module docs): by priority; within one, round-robin by
    user — each user's n-th oldest waiting call in round n, and within a round the
    user served least recently (``served``: when each user was last served) first."""
    rank: dict[tuple[int, str], int] = {}
    keyed = []
    for w in sorted(waiters, key=lambda w: w.seq):
        who = (w.priority, w.user)
        n = rank.get(who, 0)
        rank[who] = n + 1
        keyed.append(((w.priority, n, served.get(who, -1), w.seq), w))
    keyed.sort(key=lambda kw: kw[0])
    return [w for _, w in keyed]


def pump(
    waiters: list[Waiter], served: dict[tuple[int, str], int], now: float, seq: Iterator[int]
) -> Generator[Waiter, float, None]:
    """One pass over the queue in serving order (sans-I/O: yields each waiter to try
    against the store and receives the store's wait). Only waiters whose time has come
    are tried, once each; one behind a not-yet-fitting waiter under the same limits,
    asking at least as much, inherits its time without a round trip. Granted and
    refused waiters leave ``waiters`` and have their event set."""
    blocked: dict[tuple[str, ...], tuple[tuple[int, ...], float]] = {}
    for w in order(waiters, served):
        ahead = blocked.get(w.keys)
        if ahead is not None and all(a >= b for a, b in zip(w.amounts, ahead[0], strict=True)):
            w.ready_at = max(w.ready_at, ahead[1])
        elif w.ready_at <= now:
            wait = yield w
            if wait == 0.0:
                w.granted = True
                waiters.remove(w)
                served[(w.priority, w.user)] = next(seq)
                w.event.set()
                continue
            w.ready_at = now + wait
        if w.ready_at > w.deadline and (w.certain or math.isinf(w.ready_at)):  # refuse now
            w.rejected = w.ready_at - now
            waiters.remove(w)
            w.event.set()
            continue
        if ahead is None:
            blocked[w.keys] = (w.amounts, w.ready_at)
        if w.ready_at < w.sleep_until:  # its task sleeps too long: make it look again
            w.event.set()
    if not waiters:
        served.clear()


def kick(waiters: list[Waiter], now: float) -> None:
    """Capacity may have freed (a refund, :meth:`RateLimiter.wake`): every waiter is due
    for a try; one task runs the pump for all."""
    for w in waiters:
        w.ready_at = min(w.ready_at, now)
    if waiters:
        waiters[0].event.set()


class Queue:
    """The calls waiting on one path, ``served`` (see :func:`order`) and the lock that
    guards both while a call looks at them (:meth:`release` is sync on both paths)."""

    __slots__ = ("lock", "served", "waiters")

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.waiters: list[Waiter] = []
        # (priority, user) -> when last served from the queue; reset when it empties
        self.served: dict[tuple[int, str], int] = {}

    def release(self) -> None:
        """Leave the section entered with ``enter``/``aenter``."""
        self.lock.release()

    def join(self, waiter: Waiter) -> Waiter:
        waiter.event = self._event()
        self.waiters.append(waiter)
        return waiter

    def _event(self) -> Any:
        raise NotImplementedError

    def leave(self, waiter: Waiter) -> None:
        """``waiter`` is done (admitted, refused or given up)."""
        raise NotImplementedError

    def _forget(self, waiter: Waiter) -> None:
        if waiter in self.waiters:
            self.waiters.remove(waiter)
        if not self.waiters:
            self.served.clear()


class _NoLock:
    """The lock of an unlocked :class:`LoopQueue`: its release is nothing."""

    __slots__ = ()

    def release(self) -> None:
        pass


_NO_LOCK = _NoLock()


class ThreadQueue(Queue):
    """The sync path's queue: callers on several threads."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(threading.Lock())

    def enter(self) -> ThreadQueue:
        self.lock.acquire()
        return self

    def _event(self) -> Any:
        return threading.Event()

    @staticmethod
    def sleep(event: threading.Event, seconds: float) -> None:
        event.wait(seconds)

    def leave(self, waiter: Waiter) -> None:
        with self.lock:
            self._forget(waiter)


class LoopQueue(Queue):
    """The async path's queue: one event loop's tasks (the lock belongs to the loop
    that made it, so a new loop gets a new one). ``locked=False`` for a limiter whose
    store never suspends: its sections then run whole between two awaits, which no
    other task of the loop can enter, so they take no lock (:meth:`enter`)."""

    __slots__ = ("loop",)

    def __init__(self, *, locked: bool = True) -> None:
        super().__init__(None if locked else _NO_LOCK)
        self.loop: asyncio.AbstractEventLoop | None = None

    def enter(self) -> LoopQueue:
        """The section, without a lock (``locked=False`` only)."""
        return self

    async def aenter(self) -> LoopQueue:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self.loop, self.lock = loop, asyncio.Lock()
        await self.lock.acquire()
        return self

    def _event(self) -> Any:
        return asyncio.Event()

    @staticmethod
    async def asleep(event: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    def leave(self, waiter: Waiter) -> None:  # no await between looking and removing
        self._forget(waiter)
