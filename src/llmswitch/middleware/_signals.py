"""What the resilience layers tell the outside, declared here so the layers need not
import :mod:`llmswitch.observability` (which sits above them and implements these).

- :class:`Metrics`: the counters and timings a layer reports (a call finished, a
  retry, a breaker transition, a key cooldown, time spent queued); :class:`NoMetrics`
  records nothing.
- :class:`MetricsMiddleware`: the layer that reports every call to a :class:`Metrics`.
- :class:`Reporter`: a layer with live state to show. ``status()`` (and, when the state
  lives in a store with async operations, ``astatus()``) return it as dataclasses,
  dicts and lists; ``status_section`` says where
  :func:`llmswitch.observability.collect_status` files it: ``"other"`` (the default
  for any layer with a ``status()``) under the layer's class name, any other section
  (``"breakers"``, ``"key_pools"``) by merging the returned dict into it.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from ..messages import ChatResponse, Usage
from ._drive import Layer, Script, Try
from .base import Call

__all__ = ["Metrics", "MetricsMiddleware", "NoMetrics", "Reporter"]


class Metrics(Protocol):
    """What llmswitch layers report. ``outcome`` is ``"ok"`` or the error class name.
    The bodies do nothing, so a backend may subclass this and implement only some."""

    def call_finished(
        self,
        provider: str,
        model: str,
        outcome: str,
        latency_s: float,
        input_tokens: int,
        output_tokens: int,
    ) -> None:
        return None

    def retry(self, provider: str, model: str, reason: str) -> None:
        return None

    def breaker_transition(self, deployment: str, state: str) -> None:
        return None

    def key_cooldown(self, provider: str, key: str, reason: str) -> None:
        return None

    def queue_wait(self, seconds: float) -> None:
        return None

    def cache_lookup(self, outcome: str, saved_usd: float) -> None:
        """A response-cache lookup: ``outcome`` ``"hit"``, ``"miss"``, ``"coalesced"``
        (served by a concurrent identical call) or ``"semantic"``; ``saved_usd``: what
        the served answer cost originally (0.0 on a miss or an unknown price)."""
        return None

    def semantic_lookup(self, outcome: str, similarity: float | None) -> None:
        """A semantic-cache lookup of an embedded question: ``outcome`` ``"hit"`` or
        ``"miss"``; ``similarity``: the nearest stored question's (``None``: none)."""
        return None


class NoMetrics(Metrics):
    """The default: records nothing."""


class Reporter(Protocol):
    """A layer whose live state :func:`~llmswitch.observability.collect_status` shows
    (see the module docs for ``status_section``)."""

    status_section: str

    def status(self) -> Any: ...

    async def astatus(self) -> Any: ...


def _tokens(usage: Usage | None) -> tuple[int, int]:
    if usage is None:
        return 0, 0
    return usage.input_tokens or 0, usage.output_tokens or 0


class MetricsMiddleware(Layer):
    """Report each chat/stream call to ``metrics``: latency, outcome (``"ok"`` or the
    error class), tokens from usage. A stream is reported when it settles: at its
    ``StreamEnd`` or its error; one the caller abandons, or that ends without a
    ``StreamEnd``, is reported as ``"cancelled"``. Place it outermost to measure what
    callers see, or inside a router to see each deployment."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def script(self, call: Call, stream: bool) -> Script:
        started = time.perf_counter()
        try:
            result = yield Try(call)
        except Exception as exc:
            self._report(exc, call, started, None)
            raise
        except BaseException:  # closed early or cancelled: only a stream reports it
            if stream:
                self._report("cancelled", call, started, None)
            raise
        if stream:
            outcome = "cancelled" if result is None else "ok"
            self._report(outcome, call, started, result.usage if result is not None else None)
        else:
            self._report(result, call, started, result.usage)
        return result

    def _report(
        self,
        outcome: str | BaseException | ChatResponse,
        call: Call,
        started: float,
        usage: Usage | None,
    ) -> None:
        provider, model = call.provider.id, call.request.model
        if isinstance(outcome, ChatResponse):  # a chat answer says who really answered
            provider, model = outcome.provider or provider, outcome.model or model
            outcome = "ok"
        elif isinstance(outcome, BaseException):
            provider = getattr(outcome, "provider", None) or provider
            model = getattr(outcome, "model", None) or model
            outcome = type(outcome).__name__
        tin, tout = _tokens(usage)
        self.metrics.call_finished(
            provider, model, outcome, time.perf_counter() - started, tin, tout
        )
