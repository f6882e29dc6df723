"""Metrics: a small interface the resilience layers report to, a no-op default, and
an in-process Prometheus implementation.

:class:`Metrics` is what layers call (a call finished, a retry, a breaker transition,
a key cooldown, time spent queued); it and :class:`MetricsMiddleware` are declared with
the layers (:mod:`llmswitch.middleware._signals`, so they need not import this
package) and re-exported here. :class:`MetricsMiddleware` reports every call::

    metrics = PrometheusMetrics()
    client = Client(middleware=[MetricsMiddleware(metrics), Retry()])
    ...
    body = metrics.render()   # serve at /metrics with content type metrics.CONTENT_TYPE

:class:`PrometheusMetrics` renders the Prometheus text exposition format (0.0.4)
itself: the format is a few lines of text, and hand-writing it spares every user a
dependency (``prometheus_client`` is not installed with llmswitch). Adapt
:class:`Metrics` to another backend (OpenTelemetry, StatsD) by implementing its methods.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ..middleware._signals import Metrics, MetricsMiddleware, NoMetrics

__all__ = [
    "LATENCY_BUCKETS",
    "Metrics",
    "MetricsMiddleware",
    "NoMetrics",
    "PrometheusMetrics",
]

# Seconds; LLM calls run from ~100 ms (cached, tiny) to minutes (long generations).
LATENCY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
QUEUE_BUCKETS: tuple[float, ...] = (0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60)


Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: str = "") -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    if extra:
        inner = f"{inner},{extra}" if inner else extra
    return "{" + inner + "}" if inner else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


class _Histogram:
    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * len(self.bounds)  # per bucket, not cumulative
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        self.sum += value
        self.count += 1


# name -> (type, help)
_FAMILIES: dict[str, tuple[str, str]] = {
    "llmswitch_calls_total": ("counter", "Chat and stream calls by outcome."),
    "llmswitch_call_duration_seconds": ("histogram", "Call latency (streams: to the end)."),
    "llmswitch_tokens_total": ("counter", "Tokens reported by providers."),
    "llmswitch_retries_total": ("counter", "Retried attempts."),
    "llmswitch_breaker_transitions_total": ("counter", "Circuit breaker state changes."),
    "llmswitch_key_cooldowns_total": ("counter", "API keys put on cooldown or disabled."),
    "llmswitch_queue_wait_seconds": ("histogram", "Time calls waited in a queue."),
    "llmswitch_cache_lookups_total": ("counter", "Response cache lookups by outcome."),
    "llmswitch_cache_saved_usd_total": ("counter", "USD the response cache's hits saved."),
    "llmswitch_semantic_cache_lookups_total": (
        "counter",
        "Semantic cache lookups of embedded questions by outcome.",
    ),
    "llmswitch_semantic_cache_similarity": (
        "histogram",
        "Cosine similarity of the stored question each semantic cache hit was served from.",
    ),
}

# The semantic cache's thresholds sit high (default 0.95): the buckets are dense there.
SIMILARITY_BUCKETS = (0.5, 0.8, 0.85, 0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 1.0)


# Per-call updates wait in a queue and are folded into the series this many at a time
# (and before every read): a call pays one append instead of four sorted label sets
# and four lock round trips. Finished calls are folded by (provider, model): a batch
# of calls to one model costs one label set per series, not one per call.
FOLD_EVERY = 256

_Finished = tuple[str, str, str, float, int, int]  # call_finished's arguments


class PrometheusMetrics:
    """In-process counters and fixed-bucket histograms; :meth:`render` gives the
    Prometheus text format. Thread-safe: rare updates are a dict lookup under a lock;
    the per-call ones (:meth:`call_finished`, :meth:`defer`) are queued and folded in
    batches, and every read (:meth:`render`, :meth:`value`) folds first, so nothing
    read is ever stale."""

    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(
        self,
        latency_buckets: Sequence[float] = LATENCY_BUCKETS,
        queue_buckets: Sequence[float] = QUEUE_BUCKETS,
    ) -> None:
        self._lock = threading.Lock()
        # deque: append and popleft are atomic, so threads may queue while one folds.
        self._pending: deque[tuple[Callable[..., None], tuple[object, ...]]] = deque()
        self._finished: deque[_Finished] = deque()  # call_finished's, folded by group
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, _Histogram]] = {}
        self._buckets = {
            "llmswitch_call_duration_seconds": tuple(sorted(latency_buckets)),
            "llmswitch_queue_wait_seconds": tuple(sorted(queue_buckets)),
            "llmswitch_semantic_cache_similarity": SIMILARITY_BUCKETS,
        }

    def __repr__(self) -> str:
        return f"PrometheusMetrics({sum(len(v) for v in self._counters.values())} series)"

    # ---- primitives

    def inc(self, name: str, labels: Labels, amount: float = 1.0) -> None:
        with self._lock:
            self._inc(name, labels, amount)

    def observe(self, name: str, labels: Labels, value: float) -> None:
        with self._lock:
            self._observe(name, labels, value)

    def _inc(self, name: str, labels: Labels, amount: float = 1.0) -> None:
        """``inc`` with the lock held."""
        labels = tuple(sorted(labels))  # one series per label set, whatever the order
        family = self._counters.setdefault(name, {})
        family[labels] = family.get(labels, 0.0) + amount

    def _observe(self, name: str, labels: Labels, value: float) -> None:
        """``observe`` with the lock held."""
        self._histogram(name, labels).observe(value)

    def _histogram(self, name: str, labels: Labels) -> _Histogram:
        labels = tuple(sorted(labels))
        family = self._histograms.setdefault(name, {})
        hist = family.get(labels)
        if hist is None:
            hist = family[labels] = _Histogram(self._buckets[name])
        return hist

    def defer(self, fold: Callable[..., None], *args: object) -> None:
        """Queue ``fold(*args)``, run later with the lock held (it may call ``_inc`` and
        ``_observe``); for a subclass's updates made on every call (the built-in ones
        have queues of their own, folded by series)."""
        pending = self._pending
        pending.append((fold, args))
        if len(pending) >= FOLD_EVERY:
            self.fold()

    def fold(self) -> None:
        """Apply every queued update now."""
        with self._lock:
            self._fold()

    def _fold(self) -> None:
        if self._finished:
            self._fold_finished()
        pending = self._pending
        while pending:
            fold, args = pending.popleft()
            fold(*args)

    def _fold_finished(self) -> None:
        finished = self._finished
        # By provider and model, in arrival order: [{outcome: calls}, input tokens,
        # output tokens, latencies]. Integer sums are exact and each histogram takes its
        # latencies in order, so the series are those of one update per call.
        groups: dict[tuple[str, str], list[Any]] = {}
        while finished:
            provider, model, outcome, latency_s, input_tokens, output_tokens = finished.popleft()
            group = groups.get((provider, model))
            if group is None:
                group = groups[(provider, model)] = [{}, 0, 0, []]
            outcomes = group[0]
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            group[1] += input_tokens
            group[2] += output_tokens
            group[3].append(latency_s)
        for (provider, model), (outcomes, inputs, outputs, latencies) in groups.items():
            where = (("model", model), ("provider", provider))
            for outcome, calls in outcomes.items():
                self._inc("llmswitch_calls_total", (*where, ("outcome", outcome)), calls)
            observe = self._histogram("llmswitch_call_duration_seconds", where).observe
            for latency_s in latencies:
                observe(latency_s)
            if inputs:
                self._inc("llmswitch_tokens_total", (("direction", "input"), *where), inputs)
            if outputs:
                self._inc("llmswitch_tokens_total", (("direction", "output"), *where), outputs)

    def value(self, name: str, **labels: str) -> float:
        """A counter's current value (0 if never incremented); for tests and checks."""
        with self._lock:
            self._fold()
            return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    # ---- Metrics

    def call_finished(
        self,
        provider: str,
        model: str,
        outcome: str,
        latency_s: float,
        input_tokens: int,
        output_tokens: int,
    ) -> None:
        finished = self._finished
        finished.append((provider, model, outcome, latency_s, input_tokens, output_tokens))
        if len(finished) >= FOLD_EVERY:
            self.fold()

    def retry(self, provider: str, model: str, reason: str) -> None:
        labels = (("model", model), ("provider", provider), ("reason", reason))
        self.inc("llmswitch_retries_total", labels)

    def breaker_transition(self, deployment: str, state: str) -> None:
        self.inc(
            "llmswitch_breaker_transitions_total", (("deployment", deployment), ("state", state))
        )

    def key_cooldown(self, provider: str, key: str, reason: str) -> None:
        labels = (("key", key), ("provider", provider), ("reason", reason))
        self.inc("llmswitch_key_cooldowns_total", labels)

    def queue_wait(self, seconds: float) -> None:
        self.observe("llmswitch_queue_wait_seconds", (), seconds)

    def cache_lookup(self, outcome: str, saved_usd: float) -> None:
        self.inc("llmswitch_cache_lookups_total", (("outcome", outcome),))
        if saved_usd:
            self.inc("llmswitch_cache_saved_usd_total", (), saved_usd)

    def semantic_lookup(self, outcome: str, similarity: float | None) -> None:
        self.inc("llmswitch_semantic_cache_lookups_total", (("outcome", outcome),))
        if outcome == "hit" and similarity is not None:
            self.observe("llmswitch_semantic_cache_similarity", (), similarity)

    # ---- exposition

    def render(self) -> str:
        """Everything recorded, in the Prometheus text exposition format."""
        out: list[str] = []
        with self._lock:
            self._fold()
            for name, (kind, help_text) in _FAMILIES.items():
                if kind == "counter":
                    series = self._counters.get(name)
                    if not series:
                        continue
                    out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
                    for labels, value in sorted(series.items()):
                        out.append(f"{name}{_labels(labels)} {_num(value)}")
                    continue
                hists = self._histograms.get(name)
                if not hists:
                    continue
                out += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
                for labels, hist in sorted(hists.items()):
                    running = 0
                    for bound, n in zip(hist.bounds, hist.counts, strict=True):
                        running += n
                        le = f'le="{_num(bound)}"'
                        out.append(f"{name}_bucket{_labels(labels, le)} {running}")
                    inf = _labels(labels, 'le="+Inf"')
                    out.append(f"{name}_bucket{inf} {hist.count}")
                    out.append(f"{name}_sum{_labels(labels)} {_num(hist.sum)}")
                    out.append(f"{name}_count{_labels(labels)} {hist.count}")
        return "\n".join(out) + "\n" if out else ""
