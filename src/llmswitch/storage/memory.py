"""In-process state: dicts under one lock. The default backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from .base import StateStore, WindowEntry, window_wait

__all__ = ["MemoryStore"]


class MemoryStore(StateStore):
    """Thread-safe in-memory :class:`StateStore`. ``clock`` (seconds, default
    ``time.time``) decides TTL expiry; tests inject a fake one. The async methods
    run inline: every operation is a few dict updates, never I/O."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (value, expires_at or None)
        self._values: dict[str, tuple[str, float | None]] = {}
        # key -> [count, expires_at]
        self._counters: dict[str, list[float]] = {}
        # key -> {bucket index: [successes, failures]}
        self._windows: dict[str, dict[int, list[int]]] = {}
        # key -> [fixed window index, current count, previous count]
        self._slides: dict[str, list[float]] = {}

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
                self._slides.pop(key, None)

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

    def _slide(self, key: str, index: int) -> list[float]:
        """``key``'s sliding counter rolled forward to fixed window ``index``."""
        slot = self._slides.get(key)
        if slot is None:
            slot = self._slides[key] = [index, 0.0, 0.0]
        elif slot[0] < index:
            slot[2] = max(slot[1], 0.0) if slot[0] == index - 1 else 0.0
            slot[1] = 0.0
            slot[0] = index
        return slot

    def window_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float
    ) -> tuple[float, tuple[float, ...]]:
        index = int(now // window_s)
        elapsed = now - index * window_s
        keep = 1 - elapsed / window_s
        wait = 0.0
        with self._lock:
            slots = [self._slide(key, index) for key, _, _ in entries]
            for slot, (_, amount, limit) in zip(slots, entries, strict=True):
                w = window_wait(slot[2], slot[1], elapsed, window_s, amount, limit)
                if w > wait:
                    wait = w
            if wait == 0.0:
                for slot, (_, amount, _) in zip(slots, entries, strict=True):
                    slot[1] += amount
            return wait, tuple(max(0.0, s[2] * keep + s[1]) for s in slots)

    def window_adjust(self, key: str, amount: int, window_s: float, at: float, now: float) -> None:
        index = int(now // window_s)
        at_index = int(at // window_s)
        with self._lock:
            slot = self._slide(key, index)
            if at_index >= slot[0]:
                slot[1] += amount
            elif at_index == slot[0] - 1:
                slot[2] += amount

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

    async def awindow_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float
    ) -> tuple[float, tuple[float, ...]]:
        return self.window_acquire(entries, window_s, now)

    async def awindow_adjust(
        self, key: str, amount: int, window_s: float, at: float, now: float
    ) -> None:
        self.window_adjust(key, amount, window_s, at, now)


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
