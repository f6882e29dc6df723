"""Where the cache goes in a client's onion, and what it is given there.

DESIGN.md section 3: usage accounting -> cache -> budget -> rate limit -> router. The
cache goes right inside the caller's own (per-call) layers and outside the first
built-in or per-attempt one, so a hit is seen by the caller's layers (logging, metrics)
but spends no budget and no rate-limit capacity. A caller's own :class:`ResponseCache`
stays where it was put; either way it gets the client's usage ledger (hits are
recorded there) and the metrics of a :class:`MetricsMiddleware` found outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..middleware.base import Middleware

__all__ = ["wire_cache"]


def _builtin(m: Middleware) -> bool:
    name = type(m).__name__
    return m.per_attempt or name in ("BudgetLayer", "RateLimiter", "Router", "DeploymentLimits")


def wire_cache(
    layers: list[Middleware],
    settings: Any,
    *,
    groups: Mapping[str, Sequence[str]],
    aliases: Mapping[str, str],
    record: Callable[[Any], None] | None,
    core: Any = None,
) -> list[Middleware]:
    """``layers`` with the response cache in place (``settings``: ``[cache]``, or
    ``None`` when only a caller's own cache is there to be given the ledger). ``core``:
    the client's core, whose embed path a ``[cache.semantic]`` lookup uses."""
    from ..middleware._signals import MetricsMiddleware
    from .layer import ResponseCache

    mine = next((m for m in layers if isinstance(m, ResponseCache)), None)
    if mine is not None:
        if mine.record is None:
            mine.record = record
        return layers
    if settings is None:
        return layers
    at = next((i for i, m in enumerate(layers) if _builtin(m)), len(layers))
    metrics = next((m.metrics for m in layers[:at] if isinstance(m, MetricsMiddleware)), None)
    cache = ResponseCache(settings, record=record, groups=groups, aliases=aliases, metrics=metrics)
    if settings.semantic is not None and core is not None:  # [cache.semantic] (opt-in)
        from .semantic import SemanticCache, client_embedders

        embed, aembed = client_embedders(core, settings.semantic)
        cache.semantic = SemanticCache(
            settings.semantic, exact=cache.backend, embed=embed, aembed=aembed, record=record,
            metrics=metrics,
        )  # fmt: skip
    return [*layers[:at], cache, *layers[at:]]
