"""The response cache as the clients show it: ``client.cache`` and the per-call
``cache=`` option (checked here, read by :mod:`llmswitch.cache` from ``Call.state``).
Kept out of ``client.py`` (near its size cap); :mod:`llmswitch.cache` is imported only
when a call passes ``cache=``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import _Core
    from .cache import ResponseCache
    from .middleware.base import Pipeline

__all__ = ["CacheAccess", "cache_option"]


def cache_option(pipe: Pipeline | None, value: bool | Mapping[str, Any] | None) -> Any:
    """A call's ``cache=`` checked (``None``: not given): ``False`` or a ``CallCache``;
    ``True``/a dict without a response cache in ``pipe`` is a ConfigurationError."""
    if value is None:
        return None
    from .cache._settings import checked_option

    return checked_option(pipe, value)


class CacheAccess:
    """``client.cache``, mixed into both clients."""

    _core: _Core

    @property
    def cache(self) -> ResponseCache | None:
        """The response cache (``[cache]`` in llmswitch.toml, or a ``ResponseCache`` in
        ``middleware``): ``stats()``, ``invalidate(model=..., user=..., team=...)``,
        ``clear()`` (``a``-prefixed forms for async code); ``None`` without one."""
        pipe = self._core.pipe
        if pipe is None:
            return None
        found = (m for m in pipe.middleware if getattr(m, "is_response_cache", False))
        return next(found, None)  # type: ignore[return-value]
