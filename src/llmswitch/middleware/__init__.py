"""Middleware: layers wrapped around every call (see :mod:`.base` for the contract)."""

from __future__ import annotations

from .base import Call, Hooks, Middleware, Pipeline
from .breaker import BreakerPolicy, BreakerState, CircuitBreaker
from .retry import Retry, RetryPolicy
from .router import Router

__all__ = [
    "BreakerPolicy",
    "BreakerState",
    "Call",
    "CircuitBreaker",
    "Hooks",
    "Middleware",
    "Pipeline",
    "Retry",
    "RetryPolicy",
    "Router",
]
