"""The response cache (issue 11): exact-match answers from memory or Redis.

``[cache]`` in ``llmswitch.toml`` turns it on for every chat and stream call of a
client (see :mod:`.layer` for what is cached and how hits are reported)::

    [cache]
    url = "memory://"        # or "redis://localhost:6379/0"
    ttl = 3600               # seconds

Per call: ``client.chat(..., cache=False)`` or ``cache={"ttl": 60}``. Manage it with
``client.cache.stats()``, ``.invalidate(model=..., user=..., team=...)``, ``.clear()``.

- :class:`ResponseCache`: the layer; :class:`CacheSettings`: ``[cache]``;
  :class:`CacheStats`: what ``stats()`` returns.
- backends: :class:`~.memory.MemoryBackend` (LRU + TTL, bounded by entries and bytes),
  :class:`~.redis_backend.RedisBackend` (TTL per entry, zlib, a key prefix; an outage
  is a miss, never an error).
"""

from __future__ import annotations

from ._codec import Entry
from ._settings import CACHE_OPTION_KEY, CacheOption, CacheSettings, CallCache, call_option
from .layer import CacheStats, ResponseCache, SemanticHook, open_backend

__all__ = [
    "CACHE_OPTION_KEY",
    "CacheOption",
    "CacheSettings",
    "CacheStats",
    "CallCache",
    "Entry",
    "ResponseCache",
    "SemanticHook",
    "call_option",
    "open_backend",
]
