"""``TenantLimiter``: the per-key, per-user and per-team request and token limits of
:class:`~.TenantLimits`, held across gateway replicas by the shared state store.

The counting is the library's own, not a second implementation: per-minute limits are
the rate limiter's exact sliding log (:meth:`StateStore.alog_acquire`: every limit a call
falls under is checked and charged in one atomic operation, timestamped by the store's
clock, so no 60-second span admits more than the limit, across every process sharing
Redis); per-day limits are the quotas' UTC calendar-day counters
(:meth:`StateStore.aincr_window`): requests counted before the call (one that does not
fit is taken back and refused), tokens checked before and counted after.

::

    admission = await limiter.admit(principal, estimate)     # raises if over a limit
    try:
        response = await client.chat(...)
    finally:
        await limiter.settle(admission, tokens)     # the real total; 0: failed early

Refusals are :class:`~llmswitch.errors.RateLimitExceeded` (per-minute; ``retry_after``
from the store) and :class:`~llmswitch.errors.QuotaExceeded` (per-day; ``retry_after``:
seconds to the next UTC day). The gateway does not queue: a refused caller is told
when to come back (429 with ``retry-after``), which every SDK honours.

Store failures: per-minute limits fail open, per-day quotas fail closed (as the
library's limits and quotas do); ``on_state_error`` overrides both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import QuotaExceeded, RateLimitExceeded, StateStoreError
from ...storage import StateStore, open_store
from ...storage.base import OnStateError, check_policy, state_failed
from ...usage.budgets import period_bounds
from .._principal import Principal
from ._types import TenantLimits

__all__ = ["Admission", "LimitLevels", "TenantLimiter"]

WINDOW = 60.0
# A per-day counter outlives its day by this much (garbage collection only: the date
# stamp in its key starts a new count each day).
_DAY_GRACE_S = 3600.0

LimitLevels = Callable[[Principal], tuple[tuple[str, TenantLimits], ...]]


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted call's charges, for :meth:`TenantLimiter.settle`."""

    ident: str = ""  # the sliding-log entries' id ("": none logged)
    reserved: int = 0  # tokens reserved on the per-minute token logs
    minute_tokens: tuple[str, ...] = ()
    day_tokens: tuple[tuple[str, float], ...] = ()  # (counter key, ttl)
    estimate: int = 0  # what the call was admitted as

    @property
    def empty(self) -> bool:
        return not (self.ident or self.day_tokens)


NOTHING = Admission()


