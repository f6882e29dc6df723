"""The default resilience stack a client builds from ``llmswitch.toml``.

The order, outside in (drawn in ``docs/architecture.md``, "A chat call"): the user's
own layers, spend budgets, rate limits/quotas (with their queue), the router, then per
attempt of the router: per-deployment limits, key pick, breaker, retry, the provider. Limits that
count a provider or deployment go inside the router when there is one, so they count
the deployment the router actually picked; a deployment over its own ``rpm``/``tpm``
fails at once so the router falls back.
Key-scoped limits go right inside the key pick, where the key's label is known.

A user-passed instance of a built-in layer type replaces the configured one, at the
configured one's place.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..events import Event
from ..messages import ChatResponse
from ..providers.runtime import Provider
from .base import AsyncChatHandler, AsyncStreamHandler, Call, ChatHandler, Middleware, StreamHandler

if TYPE_CHECKING:
    from ..providers.settings import ProviderConfig
    from ..usage.budgets import AlertSettings, Budget
    from ..wire import Secret
    from .breaker import BreakerPolicy
    from .groups import ModelGroup
    from .ratelimit import Limit, Quota, RateLimiter
    from .retry import RetryPolicy

__all__ = ["DeploymentLimits", "StackSettings", "build_stack"]


class StackSettings(Protocol):
    """What the stack is built from: the resilience part of a loaded ``llmswitch.toml``
    (:class:`~llmswitch.config.Config`)."""

    @property
    def providers(self) -> Mapping[str, ProviderConfig]: ...
    @property
    def models(self) -> Mapping[str, ModelGroup]: ...
    @property
    def state(self) -> str | None: ...
    @property
    def state_secret(self) -> Secret | None: ...
    @property
    def retry(self) -> RetryPolicy | None: ...
    @property
    def breaker(self) -> BreakerPolicy | None: ...
    @property
    def limits(self) -> Sequence[Limit]: ...
    @property
    def quotas(self) -> Sequence[Quota]: ...
    @property
    def max_wait(self) -> float | None: ...
    @property
    def budgets(self) -> Sequence[Budget]: ...
    @property
    def alerts(self) -> AlertSettings | None: ...
    @property
    def database_url(self) -> str | None: ...


class DeploymentLimits(Middleware):
    """Limits that count the deployment the router picked: each deployment's own
    ``rpm``/``tpm`` (one :class:`RateLimiter` per deployment, applied to calls sent to its
    ``provider/model``; it never queues: over the limit the call raises the retryable
    :class:`~llmswitch.errors.RateLimitExceeded`, so the router moves on) and
    ``every``: provider/deployment-scoped ``[[limits]]``, applied to every routed call."""

    def __init__(
        self, limiters: dict[str, list[RateLimiter]], every: Sequence[RateLimiter] = ()
    ) -> None:
        self.limiters = limiters  # "provider/model" -> the limiters of its deployments
        self.every = list(every)  # for every other routed call

    def _chain(self, entry: str, call: Call, next: Any) -> Any:
        """``next`` wrapped in the ``entry`` point (``"chat"``, ``"astream"``, ...) of
        each limiter that counts ``call``, the first outermost."""
        limiters = self.limiters.get(f"{call.provider.id}/{call.request.model}", self.every)
        for limiter in reversed(limiters):
            next = functools.partial(getattr(limiter, entry), next=next)
        return next

    def chat(self, call: Call, next: ChatHandler) -> ChatResponse:
        return self._chain("chat", call, next)(call)  # type: ignore[no-any-return]

    def achat(self, call: Call, next: AsyncChatHandler) -> Awaitable[ChatResponse]:
        return self._chain("achat", call, next)(call)  # type: ignore[no-any-return]

    def stream(self, call: Call, next: StreamHandler) -> Iterator[Event]:
        return self._chain("stream", call, next)(call)  # type: ignore[no-any-return]

    def astream(self, call: Call, next: AsyncStreamHandler) -> AsyncIterator[Event]:
        return self._chain("astream", call, next)(call)  # type: ignore[no-any-return]


def build_stack(
    config: StackSettings, provider: Callable[[str], Provider], user: Sequence[Middleware]
) -> list[Middleware]:
    """The layers, outermost first, for ``config`` plus the user's ``user`` layers."""
    from ..keys.pool import KeyPool, KeyRotation
    from ..storage import open_store
    from ..usage.budgets_layer import BudgetLayer
    from .breaker import CircuitBreaker
    from .ratelimit import Limit, RateLimiter
    from .retry import Retry
    from .router import Router

    builtin = (
        BudgetLayer, RateLimiter, Router, DeploymentLimits, KeyRotation, CircuitBreaker, Retry,
    )  # fmt: skip
    mine: dict[type, list[Middleware]] = {t: [] for t in builtin}
    outer: list[Middleware] = []
    per_attempt: list[Middleware] = []
    for m in user:
        kind = next((t for t in builtin if isinstance(m, t)), None)
        if kind is not None:
            mine[kind].append(m)
        else:
            (per_attempt if m.per_attempt else outer).append(m)

    store: Any = None

    def shared() -> Any:
        nonlocal store
        if store is None:
            secret = config.state_secret.get() if config.state_secret is not None else None
            store = open_store(config.state, secret=secret)
        return store

    routed = bool(config.models)

    def slot(kind: type, make: Callable[[], Middleware | None]) -> list[Middleware]:
        if mine[kind]:
            return mine[kind]
        made = make()
        return [made] if made is not None else []

    # Outside the router only what does not depend on the deployment it picks.
    outside = [x for x in config.limits if x.scope != "key" and (not routed or x.scope == "user")]
    # A user's RateLimiter replaces all of [[limits]]/[[quotas]], not only the outer part.
    inside = [
        x
        for x in config.limits
        if routed and x.scope not in ("user", "key") and not mine[RateLimiter]
    ]
    per_key = [x for x in config.limits if x.scope == "key" and not mine[RateLimiter]]

    wait = 10.0 if config.max_wait is None else config.max_wait  # RateLimiter's default

    def limiter() -> Middleware | None:
        if not outside and not config.quotas:
            return None
        return RateLimiter(outside, config.quotas, shared(), max_wait=wait)

    def deployment_limits() -> Middleware | None:
        every = [RateLimiter(inside, (), shared(), max_wait=wait)] if inside else []
        by_model: dict[str, list[RateLimiter]] = {}
        for group in config.models.values():
            for d in group.deployments:
                if d.rpm is None and d.tpm is None:
                    continue
                limit = Limit("deployment", d.rpm, d.tpm)
                prefix = f"llmswitch:ratelimit:{group.name}/{d.id}:"
                one = RateLimiter((limit,), (), shared(), max_wait=0, prefix=prefix)
                routed_as = f"{d.endpoint}/{d.model.partition('/')[2]}" if d.endpoint else d.model
                by_model.setdefault(routed_as, [*every]).append(one)
        if not by_model and not every:
            return None
        return DeploymentLimits(by_model, every)

    def keys() -> Middleware | None:
        pools = [
            KeyPool(
                pc.id,
                pc.keys,
                strategy=pc.key_strategy,  # type: ignore[arg-type]
                store=shared(),
                on_state_error=pc.on_state_error,  # type: ignore[arg-type]
            )
            for pc in config.providers.values()
            if pc.keys
        ]
        return KeyRotation(pools) if pools else None

    def key_limits() -> list[Middleware]:
        # Without a key pool no call carries a key label: the limit would never apply.
        if not per_key or not keyed:
            return []
        return [RateLimiter(per_key, (), shared(), max_wait=wait)]

    def breaker() -> Middleware | None:
        if config.breaker is None:
            return None
        return CircuitBreaker(shared(), **dataclasses.asdict(config.breaker))

    def router() -> Middleware | None:
        if not routed:
            return None
        # Latency averages go to the store only when [state] names one, so routers in
        # several processes rank deployments alike; otherwise they stay in-process.
        return Router(config.models, provider, store=shared() if config.state else None)

    def budget() -> Middleware | None:
        if not config.budgets:
            return None
        # Spend counted so far this period is read from the usage ledger when there is one.
        database = config.database_url or os.environ.get("LLMSWITCH_DATABASE_URL") or None
        return BudgetLayer(
            config.budgets, state=config.state, database=database, alerts=config.alerts,
            groups=tuple(config.models),
        )  # fmt: skip

    keyed = slot(KeyRotation, keys)
    return [
        *outer,
        *slot(BudgetLayer, budget),
        *slot(RateLimiter, limiter),
        *slot(Router, router),
        *slot(DeploymentLimits, deployment_limits),
        *per_attempt,
        *keyed,
        *key_limits(),
        *slot(CircuitBreaker, breaker),
        *slot(Retry, lambda: Retry(config.retry) if config.retry is not None else None),
    ]
