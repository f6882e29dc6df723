"""The budget layer: admission by reservation, settlement to the real cost, alerts.

Where it sits: outside the rate limits and the router (the onion is usage -> cache ->
budget -> rate limit -> router), so a refused call costs nothing downstream and is
refused before anything is sent.

Which budgets a call touches (matched before the call, every one that applies):
``global``; ``user:NAME`` for :func:`llmswitch.usage.current_tags` ``user``, else the
request's ``user=``; ``team:NAME`` and ``key:ID`` from the tags; ``provider:ID`` and
``model:NAME`` for the provider and model the call resolves to, where ``NAME`` may be
``provider/model``, the bare model id, or the alias the caller used. A call to a model
group matches ``model:<group name>`` at admission; which deployment serves it is only
known per attempt, inside the router, so the provider and model budgets of the
deployment that answered are charged its cost when the call settles (they then block
that group's later calls only through direct calls to that provider or model — give
the group its own ``model:<group>`` budget to block it).

Admission: the call's estimate (:func:`llmswitch.catalog.estimate_request` ``high_nano``:
its input plus ``max_tokens`` of output, priced by the catalog; a model with an unknown
price reserves 0) is reserved on every matched budget in ONE atomic step (one Redis
script, or one lock in memory). If a blocking budget's spent + reserved + the estimate
would pass its limit, or it is used up already, the call raises
:class:`~llmswitch.errors.BudgetExceededError` and nothing is reserved anywhere.

Settlement: the reservation is replaced by the real cost of the answer: computed from
the usage the answer carries (a stream's ``StreamEnd``) with the catalog's prices; a
failure carrying a partial answer's usage is charged that; a stream that failed or was
closed after its first event without usage keeps its estimate (the provider billed
something); a failure before anything was received costs nothing. A reservation whose
process dies before settling expires after ``reservation_ttl`` seconds (default 600).

**Overshoot bound.** Every admission keeps spent + reserved <= limit, atomically across
processes, so a budget's final spend is at most ``limit + sum over the calls admitted
while it was open of max(0, real cost - reservation)``: each call can overshoot only by
its own estimation error, concurrent calls cannot add up beyond their reservations.
With ``max_tokens`` set and the input counted no lower than the provider counts it, the
reservation is an upper bound and the limit holds exactly; calls whose price is
unknown reserve 0, so all of their cost is estimation error.

Counters: per budget and UTC period (:func:`~llmswitch.usage.budgets.period_bounds`),
in memory or in Redis (``[state] url``); a missing counter (a new process, a new
Redis) is seeded from the SQL ledger's ``cost_nano`` of that period when a database is
configured. State store failures fail the call (``on_state_error="fail_closed"``,
like quotas) unless the layer is built with ``"fail_open"``; settling never fails a call.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..catalog import estimate_request
from ..errors import (
    BudgetExceededError,
    ConfigurationError,
    LLMError,
    StateStoreError,
    StorageError,
)
from ..events import StreamEnd
from ..messages import ChatRequest, ChatResponse, EmbeddingResponse, EmbedRequest, Usage
from ..middleware._drive import Layer, Op, Ops, Script, Try, arun, run
from ..middleware.base import ACCUMULATOR_KEY, Call
from ..storage.base import OnStateError, check_policy, state_failed
from ._budget_store import MemoryBudgets, RedisBudgets, Reserved, Slot
from ._tags import CallTags, call_tags
from .alerts import AlertSender
from .budgets import AlertSettings, Budget, BudgetStatus, iso, period_bounds

__all__ = ["BudgetLayer"]

_Seeder = Callable[[Sequence[Slot]], list[int]]


def _usage_cost(provider: str, model: str, usage: Usage) -> int | None:
    """nano-USD of ``usage`` at the catalog's prices (``None``: unknown)."""
    from .. import catalog

    exact = getattr(catalog, "cost_nano", None)
    if exact is not None:
        return exact(provider, model, usage)  # type: ignore[no-any-return]
    usd = catalog.cost_of(provider, model, usage)
    return None if usd is None else round(usd * 1e9)


def _estimate(call: Call) -> int:
    """nano-USD a call may cost at most, reserved while it runs (0: unknown)."""
    request: Any = call.request
    if type(request) is EmbedRequest:  # input only: an embedding has no output tokens
        from ..catalog._estimate import estimate_text_tokens

        tokens = sum(estimate_text_tokens(text) for text in request.inputs)
        usage = Usage(input_tokens=tokens, output_tokens=0, total_tokens=tokens)
        return _usage_cost(call.provider.id, request.model, usage) or 0
    return estimate_request(request).high_nano or 0


