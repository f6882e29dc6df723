"""Shared state for resilience and traffic control, behind one interface with two
backends chosen by URL::

    open_store()                              # memory:// — this process only (default)
    open_store("redis://localhost:6379/0")    # shared by every process using that Redis

The breaker (and later limits, key cooldowns, latency stats) take a
:class:`StateStore`; redis-py is imported only when a Redis URL is opened.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from .base import StateStore, display_url
from .memory import MemoryStore

__all__ = ["MemoryStore", "StateStore", "open_store"]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(url: str | None = None, **options: Any) -> StateStore:
    """A :class:`StateStore` for ``url``: ``None``/``"memory://"`` -> :class:`MemoryStore`;
    ``redis://``, ``rediss://`` or ``unix://`` -> ``RedisStore`` (``options`` go to
    ``redis.Redis.from_url``)."""
    if url is None or url == "memory://":
        return MemoryStore(**options)
    if url.startswith(_REDIS_SCHEMES):
        from .redis_store import RedisStore

        return RedisStore(url, **options)
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ConfigurationError(
        f"unknown state store URL scheme {scheme!r} in {display_url(url)!r} "
        "(expected memory:// or redis://host:port/db)",
        field="state",
    )
