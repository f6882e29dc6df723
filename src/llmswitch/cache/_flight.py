"""In-process coalescing: identical concurrent misses share one upstream call.

The first caller of a key becomes its leader; the others wait on its :class:`Flight`
(threads block on an ``Event``, tasks await a future of their own loop, so sync and
async callers of one client can share a flight) and, when it lands, read the entry it
stored (the entry itself, handed over in memory, so this works while a shared backend
is down). A waiter that finds nothing (the leader failed, or its answer was not
cacheable) claims the key again: one of them leads next. A wait is bounded, so a leader
that hangs delays the others by at most that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

__all__ = ["Flight", "Flights"]


class Flight:
    # ``held``: a lock the leader holds until it lands (a threading.Event costs ~50x
    # more to make, on every miss); ``landed`` is set first.
    # ``entry``: what the leader got to store, handed to this process's waiters
    # directly, so they need not read it back: with a shared backend that is down
    # (Redis), the read misses and each waiter would call upstream in turn.
    __slots__ = ("_waiters", "entry", "held", "landed")

    def __init__(self) -> None:
        self.held = threading.Lock()
        self.held.acquire()
        self.landed = False
        self.entry: Any = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def wait(self, timeout: float) -> None:
        if self.held.acquire(timeout=timeout):
            self.held.release()  # the next waiter passes too

    async def await_(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with _LOCK:
            if self.landed:
                return
            self._waiters.append((loop, future))
        with contextlib.suppress(TimeoutError):  # the leader hangs: go on without it
            await asyncio.wait_for(future, timeout)

    def land(self) -> None:
        with _LOCK:
            self.landed = True
            waiters, self._waiters = self._waiters, []
        self.held.release()
        for loop, future in waiters:
            # A closed loop (RuntimeError): nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_LOCK = threading.Lock()


class Flights:
    """The flights in progress, by cache key."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}

    def claim(self, key: str) -> tuple[Flight, bool]:
        """The key's flight, and whether the caller leads it (else it waits)."""
        with _LOCK:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Flight()
            return flight, True

    def land(self, key: str, flight: Flight) -> None:
        """The leader is done (stored or failed): wake the waiters."""
        with _LOCK:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.land()

    def __len__(self) -> int:
        return len(self._flights)
