"""In-process state: dicts under one lock. The default backend."""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from .base import Admission, StateStore, WindowEntry, keyed_id, resolve_secret

__all__ = ["MemoryStore"]


class MemoryStore(StateStore):
    """Thread-safe in-memory :class:`StateStore`. ``clock`` (seconds, default
    ``time.time``) decides TTL expiry; tests inject a fake one. The async methods
    run inline: every operation is a few dict updates, never I/O."""

    inline = True  # the async methods below only call the sync ones

    def __init__(
        self, clock: Callable[[], float] = time.time, *, secret: str | bytes | None = None
    ) -> None:
        self._clock = clock
        # Nothing leaves the process, so an unconfigured secret can be random.
        self._secret = resolve_secret(secret) or os.urandom(32)
        self._lock = threading.Lock()
        # key -> (value, expires_at or None)
        self._values: dict[str, tuple[str, float | None]] = {}
        # key -> [count, expires_at]
        self._counters: dict[str, list[float]] = {}
        # key -> {bucket index: [successes, failures]}
        self._windows: dict[str, dict[int, list[int]]] = {}
        # key -> sliding log
        self._logs: dict[str, _Log] = {}
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return "MemoryStore()"

    # ---- values

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._values.get(key)
            if entry is None:
                return None
            if entry[1] is not None and entry[1] <= self._clock():
                del self._values[key]
                return None
            return entry[0]

    def set(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        with self._lock:
            now = self._clock()
            if only_if_absent:
                entry = self._values.get(key)
                if entry is not None and (entry[1] is None or entry[1] > now):
                    return False
            self._values[key] = (value, now + ttl if ttl is not None else None)
            return True

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._values.pop(key, None)
                self._counters.pop(key, None)
                self._windows.pop(key, None)
                self._logs.pop(key, None)

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        with self._lock:
            now = self._clock()
            out: list[str | None] = []
            for key in keys:
                entry = self._values.get(key)
                if entry is not None and entry[1] is not None and entry[1] <= now:
                    del self._values[key]
                    entry = None
                out.append(None if entry is None else entry[0])
            return out

    def ewma(self, key: str, sample: float, alpha: float) -> float:
        with self._lock:
            entry = self._values.get(key)
            avg = sample if entry is None else (old := float(entry[0])) + alpha * (sample - old)
            # Stored as text like every small value, so get_many serves both kinds.
            self._values[key] = (repr(avg), None)
            return avg

    # ---- counters

    def incr_window(self, key: str, amount: int, window_s: float) -> int:
        with self._lock:
            now = self._clock()
            entry = self._counters.get(key)
            if entry is None or entry[1] <= now:
                entry = self._counters[key] = [0, now + window_s]
            entry[0] += amount
            return int(entry[0])

    def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        index = int(now // (window_s / buckets))
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = {}
            bucket = window.get(index)
            if bucket is None:
                bucket = window[index] = [0, 0]
            bucket[0 if ok else 1] += 1
            return _sum(window, index - buckets + 1)

    def outcomes(self, key: str, now: float, window_s: float, buckets: int) -> tuple[int, int]:
        index = int(now // (window_s / buckets))
        with self._lock:
            window = self._windows.get(key)
            return _sum(window, index - buckets + 1) if window else (0, 0)

    def log_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float | None = None
    ) -> Admission:
        with self._lock:
            if now is None:
                now = self._clock()
            cutoff = now - window_s
            logs = self._logs
            wait = 0.0
            found: list[_Log | None] = []
            for key, amount, limit in entries:
                lg = logs.get(key)
                if lg is not None:
                    lg.prune(cutoff)
                    if not lg.entries:
                        del logs[key]
                        lg = None
                found.append(lg)
                used = lg.total if lg is not None else 0
                if amount > 0 and used + amount > limit:
                    if amount > limit:
                        wait = math.inf
                    elif lg is not None:
                        wait = max(wait, lg.wait(used + amount - limit, now, window_s))
            if wait > 0.0 or not any(amount > 0 for _, amount, _ in entries):
                uses = tuple(float(lg.total) if lg is not None else 0.0 for lg in found)
                return Admission(wait, uses, now, "")
            ident = str(next(self._ids))
            out: list[float] = []
            for (key, amount, _), lg in zip(entries, found, strict=True):
                if amount > 0:
                    if lg is None:
                        lg = logs[key] = _Log()
                    lg.add(now, amount, ident)
                out.append(float(lg.total) if lg is not None else 0.0)
            return Admission(0.0, tuple(out), now, ident)

    def log_adjust(self, key: str, ident: str, amount: int, delta: int, window_s: float) -> None:
        with self._lock:
            lg = self._logs.get(key)
            if lg is not None:
                lg.adjust(ident, delta)

    def key_id(self, value: str) -> str:
        return keyed_id(self._secret, value)

    # ---- async: the same operations inline

    async def aget(self, key: str) -> str | None:
        return self.get(key)

    async def aset(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        return self.set(key, value, ttl, only_if_absent=only_if_absent)

    async def adelete(self, *keys: str) -> None:
        self.delete(*keys)

    async def aget_many(self, keys: Sequence[str]) -> list[str | None]:
        return self.get_many(keys)

    async def aewma(self, key: str, sample: float, alpha: float) -> float:
        return self.ewma(key, sample, alpha)

    async def aincr_window(self, key: str, amount: int, window_s: float) -> int:
        return self.incr_window(key, amount, window_s)

    async def arecord_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        return self.record_outcome(key, ok, now, window_s, buckets)

    async def aoutcomes(
        self, key: str, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        return self.outcomes(key, now, window_s, buckets)

    async def alog_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float | None = None
    ) -> Admission:
        return self.log_acquire(entries, window_s, now)

    async def alog_adjust(
        self, key: str, ident: str, amount: int, delta: int, window_s: float
    ) -> None:
        self.log_adjust(key, ident, amount, delta, window_s)

    async def akey_id(self, value: str) -> str:
        return self.key_id(value)


class _Log:
    """One sliding log: ``(at, ident)`` entries oldest first, each ident's amount, and
    their running total. Each entry is pruned once, so every operation is amortised
    O(1) (a wait walks only the entries it needs).

    Tuples of a float and a str, and a dict of str to int, because the cyclic garbage
    collector stops tracking such containers: a log holds every call of the last window
    (100k entries at 1,700 calls a second), and as objects each of them was traversed by
    every full collection, pauses of a hundred milliseconds and more."""

    __slots__ = ("amounts", "entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, str]] = deque()
        self.amounts: dict[str, int] = {}
        self.total = 0

    def add(self, at: float, amount: int, ident: str) -> None:
        self.entries.append((at, ident))
        self.amounts[ident] = amount
        self.total += amount

    def prune(self, cutoff: float) -> None:
        entries = self.entries
        amounts = self.amounts
        while entries and entries[0][0] <= cutoff:
            self.total -= amounts.pop(entries.popleft()[1])

    def wait(self, need: int, now: float, window_s: float) -> float:
        """Seconds until the oldest entries worth ``need`` have aged out (a lower
        bound after 256 entries)."""
        freed = 0
        at = now
        amounts = self.amounts
        for n, (when, ident) in enumerate(self.entries):
            freed += amounts[ident]
            at = when
            if freed >= need or n >= 255:
                break
        return max(at + window_s - now, 1e-6)

    def adjust(self, ident: str, delta: int) -> None:
        amount = self.amounts.get(ident)
        if amount is not None:
            new = max(0, amount + delta)
            self.total += new - amount
            self.amounts[ident] = new


def _sum(window: dict[int, list[int]], oldest: int) -> tuple[int, int]:
    """Totals of the buckets at or after ``oldest``; older ones are dropped (caller
    holds the lock). At most ``buckets`` + 1 entries survive, so this stays cheap."""
    successes = failures = 0
    stale = None
    for index, (s, f) in window.items():
        if index < oldest:
            stale = [index] if stale is None else [*stale, index]
        else:
            successes += s
            failures += f
    if stale:
        for index in stale:
            del window[index]
    return successes, failures
