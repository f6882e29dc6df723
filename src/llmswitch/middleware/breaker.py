"""A circuit breaker per deployment (``provider/model``).

Closed: calls pass and their outcomes fill a rolling window. When the window holds at
least ``min_calls`` outcomes and the share of failures reaches ``failure_rate``, the
breaker opens: calls fail fast with :class:`~llmswitch.errors.CircuitOpenError`
(``retry_after`` = remaining cool-down) without reaching the provider. After
``cooldown`` seconds it is half-open: up to ``half_open_probes`` calls per cool-down
period go through; a probe's success closes the breaker (with a fresh window), its
failure re-opens it for another cool-down.

What counts as a failure: errors that say the *deployment* is unhealthy —
:class:`TransportError`, :class:`LLMTimeoutError`, :class:`ProviderUnavailableError`
(5xx, 529, mid-stream overload). Not counted (neither success nor failure): errors
about the request or the caller (invalid request, context length, content filter,
auth, configuration), cancellations, and :class:`RateLimitError` — a 429 is usually
one key's quota, which key cooldowns and retries (honouring ``retry_after``) handle;
pass ``failure_types=`` to count it too. A stream succeeds when its ``StreamEnd``
arrives and fails on a counted error raised before or during it.

The decision logic is :class:`BreakerPolicy` (pure: state and counts in, decision
out); the state lives in a :class:`~llmswitch.storage.StateStore`, so with a Redis
store every process sees the same breaker. Per call with Redis: one round trip to
admit (two while half-open) and one to record the outcome (one more on a transition).

When the store fails (:class:`~llmswitch.errors.StateStoreError`), ``on_state_error``
decides: ``"fail_open"`` (default) lets the call through as if the breaker were
closed, with a rate-limited WARNING; ``"fail_closed"`` raises the error instead of
calling the provider. Recording an outcome never fails a call that already happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .._log import get_logger
from ..errors import (
    CircuitOpenError,
    LLMTimeoutError,
    ProviderUnavailableError,
    StateStoreError,
    TransportError,
)
from ..storage import StateStore, open_store
from ..storage.base import OnStateError, check_policy, state_failed
from ._drive import Layer, Ops, Script, Try, arun, run, store_op
from ._signals import Metrics
from .base import Call

__all__ = [
    "DEFAULT_FAILURE_TYPES",
    "BreakerPolicy",
    "BreakerState",
    "CircuitBreaker",
]

log = get_logger("llmswitch.breaker")

StateName = Literal["closed", "open", "half_open"]

DEFAULT_FAILURE_TYPES: tuple[type[BaseException], ...] = (
    TransportError,
    LLMTimeoutError,
    ProviderUnavailableError,
)


@dataclass(frozen=True, slots=True)
class BreakerState:
    """A breaker as seen now: ``calls``/``failures`` in the rolling window;
    ``opens_until`` is when the current open period ends (``None`` when closed)."""

    state: StateName
    failures: int
    calls: int
    opens_until: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    """The breaker's thresholds and its pure decisions (seconds throughout)."""

    window: float = 60.0
    buckets: int = 10
    min_calls: int = 10
    failure_rate: float = 0.5
    cooldown: float = 30.0
    half_open_probes: int = 1
    on_state_error: OnStateError = "fail_open"

    def __post_init__(self) -> None:
        from ..errors import ConfigurationError

        check_policy(self.on_state_error)
        for name in ("window", "cooldown"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"breaker {name} must be > 0 seconds", field=name)
        for name in ("buckets", "min_calls", "half_open_probes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"breaker {name} must be an integer >= 1", field=name)
        rate = self.failure_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
            raise ConfigurationError("breaker failure_rate must be in (0, 1]", field="failure_rate")

    def status(self, opens_until: float | None, now: float) -> tuple[StateName, int, float]:
        """``(state, probe period, retry_after)`` for a breaker opened until
        ``opens_until`` (``None``: closed). Half-open time is cut into cool-down
        periods, each allowing ``half_open_probes`` probes, so a probe that never
        reports back blocks recovery for one period at most."""
        if opens_until is None:
            return "closed", 0, 0.0
        if now < opens_until:
            return "open", 0, opens_until - now
        period = int((now - opens_until) // self.cooldown)
        return "half_open", period, opens_until + (period + 1) * self.cooldown - now

    def probe_allowed(self, probes_in_period: int) -> bool:
        """Whether the ``probes_in_period``-th probe of a period (1-based) may go."""
        return probes_in_period <= self.half_open_probes

    def should_open(self, successes: int, failures: int) -> bool:
        """Whether a closed breaker with these window counts trips."""
        calls = successes + failures
        return calls >= self.min_calls and failures >= self.failure_rate * calls


class _Keys:
    __slots__ = ("probe", "state", "window")

    def __init__(self, prefix: str, deployment: str) -> None:
        self.state = f"{prefix}{deployment}:state"
        self.window = f"{prefix}{deployment}:window"
        self.probe = f"{prefix}{deployment}:probe:"


def _deployment_of(call: Call) -> str:
    return f"{call.provider.id}/{call.request.model}"


class CircuitBreaker(Layer):
    """Fail fast on deployments that keep failing; see the module docs for the rules.

    ``store`` is a :class:`~llmswitch.storage.StateStore` or a state URL
    (``"memory://"`` default, ``"redis://host:port/db"`` to share across processes).
    ``prefix`` namespaces its keys; ``clock`` gives wall-clock seconds (wall clock, not
    monotonic, so processes sharing Redis agree). ``deployment`` maps a call to the id
    its state is kept under (default ``"<provider>/<model>"``). ``metrics`` is told of
    each transition this process makes (``"open"``, ``"half_open"``, ``"closed"``).
    """

    per_attempt = True
    status_section = "breakers"  # collect_status files states() there

    def __init__(
        self,
        store: StateStore | str | None = None,
        *,
        window: float = 60.0,
        buckets: int = 10,
        min_calls: int = 10,
        failure_rate: float = 0.5,
        cooldown: float = 30.0,
        half_open_probes: int = 1,
        failure_types: tuple[type[BaseException], ...] = DEFAULT_FAILURE_TYPES,
        prefix: str = "llmswitch:breaker:",
        clock: Callable[[], float] = time.time,
        deployment: Callable[[Call], str] = _deployment_of,
        metrics: Metrics | None = None,
        on_state_error: OnStateError = "fail_open",
    ) -> None:
        self.policy = BreakerPolicy(
            window=window,
            buckets=buckets,
            min_calls=min_calls,
            failure_rate=failure_rate,
            cooldown=cooldown,
            half_open_probes=half_open_probes,
            on_state_error=on_state_error,
        )
        self.store = store if isinstance(store, StateStore) else open_store(store)
        self.failure_types = failure_types
        self.prefix = prefix
        self._clock = clock
        self._deployment = deployment
        self._metrics = metrics
        self._keys: dict[str, _Keys] = {}

    def _keys_for(self, deployment: str) -> _Keys:
        keys = self._keys.get(deployment)
        if keys is None:
            keys = self._keys[deployment] = _Keys(self.prefix, deployment)
        return keys

    # ---- observability

    def state(self, deployment: str) -> BreakerState:
        """The live state of ``deployment``'s breaker (from the shared store)."""
        return run(self._state(deployment))  # type: ignore[no-any-return]

    async def astate(self, deployment: str) -> BreakerState:
        return await arun(self._state(deployment))  # type: ignore[no-any-return]

    def states(self) -> dict[str, BreakerState]:
        """Every deployment this breaker has seen, with its live state."""
        return run(self._states())  # type: ignore[no-any-return]

    async def astates(self) -> dict[str, BreakerState]:
        return await arun(self._states())  # type: ignore[no-any-return]

    status, astatus = states, astates  # the Reporter protocol (see _signals)

    def _states(self) -> Ops:
        out = {}
        for deployment in list(self._keys):
            out[deployment] = yield from self._state(deployment)
        return out

    def _state(self, deployment: str) -> Ops:
        keys = self._keys_for(deployment)
        raw = yield store_op(self.store, "get", keys.state)
        now = self._clock()
        p = self.policy
        s, f = yield store_op(self.store, "outcomes", keys.window, now, p.window, p.buckets)
        until = float(raw) if raw is not None else None
        name, _, _ = p.status(until, now)
        return BreakerState(state=name, failures=f, calls=s + f, opens_until=until)

    # ---- the call: admit, try, settle (the drivers run it on all four paths)

    def script(self, call: Call, stream: bool) -> Script:
        deployment = self._deployment(call)
        probe = yield from self._admit(deployment, call)
        try:
            result = yield Try(call)
        except BaseException as exc:  # GeneratorExit (caller stopped) is not counted
            yield from self._settle(deployment, probe, exc)
            raise
        # A stream that ended without its StreamEnd is inconclusive, like one abandoned.
        outcome = GeneratorExit() if stream and result is None else None
        yield from self._settle(deployment, probe, outcome)
        return result

    def _admit(self, deployment: str, call: Call) -> Ops:
        """``None`` to pass a call through a closed breaker, a probe key when it is a
        half-open probe; raises :class:`CircuitOpenError` otherwise."""
        try:
            raw = yield store_op(self.store, "get", self._keys_for(deployment).state)
            if raw is None:
                return None
            name, period, retry_after = self.policy.status(float(raw), self._clock())
            if name == "open":
                raise self._open_error(deployment, retry_after, call)
            probe_key = f"{self._keys_for(deployment).probe}{raw}:{period}"
            n = yield store_op(self.store, "incr_window", probe_key, 1, self.policy.cooldown)
        except StateStoreError as exc:
            state_failed("breaker", self.policy.on_state_error, exc)
            return None  # failing open: as if closed
        if not self.policy.probe_allowed(n):
            raise self._open_error(deployment, retry_after, call)
        if n == 1:
            log.info("breaker half-open: probing %s", deployment)
            self._transition(deployment, "half_open")
        return probe_key

    def _open_error(self, deployment: str, retry_after: float, call: Call) -> CircuitOpenError:
        return CircuitOpenError(
            f"circuit open for {deployment}; retry in {retry_after:.1f}s",
            retry_after=retry_after,
            provider=call.provider.id,
            model=call.request.model,
        )

    def _settle(self, deployment: str, probe: str | None, exc: BaseException | None) -> Ops:
        try:
            yield from self._record(deployment, probe, exc)
        except StateStoreError as failure:  # the call is done: never fail it now
            state_failed("breaker", "fail_open", failure)

    def _record(self, deployment: str, probe: str | None, exc: BaseException | None) -> Ops:
        store, p, keys = self.store, self.policy, self._keys_for(deployment)
        if exc is not None and not isinstance(exc, self.failure_types):
            if probe is not None:  # inconclusive probe: give its slot back
                yield store_op(store, "incr_window", probe, -1, p.cooldown)
            return
        now = self._clock()
        if probe is not None:
            if exc is None:
                yield store_op(store, "delete", keys.state, keys.window)
                log.info("breaker closed: %s recovered", deployment)
                self._transition(deployment, "closed")
            else:
                yield store_op(store, "set", keys.state, repr(now + p.cooldown))
                self._log_open(deployment, 0, 0, True)
            return
        s, f = yield store_op(
            store, "record_outcome", keys.window, exc is None, now, p.window, p.buckets
        )
        # NX: in-flight stragglers and other processes must not extend the open period.
        if exc is not None and p.should_open(s, f):
            until = repr(now + p.cooldown)
            opened = yield store_op(store, "set", keys.state, until, only_if_absent=True)
            if opened:
                self._log_open(deployment, s, f, False)

    def _log_open(self, deployment: str, s: int, f: int, probe: bool) -> None:
        what = "probe failed, re-opened" if probe else f"opened ({f}/{s + f} calls failed)"
        log.warning("breaker %s for %s; cool-down %.1fs", what, deployment, self.policy.cooldown)
        self._transition(deployment, "open")

    def _transition(self, deployment: str, state: str) -> None:
        if self._metrics is not None:
            self._metrics.breaker_transition(deployment, state)
