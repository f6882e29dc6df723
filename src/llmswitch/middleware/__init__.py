"""Middleware: layers wrapped around every call (see :mod:`.base` for the contract).

The built-in layers load on first use, so ``import llmswitch`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import Call, Middleware, Pipeline
from .hooks import Hooks

if TYPE_CHECKING:
    from ..keys.pool import KeyPool, KeyRotation
    from ._signals import MetricsMiddleware
    from .breaker import BreakerPolicy, BreakerState, CircuitBreaker
    from .ratelimit import Limit, Quota, RateLimiter
    from .retry import Retry, RetryPolicy
    from .router import Router

__all__ = [
    "BreakerPolicy",
    "BreakerState",
    "Call",
    "CircuitBreaker",
    "Hooks",
    "KeyPool",
    "KeyRotation",
    "Limit",
    "MetricsMiddleware",
    "Middleware",
    "Pipeline",
    "Quota",
    "RateLimiter",
    "Retry",
    "RetryPolicy",
    "Router",
]

_LAZY = {
    "BreakerPolicy": "breaker",
    "BreakerState": "breaker",
    "CircuitBreaker": "breaker",
    "KeyPool": ".keys.pool",  # outside this package: a leading dot means "from llmswitch"
    "KeyRotation": ".keys.pool",
    "MetricsMiddleware": "_signals",
    "Limit": "ratelimit",
    "Quota": "ratelimit",
    "RateLimiter": "ratelimit",
    "Retry": "retry",
    "RetryPolicy": "retry",
    "Router": "router",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
