"""The in-process cache: an LRU with a TTL per entry, bounded by entries and bytes.

Entries are kept as objects (a hit builds nothing but the response it returns); each is
sized by its encoded form (:func:`._codec.encode`), which is what ``max_bytes`` bounds.
A lookup or store is one lock and a few dict operations; the least recently used entries
are evicted first, expired ones whenever they are met (and first when room is needed).
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ._codec import Entry, encode

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """``memory://``: this process only. ``clock``: seconds for the TTLs (injectable in
    tests)."""

    shared = False  # no other process sees these entries: no cross-process lock
    # get/set do no I/O: the cache layer calls them in place on both paths instead of
    # yielding them to its driver (two driver round trips less on every miss).
    inline = True
    url = "memory://"

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[Entry, int, float]] = OrderedDict()
        self._bytes = 0
        self.evictions = 0
        self.expired = 0

    def __repr__(self) -> str:
        return f"MemoryBackend({len(self._items)} entries, {self._bytes} bytes)"

    # ---- sync

    def get(self, key: str, count: bool = True) -> Entry | None:
        items = self._items
        with self._lock:
            found = items.get(key)
            if found is None:
                return None
            if found[2] <= self.clock():
                del items[key]
                self._bytes -= found[1]
                self.expired += 1
                return None
            items.move_to_end(key)
            return found[0]

    def set(self, key: str, entry: Entry, ttl: float) -> bool:
        """Store ``entry`` for ``ttl`` seconds; ``False`` when it cannot be (larger than
        ``max_bytes`` by itself, or holding a value with no JSON form)."""
        try:
            size = len(encode(entry)) + len(key)
        except TypeError:
            return False
        if size > self.max_bytes:
            return False
        items = self._items
        with self._lock:
            old = items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            now = self.clock()
            items[key] = (entry, size, now + ttl)
            self._bytes += size
            if len(items) > self.max_entries or self._bytes > self.max_bytes:
                self._make_room(now)
        return True

    def _make_room(self, now: float) -> None:
        items = self._items
        for k in [k for k, v in items.items() if v[2] <= now]:  # the expired first
            self._bytes -= items.pop(k)[1]
            self.expired += 1
        while len(items) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, size, _) = items.popitem(last=False)
            self._bytes -= size
            self.evictions += 1

    def delete_matching(self, pattern: str) -> int:
        with self._lock:
            gone = [k for k in self._items if fnmatch.fnmatchcase(k, pattern)]
            for k in gone:
                self._bytes -= self._items.pop(k)[1]
        return len(gone)

    def clear(self) -> int:
        with self._lock:
            n = len(self._items)
            self._items.clear()
            self._bytes = 0
        return n

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "entries": len(self._items),
                "bytes": self._bytes,
                "evictions": self.evictions,
                "expired": self.expired,
            }

    # Cross-process coalescing: nothing to lock for one process.
    def claim(self, key: str, ttl: float) -> str | None:
        return "local"

    def release(self, key: str, token: str) -> None:
        return None

    def peek(self, key: str) -> tuple[Entry | None, bool]:
        return self.get(key, False), False

    def close(self) -> None:
        return None

    # ---- async: the same operations (no I/O to wait for)

    async def aget(self, key: str, count: bool = True) -> Entry | None:
        return self.get(key, count)

    async def aset(self, key: str, entry: Entry, ttl: float) -> bool:
        return self.set(key, entry, ttl)

    async def adelete_matching(self, pattern: str) -> int:
        return self.delete_matching(pattern)

    async def aclear(self) -> int:
        return self.clear()

    async def astats(self) -> dict[str, Any]:
        return self.stats()

    async def aclaim(self, key: str, ttl: float) -> str | None:
        return "local"

    async def arelease(self, key: str, token: str) -> None:
        return None

    async def apeek(self, key: str) -> tuple[Entry | None, bool]:
        return self.peek(key)

    async def aclose(self) -> None:
        return None
