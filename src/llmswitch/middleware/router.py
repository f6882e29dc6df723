"""Model groups: one name, several deployments, a strategy that orders them and
fallbacks when one fails.

The client builds a :class:`Router` by itself when ``llmswitch.toml`` has ``[models.*]``
groups; calls to any other model pass straight through it. Per call the router orders
the group's deployments, sends the call to the first, and moves on to the next when the
failure is one the group falls back on (``fallback_on``):

- ``"retryable"`` (default): 429, 5xx/overload, connection failures, timeouts;
- ``"context_length"``: the prompt does not fit; only deployments whose catalog context
  window is larger (or unknown) are tried after it;
- ``"content_filter"``: the provider's safety system refused.

An open circuit breaker (:class:`CircuitOpenError`) always falls back. Any other error
propagates unchanged; when every deployment fails the call raises
:class:`AllProvidersFailedError` with each attempt's error in order. A stream falls back
only until its first event has reached the caller.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..errors import (
    AllProvidersFailedError,
    CircuitOpenError,
    ContentFilterError,
    ContextLengthExceededError,
    LLMError,
    StateStoreError,
    UserKeyRequiredError,
)
from ..providers.runtime import CallContext, Provider
from ..storage.base import state_failed
from ..wire import to_timeout
from ._drive import Layer, Ops, Script, Try, run, store_op
from .base import ACCUMULATOR_KEY, Call

if TYPE_CHECKING:
    from ..storage import StateStore
    from ._signals import Metrics
    from .groups import Deployment, ModelGroup

__all__ = ["ACCUMULATOR_KEY", "Router"]

logger = get_logger("llmswitch.router")

# Call.state key under which the client leaves the stream's Accumulator, so the answer
# names the deployment that actually served it.

_CTX_CACHE_LIMIT = 64


class _Slot:
    """A deployment's runtime state: its resolved provider and live statistics."""

    __slots__ = (
        "contexts", "deployment", "endpoint", "in_flight", "latency", "latency_key", "model",
        "price", "provider", "provider_id", "window",
    )  # fmt: skip

    def __init__(self, deployment: Deployment, group: str) -> None:
        from ..catalog import lookup

        self.deployment = deployment
        self.latency_key = f"llmswitch:latency:{group}/{deployment.id}"
        self.provider_id, _, self.model = deployment.model.partition("/")
        # the provider calls go to: a derived one when the deployment has its own endpoint
        self.endpoint = deployment.endpoint or self.provider_id
        spec = lookup(self.provider_id, self.model)
        self.window = spec.context_window if spec is not None else None
        self.price: float | None = None
        if spec is not None and spec.input_price is not None and spec.output_price is not None:
            self.price = spec.input_price + spec.output_price
        self.provider: Provider | None = None
        self.in_flight = 0
        self.latency: float | None = None  # EWMA of successful calls, seconds
        self.contexts: dict[CallContext, CallContext] = {}  # the call's -> with our timeout


class _Group:
    __slots__ = (
        "by_cost", "cumulative", "fallback_on", "group", "latency_keys", "ordered", "slots",
        "strategy", "total",
    )  # fmt: skip

    def __init__(self, group: ModelGroup) -> None:
        self.group = group
        self.strategy = group.strategy
        self.fallback_on = group.fallback_on
        self.slots = tuple(_Slot(d, group.name) for d in group.deployments)
        self.latency_keys = [s.latency_key for s in self.slots]
        # sorted() is stable: equal priorities keep file order
        self.ordered = tuple(sorted(self.slots, key=lambda s: s.deployment.priority))
        self.by_cost = tuple(sorted(self.ordered, key=lambda s: (s.price is None, s.price or 0.0)))
        self.cumulative: list[float] = []
        total = 0.0
        for s in self.slots:
            total += s.deployment.weight
            self.cumulative.append(total)
        self.total = total


