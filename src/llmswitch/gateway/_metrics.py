"""The gateway's metrics: what ``/metrics`` renders and the dashboard's live window.

:class:`GatewayMetrics` holds two sets:

- ``library``: the library's :class:`~llmswitch.observability.PrometheusMetrics` (calls,
  tokens, retries, breaker transitions, key cooldowns, cache lookups) plus cost and
  errors by class (:class:`LibraryMetrics`), fed by the client's :class:`CallMetrics`
  layer;
- the gateway's own request metrics, which the app reports after each request with
  :meth:`~GatewayMetrics.observe` (route, status, seconds) and, for streams,
  :meth:`~GatewayMetrics.first_token`.

The request path is hot (every request, < 2 µs), so those two methods touch plain
dicts and lists only and take no lock: the app calls them from its event loop thread,
which is also where :meth:`~GatewayMetrics.render` and :meth:`~GatewayMetrics.live`
run. The library half keeps its own lock (layers may report from any thread).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Generator, Mapping
from typing import Any

from ..events import StreamEnd
from ..messages import ChatResponse
from ..middleware.base import Call
from ..observability.metrics import FOLD_EVERY, Labels, PrometheusMetrics, _escape, _num
from ..observability.metrics import MetricsMiddleware as _MetricsMiddleware

__all__ = ["REQUEST_BUCKETS", "TTFT_BUCKETS", "CallMetrics", "GatewayMetrics", "LibraryMetrics"]

# Seconds. A request through the gateway runs from well under a millisecond (health,
# models, a cache hit) to minutes (a long stream), so the low end is finer than the
# library's call buckets.
REQUEST_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
)  # fmt: skip
TTFT_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60)

WINDOW_SECONDS = 60
WINDOW_MAX = 200_000  # requests kept in ``window``
# The live window's latency histogram: log-spaced buckets, 4 per doubling from 0.1 ms
# (each about 19 % wide), so p50/p95 cost 60 x 81 counters, not a sample per request.
_LOG_BASE = 1e-4
_LOG_STEPS = 4
_LOG_BUCKETS = 81  # up to 0.1 ms * 2**20 ~ 105 s; slower requests land in the last one

_GATEWAY_FAMILIES: dict[str, tuple[str, str]] = {
    "llmswitch_gateway_requests_total": ("counter", "HTTP requests by route and status."),
    "llmswitch_gateway_request_duration_seconds": (
        "histogram",
        "HTTP request latency by route (streams: to the last byte).",
    ),
    "llmswitch_gateway_time_to_first_token_seconds": (
        "histogram",
        "Streams: time from the request to the first event written, by route.",
    ),
    "llmswitch_gateway_errors_total": ("counter", "Error responses by route and error class."),
}
_LIBRARY_EXTRA: dict[str, tuple[str, str]] = {
    "llmswitch_cost_usd_total": ("counter", "USD spent, as priced by the catalog."),
    "llmswitch_call_errors_total": ("counter", "Failed calls by provider and error class."),
}
_BREAKER_STATES = ("closed", "open", "half_open")


class _Hist:
    """Fixed buckets, per-bucket counts (cumulated when rendered)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append(f'{name}_bucket{{{labels}le="{_num(bound)}"}} {running}')
        out.append(f'{name}_bucket{{{labels}le="+Inf"}} {self.count}')
        tail = "{" + labels.rstrip(",") + "}" if labels else ""
        out.append(f"{name}_sum{tail} {_num(self.sum)}")
        out.append(f"{name}_count{tail} {self.count}")
        return out


class _Second:
    """One second of the live window."""

    __slots__ = ("errors", "latency", "rejected", "requests", "second")

    def __init__(self, second: int) -> None:
        self.second = second
        self.requests = 0
        self.errors = 0  # 5xx
        self.rejected = 0  # 4xx
        self.latency = [0] * _LOG_BUCKETS


def _log_bucket(seconds: float) -> int:
    if seconds <= _LOG_BASE:
        return 0
    return min(int(math.log2(seconds / _LOG_BASE) * _LOG_STEPS), _LOG_BUCKETS - 1)


def _log_value(bucket: int) -> float:
    """The geometric middle of a live-window bucket, in seconds."""
    return float(_LOG_BASE * 2 ** ((bucket + 0.5) / _LOG_STEPS))


def _route_label(route: str) -> str:
    return f'route="{_escape(route)}",'


