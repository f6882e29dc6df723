"""The gateway's own request metrics: counts by route and status, a latency histogram,
time to first token, and a rolling one-minute window for the dashboard's live panel.

Plain dicts and a deque (each request costs a few dict updates, no lock: the gateway
runs on one event loop per process). ``/metrics`` renders them next to the library's
:class:`~llmswitch.observability.PrometheusMetrics`.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["LATENCY_BUCKETS", "GatewayMetrics"]

# Seconds: the gateway adds well under a millisecond; upstream calls take seconds.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_WINDOW = 60.0
_WINDOW_MAX = 200_000  # requests kept for the live window: bounded memory at any rate


class GatewayMetrics:
    __slots__ = ("_clock", "first_tokens", "in_flight", "latency", "requests", "window")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.requests: dict[tuple[str, int], int] = {}
        # route -> [count per bucket (+inf last), sum of seconds, count]
        self.latency: dict[str, list[Any]] = {}
        self.first_tokens: dict[str, list[Any]] = {}
        self.window: deque[tuple[float, float, int]] = deque(maxlen=_WINDOW_MAX)
        self.in_flight = 0

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        _add(self.latency, route, seconds)
        self.window.append((self._clock(), seconds, status))

    def first_token(self, route: str, seconds: float) -> None:
        _add(self.first_tokens, route, seconds)

    def live(self) -> dict[str, Any]:
        """The last minute: requests per second, p50/p95 latency (ms), error share."""
        now = self._clock()
        window = self.window
        while window and window[0][0] < now - _WINDOW:
            window.popleft()
        n = len(window)
        if not n:
            return {"window_seconds": _WINDOW, "requests": 0, "rps": 0.0, "p50_ms": None,
                    "p95_ms": None, "errors": 0, "in_flight": self.in_flight}  # fmt: skip
        took = sorted(s for _, s, _ in window)
        errors = sum(1 for _, _, status in window if status >= 500)
        span = max(1.0, min(_WINDOW, now - window[0][0]))
        return {
            "window_seconds": _WINDOW, "requests": n, "rps": round(n / span, 3),
            "p50_ms": round(took[n // 2] * 1000, 3),
            "p95_ms": round(took[min(n - 1, int(n * 0.95))] * 1000, 3),
            "errors": errors, "in_flight": self.in_flight,
        }  # fmt: skip


def _add(table: dict[str, list[Any]], route: str, seconds: float) -> None:
    found = table.get(route)
    if found is None:
        found = table[route] = [[0] * (len(LATENCY_BUCKETS) + 1), 0.0, 0]
    found[0][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
    found[1] += seconds
    found[2] += 1
