"""Observability: metrics (:mod:`.metrics`) and live status of the resilience layers
(:mod:`.status`)."""

from __future__ import annotations

from .metrics import Metrics, MetricsMiddleware, NoMetrics, PrometheusMetrics
from .status import acollect_status, collect_status

__all__ = [
    "Metrics",
    "MetricsMiddleware",
    "NoMetrics",
    "PrometheusMetrics",
    "acollect_status",
    "collect_status",
]
