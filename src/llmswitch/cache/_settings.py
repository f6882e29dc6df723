"""The cache's settings (``[cache]`` of ``llmswitch.toml``) and the per-call option.

Kept apart from the layer so config can build them without importing the layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..errors import ConfigurationError
from ..middleware.base import CACHE_OPTION_KEY

__all__ = [
    "CACHE_OPTION_KEY", "CacheOption", "CacheSettings", "CallCache", "call_option",
    "checked_option",
]  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheSettings:
    """``[cache]``: where entries live and how long.

    ``url``: ``memory://`` (this process, an LRU bounded by ``max_entries`` and
    ``max_bytes``) or ``redis://...`` (shared by every process using it; ``prefix``
    starts every key). ``ttl``: seconds an entry is served. ``cache_sampled``: also
    cache calls that sample (``temperature`` above 0, or unset: every provider's
    default is above 0). ``replay_pace``: a stream hit replays at the pace the answer
    first arrived instead of at once. ``coalesce``: identical concurrent misses share
    one upstream call (across processes too with Redis, through a lock held at most
    ``lock_timeout`` seconds)."""

    url: str = "memory://"
    ttl: float = 3600.0
    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    cache_sampled: bool = False
    replay_pace: bool = False
    coalesce: bool = True
    lock_timeout: float = 30.0
    prefix: str = "llmswitch:cache:"
    # [cache.semantic] (llmswitch.cache.semantic.SemanticSettings): the opt-in
    # semantic lookup after an exact miss; None: off.
    semantic: Any = None


@dataclass(frozen=True, slots=True)
class CallCache:
    """A call's ``cache=`` option, checked: ``True``/a dict opt the call in even when
    it samples; ``ttl`` and ``replay_pace`` override the settings for this call."""

    ttl: float | None = None
    replay_pace: bool | None = None


CacheOption: TypeAlias = bool | Mapping[str, Any]
"""``cache=False`` (neither read nor write), ``True`` or ``{"ttl": 60,
"replay_pace": True}``."""

_KEYS = ("ttl", "replay_pace")


def call_option(value: Any) -> CallCache | bool:
    """``value`` (a call's ``cache=``) checked: ``False`` or a :class:`CallCache`."""
    if value is False:
        return False
    if value is True:
        return CallCache()
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            'cache must be True, False or a dict such as {"ttl": 60}', field="cache"
        )
    unknown = sorted(set(value) - set(_KEYS))
    if unknown:
        raise ConfigurationError(
            f"unknown cache option {unknown[0]!r} (expected ttl, replay_pace)",
            field=f"cache.{unknown[0]}",
        )
    ttl = value.get("ttl")
    if ttl is not None and (
        isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= 31_536_000
    ):
        raise ConfigurationError("cache ttl must be seconds above 0", field="cache.ttl")
    pace = value.get("replay_pace")
    if pace is not None and not isinstance(pace, bool):
        raise ConfigurationError(
            "cache replay_pace must be true or false", field="cache.replay_pace"
        )
    return CallCache(ttl=None if ttl is None else float(ttl), replay_pace=pace)


def checked_option(pipe: Any, value: Any) -> Any:
    """A call's ``cache=`` checked against the client's pipeline (``False`` or a
    :class:`CallCache`): ``True``/a dict need a response cache there (``cache=False`` is
    fine without one: nothing to bypass)."""
    option = call_option(value)
    if option is not False and not any(
        getattr(m, "is_response_cache", False) for m in (pipe.middleware if pipe else ())
    ):
        raise ConfigurationError(
            "cache= needs a response cache: add a [cache] section to llmswitch.toml "
            "(or a ResponseCache to middleware=)",
            field="cache",
        )
    return option
