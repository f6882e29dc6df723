"""Live status of a client's resilience layers: breaker states, key cooldowns and
anything else in the middleware that reports a ``status()`` (limiters, queues).

Every layer is asked the same way (the :class:`~llmswitch.middleware._signals.Reporter`
protocol): ``status()`` / ``astatus()``, filed under its ``status_section``.
``collect_status`` reads the layers' shared store, so with Redis it shows what every
process sees. It returns plain JSON-ready data::

    {"breakers": {"openai/gpt-4o": {"state": "open", ...}},
     "key_pools": {"openai": [{"key": "…a1b2", "state": "cooling", ...}]},
     "other": {"RateLimiter": ...}}
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable
from typing import Any

from ..middleware.base import Middleware

__all__ = ["acollect_status", "collect_status"]

_OTHER = "other"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _empty() -> dict[str, Any]:
    return {"breakers": {}, "key_pools": {}, _OTHER: {}}


def _file(out: dict[str, Any], mw: Middleware, result: Any) -> None:
    section = getattr(mw, "status_section", _OTHER)
    if section == _OTHER:
        out[_OTHER][type(mw).__name__] = _plain(result)
    else:
        out.setdefault(section, {}).update(_plain(result))


def collect_status(middleware: Iterable[Middleware]) -> dict[str, Any]:
    """Breaker states, key pool states, and ``status()`` of any other layer that has one."""
    out = _empty()
    for mw in middleware:
        status = getattr(mw, "status", None)
        if callable(status):
            result = status()
            if inspect.isawaitable(result):  # an async-only layer: not readable here
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                continue
            _file(out, mw, result)
    return out


async def acollect_status(middleware: Iterable[Middleware]) -> dict[str, Any]:
    """:func:`collect_status` through the layers' async store operations."""
    out = _empty()
    for mw in middleware:
        status = getattr(mw, "astatus", None) or getattr(mw, "status", None)
        if callable(status):
            result = status()
            if inspect.isawaitable(result):
                result = await result
            _file(out, mw, result)
    return out