class BudgetLayer(Layer):
    """Enforce ``budgets`` (see the module docs). ``state``: ``None``/``"memory://"``
    for this process, ``redis://...`` to share counters across processes. ``database``:
    a URL or :class:`~llmswitch.storage.sql.Database` whose ``usage_ledger`` seeds
    missing counters. ``groups``: the model group names (their calls are routed).
    ``clock``: epoch seconds (periods; the memory backend's reservation expiry)."""

    status_section = "budgets"

    def __init__(
        self,
        budgets: Sequence[Budget],
        *,
        state: str | None = None,
        database: Any = None,
        alerts: AlertSettings | None = None,
        groups: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
        prefix: str = "llmswitch:budget:",
        on_state_error: OnStateError = "fail_closed",
        sender: AlertSender | None = None,
    ) -> None:
        self.configured = tuple(budgets)
        self.alerts = alerts or AlertSettings()
        self.on_state_error = check_policy(on_state_error)
        self._clock = clock
        self._prefix = prefix
        self._groups = frozenset(groups)
        if state is None or state == "memory://":
            self.backend: MemoryBudgets | RedisBudgets = MemoryBudgets(clock)
        else:
            self.backend = RedisBudgets(state, clock)
        self._database = database
        self._db: Any = None
        self.sender = sender or AlertSender(self.alerts.secret)
        self._reserve = (self.backend.reserve, self.backend.areserve)
        self._settle_op = (self.backend.settle, self.backend.asettle)
        self._seed_op = (self.backend.seed, self.backend.aseed)
        self._table = _Table(self.configured)
        self._dynamic: tuple[Budget, ...] = ()
        # Reservation ids: unique across processes sharing Redis (random per layer) and
        # cheap per call (a counter).
        self._rid = os.urandom(6).hex() + "-"
        self._seq = itertools.count()

    # ---- which budgets

    @property
    def budgets(self) -> tuple[Budget, ...]:
        """Every budget enforced: the configured ones, then the dynamic ones."""
        return self._table.budgets

    @property
    def dynamic_budgets(self) -> tuple[Budget, ...]:
        """The budgets set with :meth:`set_dynamic_budgets` (``()`` until then)."""
        return self._dynamic

    def set_dynamic_budgets(self, budgets: Sequence[Budget]) -> None:
        """Enforce ``budgets`` (e.g. the gateway's per-user/team/key budgets from the
        database) besides the configured ones, replacing the previous dynamic set,
        without a restart. Safe from any thread or task: calls admitted before keep the
        set they were admitted under; the next call sees the new one. Spend carries
        over: a budget's counters are named by its scope and period, not its limit."""
        dynamic = tuple(budgets)
        if not all(isinstance(b, Budget) for b in dynamic):
            raise ConfigurationError("dynamic budgets must be Budget values", field="budgets")
        # Built aside and swapped in one assignment: readers take self._table once.
        self._table, self._dynamic = _Table((*self.configured, *dynamic)), dynamic

    def _slot(self, i: int, now: float, t: _Table | None = None) -> Slot:
        t = t or self._table
        slot = t.slots[i]
        if slot is None or not slot.start <= now < slot.end:
            b = t.budgets[i]
            stamp, start, end = period_bounds(b.period, now)
            key = f"{self._prefix}{b.scope}:{b.period}:{stamp}"
            slot = t.slots[i] = Slot(b, key, stamp, start, end)
        return slot

    def _matched(
        self, t: _Table, call: Call, request: ChatRequest, provider: str, asked: str,
        routed: bool,
    ) -> list[int]:  # fmt: skip
        if not t.index:
            return t.globals
        tags = call_tags(call.state)
        where = (tags, request.user, provider, request.model, asked, routed)
        hit = t.matches.get(where)
        if hit is None:
            if len(t.matches) >= 4096:  # many users: keep the cache bounded
                t.matches.clear()
            hit = t.matches[where] = self._match(t, tags, request, provider, asked, routed)
        return hit

    @staticmethod
    def _match(
        t: _Table, tags: CallTags, request: ChatRequest, provider: str, asked: str, routed: bool
    ) -> list[int]:
        """The budgets a call falls under (cached by :meth:`_matched` per caller and model)."""
        found = list(t.globals)
        names: list[tuple[str, str | None]] = [
            ("user", tags.user or request.user), ("team", tags.team),
            ("key", tags.access_key), ("model", asked),
        ]  # fmt: skip
        if not routed:
            model = request.model
            names += [
                ("provider", provider), ("model", f"{provider}/{model}"), ("model", model),
            ]  # fmt: skip
        for kind, value in names:
            if value is not None:
                for i in t.index.get((kind, value), ()):
                    if i not in found:
                        found.append(i)
        return found

    @staticmethod
    def _answered(t: _Table, provider: str, model: str, skip: list[int]) -> list[int]:
        """Provider/model budgets of the deployment that answered a routed call."""
        found: list[int] = []
        for key in (("provider", provider), ("model", f"{provider}/{model}"), ("model", model)):
            found += (i for i in t.index.get(key, ()) if i not in skip and i not in found)
        return found

    # ---- the call

    def script(self, call: Call, stream: bool) -> Script | None:
        t = self._table  # once: a concurrent set_dynamic_budgets swaps in a new one
        if not t.budgets:
            return None
        routed = call.model in self._groups
        matched = self._matched(t, call, call.request, call.provider.id, call.model, routed)
        if not matched and not (routed and t.after):
            return None
        return self._guard(t, call, stream, matched, routed)

    def embed_script(self, call: Call) -> Script | None:
        """:meth:`script` for an embeddings call (``call.request`` an
        :class:`~llmswitch.messages.EmbedRequest`, ``call.model`` the name asked for):
        a used-up budget refuses it before it is sent, and its cost is charged. The
        clients' ``embed`` drives it (embeddings take no other layer)."""
        t = self._table
        if not t.budgets:
            return None
        matched = self._matched(t, call, call.request, call.provider.id, call.model, False)
        return self._guard(t, call, False, matched, False) if matched else None

    def _guard(
        self, t: _Table, call: Call, stream: bool, matched: list[int], routed: bool
    ) -> Script:
        now = self._clock()
        slots = [self._slot(i, now, t) for i in matched]
        amount = _estimate(call) if slots else 0
        rid = f"{self._rid}{next(self._seq)}"
        held = (yield from self._admit(call, slots, amount, rid)) if slots else False
        attempt = Try(call)
        try:
            result = yield attempt
        except BaseException as exc:
            cost = self._failed_cost(exc, call, amount, attempt.started)
            yield from self._settle(
                t, call, matched, slots, rid, amount if held else 0, cost, routed
            )
            raise
        cost = self._cost(call, result, amount)
        yield from self._settle(t, call, matched, slots, rid, amount if held else 0, cost, routed)
        return result

    def _admit(self, call: Call, slots: list[Slot], amount: int, rid: str) -> Ops:
        """Reserve ``amount`` on every slot; whether it is held (False: failed open)."""
        seeding = self._seeding()
        try:
            decided: Reserved = yield Op(*self._reserve, slots, amount, rid, seeding)
            if decided.missing:
                missing = [slots[i] for i in decided.missing]
                values = yield Op(self._ledger_spend, self._aledger_spend, missing)
                yield Op(*self._seed_op, missing, values)
                decided = yield Op(*self._reserve, slots, amount, rid, False)
        except (StateStoreError, StorageError) as exc:
            if isinstance(exc, StorageError) and self.on_state_error == "fail_closed":
                raise
            state_failed("budget", self.on_state_error, _as_state_error(exc))
            return False
        if decided.blocked is not None:
            raise self._exceeded(call, slots, decided, amount)
        return True

    @staticmethod
    def _exceeded(
        call: Call, slots: list[Slot], decided: Reserved, amount: int
    ) -> BudgetExceededError:
        i = decided.blocked
        assert i is not None
        slot = slots[i]
        b = slot.budget
        spent = decided.spent[i]
        return BudgetExceededError(
            f"budget {b.scope} per {b.period} is used up: spent ${spent / 1e9:.6f}"
            f" + in flight ${decided.reserved[i] / 1e9:.6f} + this call's estimate"
            f" ${amount / 1e9:.6f} would pass the limit ${b.limit_nano / 1e9:.6f}"
            f" (period from {iso(slot.start)})",
            scope=b.scope, period=b.period, period_start=iso(slot.start),
            spent_usd=spent / 1e9, limit_usd=b.limit_nano / 1e9,
            provider=call.provider.id, model=call.request.model,
        )  # fmt: skip

    def _cost(self, call: Call, result: Any, amount: int) -> int:
        if isinstance(result, EmbeddingResponse):
            cost = _usage_cost(call.provider.id, result.model or call.request.model, result.usage)
            return amount if cost is None else cost
        if isinstance(result, ChatResponse):
            # resp.cost is the catalog's cost_nano / 1e9 (exact below 9 million USD).
            if result.cost is not None:
                return round(result.cost * 1e9)
            cost = _usage_cost(result.provider, result.model, result.usage)
            return amount if cost is None else cost
        if isinstance(result, StreamEnd) and result.usage is not None:
            provider, model = self._served(call)
            cost = _usage_cost(provider, model, result.usage)
            return amount if cost is None else cost
        return amount  # a stream that ended without its StreamEnd: billed, amount unknown

    def _failed_cost(self, exc: BaseException, call: Call, amount: int, started: bool) -> int:
        partial = getattr(exc, "partial", None) if isinstance(exc, LLMError) else None
        if isinstance(partial, ChatResponse) and partial.usage.input_tokens is not None:
            cost = _usage_cost(partial.provider, partial.model, partial.usage)
            if cost is not None:
                return cost
        return amount if started else 0

    @staticmethod
    def _served(call: Call) -> tuple[str, str]:
        acc = call.state.get(ACCUMULATOR_KEY)
        if acc is not None:
            return acc.provider, acc.model
        return call.provider.id, call.request.model

    def _settle(
        self, t: _Table, call: Call, matched: list[int], slots: list[Slot], rid: str,
        amount: int, cost: int, routed: bool,
    ) -> Ops:  # fmt: skip
        if routed and t.after:
            now = self._clock()
            provider, model = self._served(call)
            slots = slots + [
                self._slot(i, now, t) for i in self._answered(t, provider, model, matched)
            ]
        if not slots or (cost == 0 and amount == 0):
            return
        try:
            spent, claimed = yield Op(*self._settle_op, slots, rid, amount, cost)
        except StateStoreError as exc:  # the call is done: never fail it now
            state_failed("budget", "fail_open", exc)
            return
        for i, j in claimed:
            self._alert(slots[i], j, spent[i])

    def _alert(self, slot: Slot, j: int, spent: int) -> None:
        b = slot.budget
        payload = {
            "scope": b.scope, "period": b.period, "period_start": iso(slot.start),
            "threshold": b.alert_at[j - 1], "spent_usd": spent / 1e9,
            "limit_usd": b.limit_nano / 1e9, "budget": b.describe(), "at": iso(time.time()),
        }  # fmt: skip
        self.sender.send(payload, b.webhook or self.alerts.webhook)

    # ---- seeding from the ledger

    def _seeding(self) -> bool:
        return self._database is not None

    def _open(self) -> Any:
        if self._db is None:
            from ..storage.sql import Database, open_database

            db = self._database
            self._db = db if isinstance(db, Database) else open_database(db)
        return self._db

    def _ledger_spend(self, slots: Sequence[Slot]) -> list[int]:
        from ._budget_ledger import spend_of

        return self._open().read(spend_of, slots)  # type: ignore[no-any-return]

    async def _aledger_spend(self, slots: Sequence[Slot]) -> list[int]:
        from ._budget_ledger import spend_of

        return await self._open().aread(spend_of, slots)  # type: ignore[no-any-return]

    # ---- status

    def budget_status(self) -> list[BudgetStatus]:
        """Every budget's current period: spent, reserved, limit (read live)."""
        return run(self._status())  # type: ignore[no-any-return]

    async def abudget_status(self) -> list[BudgetStatus]:
        return await arun(self._status())  # type: ignore[no-any-return]

    def _status(self) -> Ops:
        now = self._clock()
        out: list[BudgetStatus] = []
        t = self._table
        for i, b in enumerate(t.budgets):
            slot = self._slot(i, now, t)
            read: Reserved = yield Op(*self._reserve, [slot], 0, "", self._seeding())
            if read.missing:
                values = yield Op(self._ledger_spend, self._aledger_spend, [slot])
                yield Op(*self._seed_op, [slot], values)
                read = yield Op(*self._reserve, [slot], 0, "", False)
            out.append(
                BudgetStatus(
                    scope=b.scope,
                    period=b.period,
                    period_start=iso(slot.start),
                    action=b.action,
                    limit_nano=b.limit_nano,
                    spent_nano=read.spent[0],
                    reserved_nano=read.reserved[0],
                )
            )
        return out

    def status(self) -> dict[str, Any]:
        return {f"{s.scope} per {s.period}": s.as_dict() for s in self.budget_status()}

    async def astatus(self) -> dict[str, Any]:
        return {f"{s.scope} per {s.period}": s.as_dict() for s in await self.abudget_status()}

    def close(self) -> None:
        self.sender.close()
        self.backend.close()
        if self._db is not None and self._db is not self._database:
            self._db.close()


class _Table:
    """The budgets in force and what is derived from them, replaced as a whole."""

    __slots__ = ("after", "budgets", "globals", "index", "matches", "slots")

    def __init__(self, budgets: tuple[Budget, ...]) -> None:
        self.budgets = budgets
        # (kind, value) -> indexes of the budgets with that scope; globals always apply.
        self.index: dict[tuple[str, str], list[int]] = {}
        for i, b in enumerate(budgets):
            self.index.setdefault((b.kind, b.value), []).append(i)
        self.globals = self.index.pop(("global", ""), [])
        self.after = any(b.kind in ("provider", "model") for b in budgets)
        self.slots: list[Slot | None] = [None] * len(budgets)
        self.matches: dict[tuple[Any, ...], list[int]] = {}


def _as_state_error(exc: StateStoreError | StorageError) -> StateStoreError:
    if isinstance(exc, StateStoreError):
        return exc
    return StateStoreError(exc.message, url=getattr(exc, "url", ""))
