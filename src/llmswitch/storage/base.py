"""The state-store interface shared by the breaker, and later limits, key cooldowns
and latency stats.

Operations are algorithm-level (a rolling outcome window, a fixed-window counter, a
small value with a TTL) rather than raw get/put, so the Redis backend can do each in
one atomic round trip and the memory backend in one lock acquisition. Every
operation has a sync and an ``a``-prefixed async form: ``Client`` uses one,
``AsyncClient`` the other, against the same state.

Keys are plain strings; callers namespace them (e.g. ``llmswitch:breaker:<deployment>``).
Each key is used with one kind of operation only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from urllib.parse import urlsplit, urlunsplit

__all__ = ["StateStore", "display_url"]


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
    async def aincr_window(self, key: str, amount: int, window_s: float) -> int: ...

    @abstractmethod
    async def arecord_outcome(
        self, key: str, ok: bool, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]: ...

    @abstractmethod
    async def aoutcomes(
        self, key: str, now: float, window_s: float, buckets: int
    ) -> tuple[int, int]: ...

    async def aclose(self) -> None:
        self.close()