class LibraryMetrics(PrometheusMetrics):
    """The library's Prometheus metrics plus what the gateway adds to them: cost by
    provider and model, and failed calls by error class."""

    def __init__(self) -> None:
        super().__init__()
        self._costs: deque[tuple[str, str, float]] = deque()  # folded by provider and model

    def call_finished(
        self,
        provider: str,
        model: str,
        outcome: str,
        latency_s: float,
        input_tokens: int,
        output_tokens: int,
    ) -> None:
        super().call_finished(provider, model, outcome, latency_s, input_tokens, output_tokens)
        if outcome not in ("ok", "cancelled"):
            self.inc("llmswitch_call_errors_total", (("class", outcome), ("provider", provider)))

    def call_cost(self, provider: str, model: str, usd: float) -> None:
        """What a call cost (the catalog's price of its usage)."""
        if usd > 0:
            costs = self._costs
            costs.append((provider, model, usd))
            if len(costs) >= FOLD_EVERY:
                self.fold()

    def _fold(self) -> None:
        super()._fold()
        costs = self._costs
        if not costs:
            return
        family = self._counters.setdefault("llmswitch_cost_usd_total", {})
        # Each series' running total, added to in arrival order from its current value:
        # the same float as one addition per call, for one label lookup per series.
        totals: dict[tuple[str, str], list[Any]] = {}
        while costs:
            provider, model, usd = costs.popleft()
            total = totals.get((provider, model))
            if total is None:
                labels = (("model", model), ("provider", provider))  # sorted
                total = totals[(provider, model)] = [labels, family.get(labels, 0.0)]
            total[1] += usd
        for labels, usd in totals.values():
            family[labels] = usd

    def render(self) -> str:
        out = [super().render().rstrip("\n")]
        with self._lock:
            self._fold()
            for name, (kind, help_text) in _LIBRARY_EXTRA.items():
                series = self._counters.get(name)
                if series:
                    out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                    out += [f"{name}{_labels(lb)} {_num(v)}" for lb, v in sorted(series.items())]
        return "\n".join(line for line in out if line) + "\n"