class TenantLimiter:
    """Enforce the limits ``levels(principal)`` names (the
    :meth:`~.TenantAuthenticator.levels` of the authenticator that made the principal)
    in ``store`` (a :class:`StateStore` or a state URL: ``memory://`` for one process,
    ``redis://...`` for replicas). ``clock``: epoch seconds for the UTC day (default
    ``time.time``); the per-minute logs use the store's clock."""

    def __init__(
        self,
        levels: LimitLevels,
        store: StateStore | str | None = None,
        *,
        prefix: str = "llmswitch:tenant:",
        clock: Callable[[], float] = time.time,
        on_state_error: OnStateError | None = None,
    ) -> None:
        if on_state_error is not None:
            check_policy(on_state_error)
        self._levels = levels
        self.store = store if isinstance(store, StateStore) else open_store(store)
        self.prefix = prefix
        self._clock = clock
        self._minute_policy: OnStateError = on_state_error or "fail_open"
        self._day_policy: OnStateError = on_state_error or "fail_closed"

    def limits(self, principal: Principal) -> bool:
        """Whether any limit applies to ``principal`` (else :meth:`admit` charges
        nothing, and a caller may skip estimating the call)."""
        return bool(self._levels(principal))

    async def admit(self, principal: Principal, request_estimate: int) -> Admission:
        """Charge one call estimated at ``request_estimate`` tokens to every limit of
        ``principal``; raises when one does not fit (nothing stays charged then)."""
        levels = self._levels(principal)
        if not levels:
            return NOTHING
        estimate = max(0, int(request_estimate))
        minute: list[tuple[str, int, int]] = []
        minute_tokens: list[str] = []
        day_requests: list[tuple[str, int, float, str]] = []
        day_tokens: list[tuple[str, int, float, str]] = []
        now = self._clock()
        stamp, _, end = period_bounds("day", now)
        ttl = end - now + _DAY_GRACE_S
        for scope, limits in levels:
            base = f"{self.prefix}{scope}:"
            if limits.requests_per_minute is not None:
                minute.append((base + "rpm", 1, limits.requests_per_minute))
            if limits.tokens_per_minute is not None:
                if estimate > limits.tokens_per_minute:
                    raise RateLimitExceeded(
                        f"the request is larger than the tokens_per_minute limit of {scope}"
                    )
                minute.append((base + "tpm", estimate, limits.tokens_per_minute))
                minute_tokens.append(base + "tpm")
            day = f"{base}day:{stamp}:"
            if limits.requests_per_day is not None:
                day_requests.append((day + "requests", limits.requests_per_day, ttl, scope))
            if limits.tokens_per_day is not None:
                day_tokens.append((day + "tokens", limits.tokens_per_day, ttl, scope))
        counted = await self._count_days(day_requests, day_tokens, end - now)
        try:
            ident = await self._acquire(minute) if minute else ""
        except BaseException:
            await self._uncount(counted)
            raise
        return Admission(
            ident,
            estimate if ident else 0,
            tuple(minute_tokens) if ident else (),
            tuple((key, t) for key, _, t, _ in day_tokens),
            estimate,
        )

    async def settle(self, admission: Admission, tokens: int | None) -> None:
        """Replace the call's token reservation by ``tokens`` (its real total; 0 for a
        call that failed before using any; ``None``: unknown, the reservation stands)
        and count them towards the per-day token limits. Never raises for a store
        failure: the call is done."""
        if admission.empty:
            return
        used = admission.estimate if tokens is None else max(0, int(tokens))
        try:
            if admission.ident and used != admission.reserved:
                for key in admission.minute_tokens:
                    await self.store.alog_adjust(
                        key,
                        admission.ident,
                        admission.reserved,
                        used - admission.reserved,
                        WINDOW,
                    )
            if used:
                for key, ttl in admission.day_tokens:
                    await self.store.aincr_window(key, used, ttl)
        except StateStoreError as exc:
            state_failed("tenant_limits", "fail_open", exc)

    async def aclose(self) -> None:
        await self.store.aclose()

    # ---- internals

    async def _acquire(self, entries: list[tuple[str, int, int]]) -> str:
        try:
            decided = await self.store.alog_acquire(entries, WINDOW)
        except StateStoreError as exc:
            state_failed("tenant_limits", self._minute_policy, exc)
            return ""  # failing open: as if every limit allowed it
        if decided.wait > 0.0:
            wait = None if math.isinf(decided.wait) else decided.wait
            raise RateLimitExceeded(
                "rate limit reached" + (f"; retry in {wait:.1f}s" if wait else ""),
                retry_after=wait,
            )
        return decided.ident

    async def _count_days(
        self,
        requests: list[tuple[str, int, float, str]],
        tokens: list[tuple[str, int, float, str]],
        left: float,
    ) -> list[tuple[str, float]]:
        """Check the per-day token allowances and count the request; the counters
        incremented (to take back if the call is refused later)."""
        counted: list[tuple[str, float]] = []
        try:
            for key, allowed, ttl, scope in tokens:
                if await self.store.aincr_window(key, 0, ttl) >= allowed:
                    raise _quota(f"tokens_per_day of {scope} is used up", left)
            for key, allowed, ttl, scope in requests:
                if await self.store.aincr_window(key, 1, ttl) > allowed:
                    await self.store.aincr_window(key, -1, ttl)
                    await self._uncount(counted)
                    raise _quota(f"requests_per_day of {scope} is used up", left)
                counted.append((key, ttl))
        except StateStoreError as exc:
            state_failed("tenant_quota", self._day_policy, exc)
        return counted

    async def _uncount(self, counted: list[tuple[str, float]]) -> None:
        try:
            for key, ttl in counted:
                await self.store.aincr_window(key, -1, ttl)
        except StateStoreError as exc:
            state_failed("tenant_quota", "fail_open", exc)


def _quota(message: str, left: float) -> QuotaExceeded:
    exc = QuotaExceeded(message)
    exc.retry_after = max(1.0, left)  # type: ignore[attr-defined]
    return exc
