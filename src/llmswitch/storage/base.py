"""The state-store interface shared by the breaker, limits, key cooldowns
and the router's latency stats.

Operations are algorithm-level (a rolling outcome window, a fixed-window counter, a
small value with a TTL) rather than raw get/put, so the Redis backend can do each in
one atomic round trip and the memory backend in one lock acquisition. Every
operation has a sync and an ``a``-prefixed async form: ``Client`` uses one,
``AsyncClient`` the other, against the same state.

Keys are plain strings; callers namespace them (e.g. ``llmswitch:breaker:<deployment>``).
Each key is used with one kind of operation only.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

__all__ = ["StateStore", "display_url", "window_wait"]

# One admission request: (key, amount to add, limit for that key).
WindowEntry = tuple[str, int, int]


def window_wait(
    prev: float, cur: float, elapsed: float, window_s: float, amount: int, limit: int
) -> float:
    """Seconds until ``amount`` fits under ``limit`` in a sliding-window counter whose
    previous fixed window counted ``prev`` and current one ``cur``, ``elapsed`` seconds
    into the current window (``0.0``: fits now; ``inf``: never, ``amount > limit``).
    The estimate ``prev * (1 - elapsed/window) + cur`` only falls as time passes, so
    the answer holds until someone else consumes. Shared by both backends (the Redis
    Lua script is a transcription)."""
    used = prev * (1 - elapsed / window_s) + cur
    if amount <= 0 or used + amount <= limit:
        return 0.0
    if amount > limit:
        return math.inf
    if cur + amount <= limit:  # fits once enough of the previous window has slid out
        return max(0.0, window_s * (1 - (limit - cur - amount) / prev) - elapsed)
    # Only after the current window has become the previous one and slid out enough.
    return (window_s - elapsed) + window_s * (1 - (limit - amount) / cur)


def display_url(url: str) -> str:
    """``url`` without its password, for logs, errors and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


class StateStore(ABC):
    """Shared mutable state behind one interface; see :func:`~llmswitch.storage.open_store`."""

    # ---- small values

    @abstractmethod
    def get(self, key: str) -> str | None:
        """The value stored at ``key``, or ``None`` when absent or expired."""

    @abstractmethod
    def set(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        """Store ``value`` (expiring after ``ttl`` seconds when given). With
        ``only_if_absent`` nothing is written if the key exists; returns whether it was."""

    @abstractmethod
    def delete(self, *keys: str) -> None:
        """Remove ``keys`` (of any kind); missing keys are ignored."""

    @abstractmethod
    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """The values at ``keys`` (small values or moving averages) in one read;
        ``None`` for each absent or expired one."""

    @abstractmethod
    def ewma(self, key: str, sample: float, alpha: float) -> float:
        """Fold ``sample`` into the exponentially weighted moving average at ``key``
        (``avg + alpha * (sample - avg)``; the first sample becomes the average),
        atomically; return the new average. :meth:`get_many` reads it as a string."""

    # ---- counters

    @abstractmethod
    def incr_window(self, key: str, amount: int, window_s: float) -> int:
        """Add ``amount`` to a fixed-window counter and return the new total. The
        window starts at the first increment and the counter vanishes ``window_s``
        seconds later."""

    @abstractmethod
    def record_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]:
        """Count one success (``ok``) or failure at time ``now`` in a rolling window of
        ``window_s`` seconds split into ``buckets`` time buckets; return the window's
        ``(successes, failures)`` including this one."""

    @abstractmethod
    def outcomes(self, key: str, now: float, window_s: float, buckets: int) -> tuple[int, int]:
        """``(successes, failures)`` in the rolling window at ``now``, recording nothing."""

    @abstractmethod
    def window_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float
    ) -> tuple[float, tuple[float, ...]]:
        """Sliding-window-counter admission for several limits at once, atomically:
        when every ``(key, amount, limit)`` fits (estimated use in the last
        ``window_s`` seconds + ``amount`` <= ``limit``), add all amounts and return
        ``(0.0, uses)``; otherwise change nothing and return ``(wait, uses)`` where
        ``wait`` is the seconds until all would fit (``inf``: never). ``uses`` are the
        estimated uses per entry after the decision. ``amount`` 0 only reads."""

    @abstractmethod
    def window_adjust(self, key: str, amount: int, window_s: float, at: float, now: float) -> None:
        """Add ``amount`` (negative to refund) to the sliding-window counter ``key``
        in the fixed window containing time ``at`` (when acquired), without checking
        any limit; a no-op once that window has slid out."""

    def close(self) -> None:
        """Release connections (no-op for in-memory state)."""
        return None

    # ---- async forms

    @abstractmethod
    async def aget(self, key: str) -> str | None: ...

    @abstractmethod
    async def aset(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool: ...

    @abstractmethod
    async def adelete(self, *keys: str) -> None: ...

    @abstractmethod
    async def aget_many(self, keys: Sequence[str]) -> list[str | None]: ...

    @abstractmethod
    async def aewma(self, key: str, sample: float, alpha: float) -> float: ...

    @abstractmethod
    async def aincr_window(self, key: str, amount: int, window_s: float) -> int: ...

    @abstractmethod
    async def arecord_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]: ...

    @abstractmethod
    async def aoutcomes(
        self, key: str, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]: ...

    @abstractmethod
    async def awindow_acquire(
        self, entries: Sequence[WindowEntry], window_s: float, now: float
    ) -> tuple[float, tuple[float, ...]]: ...

    @abstractmethod
    async def awindow_adjust(
        self, key: str, amount: int, window_s: float, at: float, now: float
    ) -> None: ...

    async def aclose(self) -> None:
        self.close()