class GatewayMetrics:
    """Request counters, latency and time-to-first-token histograms by route, a rolling
    one-minute window for the dashboard (:meth:`live`), and the library's call metrics
    (``library``, what the client's :class:`CallMetrics` layer reports to). ``clock``:
    monotonic seconds (tests pass a fake one)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.library = LibraryMetrics()  # what the client's CallMetrics layer reports to
        self._clock = clock
        self._started = clock()
        self.in_flight = 0  # requests being answered now (the app counts them)
        self.requests: dict[tuple[str, int], int] = {}  # (route, status) -> count
        self._latency: dict[str, _Hist] = {}
        self._ttft: dict[str, _Hist] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._window: list[_Second | None] = [None] * WINDOW_SECONDS
        # The latest requests as (clock, seconds, status), newest last: the dashboard's
        # history takes each poll's new ones from here (bounded at any request rate).
        self.window: deque[tuple[float, float, int]] = deque(maxlen=WINDOW_MAX)

    def __repr__(self) -> str:
        return f"GatewayMetrics({len(self.requests)} request series)"

    # ---- the request path (event loop thread, O(1))

    def observe(self, route: str, status: int, seconds: float) -> None:
        """One finished request: ``route`` is the matched route's path (never the raw
        path: its label set must stay bounded), ``status`` the HTTP status sent."""
        key = (route, status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        hist = self._latency.get(route)
        if hist is None:
            hist = self._latency[route] = _Hist(REQUEST_BUCKETS)
        hist.observe(seconds)
        at = self._clock()
        window = self.window
        window.append((at, seconds, status))
        # Requests older than the live window are dropped as new ones come, so an idle
        # dashboard does not let the deque grow to WINDOW_MAX (the soak's RSS growth).
        while window[0][0] < at - WINDOW_SECONDS:
            window.popleft()
        now = int(at)
        slot = self._window[now % WINDOW_SECONDS]
        if slot is None or slot.second != now:
            slot = self._window[now % WINDOW_SECONDS] = _Second(now)
        slot.requests += 1
        if status >= 500:
            slot.errors += 1
        elif status >= 400:
            slot.rejected += 1
        slot.latency[_log_bucket(seconds)] += 1

    def first_token(self, route: str, seconds: float) -> None:
        """A stream wrote its first event ``seconds`` after the request arrived."""
        hist = self._ttft.get(route)
        if hist is None:
            hist = self._ttft[route] = _Hist(TTFT_BUCKETS)
        hist.observe(seconds)

    def error(self, route: str, kind: str) -> None:
        """An error response of class ``kind`` (``ErrorInfo.kind``: ``"rate_limit"``,
        ``"upstream"``, ...)."""
        key = (route, kind)
        self._errors[key] = self._errors.get(key, 0) + 1

    # ---- reading

    def count(self, route: str | None = None, status: int | None = None) -> int:
        """Requests counted so far (optionally one route and/or status): for checks."""
        return sum(
            n
            for (r, s), n in self.requests.items()
            if (route is None or r == route) and (status is None or s == status)
        )

    def live(self) -> dict[str, Any]:
        """The last minute: ``rps`` (requests per second over the window, or since
        start when younger), ``in_flight``, ``errors`` (5xx) and ``rejected`` (4xx),
        latency percentiles in ms (about ±10 %: log buckets), and the requests of each
        second, oldest first (``per_second``)."""
        now = int(self._clock())
        # Before a minute has passed, the rate is over the time since start.
        span = max(1, min(WINDOW_SECONDS, now - int(self._started) + 1))
        per_second: list[int] = []
        merged = [0] * _LOG_BUCKETS
        total = errors = rejected = 0
        for second in range(now - WINDOW_SECONDS + 1, now + 1):
            slot = self._window[second % WINDOW_SECONDS]
            if slot is None or slot.second != second:
                per_second.append(0)
                continue
            per_second.append(slot.requests)
            total += slot.requests
            errors += slot.errors
            rejected += slot.rejected
            for i, n in enumerate(slot.latency):
                if n:
                    merged[i] += n
        return {
            "window_seconds": WINDOW_SECONDS,
            "requests": total,
            "rps": round(total / span, 3),
            "in_flight": self.in_flight,
            "errors": errors,
            "rejected": rejected,
            "error_ratio": round(errors / total, 4) if total else 0.0,
            "p50_ms": _percentile_ms(merged, total, 0.50),
            "p95_ms": _percentile_ms(merged, total, 0.95),
            "p99_ms": _percentile_ms(merged, total, 0.99),
            "per_second": per_second[-span:],
        }

    def render(self, breakers: Mapping[str, Any] | None = None) -> str:
        """Everything, in the Prometheus text format (0.0.4): the library's families,
        cost and call errors, the gateway's request families and, given ``breakers``
        (``client.status()["breakers"]``: deployment -> state), one
        ``llmswitch_breaker_state`` gauge per deployment and state (1 = current)."""
        out = [self.library.render().rstrip("\n")]
        out += self._render_gateway()
        if breakers:
            out += _render_breakers(breakers)
        return "\n".join(line for line in out if line) + "\n"

    def _render_gateway(self) -> list[str]:
        out: list[str] = []
        name = "llmswitch_gateway_requests_total"
        if self.requests:
            out += _head(name)
            for (route, status), n in sorted(self.requests.items()):
                out.append(f'{name}{{{_route_label(route)}status="{status}"}} {n}')
        for name, hists in (
            ("llmswitch_gateway_request_duration_seconds", self._latency),
            ("llmswitch_gateway_time_to_first_token_seconds", self._ttft),
        ):
            if hists:
                out += _head(name)
                for route, hist in sorted(hists.items()):
                    out += hist.lines(name, _route_label(route))
        name = "llmswitch_gateway_errors_total"
        if self._errors:
            out += _head(name)
            for (route, kind), n in sorted(self._errors.items()):
                out.append(f'{name}{{class="{_escape(kind)}",{_route_label(route)[:-1]}}} {n}')
        uptime = self._clock() - self._started
        out += [
            "# HELP llmswitch_gateway_uptime_seconds Seconds since this process started serving.",
            "# TYPE llmswitch_gateway_uptime_seconds gauge",
            f"llmswitch_gateway_uptime_seconds {_num(round(uptime, 3))}",
        ]
        return out


def _head(name: str) -> list[str]:
    kind, help_text = _GATEWAY_FAMILIES[name]
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _labels(labels: Labels) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}" if inner else ""


def _render_breakers(breakers: Mapping[str, Any]) -> list[str]:
    name = "llmswitch_breaker_state"
    out = [
        f"# HELP {name} Circuit breaker state by deployment (1 for the current state).",
        f"# TYPE {name} gauge",
    ]
    for deployment, found in sorted(breakers.items()):
        state = found.get("state") if isinstance(found, Mapping) else getattr(found, "state", None)
        for candidate in _BREAKER_STATES:
            value = 1 if candidate == state else 0
            out.append(
                f'{name}{{deployment="{_escape(str(deployment))}",state="{candidate}"}} {value}'
            )
    return out


def _percentile_ms(buckets: list[int], total: int, q: float) -> float | None:
    if not total:
        return None
    rank = q * total
    running = 0
    for i, n in enumerate(buckets):
        running += n
        if running >= rank:
            return round(_log_value(i) * 1000, 3)
    return round(_log_value(_LOG_BUCKETS - 1) * 1000, 3)  # pragma: no cover - rounding


class CallMetrics(_MetricsMiddleware):
    """The library's :class:`~llmswitch.observability.MetricsMiddleware`, also reporting
    each answered call's cost to a :class:`GatewayMetrics`."""

    metrics: LibraryMetrics

    def __init__(self, metrics: GatewayMetrics) -> None:
        super().__init__(metrics.library)

    def script(self, call: Call, stream: bool) -> Generator[Any, Any, Any]:
        result = yield from super().script(call, stream)
        if isinstance(result, ChatResponse):
            if result.cost and not result.cached:
                provider = result.provider or call.provider.id
                self.metrics.call_cost(provider, result.model or call.request.model, result.cost)
        elif isinstance(result, StreamEnd):  # a stream's end: priced here from its usage
            from ..catalog import cost_of

            provider, model = call.provider.id, call.request.model
            cost = cost_of(provider, model, result.usage)
            if cost:
                self.metrics.call_cost(provider, model, cost)
        return result
