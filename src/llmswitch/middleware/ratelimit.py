"""Rate limits (requests and tokens per minute), a priority waiting queue, and per-user
quotas.

Algorithm: an exact sliding log per limit key — every admitted call is logged with its
time and amount, and a call is admitted only if the amounts logged in the last
``window`` seconds (60) plus its own fit the limit, so no span of one window ever
admits more than the limit, also across a minute boundary and across processes
sharing Redis (whose server clock timestamps every entry). Chosen over a token bucket
(whose full burst lets two windows' worth through around an edge) and a sliding-window
counter (an estimate). One sorted set (Redis) or deque (memory) per key, with a running
total: O(log n) per decision. Every limit a call falls under is checked and charged in
ONE atomic store operation (:meth:`~llmswitch.storage.StateStore.log_acquire`), which
also says how long until the call would fit.

Tokens: before the call, ``characters / 4`` of the prompt plus ``max_tokens`` (or
``default_output_tokens``) is reserved; afterwards the difference to
``usage.total_tokens`` is charged or refunded on the call's own log entry (streams at
``StreamEnd``). A call that fails before its first event refunds the whole
reservation; one that fails mid-stream keeps the prompt estimate (the provider
processed it) and refunds the rest. Admission is exact on reservations; a call whose
real usage exceeds its reservation is charged the difference afterwards.

Queue: a call that does not fit waits in this process up to ``max_wait`` seconds,
then raises :class:`~llmswitch.errors.RateLimitExceeded` with ``retry_after``. A call
that cannot fit within ``max_wait`` (request limits: the store's ``retry_after`` is
certain, nothing is ever refunded) is refused at once instead of waiting. Waiting calls
are served in this order: lower priority value first (``"interactive"`` = 0, the
default, before ``"batch"`` = 10; an int is used as is), and within one priority
round-robin by user — every user's oldest waiting call, users ordered by when that
call arrived, then every user's second-oldest, and so on — so one user's burst cannot
starve the others. A waiting call that does not fit does not block the ones behind it
under other limits (or asking for less). Each waiting call sleeps until the store said
it may fit (or a refund frees tokens) and costs at most one store round trip per
wake-up; calls behind one that does not fit yet under the same limits wait without
asking the store, so a queue of n calls costs O(n) round trips. New calls go straight
to the store only while nobody is waiting.

Quotas: per-user request/token allowances per UTC calendar day or month, counted in
the store (across processes). Requests are checked and counted before the call;
tokens are checked before (the call is refused once the allowance is used up) and
counted after from real usage, so the last admitted call may go past it.

Store failures: ``on_state_error`` per limit (default ``"fail_open"``: the call
proceeds as if the limit allowed it, with a rate-limited WARNING) and per quota
(default ``"fail_closed"``: the call fails with
:class:`~llmswitch.errors.StateStoreError`); ``RateLimiter(on_state_error=...)``
overrides both. Recording after a call never fails the call.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from .._log import get_logger
from ..errors import ConfigurationError, QuotaExceeded, RateLimitExceeded, StateStoreError
from ..messages import ChatRequest, Usage
from ..storage import StateStore, open_store
from ..storage.base import OnStateError, check_policy, state_failed
from ._drive import Layer, Op, Ops, Script, Try, arun, is_inline, now_op, run, store_op
from ._ratequeue import LoopQueue, Plan, Queue, ThreadQueue, Waiter, kick, pump
from ._signals import Metrics
from .base import Call

__all__ = ["Limit", "LimitStatus", "Quota", "RateLimiter"]

logger = get_logger("llmswitch.ratelimit")

Scope = Literal["provider", "deployment", "user", "key"]
SCOPES = ("provider", "deployment", "user", "key")
# Call.state key where key rotation leaves the label of the key an attempt uses
# (llmswitch.keys.pool.KEY_STATE; not imported, keys.pool imports the middleware).
_KEY_STATE = "llmswitch.key"
WINDOW = 60.0
# A call's limits by store key: ((key, counts tokens, limit), token keys, scopes, policy,
# the smallest tokens_per_minute)
_Shape = tuple[list[tuple[str, bool, int]], list[str], str, OnStateError, float]
PRIORITIES = {"interactive": 0, "batch": 10}


def _positive(value: int | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigurationError(f"{name} must be an integer >= 1", field=name)


@dataclass(frozen=True, slots=True)
class Limit:
    """Requests and/or tokens per minute for each provider, deployment
    (``provider/model``), user (``request.user``; calls without one are not limited) or
    API key (``"key"``: the key's fingerprint label that
    :class:`~llmswitch.keys.KeyRotation` puts in ``call.state``, per provider; the
    limiter must sit inside the key rotation to see it, and calls without a key label
    are not limited). ``on_state_error``: what a call does when the store fails
    (default: proceed as if allowed)."""

    scope: Scope
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    on_state_error: OnStateError = "fail_open"

    def __post_init__(self) -> None:
        check_policy(self.on_state_error)
        if self.scope not in SCOPES:
            raise ConfigurationError(
                "limit scope must be provider, deployment, user or key", field="scope"
            )
        _positive(self.requests_per_minute, "requests_per_minute")
        _positive(self.tokens_per_minute, "tokens_per_minute")
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ConfigurationError(
                "a limit needs requests_per_minute or tokens_per_minute", field="scope"
            )


@dataclass(frozen=True, slots=True)
class Quota:
    """A per-user allowance of requests and/or tokens per UTC calendar day or month.
    ``on_state_error``: what a call does when the store fails (default: fail)."""

    per: Literal["user"] = "user"
    period: Literal["day", "month"] = "day"
    requests: int | None = None
    tokens: int | None = None
    on_state_error: OnStateError = "fail_closed"

    def __post_init__(self) -> None:
        check_policy(self.on_state_error)
        if self.per != "user":
            raise ConfigurationError("quotas are per user", field="per")
        if self.period not in ("day", "month"):
            raise ConfigurationError("quota period must be day or month", field="period")
        _positive(self.requests, "requests")
        _positive(self.tokens, "tokens")
        if self.requests is None and self.tokens is None:
            raise ConfigurationError("a quota needs requests or tokens", field="period")


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """One limit or quota counter as seen now (``used`` is the sliding-window estimate
    for limits, the period total for quotas)."""

    limit: str  # e.g. "user requests_per_minute", "user tokens per day"
    key: str  # the provider, deployment, user or provider/key label it counts
    used: float
    remaining: float


_PERIODS: dict[str, tuple[float, float, str]] = {}  # period -> (start, end, stamp)


def _period(period: str, now: float) -> tuple[str, float]:
    """(period stamp, seconds until it ends) in UTC; cached while ``now`` is inside
    the last period computed (datetime is the slowest part of a decision)."""
    hit = _PERIODS.get(period)
    if hit is not None and hit[0] <= now < hit[1]:
        return hit[2], hit[1] - now
    stamp, left = _compute_period(period, now)
    start = now - (86400 - left) if period == "day" else _month_start(now)
    _PERIODS[period] = (start, now + left, stamp)
    return stamp, left


def _month_start(now: float) -> float:
    t = datetime.fromtimestamp(now, UTC)
    return datetime(t.year, t.month, 1, tzinfo=UTC).timestamp()


def _compute_period(period: str, now: float) -> tuple[str, float]:
    t = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start.timestamp() + 86400
        return start.strftime("%Y-%m-%d"), end - now
    nxt = datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=UTC)
    return t.strftime("%Y-%m"), nxt.timestamp() - now


def estimate_tokens(request: ChatRequest, default_output: int) -> tuple[int, int]:
    """(prompt estimate, whole-call estimate): ~4 characters a token."""
    chars = len(request.system or "")
    for m in request.messages:
        chars += len(m.text) + 16
    prompt = chars // 4 + 1
    return prompt, prompt + (request.max_tokens or default_output)


def priority_of(call: Call) -> int:
    raw = call.state.get("priority")
    if raw is None and call.request.metadata:
        raw = call.request.metadata.get("priority")
    if raw is None:
        return 0
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if raw in PRIORITIES:
        return PRIORITIES[raw]
    raise ConfigurationError(
        f"priority must be 'interactive', 'batch' or an int, not {raw!r}", field="priority"
    )


class RateLimiter(Layer):
    """Requests/tokens per minute per scope, a priority queue, and per-user quotas.

    ``store`` is a :class:`~llmswitch.storage.StateStore` or a state URL
    (``"memory://"`` default, ``"redis://..."`` to share limits across processes).
    ``window``: the seconds a limit counts over (60: "per minute"). ``clock`` gives
    wall-clock seconds for the queue and quota periods and, when given, timestamps the
    logs too (default: the store's clock — the Redis server's, so processes with skewed
    clocks agree). ``on_state_error`` (``"fail_open"``/``"fail_closed"``) overrides every
    limit's and quota's own policy. ``metrics``: told how long each queued call waited.

    A call admitted after waiting is logged at INFO (``ratelimit.queued``, with
    ``waited``, ``priority``, ``scope``) and one refused at WARNING
    (``ratelimit.rejected``) on the ``llmswitch.ratelimit`` logger."""

    def __init__(
        self,
        limits: Sequence[Limit] = (),
        quotas: Sequence[Quota] = (),
        store: StateStore | str | None = None,
        *,
        max_wait: float = 10.0,
        default_output_tokens: int = 512,
        prefix: str = "llmswitch:ratelimit:",
        clock: Callable[[], float] | None = None,
        metrics: Metrics | None = None,
        window: float = WINDOW,
        on_state_error: OnStateError | None = None,
    ) -> None:
        if isinstance(max_wait, bool) or not isinstance(max_wait, int | float) or not max_wait >= 0:
            raise ConfigurationError("max_wait must be >= 0 seconds", field="max_wait")
        if (
            isinstance(window, bool) or not isinstance(window, int | float)
            or not 0 < window < math.inf
        ):  # fmt: skip
            raise ConfigurationError("window must be > 0 seconds", field="window")
        if on_state_error is not None:
            check_policy(on_state_error)
        self.window = float(window)
        self.on_state_error = on_state_error
        self.limits = tuple(limits)
        self.quotas = tuple(quotas)
        self.store = store if isinstance(store, StateStore) else open_store(store)
        self.max_wait = float(max_wait)
        self.default_output_tokens = default_output_tokens
        self.prefix = prefix
        self._clock = clock or time.time
        self._log_clock = clock  # None: the store's own clock
        self._metrics = metrics
        self._seen: dict[str, tuple[str, str, int]] = {}  # store key -> (limit, id, max)
        self._shapes: dict[tuple[str, str, str | None, str | None], _Shape] = {}
        self._shaped: tuple[Limit, ...] | None = None  # the limits _shapes was built from
        self._by_key = False  # whether a limit is per key (the label is part of `where`)
        self._quota_seen: dict[str, tuple[str, str, int, float]] = {}
        self._seq = itertools.count()
        self._queue = ThreadQueue()  # sync callers wait here, async ones in _aqueue
        # An inline store (memory://) never suspends the async path inside the queue's
        # sections, so no other task of the loop can be in one: no loop lock is needed,
        # and its operations are called without a coroutine each.
        store = self.store
        inline = is_inline(store)
        self._aqueue = LoopQueue(locked=not inline)
        # The path's queue, its section entered; awake runs on the loop, never suspends.
        self._enter = (
            now_op(self._queue.enter, self._aqueue.enter)
            if inline
            else Op(self._queue.enter, self._aqueue.aenter)
        )
        self._wake = now_op(self.wake, self.awake)
        # The store's two per-call operations, looked up once (store_op would per call).
        self._store_op = now_op if inline else Op
        self._log_acquire = (store.log_acquire, store.log_acquire if inline else store.alog_acquire)
        self._log_adjust = (store.log_adjust, store.log_adjust if inline else store.alog_adjust)

    # ---- planning (pure apart from remembering keys for status())

    def _plan(self, call: Call) -> Plan:
        if self._shaped is not self.limits:  # reassigned since: start again
            self._shapes.clear()
            self._shaped = self.limits
            self._by_key = any(limit.scope == "key" for limit in self.limits)
        request = call.request
        user = request.user
        prompt, reserved = estimate_tokens(request, self.default_output_tokens)
        label = call.state.get(_KEY_STATE) if self._by_key else None
        where = (call.provider.id, request.model, user, label)
        shape = self._shapes.get(where) or self._shape(where)
        keys, token_keys, scopes, policy, tightest = shape
        entries = [(key, reserved if tokens else 1, limit) for key, tokens, limit in keys]
        plan = Plan(entries, token_keys, reserved if token_keys else 0, prompt)
        plan.scopes, plan.limit_policy, plan.oversized = scopes, policy, reserved > tightest
        if user is not None and self.quotas:
            now = self._clock()
            policies = {self.on_state_error or q.on_state_error for q in self.quotas}
            plan.quota_policy = "fail_closed" if "fail_closed" in policies else "fail_open"
            for q in self.quotas:
                stamp, left = _period(q.period, now)
                base = f"{self.prefix}quota:{q.period}:{stamp}:{user}:"
                ttl = left + 3600  # only garbage collection: the stamp rolls the period
                for kind, amount, out in (
                    ("requests", q.requests, plan.quota_requests),
                    ("tokens", q.tokens, plan.quota_tokens),
                ):
                    if amount is not None:
                        key = base + kind
                        out.append((key, amount, ttl, f"user {kind} per {q.period}"))
                        self._quota_seen[key] = (f"user {kind} per {q.period}", user, amount, ttl)
        return plan

    def _shape(self, where: tuple[str, str, str | None, str | None]) -> _Shape:
        """The limits a call at ``where`` falls under, by store key (cached per provider, model,
        user and key label: building the keys is most of a plan's cost)."""
        provider, model, user, label = where
        keys: list[tuple[str, bool, int]] = []
        token_keys: list[str] = []
        scopes: list[str] = []
        closed = False
        for limit in self.limits:
            if limit.scope == "provider":
                ident: str | None = provider
            elif limit.scope == "deployment":
                ident = f"{provider}/{model}"
            elif limit.scope == "key":
                ident = f"{provider}/{label}" if label is not None else None
            else:
                ident = user
            if ident is None:
                continue
            closed = closed or (self.on_state_error or limit.on_state_error) == "fail_closed"
            if limit.scope not in scopes:
                scopes.append(limit.scope)
            base = f"{self.prefix}{limit.scope}:{ident}:"
            for kind, most, tokens in (
                ("requests_per_minute", limit.requests_per_minute, False),
                ("tokens_per_minute", limit.tokens_per_minute, True),
            ):
                if most is not None:
                    key = base + ("tpm" if tokens else "rpm")
                    keys.append((key, tokens, most))
                    if tokens:
                        token_keys.append(key)
                    self._seen[key] = (f"{limit.scope} {kind}", ident, most)
        if len(self._shapes) >= 4096:  # many users: keep the cache bounded
            self._shapes.clear()
        tightest = min((most for _, tokens, most in keys if tokens), default=math.inf)
        shape = self._shapes[where] = (
            keys, token_keys, ",".join(scopes), "fail_closed" if closed else "fail_open", tightest,
        )  # fmt: skip
        return shape

    def _quota_error(self, what: str, call: Call) -> QuotaExceeded:
        return QuotaExceeded(
            f"quota used up: {what} for user {call.request.user!r}",
            provider=call.provider.id,
            model=call.request.model,
        )

    def _limit_error(self, wait: float, call: Call) -> RateLimitExceeded:
        if math.isinf(wait):
            return RateLimitExceeded(
                "call is larger than a tokens_per_minute limit", provider=call.provider.id,
                model=call.request.model,
            )  # fmt: skip
        return RateLimitExceeded(
            f"rate limit reached; retry in {wait:.1f}s",
            retry_after=wait,
            provider=call.provider.id,
            model=call.request.model,
        )

    def _rejected(
        self, wait: float, call: Call, plan: Plan, waiter: Waiter | None
    ) -> RateLimitExceeded:
        if logger.isEnabledFor(logging.WARNING):
            fields = {
                "event": "ratelimit.rejected",
                "provider": call.provider.id,
                "model": call.request.model,
                "scope": plan.scopes,
                "priority": waiter.priority if waiter is not None else priority_of(call),
                "waited": round(self._clock() - waiter.since, 3) if waiter is not None else 0.0,
                "retry_after": None if math.isinf(wait) else round(wait, 3),
            }
            logger.warning(
                "ratelimit.rejected scope=%s priority=%s waited=%.3f retry_after=%s",
                fields["scope"],
                fields["priority"],
                fields["waited"],
                fields["retry_after"],
                extra=fields,
            )
        return self._limit_error(wait, call)

    def _queued(self, waiter: Waiter, call: Call) -> None:
        waited = max(0.0, self._clock() - waiter.since)
        if self._metrics is not None:
            self._metrics.queue_wait(waited)
        if logger.isEnabledFor(logging.INFO):
            fields = {
                "event": "ratelimit.queued",
                "provider": call.provider.id,
                "model": call.request.model,
                "scope": waiter.plan.scopes,
                "priority": waiter.priority,
                "waited": round(waited, 3),
            }
            logger.info(
                "ratelimit.queued scope=%s priority=%s waited=%.3f",
                fields["scope"],
                fields["priority"],
                fields["waited"],
                extra=fields,
            )

    def _waiter(self, plan: Plan, call: Call, now: float, ready_at: float) -> Waiter:
        return Waiter(
            plan, priority_of(call), call.request.user or "", next(self._seq),
            now + self.max_wait, ready_at, since=now,
        )  # fmt: skip

    def _log_now(self) -> float | None:
        return self._log_clock() if self._log_clock is not None else None

    # ---- the call: plan, acquire, try, settle (the drivers run it on all four paths)

    def script(self, call: Call, stream: bool) -> Script | None:
        if not self.limits and not self.quotas:
            return None
        return self._limit(call)

    def _limit(self, call: Call) -> Script:
        plan = self._plan(call)
        if plan.quota_tokens or plan.quota_requests:
            yield from self._check_quotas(plan, call)
        if plan.entries:
            try:
                yield from self._turn(plan, call)
            except BaseException:
                yield from self._undo_quotas(plan)
                raise
        attempt = Try(call)
        result = error = None
        try:
            result = yield attempt  # the ChatResponse or the StreamEnd
        except BaseException as exc:
            error = exc
        settle = self._settle(plan, result, attempt.started)
        if settle is not None:
            yield from settle
        if error is not None:
            raise error
        return result

    def _check_quotas(self, plan: Plan, call: Call) -> Ops:
        store = self.store
        counted: list[tuple[str, float]] = []
        try:
            for key, allowed, ttl, what in plan.quota_tokens:
                if (yield store_op(store, "incr_window", key, 0, ttl)) >= allowed:
                    raise self._quota_error(what, call)
            for key, allowed, ttl, what in plan.quota_requests:
                if (yield store_op(store, "incr_window", key, 1, ttl)) > allowed:
                    yield store_op(store, "incr_window", key, -1, ttl)
                    for k, t in counted:
                        yield store_op(store, "incr_window", k, -1, t)
                    raise self._quota_error(what, call)
                counted.append((key, ttl))
        except StateStoreError as exc:
            plan.quota_requests = [q for q in plan.quota_requests if (q[0], q[2]) in counted]
            state_failed("quota", plan.quota_policy, exc)

    def _undo_quotas(self, plan: Plan) -> Ops:
        try:
            for key, _, ttl, _ in plan.quota_requests:
                yield store_op(self.store, "incr_window", key, -1, ttl)
        except StateStoreError as exc:
            state_failed("quota", "fail_open", exc)

    def _try(self, plan: Plan) -> Ops:
        """Ask the store to admit ``plan``: how long until it would fit (0: admitted)."""
        try:
            admission = yield self._store_op(
                *self._log_acquire, plan.entries, self.window, self._log_now()
            )
        except StateStoreError as exc:
            state_failed("ratelimit", plan.limit_policy, exc)
            plan.ident = ""
            return 0.0  # failing open: as if the limits allowed it
        plan.at, plan.ident = admission.at, admission.ident
        return admission.wait

    def _turn(self, plan: Plan, call: Call) -> Ops:
        """Admit ``plan`` now, or queue it until it fits (see the module docs). The
        queue, its lock and how a call sleeps are the path's (:mod:`._ratequeue`)."""
        if plan.oversized:  # larger than a tokens_per_minute limit: never fits
            raise self._rejected(math.inf, call, plan, None)
        q: Queue = yield self._enter
        try:
            now = self._clock()
            if q.waiters:  # behind others: the pump decides, now
                waiter = q.join(self._waiter(plan, call, now, now))
                yield from self._pump(q)
            else:
                wait = yield from self._try(plan)
                if wait == 0.0:
                    return
                if wait > self.max_wait and (math.isinf(wait) or not plan.token_keys):
                    raise self._rejected(wait, call, plan, None)
                waiter = q.join(self._waiter(plan, call, now, now + wait))
        finally:
            q.release()
        try:
            while True:
                yield self._enter
                try:
                    now = self._clock()
                    if not (waiter.granted or waiter.rejected is not None) and (
                        waiter.ready_at <= now
                    ):
                        yield from self._pump(q)
                        now = self._clock()
                    if waiter.granted:
                        break
                    if waiter.rejected is not None:
                        raise self._rejected(waiter.rejected, call, plan, waiter)
                    if now >= waiter.deadline:
                        raise self._rejected(max(waiter.ready_at - now, 0.001), call, plan, waiter)
                    waiter.sleep_until = min(waiter.ready_at, waiter.deadline)
                    sleep = waiter.sleep_until - now
                    waiter.event.clear()
                finally:
                    q.release()
                yield Op(ThreadQueue.sleep, LoopQueue.asleep, waiter.event, sleep)
            self._queued(waiter, call)
        finally:
            q.leave(waiter)

    def _pump(self, q: Queue) -> Ops:
        """One pass of :func:`~._ratequeue.pump` against the store (the lock is held)."""
        steps = pump(q.waiters, q.served, self._clock(), self._seq)
        w = next(steps, None)
        while w is not None:
            wait = yield from self._try(w.plan)
            try:
                w = steps.send(wait)
            except StopIteration:
                w = None

    def wake(self) -> None:
        """Make waiting calls re-check now (e.g. after a clock change in tests)."""
        with self._queue.lock:
            kick(self._queue.waiters, self._clock())

    def awake(self) -> None:
        """:meth:`wake` for calls waiting on the async path (call it on their loop)."""
        kick(self._aqueue.waiters, self._clock())

    def waiting(self) -> int:
        """How many calls are waiting in this process (sync and async)."""
        return len(self._queue.waiters) + len(self._aqueue.waiters)

    def _settle(self, plan: Plan, result: Any, started: bool) -> Ops | None:
        """What settling a call needs: the reservation reconciled with real usage (or
        what a failure, or a stream without its StreamEnd, leaves) and the quota tokens
        counted; ``None`` when that is nothing (no store round trip)."""
        usage: Usage | None = None if result is None else result.usage
        delta = self._delta(plan, usage, result is None, started)
        tokens = _total(usage) if plan.quota_tokens else None
        if (delta and plan.ident) or tokens or (delta < 0 and self.waiting() > 0):
            return self._reconcile(plan, delta, tokens)
        return None

    def _reconcile(self, plan: Plan, delta: int, tokens: int | None) -> Ops:
        try:
            if delta and plan.ident:
                for key in plan.token_keys:
                    yield self._store_op(
                        *self._log_adjust, key, plan.ident, plan.reserved, delta, self.window
                    )
            if tokens:
                for key, _, ttl, _ in plan.quota_tokens:
                    yield store_op(self.store, "incr_window", key, tokens, ttl)
        except StateStoreError as exc:  # the call is done: never fail it now
            state_failed("ratelimit", "fail_open", exc)
        if delta < 0 and self.waiting():
            yield self._wake  # a refund may let waiting calls in

    @staticmethod
    def _delta(plan: Plan, usage: Usage | None, error: bool, started: bool) -> int:
        if not plan.token_keys:
            return 0
        if error:  # unknown usage: a started stream used at least the prompt
            return (plan.prompt if started else 0) - plan.reserved
        tokens = _total(usage)
        return 0 if tokens is None else tokens - plan.reserved

    # ---- observability

    def status(self) -> list[LimitStatus]:
        """Every limit and quota counter this limiter has seen, read live from the store."""
        return run(self._status())  # type: ignore[no-any-return]

    async def astatus(self) -> list[LimitStatus]:
        return await arun(self._status())  # type: ignore[no-any-return]

    def _status(self) -> Ops:
        now = self._clock()
        out: list[LimitStatus] = []
        for key, (name, ident, limit) in list(self._seen.items()):
            admission = yield store_op(
                self.store, "log_acquire", [(key, 0, limit)], self.window, self._log_now()
            )
            (used,) = admission.uses
            out.append(LimitStatus(name, ident, used, max(0.0, limit - used)))
        for key, (name, ident, allowed, ttl) in list(self._quota_seen.items()):
            stamp = key[len(self.prefix) :].split(":")[2]
            period = "day" if name.endswith("day") else "month"
            if _period(period, now)[0] != stamp:
                continue  # a past period
            used = yield store_op(self.store, "incr_window", key, 0, ttl)
            out.append(LimitStatus(name, ident, used, max(0.0, allowed - used)))
        return out


def _total(usage: Usage | None) -> int | None:
    if usage is None:
        return None
    if usage.total_tokens is not None:
        return usage.total_tokens
    if usage.input_tokens is None and usage.output_tokens is None:
        return None
    return (usage.input_tokens or 0) + (usage.output_tokens or 0)
