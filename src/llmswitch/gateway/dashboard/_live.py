"""What the dashboard keeps in memory: a few minutes of the gateway's requests (for the
live rate and latency charts) and the budget alerts this process raised.

The alerts are read off the ``llmswitch.budgets`` logger, where the budget layer
announces each one (``budget.alert``, the payload in ``extra``): the layer keeps no
history, and listening there needs no change to it.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..._log import get_logger

if TYPE_CHECKING:
    from .._metrics import GatewayMetrics

__all__ = ["AlertLog", "LiveHistory"]


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class _Bucket:
    __slots__ = ("count", "errors", "sample", "seen")

    def __init__(self) -> None:
        self.count = self.errors = self.seen = 0
        self.sample: list[float] = []


class LiveHistory:
    """The last ``span`` seconds of the gateway's requests in ``bucket``-second slots
    (count, 5xx count, a latency sample), for the live charts.

    The core's :class:`~llmswitch.gateway._metrics.GatewayMetrics` keeps one minute of
    ``(time, seconds, status)`` and answers the figures of that minute; a chart of a few
    minutes needs more, so this class takes each poll's new entries from the metrics'
    window (the count of requests observed since the last poll says how many) and keeps
    them bucketed. The page polls every few seconds, well inside the minute, so no request
    is missed; the first poll catches the minute before it. Each slot keeps a uniform
    sample of at most ``sample_size`` latencies (reservoir sampling): bounded memory at any
    request rate."""

    def __init__(self, *, span: float = 300.0, bucket: float = 5.0, sample_size: int = 512) -> None:
        self.span, self.bucket, self.sample_size = span, bucket, sample_size
        self._buckets: dict[int, _Bucket] = {}
        self._seen = 0
        self._rand = random.Random()

    def update(self, metrics: GatewayMetrics) -> float:
        """Take the requests ``metrics`` observed since the last call; the metrics'
        clock reading now."""
        now = _clock_of(metrics)()
        total = sum(metrics.requests.values())
        new = min(total - self._seen, len(metrics.window))
        self._seen = total
        if new > 0:
            window = metrics.window
            for i in range(len(window) - new, len(window)):
                at, seconds, status = window[i]
                self._add(int(at // self.bucket), seconds, status)
        oldest = int((now - self.span) // self.bucket)
        for key in [k for k in self._buckets if k <= oldest]:
            del self._buckets[key]
        return now

    def _add(self, key: int, seconds: float, status: int) -> None:
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket()
        b.count += 1
        b.errors += status >= 500
        b.seen += 1
        if len(b.sample) < self.sample_size:
            b.sample.append(seconds)
        else:
            j = self._rand.randrange(b.seen)
            if j < self.sample_size:
                b.sample[j] = seconds

    def series(self, metrics: GatewayMetrics) -> list[dict[str, Any]]:
        """One point per slot over the span, oldest first: the slot's end as epoch
        milliseconds, requests per second, 5xx count, p50/p95 latency in ms (``None``
        for a slot without requests)."""
        now = self.update(metrics)
        offset = time.time() - now  # the metrics' clock is monotonic: shift to wall time
        last = int(now // self.bucket)
        count = int(self.span // self.bucket)
        out = []
        for key in range(last - count + 1, last + 1):
            b = self._buckets.get(key)
            ordered = sorted(b.sample) if b is not None else []
            p50, p95 = _percentile(ordered, 0.5), _percentile(ordered, 0.95)
            out.append({
                "t": round((min((key + 1) * self.bucket, now) + offset) * 1000),
                "rps": (b.count if b is not None else 0) / self.bucket,
                "errors": b.errors if b is not None else 0,
                "p50_ms": None if p50 is None else round(p50 * 1000, 3),
                "p95_ms": None if p95 is None else round(p95 * 1000, 3),
            })  # fmt: skip
        return out


def _clock_of(metrics: GatewayMetrics) -> Callable[[], float]:
    # The clock the metrics stamp their window with (monotonic; a fake one in tests).
    clock: Callable[[], float] = getattr(metrics, "_clock", time.monotonic)
    return clock


class AlertLog(logging.Handler):
    """Keeps the newest ``size`` budget alerts logged on ``llmswitch.budgets``."""

    def __init__(self, size: int = 50) -> None:
        super().__init__(level=logging.WARNING)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) != "budget.alert":
            return
        fields = ("scope", "period", "period_start", "threshold", "spent_usd", "limit_usd", "at")
        self.alerts.append({name: getattr(record, name, None) for name in fields})

    def recent(self) -> list[dict[str, Any]]:
        """Newest first."""
        return list(reversed(self.alerts))

    def attach(self) -> None:
        """Start listening (once)."""
        logger = get_logger("llmswitch.budgets")
        if self not in logger.handlers:
            logger.addHandler(self)

    def detach(self) -> None:
        get_logger("llmswitch.budgets").removeHandler(self)