class Router(Layer):
    """Route calls to model groups (see the module docs).

    ``groups``: the :class:`~llmswitch.config.ModelGroup` entries (``Config.models``).
    ``provider``: looks up a provider by id (the client passes its own). ``rng``: a
    ``random.Random`` for the ``weighted`` strategy; ``clock``: seconds, for latency;
    ``alpha``: weight of the newest sample in the latency moving average.
    ``metrics``: told of each fallback as a retry with reason ``"fallback"``.
    ``store``: a :class:`~llmswitch.storage.StateStore` holding the latency averages
    (keys ``llmswitch:latency:<group>/<deployment id>``), so every router sharing it
    ranks ``lowest-latency`` deployments alike: one read of the group's averages per
    routing decision, one atomic update per successful attempt. Without it the
    averages live in this router only.

    Each fallback is logged at INFO (``router.fallback``) and a group whose every
    deployment failed at WARNING (``router.exhausted``) on the ``llmswitch.router``
    logger; error class names only, never messages.
    """

    def __init__(
        self,
        groups: Mapping[str, ModelGroup] | Iterable[ModelGroup],
        provider: Callable[[str], Provider],
        *,
        rng: Any = None,
        clock: Callable[[], float] = time.perf_counter,
        alpha: float = 0.3,
        metrics: Metrics | None = None,
        store: StateStore | None = None,
    ) -> None:
        if isinstance(groups, Mapping):
            groups = groups.values()
        self._groups = {g.name: _Group(g) for g in groups}
        self._lookup = provider
        if rng is None:
            import random

            rng = random.Random()
        self._random: Callable[[], float] = rng.random
        self._clock = clock
        self._alpha = alpha
        self._metrics = metrics
        self._store = store
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ introspection

    @property
    def groups(self) -> Mapping[str, ModelGroup]:
        return {name: g.group for name, g in self._groups.items()}

    def stats(self, group: str) -> dict[str, dict[str, Any]]:
        """Live numbers per deployment id: ``in_flight`` and ``latency`` (EWMA seconds)."""
        return {
            s.deployment.id: {"in_flight": s.in_flight, "latency": s.latency}
            for s in self._groups[group].slots
        }

    def plan(self, group: str) -> list[Deployment]:
        """The order the next call to ``group`` would try its deployments in."""
        g = self._groups[group]
        return [s.deployment for s in self._plan(g, run(self._shared(g)))]

    # ------------------------------------------------------------------ decisions

    def _shared(self, g: _Group) -> Ops:
        """The group's stored latency averages, when they come from the store."""
        if self._store is None or g.strategy != "lowest-latency":
            return None
        try:
            shared: list[str | None] = yield store_op(self._store, "get_many", g.latency_keys)
        except StateStoreError as exc:
            _latency_unavailable(exc)
            return None
        return shared

    def _plan(self, g: _Group, shared: list[str | None] | None = None) -> list[_Slot]:
        strategy = g.strategy
        if strategy == "ordered":
            return list(g.ordered)
        if strategy == "weighted":
            i = min(bisect_right(g.cumulative, self._random() * g.total), len(g.slots) - 1)
            # after the pick, the others in priority order; built per call, since a
            # precomputed list per deployment is quadratic in the group's size
            pick = g.slots[i]
            return [pick, *(s for s in g.ordered if s is not pick)]
        if strategy == "least-busy":
            return sorted(g.ordered, key=lambda s: s.in_flight)
        if strategy == "lowest-latency":
            if shared is not None:
                for s, value in zip(g.slots, shared, strict=True):
                    s.latency = None if value is None else float(value)
            # unknown first: a deployment with no samples must get some traffic to get one
            return sorted(g.ordered, key=lambda s: -1.0 if s.latency is None else s.latency)
        return list(g.by_cost)

    def _call(self, call: Call, slot: _Slot, attempt: int) -> Call:
        provider = slot.provider
        if provider is None:
            provider = slot.provider = self._lookup(slot.endpoint)
        request = call.request
        if request.provider != provider.id or request.model != slot.model:
            request = dataclasses.replace(request, provider=provider.id, model=slot.model)
        ctx = call.ctx
        override = slot.deployment.timeout
        if override is not None:
            ctx = self._context(slot, ctx, override)
        return call.replace(provider=provider, request=request, ctx=ctx, attempt=attempt)

    @staticmethod
    def _context(slot: _Slot, ctx: CallContext, override: Any) -> CallContext:
        # Calls mostly share a few contexts (one per client and timeout option).
        try:
            merged = slot.contexts.get(ctx)
        except TypeError:  # a context holding something unhashable: no caching
            return dataclasses.replace(ctx, timeout=to_timeout(override, ctx.timeout))
        if merged is None:
            if len(slot.contexts) >= _CTX_CACHE_LIMIT:
                slot.contexts.clear()
            timeout = to_timeout(override, ctx.timeout)
            merged = slot.contexts[ctx] = dataclasses.replace(ctx, timeout=timeout)
        return merged

    def _enter(self, slot: _Slot) -> float:
        with self._lock:
            slot.in_flight += 1
        return self._clock()

    def _leave(self, slot: _Slot) -> None:
        with self._lock:
            slot.in_flight -= 1

    def _record(self, slot: _Slot, sample: float) -> Ops:
        if self._store is not None:
            try:
                key, alpha = slot.latency_key, self._alpha
                slot.latency = yield store_op(self._store, "ewma", key, sample, alpha)
                return
            except StateStoreError as exc:
                _latency_unavailable(exc)  # and keep this process's own average below
        with self._lock:
            old = slot.latency
            slot.latency = sample if old is None else old + self._alpha * (sample - old)

    def _fallback(
        self, g: _Group, slot: _Slot, exc: LLMError, remaining: list[_Slot]
    ) -> list[_Slot] | None:
        """The deployments left to try after ``exc``, or ``None`` to let it propagate."""
        rest = self._rest(g, slot, exc, remaining)
        if rest:
            if self._metrics is not None:
                self._metrics.retry(slot.provider_id, slot.model, "fallback")
            if logger.isEnabledFor(logging.INFO):
                fields = {
                    "event": "router.fallback",
                    "group": g.group.name,
                    "from_deployment": slot.deployment.id,
                    "to_deployment": rest[0].deployment.id,
                    "error": type(exc).__name__,
                }
                logger.info(
                    "router.fallback group=%s from=%s to=%s error=%s",
                    fields["group"],
                    fields["from_deployment"],
                    fields["to_deployment"],
                    fields["error"],
                    extra=fields,
                )
        return rest

    @staticmethod
    def _rest(g: _Group, slot: _Slot, exc: LLMError, remaining: list[_Slot]) -> list[_Slot] | None:
        if isinstance(exc, ContextLengthExceededError):
            if "context_length" not in g.fallback_on:
                return None
            if slot.window is None:
                return remaining
            larger = [s for s in remaining if s.window is not None and s.window > slot.window]
            return larger + [s for s in remaining if s.window is None]
        if isinstance(exc, CircuitOpenError | UserKeyRequiredError):
            # Nothing was sent: this deployment cannot serve the call, another may
            # (a user who brought a key for only some of the group's providers).
            return remaining
        if isinstance(exc, ContentFilterError):
            return remaining if "content_filter" in g.fallback_on else None
        if exc.retryable and "retryable" in g.fallback_on:
            return remaining
        return None

    @staticmethod
    def _failed(g: _Group, errors: list[LLMError]) -> AllProvidersFailedError:
        tried = "; ".join(f"{type(e).__name__}: {e}" for e in errors)
        if logger.isEnabledFor(logging.WARNING):
            names = ",".join(type(e).__name__ for e in errors)
            logger.warning(
                "router.exhausted group=%s attempts=%d errors=%s",
                g.group.name,
                len(errors),
                names,
                extra={
                    "event": "router.exhausted",
                    "group": g.group.name,
                    "attempts": len(errors),
                    "errors": names,
                },
            )
        return AllProvidersFailedError(
            f"all deployments of model group {g.group.name!r} failed ({len(errors)} "
            f"attempt{'s' if len(errors) != 1 else ''}): {tried}",
            errors=errors,
            model=g.group.name,
        )

    @staticmethod
    def _served_by(call: Call, sub: Call) -> None:
        acc = call.state.get(ACCUMULATOR_KEY)
        if acc is not None:
            acc.provider = sub.provider.id
            acc.model = sub.request.model

    # ------------------------------------------------------------------ the call

    def script(self, call: Call, stream: bool) -> Script | None:
        g = self._groups.get(call.model)
        if g is None:
            return None  # not a group: passes straight through
        return self._route(g, call, stream)

    def _route(self, g: _Group, call: Call, stream: bool) -> Script:
        errors: list[LLMError] = []
        shared = (yield from self._shared(g)) if self._store is not None else None
        remaining = self._plan(g, shared)
        while remaining:
            slot = remaining.pop(0)
            sub = self._call(call, slot, len(errors))
            started = self._enter(slot)
            attempt = Try(sub, self._clock)
            try:
                result = yield attempt
            except BaseException as exc:
                self._leave(slot)
                if attempt.started:
                    yield from self._served(call, attempt, slot, started)
                elif isinstance(exc, LLMError):
                    rest = self._fallback(g, slot, exc, remaining)
                    if rest is not None:
                        errors.append(exc)
                        remaining = rest
                        continue
                raise
            self._leave(slot)
            if not stream:
                yield from self._record(slot, self._clock() - started)
            elif attempt.started:  # (a stream where nothing came is not a sample)
                yield from self._served(call, attempt, slot, started)
            return result
        raise self._failed(g, errors)

    def _served(self, call: Call, attempt: Try, slot: _Slot, started: float) -> Ops:
        """A stream's bookkeeping once it settles (the drivers do this before the caller
        sees its StreamEnd): time to first event, and which deployment answered."""
        first = attempt.first_at if attempt.first_at is not None else started
        yield from self._record(slot, first - started)
        self._served_by(call, attempt.call)


def _latency_unavailable(exc: StateStoreError) -> None:
    """Shared latency averages only order deployments, so the router always fails open:
    a store outage falls back to this process's own averages (with a rate-limited
    warning), never fails the call."""
    state_failed("router", "fail_open", exc)
