"""``[cache]`` of ``llmswitch.toml``, read into :class:`~llmswitch.cache.CacheSettings`
(kept out of ``_validate``, which is near its size cap). Keys and bounds:
``_spec.CACHE``::

    [cache]
    url = "memory://"         # or "redis://localhost:6379/0"
    ttl = 3600                # seconds an entry is served
    max_entries = 10000       # memory:// bounds (least recently used evicted first)
    max_bytes = 67108864
    cache_sampled = false     # also cache calls with temperature > 0 (or unset)
    replay_pace = false       # stream hits replay at the original pace
    coalesce = true           # identical concurrent misses share one upstream call
    lock_timeout = 30         # seconds a Redis coalescing lock is held at most
    prefix = "llmswitch:cache:"

    [cache.semantic]          # opt-in: see llmswitch.cache.semantic (config/_semantic.py)
    model = "openai/text-embedding-3-small"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _spec

__all__ = ["read_cache"]


def read_cache(v: Any, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``cache`` value of a :class:`~llmswitch.config.Config` (``{}``: no section).
    ``v`` is the ``_validate.Validator`` (not imported: that would be a cycle)."""
    if "cache" not in doc:
        return {}
    semantic = None
    table = doc["cache"]
    if isinstance(table, dict) and "semantic" in table:  # [cache.semantic]: its own reader
        from ._semantic import read_semantic

        semantic = read_semantic(v, table)
        doc = {**doc, "cache": {k: x for k, x in table.items() if k != "semantic"}}
    raw: dict[str, Any] | None = v.unit(v.plain, _spec.CACHE, doc, ("cache",), default=None)
    if raw is None:
        return {}
    from ..cache import CacheSettings

    url = raw.get("url") or "memory://"  # "${VAR:-}": the default
    if url != "memory://" and not url.startswith(("redis://", "rediss://", "unix://")):
        from ..storage.base import display_url

        shown = display_url(url)
        v.report(v.error(("cache", "url"), f"{shown!r} must be memory:// or redis://host:port/db"))
        return {}
    values = {k: raw[k] for k in _spec.CACHE.keys if k in raw and k != "url"}
    for key in ("ttl", "lock_timeout"):
        if key in values:
            values[key] = float(values[key])
    if semantic is not None:
        values["semantic"] = semantic
    return {"cache": CacheSettings(url=url, **values)}
