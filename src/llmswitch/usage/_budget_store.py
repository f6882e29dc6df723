"""Where budget counters live: in this process (one lock) or in Redis (one Lua script
per decision, :mod:`._budget_scripts`). Both do the same three atomic operations over
every *slot* (a budget in its current period) a call touches:

- ``reserve``: refuse if any blocking slot's spent + reserved + the call's estimate
  would pass its limit (or it is already used up); else hold the estimate on every slot;
- ``settle``: release the call's reservation, add its real cost, and claim the alert
  thresholds the new spend reached (each claimed once per slot, across processes);
- ``seed``: start a slot's spent from the SQL ledger when the counter is missing (a new
  process, a flushed Redis), marking the thresholds that spend had reached as announced.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import StateStoreError
from ..storage.base import display_url
from .budgets import Budget

__all__ = ["MemoryBudgets", "RedisBudgets", "Reserved", "Slot"]

# Counters outlive their period by a day: a settle that straddles midnight still lands,
# and status() can show yesterday's total until then.
_KEEP_AFTER = 86400.0


@dataclass(frozen=True, slots=True)
class Slot:
    """A budget in one period: ``key`` names its counters."""

    budget: Budget
    key: str
    stamp: str
    start: float
    end: float


class Reserved(NamedTuple):
    """What ``reserve`` decided: ``blocked`` is the index of the slot that refused
    (``None``: admitted), ``missing`` the slots whose counter must be seeded first (then
    nothing was decided); ``spent``/``reserved`` per slot at the decision."""

    blocked: int | None
    spent: tuple[int, ...]
    reserved: tuple[int, ...]
    missing: tuple[int, ...] = ()


@dataclass(slots=True)
class _Counter:
    spent: int = 0
    held: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (nano, expires)
    total: int = 0  # the sum of ``held``
    expires: float = math.inf  # the earliest expiry in ``held`` (no scan before it)
    claimed: set[int] = field(default_factory=set)  # threshold indexes announced
    until: float = 0.0  # when the counter may be forgotten


def _limit(slot: Slot) -> int:
    return slot.budget.limit_nano if slot.budget.blocks else -1


class MemoryBudgets:
    """Counters of this process under one lock; ``clock`` (epoch seconds) expires
    reservations and old periods."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, _Counter] = {}
        self._sweep_at = 0.0

    @staticmethod
    def _held(c: _Counter, now: float) -> int:
        if now >= c.expires:  # some reservation expired: drop those, find the next expiry
            c.held = {rid: h for rid, h in c.held.items() if h[1] > now}
            c.total = sum(h[0] for h in c.held.values())
            c.expires = min((h[1] for h in c.held.values()), default=math.inf)
        return c.total

    def _sweep(self, now: float) -> None:
        """Forget the counters of periods that ended a day ago (at most once an hour)."""
        self._sweep_at = now + 3600
        for key in [k for k, c in self._counters.items() if c.until < now]:
            del self._counters[key]

    def reserve(
        self, slots: Sequence[Slot], amount: int, rid: str, seeding: bool = False
    ) -> Reserved:
        table = self._counters
        with self._lock:
            now = self._clock()
            if now >= self._sweep_at:
                self._sweep(now)
            counters: list[_Counter] = []
            missing: list[int] = []
            for i, slot in enumerate(slots):
                c = table.get(slot.key)
                if c is None:
                    if seeding:
                        missing.append(i)
                        continue
                    c = table[slot.key] = _Counter(until=slot.end + _KEEP_AFTER)
                counters.append(c)
            if missing:
                return Reserved(None, (), (), tuple(missing))
            blocked = None
            for i, c in enumerate(counters):
                held = c.total if now < c.expires else self._held(c, now)
                b = slots[i].budget
                if b.action == "block":
                    used = c.spent + held
                    if used >= b.limit_nano or used + amount > b.limit_nano:
                        blocked = i
                        break
            if blocked is None and amount > 0:
                for slot, c in zip(slots, counters, strict=True):
                    expires = now + slot.budget.reservation_ttl
                    c.held[rid] = (amount, expires)
                    c.total += amount
                    if expires < c.expires:
                        c.expires = expires
            return Reserved(
                blocked, tuple(c.spent for c in counters), tuple(c.total for c in counters)
            )

    def seed(self, slots: Sequence[Slot], values: Sequence[int]) -> None:
        with self._lock:
            for slot, value in zip(slots, values, strict=True):
                if slot.key in self._counters:
                    continue
                c = self._counters[slot.key] = _Counter(spent=value, until=slot.end + _KEEP_AFTER)
                c.claimed.update(
                    i for i, t in enumerate(slot.budget.thresholds_nano, 1) if value >= t
                )

    def settle(
        self, slots: Sequence[Slot], rid: str, amount: int, cost: int
    ) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
        """(spent per slot, the (slot index, threshold number from 1) newly reached)."""
        claimed: list[tuple[int, int]] = []
        spent: list[int] = []
        with self._lock:
            for i, slot in enumerate(slots):
                c = self._counters.get(slot.key)
                if c is None:
                    c = self._counters[slot.key] = _Counter(until=slot.end + _KEEP_AFTER)
                released = c.held.pop(rid, None)
                if released is not None:
                    c.total -= released[0]
                c.spent += cost
                spent.append(c.spent)
                for j, t in enumerate(slot.budget.thresholds_nano, 1):
                    if c.spent >= t and j not in c.claimed:
                        c.claimed.add(j)
                        claimed.append((i, j))
        return tuple(spent), claimed

    # The async forms: a few dict updates under a lock, never I/O.
    async def areserve(
        self, slots: Sequence[Slot], amount: int, rid: str, seeding: bool = False
    ) -> Reserved:
        return self.reserve(slots, amount, rid, seeding)

    async def aseed(self, slots: Sequence[Slot], values: Sequence[int]) -> None:
        self.seed(slots, values)

    async def asettle(
        self, slots: Sequence[Slot], rid: str, amount: int, cost: int
    ) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
        return self.settle(slots, rid, amount, cost)

    def close(self) -> None:
        return None


