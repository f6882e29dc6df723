"""What the resilience layers tell the outside, declared here so the layers need not
import :mod:`llmswitch.observability` (which sits above them and implements these).

- :class:`Metrics`: the counters and timings a layer reports (a call finished, a
  retry, a breaker transition, a key cooldown, time spent queued); :class:`NoMetrics`
  records nothing.
- :class:`Reporter`: a layer with live state to show. ``status()`` (and, when the state
  lives in a store with async operations, ``astatus()``) return it as dataclasses,
  dicts and lists; ``status_section`` says where
  :func:`llmswitch.observability.collect_status` files it: ``"other"`` (the default
  for any layer with a ``status()``) under the layer's class name, any other section
  (``"breakers"``, ``"key_pools"``) by merging the returned dict into it.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Metrics", "NoMetrics", "Reporter"]


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


class NoMetrics(Metrics):
    """The default: records nothing."""


class Reporter(Protocol):
    """A layer whose live state :func:`~llmswitch.observability.collect_status` shows
    (see the module docs for ``status_section``)."""

    status_section: str

    def status(self) -> Any: ...

    async def astatus(self) -> Any: ...