def _keep_ms(slot: Slot, now: float) -> int:
    return max(1000, int((slot.end + _KEEP_AFTER - now) * 1000))


def _alert_keys(slots: Sequence[Slot]) -> list[str]:
    return [
        f"{s.key}:alert:{j}" for s in slots for j in range(1, len(s.budget.thresholds_nano) + 1)
    ]


class RedisBudgets:
    """Counters in Redis, shared by every process using it. Each operation is one
    script call (one round trip); failures are :class:`StateStoreError` naming the URL
    (password masked)."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        import redis

        from ._budget_scripts import RESERVE_LUA, SEED_LUA, SETTLE_LUA

        self._url, self._display, self._clock = url, display_url(url), clock
        self._lua = {"reserve": RESERVE_LUA, "seed": SEED_LUA, "settle": SETTLE_LUA}
        self._options: dict[str, Any] = {
            "decode_responses": True, "socket_connect_timeout": 2.0, "socket_timeout": 5.0,
        }  # fmt: skip
        self._sync = redis.Redis.from_url(url, **self._options)
        self._scripts = {k: self._sync.register_script(v) for k, v in self._lua.items()}
        self._async: tuple[Any, Any, dict[str, Any]] | None = None

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        import redis

        try:
            yield
        except (redis.RedisError, OSError) as exc:
            raise StateStoreError(
                f"state store {self._display} failed: {type(exc).__name__}", url=self._display
            ) from exc

    def _ascripts(self) -> dict[str, Any]:
        import asyncio

        import redis.asyncio

        loop = asyncio.get_running_loop()
        held = self._async
        if held is None or held[0] is not loop:  # a connection belongs to its loop
            client = redis.asyncio.Redis.from_url(self._url, **self._options)
            scripts = {k: client.register_script(v) for k, v in self._lua.items()}
            held = self._async = (loop, client, scripts)
        return held[2]

    # ---- arguments and replies (shared by both paths)

    @staticmethod
    def _reserve_args(
        slots: Sequence[Slot], amount: int, rid: str, seeding: bool
    ) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = [rid, int(amount), "1" if seeding else "0"]
        for s in slots:
            keys += (f"{s.key}:spent", f"{s.key}:res")
            args += (_limit(s), int(s.budget.reservation_ttl * 1000))
        return keys, args

    @staticmethod
    def _reserved(raw: list[Any]) -> Reserved:
        values = [int(v) for v in raw]
        if values[0] == 2:
            return Reserved(None, (), (), tuple(k - 1 for k in values[1:]))
        rest = values[2:]
        blocked = values[1] - 1 if values[0] == 1 else None
        return Reserved(blocked, tuple(rest[0::2]), tuple(rest[1::2]))

    def _seed_args(
        self, slots: Sequence[Slot], values: Sequence[int]
    ) -> tuple[list[str], list[Any]]:
        now = self._clock()
        args: list[Any] = []
        for s, v in zip(slots, values, strict=True):
            args += (int(v), _keep_ms(s, now), len(s.budget.thresholds_nano))
            args += s.budget.thresholds_nano
        return [f"{s.key}:spent" for s in slots] + _alert_keys(slots), args

    def _settle_args(
        self, slots: Sequence[Slot], rid: str, amount: int, cost: int
    ) -> tuple[list[str], list[Any]]:
        now = self._clock()
        keys: list[str] = []
        args: list[Any] = [rid, int(amount), int(cost)]
        for s in slots:
            keys += (f"{s.key}:spent", f"{s.key}:res")
            args += (_keep_ms(s, now), len(s.budget.thresholds_nano), *s.budget.thresholds_nano)
        return keys + _alert_keys(slots), args

    @staticmethod
    def _settled(raw: list[Any], n: int) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
        values = [int(v) for v in raw]
        pairs = values[n:]
        return tuple(values[:n]), [(pairs[i] - 1, pairs[i + 1]) for i in range(0, len(pairs), 2)]

    # ---- sync

    def reserve(
        self, slots: Sequence[Slot], amount: int, rid: str, seeding: bool = False
    ) -> Reserved:
        keys, args = self._reserve_args(slots, amount, rid, seeding)
        with self._guard():
            return self._reserved(self._scripts["reserve"](keys=keys, args=args))

    def seed(self, slots: Sequence[Slot], values: Sequence[int]) -> None:
        keys, args = self._seed_args(slots, values)
        with self._guard():
            self._scripts["seed"](keys=keys, args=args)

    def settle(
        self, slots: Sequence[Slot], rid: str, amount: int, cost: int
    ) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
        keys, args = self._settle_args(slots, rid, amount, cost)
        with self._guard():
            return self._settled(self._scripts["settle"](keys=keys, args=args), len(slots))

    # ---- async

    async def areserve(
        self, slots: Sequence[Slot], amount: int, rid: str, seeding: bool = False
    ) -> Reserved:
        keys, args = self._reserve_args(slots, amount, rid, seeding)
        scripts = self._ascripts()
        with self._guard():
            return self._reserved(await scripts["reserve"](keys=keys, args=args))

    async def aseed(self, slots: Sequence[Slot], values: Sequence[int]) -> None:
        keys, args = self._seed_args(slots, values)
        scripts = self._ascripts()
        with self._guard():
            await scripts["seed"](keys=keys, args=args)

    async def asettle(
        self, slots: Sequence[Slot], rid: str, amount: int, cost: int
    ) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
        keys, args = self._settle_args(slots, rid, amount, cost)
        scripts = self._ascripts()
        with self._guard():
            return self._settled(await scripts["settle"](keys=keys, args=args), len(slots))

    def close(self) -> None:
        self._sync.close()
